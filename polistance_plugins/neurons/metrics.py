"""Cross-topic generalisation metrics from per-item digit-distribution stances (no judge).

- s(T, t): mean keyed stance of the model fine-tuned on T minus the base's, over topic t's items;
- in-topic effect: s(T, T); cross-topic generalisation CTG(T) = mean over t != T of |s(T, t)|;
- InhibitFT: reduction = 1 - CTG_inhibit / CTG_plain, retention = s_inhibit(T, T) / s_plain(T, T),
  each with a stratified bootstrap interval over items (items resampled within each topic, the
  same resample for the plain and the inhibited adapter, so the comparison is paired).

An item's stance for a model is the mean keyed stance over its forms answered in format
(status "ok"); an item enters a comparison only if every model involved answered it.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
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


def shift_matrix(shifts: dict[str, pd.DataFrame], topics: Sequence[str]) -> pd.DataFrame:
    """s(T, t): rows = adapter topic T (keys of ``shifts``), columns = evaluation topic t."""
    return pd.DataFrame(
        {t: {T: _mean(sh.loc[sh["topic"] == t, "shift"]) for T, sh in shifts.items()} for t in topics}
    ).loc[list(shifts), list(topics)]


def ctg(row: pd.Series | dict, adapter_topic: str) -> float:
    """Cross-topic generalisation: mean |s(T, t)| over evaluation topics t other than T."""
    vals = [abs(v) for t, v in dict(row).items() if t != adapter_topic and not _nan(v)]
    return float(np.mean(vals)) if vals else math.nan


def reduction(ctg_plain: float, ctg_inhibit: float) -> float:
    """1 - CTG_inhibit / CTG_plain: the share of cross-topic generalisation InhibitFT removed."""
    return 1.0 - ctg_inhibit / ctg_plain if ctg_plain else math.nan


def retention(in_plain: float, in_inhibit: float) -> float:
    """s_inhibit(T, T) / s_plain(T, T): the share of the in-topic effect InhibitFT kept."""
    return in_inhibit / in_plain if in_plain else math.nan


def compare(
    plain: pd.DataFrame,
    inhibit: pd.DataFrame,
    adapter_topic: str,
    topics: Sequence[str],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> dict:
    """Plain vs InhibitFT adapter of one topic T: in-topic effects, CTGs, reduction and retention with intervals.

    ``plain`` and ``inhibit`` are :func:`item_shifts` tables; only items present in both are used.
    """
    rows = compare_study({adapter_topic: plain}, {adapter_topic: inhibit}, topics, n_resamples, confidence, seed, method)
    return rows[0]


def compare_study(
    plain: dict[str, pd.DataFrame],
    inhibit: dict[str, pd.DataFrame],
    topics: Sequence[str],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> list[dict]:
    """One row per adapter topic T (keys of ``plain``), plus a pooled row ``"all"``.

    The pooled reduction is 1 - mean_T CTG_inhibit(T) / mean_T CTG_plain(T). All intervals come
    from one stratified bootstrap over the items common to every table (items resampled within
    each evaluation topic, the same resample for every adapter), so they are mutually consistent.
    """
    from scipy.stats import bootstrap

    adapters = list(plain)
    if set(inhibit) != set(adapters):
        raise ValueError("plain and inhibit must have the same adapter topics")
    common = None
    for df in [*plain.values(), *inhibit.values()]:
        common = df.index if common is None else common.intersection(df.index)
    topic_of = plain[adapters[0]].loc[common, "topic"].to_numpy()
    sel = [topic_of == t for t in topics]
    missing = [t for t, m in zip(topics, sel) if not m.any()]
    if missing:
        raise ValueError(f"no paired items for topics {missing}")
    # P[k], Q[k]: [adapters, items of topic k] shifts of the plain and the inhibited adapters
    P = [np.stack([plain[a].loc[common, "shift"].to_numpy()[m] for a in adapters]) for m in sel]
    Q = [np.stack([inhibit[a].loc[common, "shift"].to_numpy()[m] for a in adapters]) for m in sel]
    homes = [list(topics).index(a) if a in topics else None for a in adapters]
    n = len(adapters)

    def stats(*idx, axis=-1):
        sp = np.stack([P[k][:, np.asarray(i, dtype=np.int64)].mean(axis=-1) for k, i in enumerate(idx)])
        sq = np.stack([Q[k][:, np.asarray(i, dtype=np.int64)].mean(axis=-1) for k, i in enumerate(idx)])
        out = []
        ctg_p, ctg_q = [], []
        with np.errstate(divide="ignore", invalid="ignore"):
            for j, h in enumerate(homes):
                others = [k for k in range(len(topics)) if k != h]
                cp = np.abs(sp[others, j]).mean(axis=0)
                cq = np.abs(sq[others, j]).mean(axis=0)
                ctg_p.append(cp)
                ctg_q.append(cq)
                out.append(1.0 - cq / cp)
                out.append(sq[h, j] / sp[h, j] if h is not None else np.full_like(cp, np.nan))
            out.append(1.0 - np.mean(ctg_q, axis=0) / np.mean(ctg_p, axis=0))
        return np.stack(out)

    data = tuple(np.arange(int(m.sum()), dtype=float) for m in sel)
    point = stats(*data)
    res = bootstrap(
        data, stats, n_resamples=n_resamples, confidence_level=confidence, method=method,
        vectorized=True, paired=False, rng=np.random.default_rng(seed),
    )
    lo, hi = res.confidence_interval
    rows = []
    for j, a in enumerate(adapters):
        s_plain = {t: float(P[k][j].mean()) for k, t in enumerate(topics)}
        s_inh = {t: float(Q[k][j].mean()) for k, t in enumerate(topics)}
        rows.append({
            "topic": a,
            "n_items": int(len(common)),
            "in_topic_plain": s_plain.get(a, math.nan),
            "in_topic_inhibit": s_inh.get(a, math.nan),
            "ctg_plain": ctg(s_plain, a),
            "ctg_inhibit": ctg(s_inh, a),
            "reduction": float(point[2 * j]),
            "reduction_lo": float(lo[2 * j]),
            "reduction_hi": float(hi[2 * j]),
            "retention": float(point[2 * j + 1]),
            "retention_lo": float(lo[2 * j + 1]),
            "retention_hi": float(hi[2 * j + 1]),
        })
    rows.append({
        "topic": "all",
        "n_items": int(len(common)),
        "in_topic_plain": float(np.nanmean([r["in_topic_plain"] for r in rows])),
        "in_topic_inhibit": float(np.nanmean([r["in_topic_inhibit"] for r in rows])),
        "ctg_plain": float(np.mean([r["ctg_plain"] for r in rows])),
        "ctg_inhibit": float(np.mean([r["ctg_inhibit"] for r in rows])),
        "reduction": float(point[-1]),
        "reduction_lo": float(lo[-1]),
        "reduction_hi": float(hi[-1]),
        "retention": math.nan,
        "retention_lo": math.nan,
        "retention_hi": math.nan,
    })
    return rows


def _mean(col) -> float:
    vals = [float(v) for v in col if not _nan(v)]
    return float(np.mean(vals)) if vals else math.nan


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
