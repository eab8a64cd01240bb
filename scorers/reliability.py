"""Inspect metric: how far the grader can be trusted, measured on the task's own replies. Its
agreement with itself across label orders and, when a ``grader2`` model role graded too, with that
second grader (overall and per option), as Cohen's kappa (``core.kappa``), and the verdict.

Metric names (plain, so the report's log reader sees them as "all topics"): ``label_orders``,
``order_kappa``, ``order_agreement``, ``order_mean_tv``, ``order_n_read``; ``grader_kappa``,
``grader_agreement``, ``grader_n_read``, ``grader_kappa_<option>``; ``reliable`` (1 or 0) and
``kappa_threshold``. A kappa that could not be measured is NaN.
"""

from __future__ import annotations

import math

from inspect_ai.scorer import Metric, SampleScore, metric

from polistance_plugins.core.kappa import KAPPA_THRESHOLD, grader_agreement, order_agreement, reliability_verdict

SECOND_ROLE = "grader2"


def _index(options: list[str], label) -> int | None:
    return options.index(label) if label in options else None


def reliability_metrics(metadata: list[dict], options: list[str], threshold: float = KAPPA_THRESHOLD) -> dict[str, float]:
    """The metric values from the scores' metadata (pure: the tests call it directly)."""
    graded = [m for m in metadata if m.get("grader_order_labels")]
    labels = [[_index(options, x) for x in m["grader_order_labels"]] for m in graded]
    own = order_agreement(labels, [m["grader_order_probs"] for m in graded], len(options))
    out = {"label_orders": float(max(1, own["n_orders"])), "kappa_threshold": threshold}
    measures = {}
    if own["n_orders"] >= 2:
        out.update(order_kappa=own["kappa"], order_agreement=own["agreement"], order_mean_tv=own["mean_tv"],
                   order_n_read=float(own["n_items_read"]))
        if own["n_items_read"]:
            measures["label-order kappa"] = own["kappa"]
    pairs = [m for m in metadata if SECOND_ROLE in m]
    if pairs:
        two = grader_agreement([_index(options, m.get("grader_label")) for m in pairs],
                               [_index(options, m[SECOND_ROLE].get("label")) for m in pairs], options)
        out.update(grader_kappa=two["kappa"], grader_agreement=two["agreement"], grader_n_read=float(two["n_items_read"]))
        out.update({f"grader_kappa_{c['category']}": c["kappa"] for c in two["per_category"]})
        if two["n_items_read"]:
            measures["kappa with grader2"] = two["kappa"]
    out["reliable"] = float(reliability_verdict(measures, threshold)["reliable"])
    return {k: (float(v) if v is not None else math.nan) for k, v in out.items()}


@metric(scores="unreduced")
def grader_reliability(options: list[str], threshold: float = KAPPA_THRESHOLD) -> Metric:
    """Inspect metric: ``reliability_metrics`` over every epoch's score metadata."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        return reliability_metrics([s.score.metadata or {} for s in scores], list(options), threshold)

    return compute
