"""Exact mode over HTTP: every option's log-probability read from an echoed completion of
prompt + option (``echo=true``, ``logprobs``: the prompt is scored, nothing needs generating).

Several prompt strings go in one request where the server takes a list, and requests run on a
bounded thread pool. The server's echoed tokens of each option are compared with the local
tokeniser's split; a difference is the item's error, never a score."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from ...core import distribution_from_option_logprobs
from ...errors import PolistanceError
from .api_http import MISSING_STATUS, REFUSED_STATUS, ItemError, RequestFailed
from .api_responses import echo_covers, echoed_choices, option_logprob
from .base import ScoreResult

PROBE_TEXT = "On a scale of 0-9, how much do you like tea? Give only a number, no elaboration."


def echo_body(backend, strings: list[str] | str) -> dict:
    """A completions request that echoes ``strings`` with their token log-probabilities."""
    return {"model": backend.model, "prompt": strings, "echo": True, "logprobs": 1,
            "max_tokens": backend.echo_max_tokens, "temperature": 0}


def probe_echo(backend) -> str | None:
    """Check that echo returns the prompt's log-probabilities; None if it does, else why not.

    Also settles ``backend.echo_max_tokens`` (0 where honoured, else 1) and ``backend.list_prompts``
    (whether a request may carry a list of prompts). Each probe is retried like any request, so one
    transient fault (a response without logprobs, a 500) decides nothing. A server that answers
    without echoing the prompt is a definite no; a tokenisation mismatch or impossible
    log-probabilities on the probe are a user error (wrong --tokenizer, or a server that lies)."""
    client = backend.client
    context = backend.chat_prompt(PROBE_TEXT)
    pieces = backend.option_pieces(context, ["5"])[0]

    def echoed(data) -> dict | None:
        choice = echoed_choices(data, 1)[0]  # no token logprobs at all: retryable
        return choice if echo_covers(choice, context + "5") else None

    choice = None
    for max_tokens in (0, 1):
        backend.echo_max_tokens = max_tokens
        try:
            choice = client.request("completions", echo_body(backend, [context + "5"]), echoed)
            break
        except RequestFailed as e:
            if e.status in MISSING_STATUS:
                return f"the server has no completions endpoint ({e.reason})"
            if e.status in REFUSED_STATUS and max_tokens == 0:
                continue
            return e.reason
    if choice is None:
        return "the server ignored echo (the response does not contain the prompt)"
    try:
        option_logprob(choice, context, "5", pieces)
    except ItemError as e:
        raise PolistanceError(f"{client.base_url}: {e}") from None
    if backend.echo_max_tokens == 0 and len(choice.get("text") or "") > len(context) + 1:
        # The server generated despite max_tokens=0 (llama-cpp-python reads 0 as "no limit").
        backend.echo_max_tokens = 1
    pair = [context + "5", context + "6"]
    try:
        client.request("completions", echo_body(backend, pair), lambda d: echoed_choices(d, 2))
        backend.list_prompts = True
    except RequestFailed:
        backend.list_prompts = False
    return None


def prompts_per_request(backend, n: int, n_options: int) -> int:
    """How many prompts (each with all its options) one request carries."""
    if not backend.list_prompts:
        return 1
    cap = max(1, backend.strings_per_request // max(1, n_options))
    return max(1, min(cap, math.ceil(n / backend.concurrency)))


def gather_groups(backend, work, groups: list[list[int]], n: int) -> list[ScoreResult]:
    """Run ``work(group) -> [(index, ScoreResult)]`` over the groups of prompts, ``backend.concurrency``
    requests at a time, and put the results back in prompt order."""
    results: list[ScoreResult | None] = [None] * n
    with ThreadPoolExecutor(max_workers=backend.concurrency) as pool:
        for part in pool.map(work, groups):
            for i, res in part:
                results[i] = res
    return results  # type: ignore[return-value]


def complete(backend, strings: list[str]) -> list[dict]:
    """Echoed completions for ``strings`` in order (one request, or one per string)."""
    client = backend.client
    if backend.list_prompts:
        return client.request("completions", echo_body(backend, strings), lambda d: echoed_choices(d, len(strings)))
    return [client.request("completions", echo_body(backend, s), lambda d: echoed_choices(d, 1))[0] for s in strings]


def score_exact(backend, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
    """One exact distribution (or the reason there is none) per user prompt."""
    contexts = [backend.chat_prompt(p) for p in prompts]
    per = prompts_per_request(backend, len(prompts), len(options))
    groups = [list(range(i, min(i + per, len(prompts)))) for i in range(0, len(prompts), per)]

    def work(group: list[int]) -> list[tuple[int, ScoreResult]]:
        try:
            choices = complete(backend, [contexts[i] + o for i in group for o in options])
        except RequestFailed as e:
            if len(group) > 1:
                # One poisoned prompt must not take its request-mates down: ask for each alone.
                return [pair for i in group for pair in work([i])]
            return [(i, ScoreResult(error=e.reason)) for i in group]
        out = []
        for g, i in enumerate(group):
            pieces = backend.option_pieces(contexts[i], options)
            try:
                lps = [option_logprob(choices[g * len(options) + k], contexts[i], o, pieces[k]) for k, o in enumerate(options)]
                out.append((i, ScoreResult(distribution=distribution_from_option_logprobs(lps, options), method="exact")))
            except (ItemError, RequestFailed, ValueError) as e:
                out.append((i, ScoreResult(error=backend.client.scrub(getattr(e, "reason", None) or str(e)))))
        return out

    return gather_groups(backend, work, groups, len(prompts))
