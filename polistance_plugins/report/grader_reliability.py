"""The elaboration grader's measured reliability, from a run's records or from Inspect logs: its
agreement with itself across label orders, with a second grader (overall and per category), and the
verdict (``core.kappa.reliability_verdict``) that decides how the report shows the categories."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from ..core.kappa import KAPPA_THRESHOLD, grader_agreement, order_agreement, reliability_verdict
from ..instruments.elaboration import CATEGORIES

RELIABILITY_COLS = ["grader", "compared_with", "category", "measure", "value", "n_items", "n_items_read", "threshold"]
FIRST = "grader"


def _index(label: str | None) -> int | None:
    return CATEGORIES.index(label) if label in CATEGORIES else None


def _grades(records: Sequence[dict]) -> dict[str, list[dict]]:
    """Per grader name, its grade of every reply (in record order): the record's own fields for the
    first grader, ``other_graders`` for the rest."""
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r.get("grader") or FIRST, []).append(
            {"label": r.get("category"), "order_labels": r.get("grader_order_labels"), "order_probs": r.get("grader_order_probs")})
        for other in r.get("other_graders") or []:
            out.setdefault(other["grader"], []).append(
                {"label": other.get("category"), "order_labels": other.get("grader_order_labels"),
                 "order_probs": other.get("grader_order_probs")})
    return out


def _order_row(name: str, grades: list[dict]) -> list[dict]:
    with_orders = [g for g in grades if g["order_labels"]]
    labels = [[_index(x) for x in g["order_labels"]] for g in with_orders]
    agree = order_agreement(labels, [g["order_probs"] for g in with_orders], len(CATEGORIES))
    base = {"grader": name, "compared_with": "its other label orders", "category": "all", "n_items": agree["n_items"],
            "n_items_read": agree["n_items_read"], "threshold": KAPPA_THRESHOLD}
    rows = [{**base, "measure": "label_orders", "value": max(1, agree["n_orders"])}]
    if agree["n_orders"] >= 2:
        rows += [{**base, "measure": m, "value": agree[k]} for m, k in
                 (("order_kappa", "kappa"), ("order_agreement", "agreement"), ("order_mean_tv", "mean_tv"))]
    return rows


def _between_rows(first: str, other: str, a: list[dict], b: list[dict]) -> list[dict]:
    got = grader_agreement([_index(g["label"]) for g in a], [_index(g["label"]) for g in b], CATEGORIES)
    base = {"grader": first, "compared_with": other, "n_items": got["n_items"], "n_items_read": got["n_items_read"],
            "threshold": KAPPA_THRESHOLD}
    rows = [{**base, "category": "all", "measure": "grader_kappa", "value": got["kappa"]},
            {**base, "category": "all", "measure": "grader_agreement", "value": got["agreement"]}]
    for c in got["per_category"]:
        rows += [{**base, "category": c["category"], "measure": "grader_kappa", "value": c["kappa"]},
                 {**base, "category": c["category"], "measure": "grader_agreement", "value": c["agreement"]},
                 {**base, "category": c["category"], "measure": "chosen_by_grader", "value": c["n_first"]},
                 {**base, "category": c["category"], "measure": "chosen_by_other", "value": c["n_second"]}]
    return rows


def reliability_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per (grader, comparison, category, measure) over the run's elaboration records."""
    elab = [r for r in records if r.get("suite") == "elaboration"]
    graders = _grades(elab)
    rows: list[dict] = []
    names = list(graders)
    for name in names:
        rows += _order_row(name, graders[name])
    for other in names[1:]:
        rows += _between_rows(names[0], other, graders[names[0]], graders[other])
    return pd.DataFrame(rows, columns=RELIABILITY_COLS)


def verdict(table: pd.DataFrame, threshold: float = KAPPA_THRESHOLD) -> dict:
    """The verdict from the overall kappas of the table (each measured one: read on at least one reply)."""
    measures = {}
    overall = table[(table["category"] == "all") & table["measure"].isin(["order_kappa", "grader_kappa"])]
    for r in overall.itertuples():
        if (r.n_items_read or 0) > 0:
            name = (f"{r.grader}: label-order kappa" if r.measure == "order_kappa" else f"{r.grader} vs {r.compared_with}: kappa")
            measures[name] = float(r.value)
    return reliability_verdict(measures, threshold)


def _fmt(value, measure: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    if measure in ("label_orders", "chosen_by_grader", "chosen_by_other"):
        return str(int(value))
    return f"{value:.3f}"


def reliability_context(table: pd.DataFrame, judged: dict) -> dict:
    """What the page shows: the verdict, its reasons, and the table's rows formatted."""
    rows = [{"grader": r.grader, "compared_with": r.compared_with, "category": r.category,
             "measure": r.measure.replace("_", " "), "value": _fmt(r.value, r.measure),
             "n": "" if r.n_items_read is None or r.n_items_read != r.n_items_read else int(r.n_items_read),
             "low": r.measure.endswith("kappa") and not (isinstance(r.value, float) and r.value >= r.threshold)}
            for r in table.itertuples()]
    return {"reliable": judged["reliable"], "reasons": judged["reasons"], "threshold": judged["threshold"],
            "measures": judged["measures"], "rows": rows}


def reliability_from_logs(logs: pd.DataFrame) -> pd.DataFrame:
    """The same table from the reliability metrics of Inspect elaboration logs (``inspect_table``)."""
    rows: list[dict] = []
    elab = logs[logs["task"].astype(str).str.endswith("elaboration") & (logs["topic"] == "all")]
    for log, g in elab.groupby("log", sort=False):
        values = dict(zip(g["metric"], g["value"]))
        n = int(g["n"].dropna().max()) if g["n"].notna().any() else None
        label = g["adapter"].iloc[0] if g["adapter"].notna().any() else g["model"].iloc[0]
        base = {"grader": f"grader ({label})", "category": "all", "n_items": n, "threshold": KAPPA_THRESHOLD}
        if "label_orders" in values:
            own = {**base, "compared_with": "its other label orders", "n_items_read": values.get("order_n_read", n)}
            rows.append({**own, "measure": "label_orders", "value": values["label_orders"]})
            for m in ("order_kappa", "order_agreement", "order_mean_tv"):
                if m in values:
                    rows.append({**own, "measure": m, "value": values[m]})
        if "grader_kappa" in values:
            two = {**base, "compared_with": f"grader2 ({label})", "n_items_read": values.get("grader_n_read", n)}
            rows += [{**two, "measure": m, "value": values[m]} for m in ("grader_kappa", "grader_agreement") if m in values]
            for c in CATEGORIES:
                if f"grader_kappa_{c}" in values:
                    rows.append({**two, "category": c, "measure": "grader_kappa", "value": values[f"grader_kappa_{c}"]})
    return pd.DataFrame(rows, columns=RELIABILITY_COLS)
