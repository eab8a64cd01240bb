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
    ``grader`` is a local or served backend, used as it is (``loop.score_texts``). Each grade also
    says how the numbers were read (``method``: exact, topk, ...) and the fewest options any order
    saw (``coverage``); an item whose request failed in some order is ungraded, with the reason."""
    from .loop import score_texts

    codes = order_codes(len(options))
    per_order = []
    for order in label_orders(len(options), n_orders):
        prompts = [prompt_for(i, order) for i in range(n_items)]
        per_order.append((order, score_texts(grader, prompts, codes) if prompts else []))
    grades = []
    for i in range(n_items):
        results = [res[i] for _, res in per_order]
        failed = next((r.error for r in results if r.distribution is None), None)
        if failed is not None:
            grades.append({"index": None, "probs": None, "mass": None, "order_labels": [], "order_probs": [],
                           "problem": f"grader request failed: {failed}", "method": None, "coverage": 0})
            continue
        dists = [to_canonical(r.distribution, order, options) for (order, _), r in zip(per_order, results)]
        grade = combine_orders(dists, min_mass)
        methods = sorted({r.method for r in results if r.method})
        grade.update(method="+".join(methods) or None, coverage=min(r.distribution.coverage for r in results))
        grades.append(grade)
    return grades


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
        "method": grade.get("method"),
        "coverage": grade.get("coverage"),
        "problem": grade["problem"],
    }
