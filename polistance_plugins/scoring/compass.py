"""Political-compass coordinates from Likert answers (forced answers or answer distributions).

Answers use the four Likert options in a fixed *canonical* order: 0 = strongly disagree,
1 = disagree, 2 = agree, 3 = strongly agree. An answer is an int (a forced choice), four
probabilities (a distribution), or ``None`` (no usable answer).

Two kinds of weight tables place answers on the two axes (economic: left -10 .. right +10;
social: libertarian -10 .. authoritarian +10):

- ``"pct"``: the published Political Compass tables (politicalcompass/politicalcompass.github.io,
  reused by llm-values-pct): ``coordinate = offset + sum_i w_i(a_i) / divisor`` over all 62
  propositions, an unanswered proposition adding nothing (as on the site).
- ``"compass"``: the project's own bank: ``coordinate = mean over the axis's answered
  propositions of the expected weight``.

Under a distribution the coordinate is the expectation of the same formula, i.e. each weight
is replaced by its expected value (both formulas are linear in the weights).
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

LIKERT: tuple[str, ...] = ("strongly disagree", "disagree", "agree", "strongly agree")
N_OPTIONS = 4
AXES: tuple[str, ...] = ("econ", "soc")
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

Probs = tuple[float, float, float, float]


@dataclass(frozen=True)
class AxisWeights:
    """One axis: a weight row per proposition (``None`` = the proposition is not on this axis).

    ``divisor`` set: ``offset + sum / divisor`` (the published formula); ``divisor`` None: the
    mean over the axis's answered propositions plus ``offset``.
    """

    rows: tuple[Probs | None, ...]
    offset: float = 0.0
    divisor: float | None = None

    def value(self, contributions: Sequence[float | None]) -> float:
        """The coordinate from per-proposition expected weights (``None`` = unanswered or off-axis)."""
        got = [c for c in contributions if c is not None]
        if self.divisor is not None:
            return self.offset + math.fsum(got) / self.divisor
        if not got:
            return math.nan
        return self.offset + math.fsum(got) / len(got)


@dataclass(frozen=True)
class CompassWeights:
    """Both axes' tables for one questionnaire, in proposition order."""

    name: str
    econ: AxisWeights
    soc: AxisWeights
    source: str = ""
    decimals: int | None = 2

    def __post_init__(self):
        if len(self.econ.rows) != len(self.soc.rows):
            raise ValueError("economic and social tables differ in length")

    def __len__(self) -> int:
        return len(self.econ.rows)

    def axis(self, name: str) -> AxisWeights:
        return self.econ if name == "econ" else self.soc

    def axis_of(self, index: int) -> str:
        """Which axis a proposition mainly scores on: "economic", "social", "both" or "none"."""
        e = _nonzero(self.econ.rows[index])
        s = _nonzero(self.soc.rows[index])
        return {(True, False): "economic", (False, True): "social", (True, True): "both"}.get((e, s), "none")


def _nonzero(row: Probs | None) -> bool:
    return row is not None and any(w != 0 for w in row)


def _row(values: Any, where: str) -> Probs:
    if not isinstance(values, (list, tuple)) or len(values) != N_OPTIONS:
        raise ValueError(f"{where}: expected {N_OPTIONS} weights, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{where}: weights must be finite numbers, got {values!r}")
        out.append(float(v))
    return tuple(out)  # type: ignore[return-value]


def weights_from_table(table: Mapping[str, Any], name: str = "table") -> CompassWeights:
    """Weights from a table in the published format (econ/soc offsets, divisors and 4-weight rows)."""
    required = ("econ_offset", "econ_divisor", "soc_offset", "soc_divisor", "econ_weights", "soc_weights")
    missing = [k for k in required if k not in table]
    if missing:
        raise ValueError(f"{name}: missing field(s) {', '.join(missing)}")
    order = table.get("answer_order")
    if order is not None and [str(o).lower() for o in order] != list(LIKERT):
        raise ValueError(f"{name}: answer_order must be {list(LIKERT)}, got {order!r}")
    econ = tuple(_row(r, f"{name}: econ_weights[{i}]") for i, r in enumerate(table["econ_weights"]))
    soc = tuple(_row(r, f"{name}: soc_weights[{i}]") for i, r in enumerate(table["soc_weights"]))
    if len(econ) != len(soc):
        raise ValueError(f"{name}: {len(econ)} economic rows but {len(soc)} social rows")
    for key in ("econ_divisor", "soc_divisor"):
        if not float(table[key]) > 0:
            raise ValueError(f"{name}: {key} must be positive")
    return CompassWeights(
        name=name,
        econ=AxisWeights(econ, float(table["econ_offset"]), float(table["econ_divisor"])),
        soc=AxisWeights(soc, float(table["soc_offset"]), float(table["soc_divisor"])),
        source=str(table.get("source", "")),
    )


def weights_from_items(items: Sequence[Any], name: str = "bank") -> CompassWeights:
    """Mean-of-expected-weight tables from bank items that have ``axis`` ("economic"/"social") and ``weights``."""
    econ: list[Probs | None] = []
    soc: list[Probs | None] = []
    for it in items:
        row = _row(list(it.weights), f"{name}: item {it.id}")
        econ.append(row if it.axis == "economic" else None)
        soc.append(row if it.axis == "social" else None)
    return CompassWeights(name=name, econ=AxisWeights(tuple(econ)), soc=AxisWeights(tuple(soc)), source=name)


@lru_cache(maxsize=8)
def _load_named(name: str) -> CompassWeights:
    if name == "pct":
        path = DATA_DIR / "pct_weights.json"
        return weights_from_table(json.loads(path.read_text(encoding="utf-8")), name="pct")
    from ..banks import load_bank
    from ..banks.compass_schema import CompassItem

    bank = load_bank(name, model=CompassItem)
    return weights_from_items(bank.items, name=bank.name)


def load_weights(weights: "str | Path | CompassWeights") -> CompassWeights:
    """Resolve ``"pct"``, ``"compass"``, a weights JSON file, a compass-style JSONL bank, or pass a table through."""
    if isinstance(weights, CompassWeights):
        return weights
    if isinstance(weights, str) and weights in ("pct", "compass"):
        return _load_named(weights)
    path = Path(weights)
    if path.suffix == ".jsonl":
        return _load_named(str(path))
    if not path.is_file():
        raise ValueError(f"weights {str(weights)!r}: not 'pct', 'compass' or an existing file")
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None
    return weights_from_table(table, name=str(path))


# ---- answers -------------------------------------------------------------------------------------
def answer_probs(answer: Any) -> Probs | None:
    """An answer as four canonical-order probabilities: an int 0..3 becomes one-hot; None stays None."""
    if answer is None:
        return None
    if isinstance(answer, numbers.Integral) and not isinstance(answer, bool):
        a = int(answer)
        if not 0 <= a < N_OPTIONS:
            raise ValueError(f"answer {a} is not an option index 0..3")
        return tuple(1.0 if i == a else 0.0 for i in range(N_OPTIONS))  # type: ignore[return-value]
    if isinstance(answer, (str, bytes, bool)) or not hasattr(answer, "__len__"):
        raise ValueError(f"an answer is an int 0..3, four probabilities or None; got {answer!r}")
    probs = [float(p) for p in answer]
    if len(probs) != N_OPTIONS:
        raise ValueError(f"a distribution answer needs {N_OPTIONS} probabilities, got {len(probs)}")
    if any(not math.isfinite(p) or p < 0 for p in probs):
        raise ValueError(f"probabilities must be finite and non-negative, got {probs}")
    total = math.fsum(probs)
    if total <= 0:
        raise ValueError("a distribution answer must have positive total probability")
    return tuple(p / total for p in probs)  # type: ignore[return-value]


def is_forced(answers: Sequence[Any]) -> bool:
    """True when every given answer is a forced choice (an int), i.e. the site's rounding applies."""
    given = [a for a in answers if a is not None]
    return bool(given) and all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in given)


def argmax_answer(probs: Sequence[float] | None) -> int | None:
    """The forced answer a distribution implies: the most probable option (lowest index on ties)."""
    if probs is None:
        return None
    best = max(probs)
    return list(probs).index(best)


def expected_weight(probs: Sequence[float] | None, row: Probs | None) -> float | None:
    """Expected weight of one answer on one axis (None when unanswered or off-axis)."""
    if probs is None or row is None:
        return None
    return math.fsum(p * w for p, w in zip(probs, row))


def contributions(answers: Sequence[Any], weights: CompassWeights) -> dict[str, list[float | None]]:
    """Per-proposition expected weights on each axis, in proposition order."""
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers for {len(weights)} propositions ({weights.name}); give one per proposition, in file order")
    probs = [answer_probs(a) for a in answers]
    return {
        axis: [expected_weight(p, row) for p, row in zip(probs, weights.axis(axis).rows)] for axis in AXES
    }


def site_round(value: float, decimals: int = 2) -> float:
    """Round as politicalcompass.github.io does: ``Math.round((x + Number.EPSILON) * 100) / 100``.

    JavaScript's ``Math.round`` rounds halves up (towards +infinity), unlike Python's ``round``.
    """
    if math.isnan(value):
        return value
    scaled = (value + 2.220446049250313e-16) * 10**decimals
    whole = math.floor(scaled)
    return (whole + 1 if scaled - whole >= 0.5 else whole) / 10**decimals


def compass_point(answers: Sequence[Any], weights: "str | Path | CompassWeights" = "pct") -> tuple[float, float]:
    """The unrounded (econ, soc) point: the expectation of the coordinates under the answers."""
    w = load_weights(weights)
    c = contributions(answers, w)
    return w.econ.value(c["econ"]), w.soc.value(c["soc"])


def compass_coordinates(
    answers: Sequence[Any], weights: "str | Path | CompassWeights" = "pct", decimals: "int | None | str" = "auto"
) -> tuple[float, float]:
    """(econ, soc) for answers in proposition order: ints 0..3 or four probabilities (or None = skipped).

    With ``decimals="auto"`` forced answers are rounded to 2 dp exactly as the Political Compass
    site rounds (all agree on the published tables gives (0.38, 2.41)); distributions give the
    unrounded expected point. Pass an int or None to choose.
    """
    econ, soc = compass_point(answers, weights)
    if decimals == "auto":
        decimals = 2 if is_forced(answers) else None
    if decimals is None:
        return econ, soc
    return site_round(econ, int(decimals)), site_round(soc, int(decimals))


# ---- uncertainty over propositions ---------------------------------------------------------------
def _axis_sample(values: Sequence[float | None], axis: AxisWeights) -> list[float]:
    """The values resampled for an axis: every proposition for a summed table (unanswered = 0),
    the answered on-axis ones for a mean table."""
    if axis.divisor is not None:
        return [0.0 if v is None else float(v) for v in values]
    return [float(v) for v in values if v is not None]


def _statistic(weights: AxisWeights):
    """The axis formula as a vectorised statistic of resampled per-proposition values."""
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
    """Percentile bootstrap interval of each coordinate, resampling propositions with replacement.

    The interval says how much the point depends on which propositions happen to be in the
    questionnaire. Fewer than two propositions on an axis give (nan, nan).
    """
    import numpy as np
    from scipy.stats import bootstrap

    w = load_weights(weights)
    c = contributions(answers, w)
    out: dict[str, tuple[float, float]] = {}
    for axis_name in AXES:
        axis = w.axis(axis_name)
        data = np.asarray(_axis_sample(c[axis_name], axis), dtype=float)
        if data.size < 2:
            out[axis_name] = (math.nan, math.nan)
            continue
        if np.all(data == data[0]):
            v = axis.value(list(data))
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
