"""Grading with a local model in several label orders: every grader question of the project (the
elaboration categories, the unforced compass answer, ...) is a numbered list of options; the grader's
exact next-token probabilities of the numbers are read in each order, mapped back to the options and
averaged (``core.label_orders``). The judge prompts of one order share their instructions, so the
backend computes that prefix once per batch (``share_prefix``)."""

from __future__ import annotations

from typing import Callable, Sequence

from ..core.label_orders import combine_orders, label_orders, to_canonical
from ..core.records import DEFAULT_MIN_MASS


def order_codes(n_options: int) -> tuple[str, ...]:
    """What the grader answers: the listed number of the option, ``"1"`` .. ``"n"`` (one token each)."""
    if not 1 <= n_options <= 9:
        raise ValueError(f"a graded question needs 1 to 9 options, got {n_options}")
    return tuple(str(i + 1) for i in range(n_options))


def grade_in_orders(grader, prompt_for: Callable[[int, Sequence[int]], str], n_items: int, options: Sequence[str],
                    n_orders: int = 1, min_mass: float = DEFAULT_MIN_MASS) -> list[dict]:
    """One grade per item (``core.label_orders.combine_orders``) from ``n_orders`` label orders.

    ``prompt_for(i, order)`` is item ``i``'s judge prompt with the options listed in ``order``;
    ``grader`` is a local backend (``distributions(prompts, codes, share_prefix=True)``), used as it is."""
    codes = order_codes(len(options))
    per_order = []
    for order in label_orders(len(options), n_orders):
        prompts = [prompt_for(i, order) for i in range(n_items)]
        dists = grader.distributions(prompts, codes, share_prefix=True) if prompts else []
        per_order.append([to_canonical(d, order, options) for d in dists])
    return [combine_orders([dists[i] for dists in per_order], min_mass) for i in range(n_items)]


def labelled(grade: dict, options: Sequence[str]) -> dict:
    """A grade with option names: ``label`` (the chosen option or None), ``probs`` (the average by
    option name, None when nothing was readable), ``mass``, each order's choice (``order_labels``)
    and canonical distribution (``order_probs``), and ``problem`` (None when graded)."""
    names = list(options)
    return {
        "label": names[grade["index"]] if grade["index"] is not None else None,
        "probs": dict(zip(names, grade["probs"])) if grade["probs"] is not None else None,
        "mass": grade["mass"],
        "order_labels": [names[i] if i is not None else None for i in grade["order_labels"]],
        "order_probs": grade["order_probs"],
        "problem": grade["problem"],
    }
