"""Statistics of a comparison between a reference model (the base) and another model (an adapter).

Pure numpy/scipy: no torch, no pandas, no harness. The unit of resampling is the *item* (a
paraphrase group): the forms of one item (its paraphrases x scale directions) are not independent
measurements, so every interval and test below first averages forms within their item and then
works on one value per item (a cluster bootstrap with equal item weights, and a sign-flip
permutation test on item-level paired differences).

Conventions:
- a *shift* is ``other - reference`` (positive stance shift = toward the right position);
- no interval is made from fewer than ``MIN_INTERVAL_UNITS`` (6) items: below 6, no set of values
  can reach a two-sided p below 5% in the sign-flip test (its smallest p is 2 / 2**n), so a 95%
  interval that excluded 0 there would claim what the test cannot, and a bootstrap from 2-5
  values is little more than their range;
- bootstrap statistics are rounded to ``STAT_DECIMALS`` decimals, so rounding noise (1e-17) in the
  inputs or in the order of summation cannot move a resampled mean across the observed one and
  jump a BCa interval;
- every summary is an ``Estimate`` carrying n items, the 95% interval and how it was made, the
  test and its p-value, so a number in a table can always be traced to how it was obtained.
"""

from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import asdict, dataclass
from typing import Hashable, Sequence

import numpy as np
from scipy import stats as _st

CONFIDENCE = 0.95
N_BOOTSTRAP = 9999
# Large enough that the sign-flip null is enumerated exactly up to 14 items (2**14 = 16384).
N_PERMUTATIONS = 20000
MIN_INTERVAL_UNITS = 6
"""Fewest independent units (items, or forms within an item) from which an interval is made."""
STAT_DECIMALS = 12
"""Decimals a bootstrap statistic is rounded to (far below any reported precision)."""
SIGN_FLIP_TEST = "paired sign-flip permutation test of the mean over items (two-sided)"
NO_TEST = "none"


@dataclass(frozen=True)
class Estimate:
    """A mean over items with its interval and test: everything a table row needs to be traceable."""

    estimate: float
    ci_low: float
    ci_high: float
    n_items: int
    interval: str
    test: str
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)


# ---- per-item distances --------------------------------------------------------------------------
def _probs(p: Sequence[float]) -> np.ndarray:
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size == 0 or np.any(arr < 0) or not np.isfinite(arr).all() or arr.sum() <= 0:
        raise ValueError(f"not a probability vector: {p!r}")
    return arr / arr.sum()


def expected_value(p: Sequence[float], values: Sequence[float] | None = None) -> float:
    """Expected option value of a distribution (options valued 0..n-1 unless ``values`` is given)."""
    arr = _probs(p)
    vals = np.arange(arr.size, dtype=float) if values is None else np.asarray(values, dtype=float)
    return float(np.dot(arr, vals))


def expected_shift(reference: Sequence[float], other: Sequence[float], values: Sequence[float] | None = None) -> float:
    """Difference of expected values, ``E[other] - E[reference]`` (in scale points)."""
    return expected_value(other, values) - expected_value(reference, values)


def wasserstein1(reference: Sequence[float], other: Sequence[float], values: Sequence[float] | None = None) -> float:
    """Wasserstein-1 (earth mover's) distance between two distributions on the same ordered options.

    In scale points: moving all mass one digit up costs 1. Symmetric and never negative, so it sees
    a change of *shape* (e.g. a sharp peak spreading out) that the difference of means can miss.
    """
    p, q = _probs(reference), _probs(other)
    if p.size != q.size:
        raise ValueError("distributions over different numbers of options")
    vals = np.arange(p.size, dtype=float) if values is None else np.asarray(values, dtype=float)
    return float(_st.wasserstein_distance(vals, vals, u_weights=p, v_weights=q))


# ---- clusters ------------------------------------------------------------------------------------
def cluster_means(values: Sequence[float], clusters: Sequence[Hashable]) -> tuple[list, np.ndarray]:
    """Mean of ``values`` within each cluster (item), NaNs dropped; clusters kept in first-seen order.

    Clusters whose values are all NaN are left out.
    """
    vals = np.asarray(values, dtype=float)
    if vals.shape[0] != len(clusters):
        raise ValueError("values and clusters differ in length")
    order: dict = {}
    for c in clusters:
        order.setdefault(c, len(order))
    idx = np.fromiter((order[c] for c in clusters), dtype=int, count=len(clusters))
    ok = ~np.isnan(vals)
    sums = np.bincount(idx[ok], weights=vals[ok], minlength=len(order))
    counts = np.bincount(idx[ok], minlength=len(order))
    keep = counts > 0
    names = [c for c, i in sorted(order.items(), key=lambda kv: kv[1]) if keep[i]]
    return names, sums[keep] / counts[keep]


def clustered_stderr(values: Sequence[float], clusters: Sequence[Hashable]) -> float:
    """Standard error of the mean of per-form ``values`` with items (``clusters``) as the unit.

    The cluster-robust (sandwich) estimate with the small-sample factor n/(n-1) over n items:
    ``sqrt(n/(n-1) * sum_i r_i**2) / N`` where ``r_i`` sums the deviations of item i's forms from the
    overall mean and N counts the forms. When every item has the same number of forms this is
    exactly ``SD(item means) / sqrt(n)``, the standard error over items the report's intervals use;
    it never counts paraphrases or scale directions as independent. NaN values are left out; NaN
    with fewer than two items.
    """
    vals = np.asarray(values, dtype=float)
    if vals.shape[0] != len(clusters):
        raise ValueError("values and clusters differ in length")
    ok = ~np.isnan(vals)
    vals = vals[ok]
    keys = [c for c, k in zip(clusters, ok) if k]
    order: dict = {}
    idx = np.fromiter((order.setdefault(c, len(order)) for c in keys), dtype=int, count=len(keys))
    n = len(order)
    if n < 2:
        return math.nan
    residual = np.bincount(idx, weights=vals - vals.mean(), minlength=n)
    return float(math.sqrt(n / (n - 1) * float(np.sum(residual**2))) / vals.size)


def weighted_mean_stderr(stderrs: Sequence[float], weights: Sequence[float]) -> float:
    """Standard error of a weighted mean of independent estimates: ``sqrt(sum (w_k / sum w)**2 se_k**2)``.

    A group of subtasks whose items are disjoint (lm-eval's size-weighted group value): the
    subtasks are fixed strata, so only the within-subtask (item-level) errors enter.
    """
    se = np.asarray(stderrs, dtype=float)
    w = np.asarray(weights, dtype=float)
    if se.shape != w.shape or w.sum() <= 0:
        raise ValueError("stderrs and positive weights must match")
    return float(math.sqrt(float(np.sum((w / w.sum()) ** 2 * se**2))))


def seed_for(*parts) -> int:
    """A stable 32-bit seed from any labels (same labels -> same seed in every process)."""
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode())


def _rounded_mean(x, axis=-1):
    """The mean, rounded to ``STAT_DECIMALS``: resamples holding the same values tie exactly."""
    return np.round(np.mean(x, axis=axis), STAT_DECIMALS)


def too_few_for_interval(n: int, unit: str = "items") -> str:
    """How a table says that no interval was made from ``n`` units (below ``MIN_INTERVAL_UNITS``)."""
    return f"none (fewer than {MIN_INTERVAL_UNITS} {unit}: {n})"


def _bootstrap(data: tuple, statistic, seed: int, confidence: float, n_resamples: int, **kw) -> tuple[float, float, str | None]:
    """BCa, else percentile where BCa is undefined: (low, high, method), or NaNs and None."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _st.bootstrap(data, statistic, confidence_level=confidence, n_resamples=n_resamples, method=method,
                                vectorized=True, rng=np.random.default_rng(seed), **kw)
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi, method
    return math.nan, math.nan, None


def bootstrap_interval(values: Sequence[float], seed: int = 0, confidence: float = CONFIDENCE, n_resamples: int = N_BOOTSTRAP, unit: str = "items") -> tuple[float, float, str]:
    """Bootstrap interval of the mean of independent values (one value per ``unit``, normally an item).

    BCa first; percentile when BCa is undefined (e.g. a jackknife with no spread). Fewer than
    ``MIN_INTERVAL_UNITS`` values give no interval (NaN, and the reason); identical values give the
    degenerate interval [v, v]. Values and resampled means are rounded to ``STAT_DECIMALS``.
    """
    x = np.asarray(values, dtype=float)
    x = np.round(x[~np.isnan(x)], STAT_DECIMALS)
    pct = f"{round(confidence * 100)}%"
    if x.size < MIN_INTERVAL_UNITS:
        return math.nan, math.nan, too_few_for_interval(int(x.size), unit)
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0]), f"degenerate (all {x.size} {unit} equal)"
    lo, hi, method = _bootstrap((x,), _rounded_mean, seed, confidence, n_resamples)
    if method is None:
        return math.nan, math.nan, "none (bootstrap undefined)"
    return lo, hi, f"{pct} bootstrap over {unit} ({method}, {n_resamples} resamples)"


def sign_flip_test(differences: Sequence[float], seed: int = 0, n_resamples: int = N_PERMUTATIONS) -> float:
    """Two-sided p-value that paired differences are centred on 0 (sign-flip permutation test).

    ``scipy.stats.permutation_test`` with ``permutation_type="samples"`` on one sample flips the
    sign of each difference independently; the null is enumerated exactly when 2**n <= n_resamples.
    All-zero differences, or a single one (its two sign flips are equally extreme), give p = 1.
    """
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return math.nan
    if d.size == 1 or np.all(d == 0):
        return 1.0
    res = _st.permutation_test(
        (d,), np.mean, permutation_type="samples", vectorized=True, n_resamples=n_resamples,
        alternative="two-sided", rng=np.random.default_rng(seed),
    )
    return float(min(1.0, res.pvalue))


def mean_estimate(item_values: Sequence[float], seed: int = 0, test: bool = True, n_resamples: int = N_BOOTSTRAP, unit: str = "items") -> Estimate:
    """Mean over items with its bootstrap interval and, if ``test``, the sign-flip test against 0.

    Pass ``test=False`` for quantities that are not differences centred on 0 under the null (a
    distance, a consistency score): the row then says the test is "none" and p is NaN.
    """
    x = np.asarray(item_values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, f"none (no {unit})", NO_TEST, math.nan)
    lo, hi, how = bootstrap_interval(x, seed, n_resamples=n_resamples, unit=unit)
    p = sign_flip_test(x, seed) if test else math.nan
    name = SIGN_FLIP_TEST.replace("over items", f"over {unit}")
    return Estimate(float(np.mean(x)), lo, hi, int(x.size), how, name if test else NO_TEST, p)


def clustered_estimate(values: Sequence[float], clusters: Sequence[Hashable], seed: int = 0, test: bool = True, n_resamples: int = N_BOOTSTRAP) -> Estimate:
    """``mean_estimate`` of per-form values after averaging them within their item (cluster)."""
    _, means = cluster_means(values, clusters)
    return mean_estimate(means, seed, test, n_resamples)


def paired_difference(values: Sequence[float], reference_values: Sequence[float], clusters: Sequence[Hashable], seed: int = 0, n_resamples: int = N_BOOTSTRAP) -> Estimate:
    """Mean paired difference ``values - reference_values`` over items, with interval and sign-flip test.

    Pairs where either side is NaN are dropped before averaging within items.
    """
    a = np.asarray(values, dtype=float)
    b = np.asarray(reference_values, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired samples differ in length")
    return clustered_estimate(a - b, clusters, seed, True, n_resamples)


# ---- multiple testing ----------------------------------------------------------------------------
def bh_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``); NaNs stay NaN
    and are not counted as hypotheses."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = _st.false_discovery_control(p[ok], method="bh")
    return out


def significance_mark(q: float) -> str:
    """Stars for an adjusted p-value: *** < 0.001, ** < 0.01, * < 0.05, else nothing."""
    if q is None or not math.isfinite(q):
        return ""
    return "***" if q < 0.001 else "**" if q < 0.01 else "*" if q < 0.05 else ""


# ---- stability -----------------------------------------------------------------------------------
def direction_consistency(agreement_normal: Sequence[float], agreement_reversed: Sequence[float]) -> np.ndarray:
    """Per (item, paraphrase): 1 - |a_normal - a_reversed|, agreements already un-reversed to [0, 1].

    1 = the model gives the claim the same endorsement whichever end of the scale means "agree";
    a model that always answers the same digit (acquiescence) scores near 0 on strong answers.
    """
    a = np.asarray(agreement_normal, dtype=float)
    b = np.asarray(agreement_reversed, dtype=float)
    return 1.0 - np.abs(a - b)


CORRELATION_TEST = "permutation test of Pearson r across items (pairings, two-sided)"


def _pearson(a, b, axis=-1):
    """Pearson r along ``axis`` (vectorised for scipy's resampling functions)."""
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=axis) / np.sqrt((a * a).sum(axis=axis) * (b * b).sum(axis=axis))


def correlation_estimate(x: Sequence[float], y: Sequence[float], seed: int = 0, n_resamples: int = N_BOOTSTRAP) -> Estimate:
    """Pearson correlation of paired per-item values, with a paired bootstrap interval over items and a
    permutation test of no association (``permutation_type="pairings"``).

    Undefined (NaN, test "none") with fewer than three items or when either side has no spread; no
    interval below ``MIN_INTERVAL_UNITS`` items.
    """
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        why = "fewer than 3 items" if a.size < 3 else "no spread"
        return Estimate(math.nan, math.nan, math.nan, int(a.size), f"none ({why})", NO_TEST, math.nan)
    r = float(_pearson(a, b))
    if a.size < MIN_INTERVAL_UNITS:
        lo, hi, how = math.nan, math.nan, too_few_for_interval(int(a.size))
    else:
        def rounded_r(u, v, axis=-1):
            return np.round(_pearson(u, v, axis=axis), STAT_DECIMALS)

        lo, hi, method = _bootstrap((np.round(a, STAT_DECIMALS), np.round(b, STAT_DECIMALS)), rounded_r, seed, CONFIDENCE,
                                    n_resamples, paired=True)
        how = (f"{round(CONFIDENCE * 100)}% paired bootstrap over items ({method}, {n_resamples} resamples)" if method
               else "none (bootstrap undefined)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = _st.permutation_test((a, b), _pearson, permutation_type="pairings", vectorized=True, n_resamples=N_PERMUTATIONS,
                                 rng=np.random.default_rng(seed)).pvalue
    return Estimate(r, lo, hi, int(a.size), how, CORRELATION_TEST, float(min(1.0, p)))


def spread(values: Sequence[float]) -> float:
    """Population standard deviation of the non-NaN values (NaN with fewer than two)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    return float(np.std(x)) if x.size >= 2 else math.nan
