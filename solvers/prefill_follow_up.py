"""Put an answer in the model's mouth, then ask it to explain that answer (the elaboration probe)."""

from __future__ import annotations

from inspect_ai.model import ChatMessageAssistant, ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver

from polistance_plugins.instruments.elaboration import FOLLOW_UP


@solver
def prefill_and_follow_up(follow_up: str = FOLLOW_UP, answer_key: str = "answer", max_tokens: int | None = 256) -> Solver:
    """Turn [user question] into [user question, assistant <answer>, user follow-up] and generate.

    The answer comes from the sample metadata (``answer_key``) and is recorded as an input
    message, not a generated one. Sampling settings are the model's own (Inspect's ``hf``
    provider samples unless ``-M do_sample=false``), so repeated epochs give different replies.

    Args:
      follow_up: the second user turn.
      answer_key: sample metadata key holding the prefilled answer.
      max_tokens: reply length limit (None: the provider's default).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        answer = state.metadata[answer_key]
        state.messages.append(ChatMessageAssistant(content=str(answer), source="input"))
        state.messages.append(ChatMessageUser(content=follow_up))
        if max_tokens is None:
            return await generate(state)
        return await generate(state, max_tokens=max_tokens)

    return solve
