"""Uncertainty and stability of a compass point: bootstrap intervals over propositions, pooling
the forms of each proposition, and how stable the forced answer is across forms.

Answers and weight tables are those of ``compass`` (canonical Likert order, ``CompassWeights``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .compass import (
    AXES,
    N_OPTIONS,
    AxisWeights,
    CompassWeights,
    Probs,
    answer_probs,
    argmax_answer,
    compass_point,
    contributions,
    load_weights,
)
from .stats import MIN_INTERVAL_UNITS


# ---- uncertainty over propositions ---------------------------------------------------------------
def _statistic(weights: AxisWeights):
    """The axis formula as a vectorised statistic of resampled per-proposition values (a resample
    holds as many propositions as the axis had answered, so a sum table's sum keeps its size)."""
    import numpy as np

    def stat(x, axis=-1):
        if weights.divisor is not None:
            return weights.offset + np.sum(x, axis=axis) / weights.divisor
        return weights.offset + np.mean(x, axis=axis)

    return stat


def bootstrap_interval(
    answers: Sequence[Any],
    weights: "str | Path | CompassWeights" = "pct",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of each coordinate, resampling with replacement the answered
    propositions *of that axis* (an economic coordinate from economic propositions only).

    The interval says how much the point depends on which propositions happen to be in the
    questionnaire. Resampling all propositions with zeros for the other axis's would let an axis's
    sum move with how many of its propositions were drawn. Fewer than ``core.stats.MIN_INTERVAL_UNITS``
    answered propositions on an axis give (nan, nan).
    """
    import numpy as np
    from scipy.stats import bootstrap

    w = load_weights(weights)
    c = contributions(answers, w)
    out: dict[str, tuple[float, float]] = {}
    for axis_name in AXES:
        axis = w.axis(axis_name)
        data = np.asarray(axis.answered(c[axis_name]), dtype=float)
        if data.size < MIN_INTERVAL_UNITS:
            out[axis_name] = (math.nan, math.nan)
            continue
        if np.all(data == data[0]):
            v = axis.formula(list(data))
            out[axis_name] = (v, v)
            continue
        res = bootstrap(
            (data,),
            _statistic(axis),
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
        out[axis_name] = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    return out


# ---- pooling and stability across forms ----------------------------------------------------------
@dataclass(frozen=True)
class FormAnswer:
    """One asked form of a proposition: which wording, option order and label style, and its answer."""

    index: int
    paraphrase: int
    order: str
    labels: str
    probs: Probs | None


def pool(forms: Sequence[FormAnswer], n: int) -> list[Probs | None]:
    """Per proposition, the mean distribution over its answered forms (None if none answered)."""
    sums: list[list[float] | None] = [None] * n
    counts = [0] * n
    for f in forms:
        if f.probs is None:
            continue
        if sums[f.index] is None:
            sums[f.index] = [0.0] * N_OPTIONS
        for k, p in enumerate(answer_probs(f.probs)):  # type: ignore[arg-type]
            sums[f.index][k] += p  # type: ignore[index]
        counts[f.index] += 1
    return [None if s is None else tuple(v / counts[i] for v in s) for i, s in enumerate(sums)]  # type: ignore[misc]


FACTORS = ("paraphrase", "order", "labels")


def _pairs_agreement(groups: Mapping[Any, list[int]]) -> float:
    """Share of pairs within each group that give the same forced answer (NaN without pairs)."""
    same = total = 0
    for answers in groups.values():
        for i in range(len(answers)):
            for j in range(i + 1, len(answers)):
                total += 1
                same += answers[i] == answers[j]
    return same / total if total else math.nan


def stability(
    forms: Sequence[FormAnswer], weights: "str | Path | CompassWeights", n_resamples: int = 0
) -> dict[str, Any]:
    """How stable the forced answer and the point are across wordings, option order and label style.

    - ``agreement``: over pairs of forms of the same proposition, the share whose forced (argmax)
      answers are equal (1 = the forced answer never changes with the form);
    - ``agreement_by_factor``: the same over pairs that differ in only that factor;
    - ``versions``: one questionnaire per (paraphrase, order, labels) combination, with its
      expected and argmax point; ``spread``: the standard deviation of those points per axis.
    """
    w = load_weights(weights)
    answered = [f for f in forms if f.probs is not None]
    by_item: dict[int, list[int]] = {}
    for f in answered:
        by_item.setdefault(f.index, []).append(argmax_answer(f.probs))  # type: ignore[arg-type]
    per_factor: dict[str, float] = {}
    for factor in FACTORS:
        groups: dict[tuple, list[int]] = {}
        for f in answered:
            rest = tuple((g, getattr(f, g)) for g in FACTORS if g != factor)
            groups.setdefault((f.index, rest), []).append(argmax_answer(f.probs))  # type: ignore[arg-type]
        per_factor[factor] = _pairs_agreement(groups)
    versions = []
    keys = sorted({(f.paraphrase, f.order, f.labels) for f in forms})
    for key in keys:
        subset = [f for f in forms if (f.paraphrase, f.order, f.labels) == key]
        pooled = pool(subset, len(w))
        if not any(p is not None for p in pooled):
            continue
        e = compass_point(pooled, w)
        a = compass_point([argmax_answer(p) for p in pooled], w)
        versions.append(
            {"paraphrase": key[0], "order": key[1], "labels": key[2], "expected": list(e), "argmax": list(a),
             "answered": sum(p is not None for p in pooled)}
        )
    spread: dict[str, list[float]] = {}
    for kind in ("expected", "argmax"):
        cols = list(zip(*[v[kind] for v in versions])) if versions else [(), ()]
        spread[kind] = [_sd(col) for col in cols]
    return {
        "agreement": _pairs_agreement(by_item),
        "agreement_by_factor": per_factor,
        "versions": versions,
        "spread": spread,
    }


def _sd(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    if len(vals) < 2:
        return math.nan
    mu = math.fsum(vals) / len(vals)
    return math.sqrt(math.fsum((v - mu) ** 2 for v in vals) / (len(vals) - 1))
