"""Sampled replies from a served model (the elaboration probe over HTTP): the completions endpoint,
the conversation rendered with the served model's chat template (``--tokenizer``), ``n`` samples
per request where the server returns them (vLLM does), else one request per sample (llama.cpp).

Each request carries a seed derived from the run's seed and the conversation's position, so a
server that honours seeds (vLLM) gives the same replies again. A request that still fails after
its retries stops the run with the reason; ``--resume`` continues from the last finished chunk.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from ...errors import PolistanceError
from .api_http import RequestFailed
from .api_responses import choices_of


def _texts(data, n: int) -> tuple[list[str], int]:
    """The reply texts of a completion response (``n`` of them, or as many as it has when it has
    fewer) and its completion token count."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise RequestFailed("server returned no choices", True)
    have = min(n, len(data["choices"]))
    texts = []
    for c in choices_of({"choices": data["choices"][:have]}, have):
        if not isinstance(c.get("text"), str):
            raise RequestFailed("a choice has no text", True)
        texts.append(c["text"].strip())
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return texts, int(usage.get("completion_tokens") or 0)


def sample_replies(backend, conversations: Sequence[Sequence[dict]], n: int = 1, max_new_tokens: int = 64,
                   temperature: float = 1.0, seed: int = 0, stats: dict | None = None) -> list[list[str]]:
    """``n`` sampled replies per conversation, in order (the served model is ``backend.model``)."""
    from .generate import conversation_text

    if backend.tokenizer is None:
        raise PolistanceError("sampling replies from a served model needs its chat template: pass --tokenizer NAME_OR_DIR")
    texts = [conversation_text(backend.tokenizer, conv, backend.system_prompt) for conv in conversations]
    model = backend.model

    def ask(j: int, text: str, k: int, part: int) -> tuple[list[str], int]:
        body = {"model": model, "prompt": text, "max_tokens": max_new_tokens, "temperature": temperature,
                "top_p": 1.0, "n": k, "seed": (seed * 1_000_003 + j * 7919 + part) % (2**31)}
        try:
            return backend.client.request("completions", body, lambda d: _texts(d, k))
        except RequestFailed as e:
            raise PolistanceError(f"{model} at {backend.client.base_url}: sampling a reply failed ({e.reason}); "
                                  "run again with --resume to continue") from None

    def work(j: int) -> tuple[list[str], int]:
        got, tokens = ask(j, texts[j], n, 0) if getattr(backend, "samples_per_request", True) else ([], 0)
        if len(got) < n and n > 1:
            backend.samples_per_request = False  # the server ignores n: one request per sample from now on
        part = 1
        while len(got) < n:
            more, used = ask(j, texts[j], 1, part)
            got, tokens, part = got + more[:1], tokens + used, part + 1
        return got[:n], tokens

    if texts:
        first = [work(0)]  # settles whether the server returns n samples per request
        with ThreadPoolExecutor(max_workers=backend.concurrency) as pool:
            rest = list(pool.map(work, range(1, len(texts))))
        done = first + rest
    else:
        done = []
    if stats is not None:
        stats["generated_tokens"] = stats.get("generated_tokens", 0) + sum(t for _, t in done)
    return [replies for replies, _ in done]
