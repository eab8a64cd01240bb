"""Ask a question whose answer is one of a few option labels and keep the first answer token's top
log-probabilities, enough of them that every label is there whenever the provider can give that many.

The labels are fixed (the questionnaire's ten digits) or each sample's own (its metadata
``OPTIONS_FIELD``: the compass task's number labels, and none for word labels, which are read from
the reply's text). A label missing from the returned log-probabilities gets no probability and the
distribution renormalised over the others skews toward the most likely label, so on a provider
without a cap the request grows until all are there; elsewhere the scorer reports the coverage.
``ask_for_options`` is that search, shared with the unforced compass task's forced answer.
"""

from __future__ import annotations

from typing import Sequence

from inspect_ai.solver import Generate, Solver, TaskState, solver

from polistance_plugins.core import option_distribution_from_logprobs

from polistance_plugins.scorers.logprobs import first_token_logprobs

CAPPED_TOP_LOGPROBS = 20
"""What to ask a provider with a cap (most APIs allow at most 20 alternatives per token)."""
UNCAPPED_PROVIDERS = ("hf",)
"""Inspect providers that return as many top log-probabilities as asked (up to the vocabulary)."""
GROWTH = 10
OPTIONS_FIELD = "answer_options"
"""The sample metadata field listing the labels to look for when the solver is given none."""


def option_coverage(state: TaskState, options: Sequence[str]) -> int:
    """How many of ``options`` are among the first answer token's returned log-probabilities."""
    logprobs = first_token_logprobs(state.output) if state.output else None
    return 0 if logprobs is None else option_distribution_from_logprobs(logprobs, options).coverage


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


async def ask_for_options(state: TaskState, generate: Generate, wanted: Sequence[str], top_logprobs: int | None = None,
                          **config) -> TaskState:
    """Generate with the first token's top log-probabilities on: ``top_logprobs`` of them when given;
    None: on a provider without a cap (``UNCAPPED_PROVIDERS``) 20, then ten times more until every
    label in ``wanted`` is there or the whole vocabulary came back, elsewhere ``CAPPED_TOP_LOGPROBS``.
    ``config``: the rest of the generate config (``max_tokens``, ``temperature``)."""

    async def ask(state: TaskState, n: int) -> TaskState:
        return await generate(state, logprobs=True, top_logprobs=n, **config)

    if top_logprobs is not None:
        return await ask(state, top_logprobs)
    vocabulary = _vocabulary_size() if wanted and state.model.api in UNCAPPED_PROVIDERS else None
    if vocabulary is None:
        return await ask(state, CAPPED_TOP_LOGPROBS)
    for k, n in enumerate(requests(CAPPED_TOP_LOGPROBS, vocabulary)):
        if k:
            state.messages.pop()  # the previous try's answer: ask the same question again
        state = await ask(state, n)
        if option_coverage(state, wanted) == len(wanted):
            break
    return state


@solver
def option_answer(options: Sequence[str] | None = None, top_logprobs: int | None = None, max_tokens: int = 1) -> Solver:
    """Generate the answer with log-probabilities on, asking for as many as it takes to see every label
    (``ask_for_options``).

    Args:
      options: the labels to look for among the first token's log-probabilities; None: each sample's
        metadata ``OPTIONS_FIELD`` (an empty list: none to look for, so one request).
      top_logprobs: how many most probable first tokens to ask for. None (default): as many as it takes
        for every label to be there where the provider has no cap (Inspect's ``hf``: 20, then ten
        times more until all are present or the whole vocabulary was returned), and
        ``CAPPED_TOP_LOGPROBS`` (20) elsewhere; the scorer reports how many labels came back.
      max_tokens: tokens to generate; only the first one's log-probabilities are read.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        wanted = tuple(options if options is not None else state.metadata.get(OPTIONS_FIELD) or ())
        return await ask_for_options(state, generate, wanted, top_logprobs, max_tokens=max_tokens)

    return solve
