"""Ask a 0-9 question and keep the first answer token's top log-probabilities, enough of them that every
digit is there whenever the provider can give that many: ``option_answer`` looking for the ten digits."""

from __future__ import annotations

from inspect_ai.solver import Solver, solver

from polistance_plugins.core import DIGITS

from .option_answer import option_answer


@solver
def digit_answer(top_logprobs: int | None = None, max_tokens: int = 1) -> Solver:
    """Generate the answer with log-probabilities on (the paper allowed one token, as here).

    Args:
      top_logprobs: how many most probable first tokens to ask for. None (default): as many as it takes
        for all ten digits to be there where the provider has no cap (``hf``), else 20 (``option_answer``).
      max_tokens: tokens to generate; only the first one is scored.
    """
    return option_answer(DIGITS, top_logprobs, max_tokens)
