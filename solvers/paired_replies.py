"""Answer both prompts of a pair, each in a fresh conversation (the model never sees the other side)."""

from __future__ import annotations

from inspect_ai.model import ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver


@solver
def paired_replies(max_tokens: int | None = 512) -> Solver:
    """Replies to ``prompt_a`` and ``prompt_b`` (sample metadata) into ``reply_a`` and ``reply_b``.

    Args:
      max_tokens: length limit of each reply (None: the provider's default).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        limit = {} if max_tokens is None else {"max_tokens": max_tokens}
        for side in ("a", "b"):
            state.messages = [ChatMessageUser(content=state.metadata[f"prompt_{side}"])]
            state = await generate(state, **limit)
            state.metadata[f"reply_{side}"] = state.output.completion
        return state

    return solve
