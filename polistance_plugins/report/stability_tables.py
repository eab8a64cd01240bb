"""Stability and format-health tables: scale-direction consistency and tracking, paraphrase spread,
and how much probability fell on the digits, per model with paired differences to the reference."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from ..core import stats as S
from ..core.stance import agreement
from .frames import ALL, FORM_COLS, SCALE_MAX
from .shift_tables import ESTIMATE_COLS, estimate_row

# ---- stability -----------------------------------------------------------------------------------
def _direction_pairs(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per (bank, item, paraphrase) answered in format in both directions: the agreement (0-1) with the
    item's claim on the normal scale and on the reversed scale (read backwards)."""
    g = df[(df["model"] == model) & df["ok"]]
    n = g[g["direction"] == "normal"]
    r = g[g["direction"] == "reversed"]
    m = n.merge(r, on=["bank", "item_id", "topic", "paraphrase"], suffixes=("_n", "_r"))
    m["a_normal"] = [agreement(e, SCALE_MAX, "normal") for e in m["expected_n"]]
    m["a_reversed"] = [agreement(e, SCALE_MAX, "reversed") for e in m["expected_r"]]
    return m[["bank", "item_id", "topic", "paraphrase", "a_normal", "a_reversed"]]


def _direction_values(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per (bank, item, paraphrase) answered in both directions: 1 - |agreement_normal - agreement_reversed| on [0, 1]."""
    m = _direction_pairs(df, model)
    m["value"] = S.direction_consistency(m["a_normal"], m["a_reversed"])
    return m[["bank", "item_id", "topic", "paraphrase", "value"]]


def _paraphrase_values(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per (bank, item, direction) with two or more paraphrases in format: spread (SD) of the stance."""
    g = df[(df["model"] == model) & df["ok"]]
    rows = []
    for (bank, item, topic, direction), h in g.groupby(["bank", "item_id", "topic", "direction"], sort=False):
        if len(h) >= 2:
            rows.append({"bank": bank, "item_id": item, "topic": topic, "direction": direction, "value": S.spread(h["stance"].to_numpy())})
    return pd.DataFrame(rows, columns=["bank", "item_id", "topic", "direction", "value"])


TRACKING_MEANING = ("correlation across items of the agreement on the normal and on the reversed scale: +1 = the reversed "
                    "answers follow the content, -1 = they repeat the same digits whatever the scale means")
STABILITY = {
    "direction_consistency": (_direction_values, ["paraphrase"], "1 = same endorsement of the claim whichever end of the scale means agree"),
    "paraphrase_spread": (_paraphrase_values, ["direction"], "SD of stance (-1..1) across paraphrases; 0 = wording does not matter"),
}


def stability_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Per (model, bank, measure): scale-direction consistency and paraphrase spread over items, with
    interval, and for adapters the paired difference to the reference with its sign-flip test; and
    direction tracking (the correlation across items of normal- and reversed-scale agreement, with a
    paired bootstrap interval and a permutation test of no association).

    Direction consistency alone rewards answers near the middle of the scale (a model that always
    answers 4.5 scores 1); direction tracking tells a model that follows the statements apart from
    one that repeats the same digits whichever end means "agree"."""
    rows = []
    for measure, (fn, within, meaning) in STABILITY.items():
        per_model = {m: fn(df, m) for m in models}
        ref = per_model.get(reference)
        for model in models:
            vals = per_model[model]
            for bank, g in vals.groupby("bank", sort=False):
                s = S.seed_for(seed, model, bank, measure)
                est = S.clustered_estimate(g["value"].to_numpy(), list(g["item_id"]), s, test=False)
                row = estimate_row(est, model=model, reference=reference, bank=bank, topic=ALL, measure=measure, meaning=meaning,
                           n_units=len(g))
                row.update({"vs_reference": math.nan, "vs_reference_ci_low": math.nan, "vs_reference_ci_high": math.nan})
                if model == reference or ref is None:
                    row["test"], row["p_value"] = "none (reference model)", math.nan
                else:
                    both = g.merge(ref[ref["bank"] == bank], on=["bank", "item_id", "topic", *within], suffixes=("", "_ref"))
                    diff = S.paired_difference(both["value"].to_numpy(), both["value_ref"].to_numpy(), list(both["item_id"]), s)
                    row.update({"vs_reference": diff.estimate, "vs_reference_ci_low": diff.ci_low, "vs_reference_ci_high": diff.ci_high,
                                "test": diff.test + " (model - reference)", "p_value": diff.p_value})
                rows.append(row)
    for model in models:
        for bank, g in _direction_pairs(df, model).groupby("bank", sort=False):
            items = g.groupby("item_id", sort=False)[["a_normal", "a_reversed"]].mean()
            est = S.correlation_estimate(items["a_normal"], items["a_reversed"], S.seed_for(seed, model, bank, "direction_tracking"))
            rows.append({**estimate_row(est, model=model, reference=reference, bank=bank, topic=ALL, measure="direction_tracking",
                                meaning=TRACKING_MEANING, n_units=len(g)),
                         "vs_reference": math.nan, "vs_reference_ci_low": math.nan, "vs_reference_ci_high": math.nan})
    return pd.DataFrame(rows, columns=["model", "reference", "bank", "topic", "measure", "meaning", "n_units", *ESTIMATE_COLS,
                                       "vs_reference", "vs_reference_ci_low", "vs_reference_ci_high"])


# ---- format health -------------------------------------------------------------------------------
def health_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Per (model, bank): how much probability fell on the digits (``mass``) and how many forms were
    off-format or failed. Mean mass per item with its interval; adapters tested against the reference.
    ``n_partial_coverage``: forms read from top log-probabilities that lacked some digits (Inspect logs),
    whose distributions are renormalised over the digits present; ``mean_coverage``: digits present."""
    rows = []
    for model in models:
        g = df[df["model"] == model]
        for bank, h in g.groupby("bank", sort=False):
            s = S.seed_for(seed, model, bank, "mass")
            est = S.clustered_estimate(h["mass"].to_numpy(), list(h["item_id"]), s, test=False)
            row = estimate_row(est, model=model, reference=reference, bank=bank, measure="digit_mass",
                       n_forms=len(h), n_ok=int(h["ok"].sum()),
                       n_off_format=int(h["status"].isin(["off_format", "no_options"]).sum()),
                       n_failed=int((h["status"] == "failed").sum()),
                       n_partial_coverage=int(((h["coverage"] > 0) & (h["coverage"] < 10) & (h["status"] != "failed")).sum()),
                       mean_coverage=float(h["coverage"].mean()) if h["coverage"].notna().any() else math.nan,
                       median_mass=float(h["mass"].median()) if h["mass"].notna().any() else math.nan)
            if model == reference:
                row["test"], row["p_value"] = "none (reference model)", math.nan
            else:
                ref = df[(df["model"] == reference) & (df["bank"] == bank)]
                both = h.merge(ref, on=FORM_COLS, suffixes=("", "_ref"))
                diff = S.paired_difference(both["mass"].to_numpy(), both["mass_ref"].to_numpy(), list(both["item_id"]), s)
                row["test"], row["p_value"] = diff.test + " of the mass (model - reference)", diff.p_value
            rows.append(row)
    return pd.DataFrame(rows)

