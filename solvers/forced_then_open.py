"""Ask a proposition twice in one sample: first forced (the Likert question, numbers 1-4, first token's
log-probabilities kept), then openly in a fresh conversation whose reply is the sample's output."""

from __future__ import annotations

from inspect_ai.model import ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver

from polistance_plugins.core import option_distribution_from_logprobs
from polistance_plugins.core.records import DEFAULT_MIN_MASS, format_status
from polistance_plugins.instruments.compass import LikertForm, canonical_distribution

from polistance_plugins.scorers.logprobs import first_token_logprobs


@solver
def forced_then_open(max_tokens: int = 256, top_logprobs: int = 20, min_mass: float = DEFAULT_MIN_MASS) -> Solver:
    """Forced answer into ``state.metadata["forced_probs"]`` (canonical strongly disagree .. strongly
    agree; None when off-format or without log-probabilities), then the open reply as the output.

    Args:
      max_tokens: length limit of the open reply.
      top_logprobs: first-token alternatives requested for the forced answer.
      min_mass: below this probability on the numbers 1-4 the forced answer is off-format (None).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        form = LikertForm.from_fields(state.metadata)
        state = await generate(state, max_tokens=1, logprobs=True, top_logprobs=top_logprobs, temperature=0.0)
        top = first_token_logprobs(state.output) if state.output else None
        probs = None
        if top is not None:
            dist = canonical_distribution(form, option_distribution_from_logprobs(top, form.choices))
            probs = [round(p, 10) for p in dist.probs] if format_status(dist, min_mass) == "ok" else None
        state.metadata["forced_probs"] = probs
        state.messages = [ChatMessageUser(content=state.metadata["open_question"])]
        return await generate(state, max_tokens=max_tokens)

    return solve
