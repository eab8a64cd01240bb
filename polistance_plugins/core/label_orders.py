"""Label-order debiasing of a grader: ask the same multiple-choice question with the options listed
in several orders, map each order's probabilities back to the options, and average them.

A grader that prefers whatever is listed first (or last) puts that preference on a different option
in each order, so the average cancels much of it, and the disagreement between orders measures it
(``core.kappa.order_agreement``). An *order* is a tuple of canonical option indices in listed
position: ``order[pos]`` is the option shown as number ``pos + 1``.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..errors import PolistanceError
from .distribution import Distribution
from .records import DEFAULT_MIN_MASS, grader_choice


def label_orders(n_options: int, k: int) -> list[tuple[int, ...]]:
    """``k`` distinct orders of ``n_options`` options: forward, reversed, then rotations (each
    followed by its reverse), so with ``k >= 2`` every end of the list is held by different options.
    At most ``2 * n_options`` orders exist this way (ValueError beyond that, or for ``k < 1``)."""
    if k < 1:
        raise ValueError(f"label orders: need at least 1, got {k}")
    forward = tuple(range(n_options))
    candidates: list[tuple[int, ...]] = []
    for shift in range(n_options):
        rotated = forward[shift:] + forward[:shift]
        for order in (rotated, rotated[::-1]):
            if order not in candidates:
                candidates.append(order)
    if k > len(candidates):
        raise ValueError(f"label orders: {n_options} options allow at most {len(candidates)} orders, got {k}")
    return candidates[:k]


def check_orders(n_options: int, k: int, name: str = "grader_orders") -> int:
    """``k`` as a number of label orders for ``n_options`` options, or PolistanceError naming ``name``."""
    try:
        label_orders(n_options, int(k))
    except (TypeError, ValueError) as e:
        raise PolistanceError(f"{name} {k!r}: {e}") from None
    return int(k)


def listed(options: Sequence, order: Sequence[int]) -> list:
    """The options in the order they are shown."""
    return [options[i] for i in order]


def to_canonical(dist: Distribution, order: Sequence[int], options: Sequence[str]) -> Distribution:
    """A distribution over the listed codes (position 1..n) re-expressed over the canonical ``options``."""
    probs = [0.0] * len(order)
    present = [False] * len(order)
    for pos, idx in enumerate(order):
        probs[idx] = dist.probs[pos]
        present[idx] = dist.present[pos]
    return Distribution(tuple(probs), dist.mass, tuple(options), tuple(present))


def combine_orders(per_order: Sequence[Distribution], min_mass: float = DEFAULT_MIN_MASS) -> dict:
    """One grade from the canonical distributions of every order.

    The orders whose answer is readable (``core.records.grader_choice``) are averaged; the chosen
    option is the average's most probable one. Returns ``index`` (None when no order was readable),
    ``probs`` (the average, None then), ``mass`` (mean raw mass over all orders), ``order_labels``
    (each order's own choice or None), ``order_probs`` and ``problem`` (why nothing was chosen)."""
    choices = [grader_choice(d, min_mass) for d in per_order]
    usable = [d for d, (i, _) in zip(per_order, choices) if i is not None]
    mass = math.fsum(d.mass for d in per_order) / len(per_order) if per_order else 0.0
    base = {
        "mass": mass,
        "order_labels": [i for i, _ in choices],
        "order_probs": [list(d.probs) for d in per_order],
    }
    if not usable:
        problem = next((p for _, p in choices if p), "no grader answer")
        return {**base, "index": None, "probs": None, "problem": problem}
    n = len(usable[0].probs)
    mean = tuple(math.fsum(d.probs[j] for d in usable) / len(usable) for j in range(n))
    index = max(range(n), key=lambda j: (mean[j], -j))
    return {**base, "index": index, "probs": list(mean), "problem": None}
