"""Records as tidy frames: one row per (model, form) of the 0-9 questionnaire, forms paired between
two models, the mean distribution per item, and the per-topic means the lm-eval tasks report.

Reversed-scale forms are un-reversed before anything is compared: ``agreement`` (0-9, how much
the model endorses the item's own claim) is ``E`` on a normal form and ``9 - E`` on a reversed
one, and its distribution is the digit distribution read backwards.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..core import stats as S
from ..instruments.questionnaire import SCALE_MAX, agreement_on_scale
ALL = "all topics"
FORM_COLS = ["bank", "item_id", "topic", "paraphrase", "direction"]
QUESTIONNAIRE = "questionnaire"


# ---- records -> frames ---------------------------------------------------------------------------
def questionnaire_frame(records: Sequence[dict]) -> pd.DataFrame:
    """One row per (model, form) of the 0-9 questionnaire, with un-reversed agreement and probabilities."""
    rows = [r for r in records if r.get("suite", QUESTIONNAIRE) == QUESTIONNAIRE and "item_id" in r]
    cols = ["model", *FORM_COLS, "keying", "status", "mass", "expected", "stance", "entropy", "probs", "coverage"]
    if not rows:
        return pd.DataFrame(columns=cols + ["agreement", "agree_probs", "ok"])
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = None
    df = df[cols].copy()
    df["ok"] = df["status"] == "ok"
    for c in ("mass", "expected", "stance", "entropy", "coverage"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    rev = df["direction"] == "reversed"
    df["agreement"] = [agreement_on_scale(e, d) for e, d in zip(df["expected"], df["direction"])]
    df["agreement"] = pd.to_numeric(df["agreement"], errors="coerce").astype(float)
    df["agree_probs"] = [
        (list(p)[::-1] if r else list(p)) if isinstance(p, (list, tuple)) else None for p, r in zip(df["probs"], rev)
    ]
    return df


def paired_forms(df: pd.DataFrame, model: str, reference: str) -> pd.DataFrame:
    """Forms answered in format by both ``model`` and ``reference``, side by side, with per-form shifts.

    ``d_agreement`` (scale points toward agreeing with the claim), ``d_stance`` (toward the right
    position, on [-2, 2]), ``d_entropy`` (nats) and ``w1`` (Wasserstein-1 in scale points).
    """
    a = df[(df["model"] == model) & df["ok"]]
    b = df[(df["model"] == reference) & df["ok"]]
    keep = FORM_COLS + ["keying", "agreement", "stance", "entropy", "agree_probs", "mass"]
    m = a[keep].merge(b[keep], on=FORM_COLS + ["keying"], suffixes=("", "_ref"))
    m["d_agreement"] = m["agreement"] - m["agreement_ref"]
    m["d_stance"] = m["stance"] - m["stance_ref"]
    m["d_entropy"] = m["entropy"] - m["entropy_ref"]
    m["w1"] = [S.wasserstein1(q, p) for p, q in zip(m["agree_probs_ref"], m["agree_probs"])]
    return m


# ---- distributions for the small multiples -------------------------------------------------------
def item_distributions(df: pd.DataFrame) -> pd.DataFrame:
    """Per (model, bank, item): the mean digit distribution over the item's normal-scale forms answered
    in format (over paraphrases), its expected value and how many forms went in (the panels of the
    per-question figure). Items asked only on the reversed scale use those forms, read backwards.

    The two scale directions are not mixed: a model that gives the same digit whichever end means
    "agree" would otherwise show a symmetric mixture centred on 4.5 (direction consistency in the
    stability table measures exactly that)."""
    rows = []
    for (model, bank, item), g in df.groupby(["model", "bank", "item_id"], sort=False):
        normal = g[g["direction"] == "normal"]
        use = normal if len(normal) else g
        ok = use[use["ok"]]
        probs = np.mean(np.array(list(ok["agree_probs"]), dtype=float), axis=0) if len(ok) else np.full(10, np.nan)
        rows.append(
            {
                "model": model, "bank": bank, "item_id": item, "topic": g["topic"].iloc[0], "keying": g["keying"].iloc[0],
                "direction": "normal" if len(normal) else "reversed (read backwards)",
                "n_forms": len(use), "n_ok": len(ok), "probs": [float(p) for p in probs],
                "expected": float(np.dot(probs, np.arange(probs.size))) if len(ok) else math.nan,
                "mean_mass": float(use["mass"].mean()),
            }
        )
    return pd.DataFrame(rows)


def model_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per (model, bank, topic) means over forms (the lm-eval task metrics): agreement with the items'
    claims (0-9, reversed-scale forms read backwards), stance and entropy over forms in format; digit
    mass and off-format share over all forms."""
    rows = []
    for (model, bank, topic), g in df.groupby(["model", "bank", "topic"], sort=False):
        ok = g[g["ok"]]
        rows.append(
            {
                "model": model, "bank": bank, "topic": topic, "n_forms": len(g), "n_ok": len(ok),
                "n_items": int(g["item_id"].nunique()),
                "agreement": float(ok["agreement"].mean()) if len(ok) else math.nan,
                "stance": float(ok["stance"].mean()) if len(ok) else math.nan,
                "entropy": float(ok["entropy"].mean()) if len(ok) else math.nan,
                "digit_mass": float(g["mass"].mean()),
                "off_format": float((~g["ok"]).mean()),
            }
        )
    return pd.DataFrame(rows)

