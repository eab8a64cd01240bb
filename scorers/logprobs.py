"""Read the first generated token's top log-probabilities out of an Inspect ``ModelOutput``.

Providers report token strings differently: API providers give the text, Inspect's ``hf`` provider
gives raw vocabulary entries, where a leading space is the byte-level marker ``Ġ`` or the
SentencePiece marker ``▁``. Both markers are turned back into a space here, so the scoring core's
rule ("7" and " 7" are the same answer) applies to every provider.
"""

from __future__ import annotations

import math

from inspect_ai.model import ModelOutput

_SPACE_MARKERS = ("Ġ", "▁")


def token_text(token: str) -> str:
    """The text a reported token stands for (a leading ``Ġ``/``▁`` vocabulary marker becomes a space)."""
    for marker in _SPACE_MARKERS:
        if token.startswith(marker):
            return " " + token[len(marker) :]
    return token


def first_token_logprobs(output: ModelOutput, top_k: int | None = None) -> dict[str, float] | None:
    """token text -> natural-log probability for the first answer token, or None without logprobs.

    Keeps the ``top_k`` most probable entries when given (the sports-team paper used the top 5);
    entries whose text coincides are combined (their probabilities add).
    """
    if not output.choices or output.choices[0].logprobs is None or not output.choices[0].logprobs.content:
        return None
    first = output.choices[0].logprobs.content[0]
    entries = [(t.token, t.logprob) for t in first.top_logprobs] if first.top_logprobs else [(first.token, first.logprob)]
    entries.sort(key=lambda e: -e[1])
    if top_k is not None:
        entries = entries[:top_k]
    out: dict[str, float] = {}
    for token, lp in entries:
        text = token_text(token)
        out[text] = _logaddexp(out[text], lp) if text in out else float(lp)
    return out


def _logaddexp(a: float, b: float) -> float:
    m = max(a, b)
    if m == -math.inf:
        return m
    return m + math.log(math.exp(a - m) + math.exp(b - m))

