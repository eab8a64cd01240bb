"""Asking a grader role the same multiple-choice question with the options in several label orders
(``core.label_orders``): each order's answer is mapped back to the options and the orders averaged.

In ``logprob`` mode an order's answer is the grader's distribution over the listed numbers; in
``text`` mode it is the one option the reply names (a one-hot distribution). The grade keeps each
order's choice and distribution, so the metrics can measure how much the order moved the grader.
"""

from __future__ import annotations

from typing import Callable, Sequence

from polistance_plugins.core import Distribution
from polistance_plugins.core.label_orders import combine_orders, label_orders, to_canonical
from polistance_plugins.core.records import DEFAULT_MIN_MASS

from .grader import ask_grader


async def grade_in_orders(
    prompt_for: Callable[[Sequence[int]], str],
    mode: str,
    options: Sequence[str],
    parse: Callable[[str], int | None],
    n_orders: int = 1,
    top_logprobs: int = 20,
    min_mass: float = DEFAULT_MIN_MASS,
    max_tokens: int = 16,
    role: str = "grader",
) -> dict:
    """``core.label_orders.combine_orders`` over the orders, plus the grader's ``replies``.

    ``prompt_for(order)`` is the judge prompt with the options listed in ``order``; ``parse`` reads a
    text reply into a canonical option index. In logprob mode the codes are the listed numbers."""
    n = len(options)
    codes = tuple(str(i + 1) for i in range(n))
    per_order, replies, problems = [], [], []
    for order in label_orders(n, n_orders):
        verdict = await ask_grader(prompt_for(order), mode, codes, parse, top_logprobs, min_mass, max_tokens, role=role)
        replies.append(verdict.reply)
        problems.append(verdict.problem)
        if verdict.distribution is not None:
            per_order.append(to_canonical(verdict.distribution, order, options))
        elif verdict.index is not None:
            per_order.append(Distribution(tuple(float(i == verdict.index) for i in range(n)), 1.0, tuple(options)))
        else:
            per_order.append(Distribution((0.0,) * n, 0.0, tuple(options), (False,) * n))
    grade = combine_orders(per_order, min_mass)
    if grade["index"] is None:
        grade["problem"] = next((p for p in problems if p), grade["problem"])
    return {**grade, "replies": replies}
