"""The InhibitFT study's outputs: statistics over matched units, written as CSV, Markdown and heatmaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .study_stats import summarise, unit_shifts, unit_table
from .study_train import MASKED_ARMS, adapter_name, arm_label

MEASURES = {"stance": "keyed stance, in the trained leaning's direction", "expected": "expected rating (0-9), agreement"}


def comparisons(arms: list[str], n: float) -> list[tuple[str, str]]:
    """Each masked arm against plain, then InhibitFT (with and without holding) against the control."""
    label = {a: arm_label(a, n) for a in MASKED_ARMS if a in arms}
    pairs = [(label[a], "plain") for a in MASKED_ARMS if a in label]
    if "control" in label:
        pairs += [(label[a], label["control"]) for a in ("inhibit", "hold") if a in label]
    if "inhibit" in label and "hold" in label:
        pairs.append((label["hold"], label["inhibit"]))
    return pairs


def level_results(cfg, df, general: dict, eval_topics: list[str], n: float, value: str) -> dict:
    """Units, arm rows and comparison rows at inhibition level ``n`` on one measure."""
    units = [(T, s) for T in cfg.topics if general[(n, T)].size for s in cfg.seeds]
    labels = ["plain"] + [arm_label(a, n) for a in cfg.arms]
    arm_of = {arm_label(a, n): a for a in cfg.arms} | {"plain": "plain"}

    def name(label, topic, seed):
        return adapter_name(arm_of[label], topic, seed, n)

    sign = cfg.sign if value == "stance" else 1.0
    us = unit_shifts(df, name, labels, units, eval_topics, sign=sign, value=value)
    arm_rows, comp_rows = summarise(us, comparisons(cfg.arms, n), cfg.n_resamples, seed=cfg.stats_seed)
    return {"units": [dict(r, inhibit_top=n) for r in unit_table(us)],
            "arms": [dict(r, inhibit_top=n) for r in arm_rows],
            "comparisons": [dict(r, inhibit_top=n) for r in comp_rows]}


def write_results(cfg, records, general: dict, eval_topics: list[str], drift_rows: list[dict], out: Path) -> dict:
    """Write every table and figure of the study; returns the Markdown of both measures."""
    import pandas as pd

    from ..engine.runs import atomic_write
    from .figures import shift_heatmaps
    from .study_table import markdown_report

    df = pd.DataFrame(records)
    drift = pd.DataFrame(drift_rows)
    if not drift.empty:
        drift.to_csv(out / "drift.csv", index=False)
    texts = {}
    for value, suffix in (("stance", ""), ("expected", "_agreement")):
        parts = [level_results(cfg, df, general, eval_topics, n, value) for n in cfg.inhibit_top]
        units = pd.DataFrame([r for p in parts for r in p["units"]])
        arms = pd.DataFrame([r for p in parts for r in p["arms"]])
        comps = pd.DataFrame([r for p in parts for r in p["comparisons"]])
        arms = arms.merge(drift_by_arm(drift, cfg), on=["inhibit_top", "arm"], how="left") if not drift.empty else arms
        units.to_csv(out / f"units{suffix}.csv", index=False)
        arms.to_csv(out / f"arms{suffix}.csv", index=False)
        comps.to_csv(out / f"comparisons{suffix}.csv", index=False)
        text = markdown_report(arms, comps, units, MEASURES[value], cfg)
        atomic_write(out / f"table{suffix}.md", text)
        texts["markdown" + suffix] = text
        mats = heat_matrices(units, eval_topics)
        label = ("s(T, t): shift in the trained leaning's direction (keyed stance)" if value == "stance"
                 else "shift of the expected rating (0-9)")
        shift_heatmaps(mats, out / f"heatmap{suffix}.png", label=label,
                       title=f"s(T, t), mean over {len(cfg.seeds)} seeds: {cfg.model}, {cfg.leaning}-leaning LoRA, "
                             f"{len(df['item_id'].unique())} held-out items")
    return texts


def drift_by_arm(drift, cfg):
    """Mean drift ratio of the general neurons per (level, arm) over its adapters."""
    import pandas as pd

    rows = []
    for n in cfg.inhibit_top:
        d = drift[drift["inhibit_top"] == n]
        for label, arm in [("plain", "plain")] + [(arm_label(a, n), a) for a in cfg.arms]:
            prefix = "plain-" if arm == "plain" else adapter_name(arm, "X", 0, n).split("-")[0] + "-"
            sel = d[d["adapter"].str.startswith(prefix)]
            rows.append({"inhibit_top": n, "arm": label, "general_drift_ratio": float(sel["ratio"].mean()) if len(sel) else np.nan,
                         "general_relative_change": float(sel["inhibited_relative_change"].mean()) if len(sel) else np.nan})
    return pd.DataFrame(rows)


def heat_matrices(units, eval_topics: list[str]) -> dict:
    """s(T, t) per (level, arm), averaged over seeds: rows T, columns t."""
    mats = {}
    for (n, arm), g in units.groupby(["inhibit_top", "arm"], sort=False):
        m = g.groupby("topic", sort=False)[[f"s[{t}]" for t in eval_topics]].mean()
        m.columns = list(eval_topics)
        mats[arm if len(units["inhibit_top"].unique()) == 1 else f"{arm} ({n:g}%)"] = m
    return mats
