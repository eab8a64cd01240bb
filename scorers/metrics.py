"""Metrics over dict-valued scores, overall and per topic, that never turn a missing value into 0.

Every polistance scorer returns a dict of numbers per sample (e.g. ``expected``, ``stance``,
``no_digit``). A value that could not be measured is NaN and is skipped by the means; flags such as
``no_digit`` or ``unscored`` are 0/1 and are *counted*. ``summarise`` is the pure computation; the
``summary`` metric hands it Inspect's per-epoch scores (each reply is one observation).

Metric names: ``<key>`` over all samples and ``<group>/<key>`` per group (topic by default), with
``n`` / ``<group>/n`` the number of samples (items or replies) behind them and ``<key>_std`` the
sample standard deviation where asked for.
"""

from __future__ import annotations

import math
import statistics
from typing import Mapping, Sequence

from inspect_ai.scorer import Metric, SampleScore, metric


def _finite(values) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append(float(v))
        elif isinstance(v, (int, float)) and not math.isnan(v):
            out.append(float(v))
    return out


def _block(values: Sequence[Mapping], means: Sequence[str], counts: Sequence[str], stds: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {"n": float(len(values))}
    for key in means:
        vals = _finite(v.get(key) for v in values)
        out[key] = statistics.fmean(vals) if vals else math.nan
    for key in stds:
        vals = _finite(v.get(key) for v in values)
        out[f"{key}_std"] = statistics.stdev(vals) if len(vals) >= 2 else math.nan
    for key in counts:
        out[key] = float(sum(_finite(v.get(key) for v in values)))
    return out


def summarise(
    rows: Sequence[tuple[str | None, Mapping]],
    means: Sequence[str] = (),
    counts: Sequence[str] = (),
    stds: Sequence[str] = (),
) -> dict[str, float]:
    """Means (NaN skipped), counts and standard deviations of score-dict keys, overall and per group.

    ``rows`` are (group, value dict) pairs; a group of None is counted only in the overall block.
    """
    values = [v for _, v in rows]
    out = _block(values, means, counts, stds)
    groups: dict[str, list[Mapping]] = {}
    for group, value in rows:
        if group is not None:
            groups.setdefault(str(group), []).append(value)
    for group, vals in groups.items():
        for key, v in _block(vals, means, counts, stds).items():
            out[f"{group}/{key}"] = v
    return out


@metric(scores="unreduced")
def summary(means: list[str], counts: list[str] | None = None, stds: list[str] | None = None, by: str | None = "topic") -> Metric:
    """Inspect metric: ``summarise`` over every epoch's score, grouped by the sample metadata key ``by``."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        rows = []
        for s in scores:
            value = s.score.value
            if not isinstance(value, Mapping):
                continue
            group = (s.sample_metadata or {}).get(by) if by else None
            rows.append((group, value))
        return summarise(rows, means, counts or (), stds or ())

    return compute
