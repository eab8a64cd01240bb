"""Per-item stances and shifts from the digit distributions of an evaluation (no judge).

- an item's stance for a model: the mean keyed stance over its forms answered in format (status
  "ok"), or the expected rating read on the normal 0-9 scale (reversed forms as 9 - E);
- an item's shift: the adapter's stance minus the base's, for items both answered.

The study's statistics over seeds and items are in ``study_stats``.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..core.stance import agreement

SCALE_MAX = 9


def item_stances(records: Sequence[dict] | pd.DataFrame, model: str, value: str = "stance") -> pd.DataFrame:
    """Per item: topic and mean keyed stance of ``model`` over its in-format forms.

    ``value="expected"`` averages the unkeyed expected rating (0-9) instead, reversed forms read
    backwards: how much the model agrees, whatever the side, which shows acquiescence shifts that
    keyed stance cancels out.
    """
    df = pd.DataFrame(records)
    g = df[(df["model"] == model) & (df["status"] == "ok") & df[value].notna()]
    if g.empty:
        return pd.DataFrame(columns=["topic", "stance"]).rename_axis("item_id")
    if value == "expected":
        g = g.assign(expected=[agreement_rating(e, d) for e, d in zip(g["expected"], g["direction"])])
    return g.groupby("item_id").agg(topic=("topic", "first"), stance=(value, "mean"))


def agreement_rating(expected: float, direction: str = "normal") -> float:
    """The expected rating read on the normal 0-9 scale: a reversed form's E counts as 9 - E
    (``core.stance.agreement``), so forms asked in both directions can be averaged."""
    return SCALE_MAX * agreement(float(expected), SCALE_MAX, direction)


def item_shifts(records: Sequence[dict] | pd.DataFrame, model: str, base: str = "base", value: str = "stance") -> pd.DataFrame:
    """Per item answered by both: topic and shift ``model - base`` of the keyed stance (or of ``value``)."""
    a, b = item_stances(records, model, value), item_stances(records, base, value)
    common = a.index.intersection(b.index)
    return pd.DataFrame({"topic": a.loc[common, "topic"], "shift": a.loc[common, "stance"] - b.loc[common, "stance"]})
