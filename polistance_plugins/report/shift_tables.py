"""Shift tables of a comparison: per (model, bank, topic, measure) the mean shift versus the reference
over items, with its interval, test and Benjamini-Hochberg adjusted p-value; and per item.

Each row carries what traces it: ``n_items``, the interval bounds and how the interval was made,
the test and its p-value. The math lives in ``core.stats``; this module pairs forms and groups them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..core import stats as S
from .frames import ALL, paired_forms

ESTIMATE_COLS = ["estimate", "ci_low", "ci_high", "n_items", "interval", "test", "p_value"]
SHIFT_COLS = ["model", "reference", "bank", "topic", "measure", "n_forms", *ESTIMATE_COLS]


def estimate_row(est: S.Estimate, **labels) -> dict:
    return {**labels, **est.to_dict()}


def _adjust(table: pd.DataFrame, family: Sequence[str]) -> pd.DataFrame:
    """Add ``p_adjusted`` (BH over the topics of each family; the pooled "all topics" row is not a
    member of the family and keeps its raw p) and ``significance`` marks."""
    if table.empty:
        return pd.DataFrame(columns=[*SHIFT_COLS, "p_adjusted", "significance"])
    table = table.copy()
    table["p_adjusted"] = np.nan
    topical = table["topic"] != ALL
    for _, idx in table[topical].groupby(list(family), sort=False).groups.items():
        table.loc[idx, "p_adjusted"] = S.bh_adjust(table.loc[idx, "p_value"].to_numpy())
    table.loc[~topical, "p_adjusted"] = table.loc[~topical, "p_value"]
    table["significance"] = [S.significance_mark(q) for q in table["p_adjusted"]]
    return table


# ---- shift tables --------------------------------------------------------------------------------
SHIFT_MEASURES = {
    # measure: (per-form column, tested against 0?)
    "stance_shift": ("d_stance", True),
    "agreement_shift": ("d_agreement", True),
    "wasserstein1": ("w1", False),
    "entropy_change": ("d_entropy", True),
}


def _grouped(pairs: pd.DataFrame, model: str, reference: str, measures: Sequence[str], seed: int, with_all: bool = True) -> list[dict]:
    rows = []
    for bank, bdf in pairs.groupby("bank", sort=False):
        groups = [(t, g) for t, g in bdf.groupby("topic", sort=False)]
        if with_all:
            groups.append((ALL, bdf))
        for topic, g in groups:
            for measure in measures:
                col, test = SHIFT_MEASURES[measure]
                est = S.clustered_estimate(g[col].to_numpy(), list(g["item_id"]), S.seed_for(seed, model, reference, bank, topic, measure), test)
                rows.append(estimate_row(est, model=model, reference=reference, bank=bank, topic=topic, measure=measure, n_forms=int(g[col].notna().sum())))
    return rows


def shift_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0, measures: Sequence[str] = ("stance_shift", "agreement_shift", "wasserstein1")) -> pd.DataFrame:
    """Per (model, bank, topic, measure): mean shift vs ``reference`` over items with interval and test.

    Also one pooled row per (model, bank, measure) with topic "all topics". BH adjustment is over
    the topics of each (model, bank, measure).
    """
    rows = []
    for model in models:
        if model == reference:
            continue
        rows += _grouped(paired_forms(df, model, reference), model, reference, measures, seed)
    return _adjust(pd.DataFrame(rows, columns=SHIFT_COLS), ["model", "bank", "measure"])


def entropy_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Entropy change (nats, model - reference) per adapter: pooled and per topic, with interval and test.

    Positive = the adapter spreads its answer mass over more digits than the base (the sports-team
    paper's observation about fine-tuned models).
    """
    return shift_table(df, reference, models, seed, measures=("entropy_change",))


def control_table(df: pd.DataFrame, reference: str, control: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Control-adjusted stance shift: (model - base) - (control - base) = model - control, per form.

    Separates "learned to state opinions at all" (which the control adapter also learned) from
    the content of the fine-tuning data. Same grouping, interval and test as ``shift_table``.
    """
    rows = []
    for model in models:
        if model in (reference, control):
            continue
        pairs = paired_forms(df, model, control)
        for r in _grouped(pairs, model, control, ("stance_shift",), seed):
            r["measure"] = "control_adjusted_stance_shift"
            rows.append(r)
    return _adjust(pd.DataFrame(rows, columns=SHIFT_COLS), ["model", "bank", "measure"])


ITEM_COLS = ["model", "reference", "bank", "item_id", "topic", "keying", "n_forms", "agreement_ref", "agreement", "agreement_shift",
             "ci_low", "ci_high", "interval", "test", "p_value", "stance_shift", "wasserstein1", "wasserstein1_ci_low", "wasserstein1_ci_high"]


def item_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Per (model, bank, item): expected agreement of both models, its shift and the Wasserstein-1 distance.

    Within one item the forms (paraphrases x directions) are the unit: the interval is a bootstrap
    over forms and the test a sign-flip test over forms (with one form: no interval, p = 1).
    """
    rows = []
    for model in models:
        if model == reference:
            continue
        pairs = paired_forms(df, model, reference)
        for (bank, item), g in pairs.groupby(["bank", "item_id"], sort=False):
            seed_i = S.seed_for(seed, model, reference, bank, item)
            est = S.mean_estimate(g["d_agreement"].to_numpy(), seed_i, unit="forms")
            w1 = S.mean_estimate(g["w1"].to_numpy(), seed_i, test=False, unit="forms")
            rows.append(
                {
                    "model": model, "reference": reference, "bank": bank, "item_id": item, "topic": g["topic"].iloc[0],
                    "keying": g["keying"].iloc[0], "n_forms": len(g),
                    "agreement_ref": float(g["agreement_ref"].mean()), "agreement": float(g["agreement"].mean()),
                    "agreement_shift": est.estimate, "ci_low": est.ci_low, "ci_high": est.ci_high,
                    "interval": est.interval, "test": est.test, "p_value": est.p_value,
                    "stance_shift": float(g["d_stance"].mean()),
                    "wasserstein1": w1.estimate, "wasserstein1_ci_low": w1.ci_low, "wasserstein1_ci_high": w1.ci_high,
                }
            )
    return pd.DataFrame(rows, columns=ITEM_COLS)

