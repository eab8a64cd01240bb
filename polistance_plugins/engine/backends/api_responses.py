"""Reading the JSON an OpenAI-compatible server returns: the choices of a completion, the echoed
prompt's token log-probabilities (exact mode) and the first answer token's top log-probabilities
(top-k mode). A malformed body is a retryable ``RequestFailed``; an answer that cannot be scored
for this prompt (e.g. the server tokenises the option differently) is an ``ItemError``."""

from __future__ import annotations

import math
from typing import Sequence

from ...core.distribution import checked_logprob
from .api_http import ItemError, RequestFailed


def choices_of(data, n: int) -> list[dict]:
    """The ``n`` choices of a response ordered by index; a malformed body is a retryable failure."""
    if not isinstance(data, dict):
        raise RequestFailed("response is not a JSON object", True)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise RequestFailed("server returned no choices", True)
    by_index: dict[int, dict] = {}
    for pos, c in enumerate(choices):
        if not isinstance(c, dict):
            raise RequestFailed("a choice is not a JSON object", True)
        idx = c.get("index", pos)
        by_index[idx if isinstance(idx, int) else pos] = c
    if sorted(by_index) != list(range(n)):
        raise RequestFailed(f"server returned {len(choices)} choices for {n} prompts", True)
    return [by_index[i] for i in range(n)]


def _echo_logprobs(choice: dict) -> tuple[list, list]:
    """(tokens, token_logprobs) of an echoed completion; missing logprobs are a retryable failure."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        raise RequestFailed("response has no logprobs", True)
    tokens, values = lp.get("tokens"), lp.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list) or not tokens or len(tokens) != len(values):
        raise RequestFailed("response has no token logprobs", True)
    return tokens, values


def echoed_choices(data, n: int) -> list[dict]:
    """The ``n`` choices of an echo request, each checked to carry token logprobs."""
    choices = choices_of(data, n)
    for c in choices:
        _echo_logprobs(c)
    return choices


def echo_covers(choice: dict, sent: str) -> bool:
    """Whether the response echoed the whole prompt (a server may ignore ``echo``)."""
    text = choice.get("text") if isinstance(choice.get("text"), str) else ""
    lp = choice.get("logprobs") if isinstance(choice.get("logprobs"), dict) else {}
    tokens = lp.get("tokens") if isinstance(lp.get("tokens"), list) else []
    return sent in text or len("".join(t for t in tokens if isinstance(t, str))) >= len(sent)


def option_logprob(choice: dict, context: str, option: str, local_pieces: Sequence[str]) -> float:
    """log P(option | context) from an echoed completion of ``context + option``.

    The option's tokens are found from the end of the echo: the generated text (if any) is peeled
    off, then the last tokens whose text makes up exactly ``option``. Aligning on the end keeps
    this independent of how a server prints special tokens or offsets earlier in the prompt.
    They must equal ``local_pieces`` (the local tokenizer's split), else ``ItemError`` says how
    they differ; a server token that straddles the prompt/option boundary is a mismatch too.
    """
    tokens, values = _echo_logprobs(choice)
    for v in values:  # one impossible value anywhere in the echo and none of it can be trusted
        if v is not None:
            try:
                checked_logprob(v, "log-probability in the echoed prompt")
            except ValueError as e:
                raise ItemError(f"server gave an {e}" if str(e).startswith("impossible") else f"server's {e}") from None
    sent = context + option
    text = choice.get("text") if isinstance(choice.get("text"), str) else ""
    at = text.rfind(sent)
    if at < 0:
        raise ItemError("the echoed text does not contain the prompt")
    generated = text[at + len(sent) :]
    end, tail = len(tokens), ""
    while end > 0 and len(tail) < len(generated):
        end -= 1
        tail = str(tokens[end]) + tail
    if tail != generated:
        raise ItemError(f"cannot tell the echoed prompt from the generated text {generated!r}")
    while end > 0 and tokens[end - 1] == "":  # a generated end-of-sequence token prints as nothing
        end -= 1
    first, piece = end, ""
    while first > 0 and len(piece) < len(option):
        first -= 1
        piece = str(tokens[first]) + piece
    if piece != option:
        raise ItemError(
            f"tokenisation mismatch: the server's token {tokens[first]!r} spans the end of the prompt and the "
            f"start of option {option!r} (local tokens {list(local_pieces)!r}); is --tokenizer the served model's?"
        )
    server_pieces = list(tokens[first:end])
    if server_pieces != list(local_pieces):
        raise ItemError(
            f"tokenisation mismatch for option {option!r}: server tokens {server_pieces!r}, local tokens "
            f"{list(local_pieces)!r}; is --tokenizer the served model's?"
        )
    picked = values[first:end]
    if any(v is None for v in picked):
        raise ItemError(f"server gave no log-probability for option {option!r} ({picked!r})")
    try:
        return float(sum(checked_logprob(v, f"log-probability of option {option!r}") for v in picked))
    except ValueError as e:
        raise ItemError(f"server gave an {e}" if str(e).startswith("impossible") else f"server's {e}") from None


def _merge(top: dict[str, float], token: str, logprob: float) -> None:
    """Add one token's log-probability to a token->logprob map (summing duplicate strings)."""
    if token in top:
        a, b = top[token], logprob
        m = max(a, b)
        top[token] = m + math.log(math.exp(a - m) + math.exp(b - m))
    else:
        top[token] = logprob


def first_token_top(choice: dict, endpoint: str) -> dict[str, float]:
    """The first answer token's top log-probabilities as token->logprob; absent ones are retryable,
    a value that cannot be a log-probability (``checked_logprob``) is the item's ``ValueError``."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        raise RequestFailed("response has no logprobs", True)
    top: dict[str, float] = {}
    if endpoint == "chat":
        content = lp.get("content")
        if not isinstance(content, list) or not content or not isinstance(content[0], dict):
            raise RequestFailed("response has no logprobs content", True)
        entries = content[0].get("top_logprobs")
        if not isinstance(entries, list) or not entries:
            raise RequestFailed("response has no top_logprobs", True)
        for e in entries:
            if isinstance(e, dict) and isinstance(e.get("token"), str) and e.get("logprob") is not None:
                _merge(top, e["token"], checked_logprob(e["logprob"], f"log-probability of token {e['token']!r}"))
    else:
        tops = lp.get("top_logprobs")
        if not isinstance(tops, list) or not tops or not isinstance(tops[0], dict) or not tops[0]:
            raise RequestFailed("response has no top_logprobs", True)
        for tok, v in tops[0].items():
            if v is not None:
                _merge(top, tok, checked_logprob(v, f"log-probability of token {tok!r}"))
    if not top:
        raise RequestFailed("response has no usable top_logprobs", True)
    return top

