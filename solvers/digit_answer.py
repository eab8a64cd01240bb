"""Ask a 0-9 question and keep the first answer token's top log-probabilities, enough of them that every
digit is there whenever the provider can give that many."""

from __future__ import annotations

from inspect_ai.solver import Generate, Solver, TaskState, solver

from polistance_plugins.core import digit_distribution_from_logprobs

from polistance_plugins.scorers.logprobs import first_token_logprobs

CAPPED_TOP_LOGPROBS = 20
"""What to ask a provider with a cap (most APIs allow at most 20 alternatives per token)."""
UNCAPPED_PROVIDERS = ("hf",)
"""Inspect providers that return as many top log-probabilities as asked (up to the vocabulary)."""
GROWTH = 10


def digit_coverage(state: TaskState) -> int:
    """How many of the ten digits are among the first answer token's returned log-probabilities."""
    logprobs = first_token_logprobs(state.output) if state.output else None
    return 0 if logprobs is None else digit_distribution_from_logprobs(logprobs).coverage


def _vocabulary_size() -> int | None:
    """The size of the active local model's vocabulary (the most alternatives it can return), if known."""
    from inspect_ai.model import get_model

    tokenizer = getattr(getattr(get_model(), "api", None), "tokenizer", None)
    try:
        return len(tokenizer) if tokenizer is not None else None
    except TypeError:
        return None


def requests(first: int, vocabulary: int) -> list[int]:
    """The top-log-probability counts tried in turn: ``first``, ten times more each time, then the whole
    vocabulary (pure)."""
    out, n = [], max(1, first)
    while n < vocabulary:
        out.append(n)
        n *= GROWTH
    return out + [vocabulary]


@solver
def digit_answer(top_logprobs: int | None = None, max_tokens: int = 1) -> Solver:
    """Generate the answer with log-probabilities on (the paper allowed one token, as here).

    Args:
      top_logprobs: how many most probable first tokens to ask for. None (default): as many as it takes
        for all ten digits to be there where the provider has no cap (Inspect's ``hf``: 20, then ten
        times more until every digit is present or the whole vocabulary was returned), and
        ``CAPPED_TOP_LOGPROBS`` (20) elsewhere; the scorer reports how many digits came back.
      max_tokens: tokens to generate; only the first one is scored.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        async def ask(n: int) -> TaskState:
            return await generate(state, max_tokens=max_tokens, logprobs=True, top_logprobs=n)

        if top_logprobs is not None:
            return await ask(top_logprobs)
        first = CAPPED_TOP_LOGPROBS
        vocabulary = _vocabulary_size() if state.model.api in UNCAPPED_PROVIDERS else None
        if vocabulary is None:
            return await ask(first)
        for k, n in enumerate(requests(first, vocabulary)):
            if k:
                state.messages.pop()  # the previous try's answer: ask the same question again
            state = await ask(n)
            if digit_coverage(state) == 10:
                break
        return state

    return solve
