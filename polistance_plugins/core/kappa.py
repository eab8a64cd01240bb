"""How far a grader can be trusted: agreement of its labels across label orders and with a second
grader, as Cohen's kappa (scikit-learn's ``cohen_kappa_score``) and raw agreement, and the verdict
the report draws from them.

Kappa corrects raw agreement for chance: 1 = perfect, 0 = what two raters guessing with the same
label frequencies would reach. It is undefined (NaN) when both raters give one and the same label to
every item: agreement is then total but cannot be told apart from chance, which is exactly what a
grader stuck on one answer looks like.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Sequence

KAPPA_THRESHOLD = 0.4
"""Below this Cohen's kappa a grader's categories are shown as unreliable and left out of conclusions
(the top of Landis and Koch's "fair" band: anything less is at best fair agreement)."""


def kappa(a: Sequence, b: Sequence, labels: Sequence | None = None) -> float:
    """Cohen's kappa of two raters' labels on the same items (NaN when undefined or no items)."""
    from sklearn.metrics import cohen_kappa_score

    if len(a) != len(b):
        raise ValueError("the two raters labelled different numbers of items")
    if not a:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = cohen_kappa_score(list(a), list(b), labels=list(labels) if labels is not None else None,
                                  replace_undefined_by=math.nan)
    return float(value)


def raw_agreement(a: Sequence, b: Sequence) -> float:
    """Share of items the two raters labelled alike (NaN without items)."""
    return sum(x == y for x, y in zip(a, b)) / len(a) if a else math.nan


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """Total-variation distance between two distributions over the same options (0 = same, 1 = disjoint)."""
    return 0.5 * math.fsum(abs(x - y) for x, y in zip(p, q))


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return math.fsum(finite) / len(finite) if finite else math.nan


def order_agreement(order_labels: Sequence[Sequence[int | None]], order_probs: Sequence[Sequence[Sequence[float]]],
                    n_options: int) -> dict:
    """A grader's agreement with itself across label orders.

    ``order_labels[i][k]``: the option chosen for item ``i`` in order ``k`` (None = unreadable);
    ``order_probs[i][k]``: that order's canonical distribution. For every pair of orders, kappa and
    raw agreement over the items both orders could read, then the mean over pairs; the total-variation
    distance is averaged over items and pairs. Fewer than two orders give NaN (nothing measured)."""
    n_orders = min((len(x) for x in order_labels), default=0)
    out = {"n_orders": n_orders, "n_items": len(order_labels), "kappa": math.nan, "agreement": math.nan,
           "mean_tv": math.nan, "n_pairs_of_orders": 0, "n_items_read": 0}
    if n_orders < 2:
        return out
    kappas, agreements, tvs = [], [], []
    read = [i for i, labels in enumerate(order_labels) if all(v is not None for v in labels[:n_orders])]
    for j, k in itertools.combinations(range(n_orders), 2):
        a = [order_labels[i][j] for i in read]
        b = [order_labels[i][k] for i in read]
        kappas.append(kappa(a, b, range(n_options)))
        agreements.append(raw_agreement(a, b))
        tvs.extend(total_variation(order_probs[i][j], order_probs[i][k]) for i in read)
    out.update(kappa=_mean(kappas), agreement=_mean(agreements), mean_tv=_mean(tvs),
               n_pairs_of_orders=len(kappas), n_items_read=len(read))
    return out


def grader_agreement(a: Sequence[int | None], b: Sequence[int | None], categories: Sequence[str]) -> dict:
    """Agreement between two graders over the items both could read: overall kappa and raw
    agreement, and per category the one-vs-rest kappa and how often each grader chose it."""
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    xa, yb = [x for x, _ in pairs], [y for _, y in pairs]
    per_category = []
    for c, name in enumerate(categories):
        ia, ib = [int(x == c) for x in xa], [int(y == c) for y in yb]
        per_category.append({"category": name, "kappa": kappa(ia, ib, [0, 1]), "agreement": raw_agreement(ia, ib),
                             "n_first": sum(ia), "n_second": sum(ib)})
    return {"n_items": len(a), "n_items_read": len(pairs), "kappa": kappa(xa, yb, range(len(categories))),
            "agreement": raw_agreement(xa, yb), "per_category": per_category}


def reliability_verdict(measures: dict[str, float], threshold: float = KAPPA_THRESHOLD) -> dict:
    """Whether a grader's categories can be used, from the kappas measured (name -> value; a missing
    measurement is left out of ``measures``). Reliable only when something was measured and every
    measured kappa is defined and at least ``threshold``; ``reasons`` says why not, with the numbers."""
    reasons = []
    if not measures:
        reasons.append("reliability not measured: grade with at least two label orders or a second grader")
    for name, value in measures.items():
        if value is None or math.isnan(value):
            reasons.append(f"{name} undefined: the grader gave one and the same label to every reply it read")
        elif value < threshold:
            reasons.append(f"{name} = {value:.2f} < {threshold:g}")
    return {"reliable": not reasons, "threshold": threshold, "measures": dict(measures), "reasons": reasons}
