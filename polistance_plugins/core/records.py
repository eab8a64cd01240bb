"""The record rule: how one answer distribution becomes the fields of a per-form record.

Every front door (``polistance eval``/``compass``/``compare``, the lm-eval tasks, the Inspect
scorers, the report's harness readers) decides a form's status here and nowhere else:

- ``ok``: the options held at least ``min_mass`` of the raw probability;
- ``off_format``: they held less (the renormalised distribution is kept but is not the model's answer);
- ``no_options``: none of the options had a log-probability at all.

Also here: the default threshold, the key that identifies a record inside a run folder, and the
conversion of numbers into strict JSON.
"""

from __future__ import annotations

import math

from .distribution import Distribution

DEFAULT_MIN_MASS = 0.05
"""Below this raw probability on the answer options a form is off-format (and a grader's answer unscored)."""

STATUSES = ("ok", "off_format", "no_options", "failed")
OFF_FORMAT_STATUSES = ("off_format", "no_options")


def check_min_mass(min_mass: float, name: str = "min_mass") -> float:
    """``min_mass`` as a float in [0, 1]; anything else (NaN, negative, above 1) raises ValueError."""
    value = float(min_mass)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1, got {min_mass!r}")
    return value


def format_status(dist: Distribution, min_mass: float = DEFAULT_MIN_MASS) -> str:
    """``"ok"``, ``"off_format"`` (options under ``min_mass`` of the probability) or ``"no_options"``."""
    if not dist.valid:
        return "no_options"
    return "off_format" if dist.mass < min_mass else "ok"


def grader_choice(dist: Distribution, min_mass: float = DEFAULT_MIN_MASS) -> tuple[int | None, str | None]:
    """A grader's chosen option from its distribution over the option codes: ``(index, None)``, or
    ``(None, why)`` when the grader's answer is not ``ok`` under ``format_status`` (no code seen, or
    the codes held less than ``min_mass`` of its probability). One rule for every grader."""
    codes = "/".join(dist.options)
    status = format_status(dist, min_mass)
    if status == "no_options":
        return None, f"none of the codes {codes} is among the grader's next-token log-probabilities"
    if status == "off_format":
        return None, f"off-format grader: the codes {codes} held {dist.mass:.3g} of its next-token probability (< {min_mass})"
    return dist.mode, None


def rounded(value: float | None, digits: int = 10) -> float | None:
    """A statistic as stored in a record: rounded, and None when undefined (NaN)."""
    return None if value is None or math.isnan(value) else round(value, digits)


def record_key(label: str, scope: str, form_key: str) -> str:
    """The key of a record in a run folder: ``<model label>|<bank or source>|<form key>``."""
    return f"{label}|{scope}|{form_key}"


def json_safe(obj):
    """NaN and infinities become None, numpy scalars Python numbers, tuples lists, recursively:
    what strict JSON (``allow_nan=False``) accepts."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    item = getattr(obj, "item", None)
    if item is not None and type(obj).__module__ == "numpy":
        obj = item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
