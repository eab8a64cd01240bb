"""Political-compass coordinates from Likert answers (forced answers or answer distributions).

Answers use the four Likert options in a fixed *canonical* order: 0 = strongly disagree,
1 = disagree, 2 = agree, 3 = strongly agree. An answer is an int (a forced choice), four
probabilities (a distribution), or ``None`` (no usable answer).

Two kinds of weight tables place answers on the two axes (economic: left -10 .. right +10;
social: libertarian -10 .. authoritarian +10):

- ``"pct"``: the published Political Compass tables (politicalcompass/politicalcompass.github.io,
  reused by llm-values-pct): ``coordinate = offset + sum_i w_i(a_i) / divisor`` over all 62
  propositions, an unanswered proposition adding nothing (as on the site). The site makes every
  proposition answered; here an unanswered one would otherwise read as "agree" (weight 0), so
  ``answered_counts`` says how many of each axis's propositions the point rests on, and an axis
  with none answered has no coordinate (NaN), never the all-agree offset.
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

    def on_axis(self, index: int) -> bool:
        """Whether proposition ``index`` scores on this axis (a mean table's row, a sum table's non-zero row)."""
        row = self.rows[index]
        return row is not None and (self.divisor is None or _nonzero(row))

    def answered(self, contributions: Sequence[float | None]) -> list[float]:
        """The expected weights of this axis's answered propositions (``None`` = unanswered), in order."""
        if len(contributions) != len(self.rows):
            raise ValueError(f"{len(contributions)} contributions for {len(self.rows)} propositions")
        return [float(c) for i, c in enumerate(contributions) if c is not None and self.on_axis(i)]

    def formula(self, values: Sequence[float]) -> float:
        """The coordinate from the answered propositions' expected weights (NaN when there are none)."""
        if len(values) == 0:
            return math.nan
        if self.divisor is not None:
            return self.offset + math.fsum(values) / self.divisor
        return self.offset + math.fsum(values) / len(values)

    def value(self, contributions: Sequence[float | None]) -> float:
        """The coordinate from per-proposition expected weights (``None`` = unanswered or off-axis);
        NaN when none of the axis's propositions was answered."""
        return self.formula(self.answered(contributions))


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


def answered_counts(answers: Sequence[Any], weights: "str | Path | CompassWeights" = "pct") -> dict[str, tuple[int, int]]:
    """How many propositions a point rests on: per axis (and ``all``), (answered, on the questionnaire).

    An axis whose count is 0 has no coordinate; a count below the total means a partial answer set
    (on the ``pct`` table the missing ones add nothing, as if answered "agree")."""
    w = load_weights(weights)
    if len(answers) != len(w):
        raise ValueError(f"{len(answers)} answers for {len(w)} propositions ({w.name})")
    out = {}
    for axis in AXES:
        on = [i for i in range(len(w)) if w.axis(axis).on_axis(i)]
        out[axis] = (sum(answers[i] is not None for i in on), len(on))
    out["all"] = (sum(a is not None for a in answers), len(w))
    return out


def is_partial(counts: Mapping[str, tuple[int, int]]) -> bool:
    """Whether a point rests on fewer propositions than the questionnaire has (``answered_counts``)."""
    return any(got < total for got, total in counts.values())


def compass_point(answers: Sequence[Any], weights: "str | Path | CompassWeights" = "pct") -> tuple[float, float]:
    """The unrounded (econ, soc) point: the expectation of the coordinates under the answers.

    A coordinate is NaN when none of its axis's propositions was answered (``answered_counts``)."""
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
