"""Ask an open-ended question and keep the model's free-text answer."""

from __future__ import annotations

from inspect_ai.solver import Generate, Solver, TaskState, solver


@solver
def open_ended(max_tokens: int | None = 256) -> Solver:
    """Generate a free-text response to the sample's prompt.

    Args:
      max_tokens: response length limit (None: the provider's default).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if max_tokens is None:
            return await generate(state)
        return await generate(state, max_tokens=max_tokens)

    return solve
