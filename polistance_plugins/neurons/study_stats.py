"""The InhibitFT study's statistics: matched units, signed shifts, a paired test and intervals.

A *unit* is one (fine-tuning topic T, seed): every arm trains one adapter per unit with the same
seed and data order, so arms are compared unit by unit. For each adapter and evaluation topic t,
s(T, t) is the mean over t's items of the item's shift *in the trained leaning's direction* (keyed
stance x +1 for right, x -1 for left): moves away from the training show as negative and cancel,
rather than adding up as |shift| would. Per unit:

- in-topic effect: s(T, T); cross-topic generalisation CTG: the mean of s(T, t) over t != T;
- pooled over units (per arm): IN and CTG are means over units, and the topic-specificity ratio
  is CTG / IN (0 = the effect stays on its topic, 1 = it spreads equally everywhere).

Arms are compared with a paired permutation test over units (``scipy.stats.permutation_test``,
exact when 2^units is at most ``n_resamples``). Intervals come from a two-level bootstrap: units
resampled, and items resampled within each evaluation topic, the same draw for every arm (so
differences are paired). Resampling both levels is slightly conservative. A ratio gets no interval
when its denominator's own interval reaches 0 (the ratio is then unbounded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class UnitShifts:
    """Signed per-item shifts of every arm: ``shifts[arm]`` is ``[units, items]``."""

    arms: list[str]
    units: list[tuple[str, int]]
    topics: list[str]
    item_topic: np.ndarray
    shifts: dict[str, np.ndarray]

    @property
    def home(self) -> np.ndarray:
        """Index of each unit's fine-tuning topic among the evaluation topics."""
        return np.array([self.topics.index(T) for T, _ in self.units])


def unit_shifts(records, adapter_name, arms: Sequence[str], units: Sequence[tuple[str, int]], topics: Sequence[str],
                sign: float = 1.0, value: str = "stance") -> UnitShifts:
    """Collect ``sign`` x (adapter - base) item shifts of every arm and unit from evaluation records.

    ``adapter_name(arm, topic, seed)`` names the adapter of a unit. The items are those the base
    answered in format; where an adapter's answer is off-format its shift is NaN, and topic means
    use the items that adapter answered (how many did: ``answered``).
    """
    import pandas as pd

    from .metrics import item_stances, item_shifts

    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame(records)
    base = item_stances(df, "base", value)
    items = [i for i in base.index if base.loc[i, "topic"] in topics]
    missing = [t for t in topics if t not in set(base.loc[items, "topic"])]
    if missing:
        raise ValueError(f"the base answered no item of topics {missing} in format")
    item_topic = np.array([list(topics).index(base.loc[i, "topic"]) for i in items])
    shifts = {}
    for arm in arms:
        rows = [item_shifts(df, adapter_name(arm, *u), value=value)["shift"].reindex(items) for u in units]
        shifts[arm] = sign * np.stack([r.to_numpy(float) for r in rows])
    return UnitShifts(list(arms), list(units), list(topics), item_topic, shifts)


def topic_means(shifts: np.ndarray, item_topic: np.ndarray, n_topics: int) -> np.ndarray:
    """``[..., units, topics]``: mean shift over each topic's answered (non-NaN) items."""
    onehot = (item_topic[:, None] == np.arange(n_topics)[None, :]).astype(float)
    return _weighted_means(shifts, onehot)


def _weighted_means(shifts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Means of ``shifts`` (``[..., items]``, NaN = unanswered) under item ``weights`` (``[..., items, topics]``)."""
    valid = np.isfinite(shifts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.where(valid, shifts, 0.0) @ weights) / (valid.astype(float) @ weights)


def in_and_cross(tm: np.ndarray, home: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-topic effect and CTG per unit from ``[..., units, topics]`` topic means."""
    n_topics = tm.shape[-1]
    is_home = home[..., None] == np.arange(n_topics)
    in_topic = np.where(is_home, tm, 0.0).sum(axis=-1)  # NaN when the home topic has no answered item
    others = np.where(is_home, np.nan, tm)
    with np.errstate(invalid="ignore"):
        cross = np.nansum(others, axis=-1) / np.isfinite(others).sum(axis=-1)
    return in_topic, cross


def unit_table(us: UnitShifts) -> list[dict]:
    """One row per (arm, unit): in-topic effect, CTG, their ratio and s(T, t) for every t."""
    rows = []
    for arm in us.arms:
        tm = topic_means(us.shifts[arm], us.item_topic, len(us.topics))
        in_topic, cross = in_and_cross(tm, us.home)
        for u, (T, seed) in enumerate(us.units):
            rows.append({"arm": arm, "topic": T, "seed": seed, "answered": int(np.isfinite(us.shifts[arm][u]).sum()),
                         "in_topic": float(in_topic[u]), "ctg": float(cross[u]),
                         "ratio": _ratio(cross[u], in_topic[u]), **{f"s[{t}]": float(tm[u, k]) for k, t in enumerate(us.topics)}})
    return rows


def _bootstrap_draws(us: UnitShifts, n_resamples: int, seed: int):
    """Per arm, ``(in_topic, ctg)`` of ``[draws, units]`` under the two-level bootstrap."""
    rng = np.random.default_rng(seed)
    n_units, n_items = len(us.units), us.item_topic.size
    unit_idx = rng.integers(0, n_units, size=(n_resamples, n_units))
    weights = np.zeros((n_resamples, n_items))
    for k in range(len(us.topics)):
        members = np.flatnonzero(us.item_topic == k)
        draws = members[rng.integers(0, members.size, size=(n_resamples, members.size))]
        np.add.at(weights, (np.arange(n_resamples)[:, None], draws), 1.0)
    onehot = (us.item_topic[:, None] == np.arange(len(us.topics))[None, :]).astype(float)
    per_topic = weights[:, :, None] * onehot[None]  # [draws, items, topics]: resampled copies of each item
    home = us.home[unit_idx]
    out = {}
    for arm in us.arms:
        x = us.shifts[arm][unit_idx]  # [draws, units, items]
        valid = np.isfinite(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            tm = (np.einsum("bui,bik->buk", np.where(valid, x, 0.0), per_topic)
                  / np.einsum("bui,bik->buk", valid.astype(float), per_topic))
        out[arm] = in_and_cross(tm, home)
    return out


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.asarray(num, float) / np.asarray(den, float)
    return float(r) if np.ndim(r) == 0 else r


def _interval(draws: np.ndarray, confidence: float, denominators=()) -> tuple[float, float]:
    """Percentile interval; none for a ratio whose denominator's own interval reaches 0 (unbounded)."""
    tail = 50 * (1 - confidence)
    for den in denominators:
        lo, hi = np.percentile(den, tail), np.percentile(den, 100 - tail)
        if lo <= 0 <= hi:
            return math.nan, math.nan
    finite = draws[np.isfinite(draws)]
    if finite.size < draws.size:
        return math.nan, math.nan
    return float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))


def paired_test(x: np.ndarray, y: np.ndarray, n_resamples: int = 9999, seed: int = 0) -> float:
    """Two-sided p-value of mean(x - y) = 0 over matched units (random sign flips of the differences)."""
    from scipy.stats import permutation_test

    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or np.allclose(x, y):
        return 1.0 if x.size else math.nan
    res = permutation_test((x, y), lambda a, b, axis: np.mean(a - b, axis=axis), permutation_type="samples",
                           vectorized=True, n_resamples=n_resamples, alternative="two-sided", rng=np.random.default_rng(seed))
    return float(res.pvalue)


def _m(x: np.ndarray) -> np.ndarray:
    """Mean over units (the last axis), leaving out units without a value."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a draw with no unit left is NaN, and says so
        return np.nanmean(x, axis=-1)


def summarise(us: UnitShifts, comparisons: Sequence[tuple[str, str]], n_resamples: int = 2000,
              confidence: float = 0.95, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """``(arm_rows, comparison_rows)``: per arm IN, CTG and the ratio with intervals; per
    comparison (arm, reference) the paired differences, the reduction of CTG, and p-values."""
    draws = _bootstrap_draws(us, n_resamples, seed)
    point = {arm: in_and_cross(topic_means(us.shifts[arm], us.item_topic, len(us.topics)), us.home) for arm in us.arms}
    arm_rows = []
    for arm in us.arms:
        (i, c), (bi, bc) = point[arm], draws[arm]
        arm_rows.append({
            "arm": arm, "units": len(us.units), "items": int(us.item_topic.size),
            "answered": float(np.isfinite(us.shifts[arm]).mean()),
            "in_topic": float(_m(i)), **_ci("in_topic", _m(bi), confidence),
            "ctg": float(_m(c)), **_ci("ctg", _m(bc), confidence),
            "ratio": _ratio(_m(c), _m(i)), **_ci("ratio", _ratio(_m(bc), _m(bi)), confidence, [_m(bi)]),
        })
    comp_rows = []
    for arm, ref in comparisons:
        (i, c), (ri, rc) = point[arm], point[ref]
        (bi, bc), (bri, brc) = draws[arm], draws[ref]
        d_ratio = _ratio(_m(bc), _m(bi)) - _ratio(_m(brc), _m(bri))
        comp_rows.append({
            "arm": arm, "reference": ref, "units": len(us.units),
            "d_in_topic": float(_m(i - ri)), **_ci("d_in_topic", _m(bi - bri), confidence),
            "p_in_topic": paired_test(i, ri, seed=seed),
            "d_ctg": float(_m(c - rc)), **_ci("d_ctg", _m(bc - brc), confidence),
            "p_ctg": paired_test(c, rc, seed=seed),
            "reduction": 1.0 - _ratio(_m(c), _m(rc)),
            **_ci("reduction", 1.0 - _ratio(_m(bc), _m(brc)), confidence, [_m(brc)]),
            "d_ratio": _ratio(_m(c), _m(i)) - _ratio(_m(rc), _m(ri)),
            **_ci("d_ratio", d_ratio, confidence, [_m(bi), _m(bri)]),
        })
    return arm_rows, comp_rows


def _ci(name: str, draws: np.ndarray, confidence: float, denominators=()) -> dict:
    lo, hi = _interval(np.asarray(draws, float), confidence, denominators)
    return {f"{name}_lo": lo, f"{name}_hi": hi}
