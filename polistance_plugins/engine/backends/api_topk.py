"""Top-k mode over HTTP: the first answer token's top log-probabilities (completions with
``logprobs=K``, or chat completions with ``top_logprobs=K`` when there is no completions endpoint
or no tokenizer), K the largest the server accepts. Options missing from the top K are recorded
as not present (``Distribution.present``), so incomplete coverage stays visible."""

from __future__ import annotations

import os
from typing import Sequence

from ...core import option_distribution_from_logprobs
from ...errors import PolistanceError
from .api_http import MISSING_STATUS, REFUSED_STATUS, RequestFailed
from .api_responses import choices_of, first_token_top
from .base import ScoreResult

TOP_K_CANDIDATES = (100, 50, 20, 10, 5, 1)
UNUSABLE = "unusable top logprobs"
"""How an item's error starts when the server's top log-probabilities were impossible numbers (a lie)."""
TOP_K_ENV = "POLISTANCE_API_TOP_K"


def top_k_from_env() -> int:
    """The largest top-logprobs count to ask for: ``POLISTANCE_API_TOP_K`` or 100."""
    raw = os.environ.get(TOP_K_ENV)
    if not raw:
        return TOP_K_CANDIDATES[0]
    try:
        value = int(raw)
    except ValueError:
        raise PolistanceError(f"{TOP_K_ENV}={raw!r}: expected a whole number") from None
    if value < 1:
        raise PolistanceError(f"{TOP_K_ENV}={raw!r}: must be at least 1")
    return value


def topk_body(backend, user_text: str, k: int, endpoint: str) -> dict:
    """A one-token request for the first answer token's top ``k`` log-probabilities."""
    if endpoint == "chat":
        from ...prompts.chat import chat_messages

        return {"model": backend.model, "messages": chat_messages(user_text, backend.system_prompt), "logprobs": True,
                "top_logprobs": k, "max_tokens": 1, "temperature": 0}
    return {"model": backend.model, "prompt": backend.chat_prompt(user_text), "logprobs": k, "max_tokens": 1, "temperature": 0}


def probe_top_k(backend, endpoint: str) -> tuple[str, int]:
    """The endpoint and the largest top-logprobs count the server accepts."""
    from .api_exact import PROBE_TEXT

    candidates = [backend.max_top_k] + [k for k in TOP_K_CANDIDATES if k < backend.max_top_k]
    reasons = []
    for k in candidates:
        try:
            backend.client.request(endpoint, topk_body(backend, PROBE_TEXT, k, endpoint),
                                   lambda d: first_token_top(choices_of(d, 1)[0], endpoint))
            return endpoint, k
        except RequestFailed as e:
            if e.status in MISSING_STATUS and endpoint == "completions":
                return probe_top_k(backend, "chat")
            if e.status in REFUSED_STATUS:
                reasons.append(f"{k}: {e.reason}")
                continue
            raise PolistanceError(f"{backend.client.base_url}: cannot read top logprobs ({e.reason})") from None
        except ValueError as e:  # impossible log-probabilities (core.distribution.checked_logprob)
            raise PolistanceError(f"{backend.client.base_url}: cannot read top logprobs ({e})") from None
    raise PolistanceError(f"{backend.client.base_url}: the server refused top logprobs at every size tried ({'; '.join(reasons)[:400]})")


def score_topk(backend, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
    """One top-k distribution (or the reason there is none) per user prompt."""
    from .api_exact import gather_groups, prompts_per_request

    endpoint, k = backend.endpoint, backend.top_k
    if backend.tokenizer is not None and prompts:
        pieces = backend.option_pieces(backend.chat_prompt(prompts[0]), options)
        long = [o for o, p in zip(options, pieces) if len(p) != 1]
        if long:
            # The first answer token cannot tell "Strongly agree" from "Strongly disagree".
            reason = (f"top-k mode reads one answer token, but option {long[0]!r} is "
                      f"{len(pieces[options.index(long[0])])} tokens; use exact mode")
            return [ScoreResult(error=reason) for _ in prompts]

    def tops(data, n: int) -> list:
        """Each choice's top log-probabilities, or the ``ValueError`` of its impossible numbers (a
        lie is that item's answer, not a reason to retry the request or fail its request-mates);
        a response without them is a retryable ``RequestFailed``."""
        out = []
        for choice in choices_of(data, n):
            try:
                out.append(first_token_top(choice, endpoint))
            except ValueError as e:
                out.append(e)
        return out

    def read(top) -> ScoreResult:
        if isinstance(top, ValueError):
            return ScoreResult(error=f"{UNUSABLE}: {top}")
        try:
            return ScoreResult(distribution=option_distribution_from_logprobs(top, options), method="topk")
        except ValueError as e:  # the options hold more than all the probability
            return ScoreResult(error=f"{UNUSABLE}: {e}")

    def work(group: list[int]) -> list[tuple[int, ScoreResult]]:
        if len(group) == 1 or endpoint != "completions":
            out = []
            for i in group:
                try:
                    out.append((i, read(backend.client.request(endpoint, topk_body(backend, prompts[i], k, endpoint),
                                                               lambda d: tops(d, 1)[0]))))
                except RequestFailed as e:
                    out.append((i, ScoreResult(error=e.reason)))
            return out
        body = {**topk_body(backend, prompts[group[0]], k, endpoint), "prompt": [backend.chat_prompt(prompts[i]) for i in group]}
        try:
            found = backend.client.request(endpoint, body, lambda d: tops(d, len(group)))
        except RequestFailed:
            return [pair for i in group for pair in work([i])]  # one poisoned prompt must not fail its request-mates
        return [(i, read(top)) for i, top in zip(group, found)]

    # Several prompts per request where the server takes a list (probed with echo), as in exact mode.
    per = prompts_per_request(backend, len(prompts), 1)
    groups = [list(range(i, min(i + per, len(prompts)))) for i in range(0, len(prompts), per)]
    return gather_groups(backend, work, groups, len(prompts))
