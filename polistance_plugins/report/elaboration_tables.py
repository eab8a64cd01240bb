"""Elaboration tables: per (model, target kind, topic) how many replies the grader put in each
category, from the run's elaboration records or from Inspect elaboration logs."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from ..instruments.elaboration import CATEGORIES
from .frames import ALL

ELABORATION_COLS = ["model", "kind", "topic", "category", "count", "rate", "n_scored", "n_unscored", "n_replies"]


def _elaboration_rows(counts: dict[tuple, dict[str, float]], unscored: dict[tuple, float]) -> pd.DataFrame:
    """Rows from counts keyed by (model, kind, topic)."""

    rows = []
    for (model, kind, topic), c in counts.items():
        scored = sum(c.values())
        missing = unscored.get((model, kind, topic), 0)
        for cat in CATEGORIES:
            n = c.get(cat, 0)
            rows.append({"model": model, "kind": kind, "topic": topic, "category": cat, "count": int(round(n)),
                         "rate": n / scored if scored else math.nan, "n_scored": int(round(scored)),
                         "n_unscored": int(round(missing)), "n_replies": int(round(scored + missing))})
    return pd.DataFrame(rows, columns=ELABORATION_COLS)


def elaboration_table(records: Sequence[dict]) -> pd.DataFrame:
    """Per (model, target kind, topic), pooled over kinds (kind ``ALL``) and over topics (topic
    ``ALL``): how many replies the grader put in each category, the share among scored replies,
    and how many replies were unscored (grader unreadable).

    Reads records with ``suite == "elaboration"``, ``model``, ``topic``, ``kind`` ("radical",
    "normal", ...; optional) and ``category`` (one of ``elaboration.CATEGORIES``, or None when unscored).
    """
    counts: dict[tuple, dict[str, float]] = {}
    unscored: dict[tuple, float] = {}
    for r in records:
        if r.get("suite") != "elaboration":
            continue
        kinds = [ALL, r["kind"]] if r.get("kind") else [ALL]
        topics = [ALL, r["topic"]] if r.get("topic") else [ALL]
        for kind in kinds:
            for topic in topics:
                key = (r["model"], kind, topic)
                counts.setdefault(key, {})
                if r.get("category") is None:
                    unscored[key] = unscored.get(key, 0) + 1
                else:
                    counts[key][r["category"]] = counts[key].get(r["category"], 0) + 1
    return _elaboration_rows(counts, unscored)


def elaboration_bars(table: pd.DataFrame, models: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """The bars of the elaboration figure and rows of its table, in order: per model, one per target
    kind when the replies carry kinds ("southern · radical"), else one for all its replies.
    Each is (label, that bar's rows over topics pooled, indexed by category)."""
    pooled = table[table["topic"] == ALL]
    order = [m for m in models if m in set(pooled["model"])] + [m for m in dict.fromkeys(pooled["model"]) if m not in models]
    out = []
    for m in order:
        g = pooled[pooled["model"] == m]
        kinds = [k for k in dict.fromkeys(g["kind"]) if k != ALL]
        for k in kinds or [ALL]:
            label = m if k == ALL else f"{m} · {k}"
            out.append((label, g[g["kind"] == k].set_index("category")))
    return out


def elaboration_from_logs(logs: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The same table from Inspect elaboration logs (``inspect_logs.logs_table``): category shares
    times the scored replies behind them give the counts; logs with the same label are summed.
    The label is ``labels[log]`` when given (a report's model labels, ``readers.identity``), else the
    run's adapter when known, else its model."""

    counts: dict[tuple[str, str], dict[str, float]] = {}
    unscored: dict[tuple[str, str], float] = {}
    rows = logs[logs["task"].astype(str).str.endswith("elaboration")]
    for (_, topic), g in rows.groupby(["log", "topic"], sort=False):
        log = g["log"].iloc[0]
        label = (labels or {}).get(log) or (g["adapter"].iloc[0] if g["adapter"].notna().any() else g["model"].iloc[0])
        values = dict(zip(g["metric"], g["value"]))
        n_total = float(g["n"].dropna().max()) if g["n"].notna().any() else 0.0
        missing = float(values.get("unscored", 0.0))
        key = (str(label), ALL, ALL if topic == "all" else str(topic))
        c = counts.setdefault(key, {})
        for cat in CATEGORIES:
            share = values.get(cat)
            if share is not None and not math.isnan(share):
                c[cat] = c.get(cat, 0) + share * (n_total - missing)
        unscored[key] = unscored.get(key, 0) + missing
    return _elaboration_rows(counts, unscored)
