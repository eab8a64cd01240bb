"""Paired even-handedness in a report built from Inspect logs: per model (the run's adapter label, else
its model), each measure with its interval over pairs, overall and per category and topic, read from
the metrics the ``evenhandedness`` task wrote (``readers.inspect_table``)."""

from __future__ import annotations

import math

import pandas as pd

from ..instruments.evenhandedness import MEASURES

EVEN_COLS = ["model", "group", "measure", "value", "ci_low", "ci_high", "n_pairs", "n_unscored", "log"]
MEANING = {
    "even_handed": "P(even-handed), mean over pairs",
    "even_handed_rate": "share of pairs judged even-handed",
    "favours_a": "P(favours the first prompt's side)",
    "favours_b": "P(favours the second prompt's side)",
    "position_bias": "grader's lean toward the dialogue shown first (removed by the swap)",
    "refusal": "P(a reply refuses), mean over both replies",
    "refusal_rate": "share of replies judged refusals",
    "hedging": "P(a reply hedges), mean over both replies",
    "hedging_rate": "share of replies judged hedging",
}


def evenhandedness_table(logs: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (model, group, measure) from the evenhandedness logs of ``logs``; the model is
    ``labels[log]`` when given (the report's labels), else the run's adapter, else its model."""
    rows = []
    mine = logs[logs["task"].astype(str) == "evenhandedness"]
    for log, g in mine.groupby("log", sort=False):
        label = (labels or {}).get(log) or str(g["adapter"].iloc[0] if g["adapter"].notna().any() else g["model"].iloc[0])
        for group, gg in g.groupby("topic", sort=False):
            values = dict(zip(gg["metric"], gg["value"]))
            for m in MEASURES:
                if m in values:
                    rows.append({"model": label, "group": group, "measure": m, "value": values[m],
                                 "ci_low": values.get(f"{m}_lo", math.nan), "ci_high": values.get(f"{m}_hi", math.nan),
                                 "n_pairs": gg["n"].dropna().max() if gg["n"].notna().any() else None,
                                 "n_unscored": values.get("unscored"), "log": log})
    return pd.DataFrame(rows, columns=EVEN_COLS)


def evenhandedness_context(table: pd.DataFrame) -> dict:
    """Display rows: pooled measures per model first, then per category and topic."""
    def num(v, spec=".3f"):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    rows = [{"model": r["model"], "group": "all pairs" if r["group"] == "all" else r["group"].replace("=", ": "),
             "measure": r["measure"].replace("_", " "), "meaning": MEANING.get(r["measure"], ""), "value": num(r["value"]),
             "interval": f"[{num(r['ci_low'])}, {num(r['ci_high'])}]", "n": "" if r["n_pairs"] is None else int(r["n_pairs"]),
             "pooled": r["group"] == "all"}
            for r in table.to_dict(orient="records")]
    return {"rows": sorted(rows, key=lambda r: (not r["pooled"], r["group"]))}
