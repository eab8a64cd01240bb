"""Ask a proposition twice in one sample: first forced (the Likert question, numbers 1-4, the first
token's top log-probabilities kept, asked for as many as it takes to see all four labels where the
provider has no cap: ``option_answer.ask_for_options``), then openly in a fresh conversation whose
reply is the sample's output. The forced answer and which labels it was read from go to the sample
metadata (``scorers.unforced_position.FORCED_FIELDS``), so partial coverage reaches the scorer."""

from __future__ import annotations

from inspect_ai.model import ChatMessageUser, ModelOutput
from inspect_ai.solver import Generate, Solver, TaskState, solver

from polistance_plugins.core import option_distribution_from_logprobs
from polistance_plugins.core.records import DEFAULT_MIN_MASS, format_status
from polistance_plugins.instruments.compass import LikertForm, canonical_distribution

from polistance_plugins.scorers.coverage import coverage_fields
from polistance_plugins.scorers.logprobs import first_token_logprobs
from polistance_plugins.scorers.unforced_position import FORCED_FIELDS

from .option_answer import ask_for_options


def read_forced(form: LikertForm, output: ModelOutput | None, min_mass: float = DEFAULT_MIN_MASS) -> dict:
    """``FORCED_FIELDS`` of a forced answer: the canonical distribution renormalised over the labels
    returned (None when off-format) and which labels those were; all None without log-probabilities."""
    top = first_token_logprobs(output) if output else None
    if top is None:
        return dict.fromkeys(FORCED_FIELDS)
    dist = canonical_distribution(form, option_distribution_from_logprobs(top, form.choices))
    probs = [round(p, 10) for p in dist.probs] if format_status(dist, min_mass) == "ok" else None
    return {"forced_probs": probs, **{f"forced_{k}": v for k, v in coverage_fields(dist, len(top)).items()}}


@solver
def forced_then_open(max_tokens: int = 256, top_logprobs: int | None = None, min_mass: float = DEFAULT_MIN_MASS) -> Solver:
    """Forced answer into ``state.metadata`` (``read_forced``; ``forced_probs`` in canonical order,
    strongly disagree .. strongly agree), then the open reply as the output.

    Args:
      max_tokens: length limit of the open reply.
      top_logprobs: first-token alternatives requested for the forced answer. None (default): 20, then
        ten times more until all four labels are there where the provider has no cap (``hf``), 20
        elsewhere; a number is asked as given.
      min_mass: below this probability on the numbers 1-4 the forced answer is off-format (None).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        form = LikertForm.from_fields(state.metadata)
        state = await ask_for_options(state, generate, form.choices, top_logprobs, max_tokens=1, temperature=0.0)
        state.metadata.update(read_forced(form, state.output, min_mass))
        state.messages = [ChatMessageUser(content=state.metadata["open_question"])]
        return await generate(state, max_tokens=max_tokens)

    return solve
