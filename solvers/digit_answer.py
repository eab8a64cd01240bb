"""Ask a 0-9 question and keep the first answer token's top log-probabilities."""

from __future__ import annotations

from inspect_ai.solver import Generate, Solver, TaskState, solver


@solver
def digit_answer(top_logprobs: int = 20, max_tokens: int = 1) -> Solver:
    """Generate the answer with log-probabilities on (the paper allowed one token, as here).

    Args:
      top_logprobs: how many most probable first tokens to ask the provider for (20 is the limit
        of many APIs; Inspect's ``hf`` provider has none).
      max_tokens: tokens to generate; only the first one is scored.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        return await generate(state, max_tokens=max_tokens, logprobs=True, top_logprobs=top_logprobs)

    return solve
