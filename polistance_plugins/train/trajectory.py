"""A stance trajectory: per training step and topic, where the questionnaire answers stand and how far
they moved from the base model's, written as ``trajectory.csv`` with a plot beside it.

Rows are pure functions of the forms' digit distributions (``stance_rows``); the callback in
``tracking.py`` computes the distributions on the model being trained.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

from ..core import Distribution
from ..core.records import DEFAULT_MIN_MASS
from ..core.stance import agreement
from ..core.stats import wasserstein1
from ..instruments.questionnaire import Form, score_record

TRAJECTORY = "trajectory.csv"
PLOT = "trajectory.png"
ALL = "all"
COLUMNS = ["step", "bank", "topic", "n_forms", "n_ok", "stance", "agreement", "wasserstein1", "digit_mass", "loss"]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def stance_rows(step: int, bank: str, forms: Sequence[Form], dists: Sequence[Distribution],
                base: Sequence[Distribution], min_mass: float = DEFAULT_MIN_MASS) -> list[dict]:
    """One row per topic of ``bank`` and one over all its topics (``ALL``) at ``step``.

    ``stance``: mean keyed stance (-1 left .. +1 right) of the forms answered in format;
    ``agreement``: mean expected agreement with the claim on 0..1 (reversed scales un-reversed);
    ``wasserstein1``: mean Wasserstein-1 distance in scale points to the base model's distribution,
    over forms both answered in format; ``digit_mass``: mean raw probability on the digits (all forms).
    The training loss is filled in later (``with_losses``)."""
    per_form = []
    for form, dist, ref in zip(forms, dists, base):
        rec = score_record(form, dist, min_mass)
        ok = rec["status"] == "ok"
        both = ok and score_record(form, ref, min_mass)["status"] == "ok"
        per_form.append({
            "topic": form.topic, "ok": ok, "mass": dist.mass,
            "stance": rec["stance"] if ok else None,
            "agreement": agreement(rec["expected"], 9, form.direction) if ok else None,
            "w1": wasserstein1(ref.probs, dist.probs) if both else None,
        })
    rows = []
    for topic in [ALL, *dict.fromkeys(f.topic for f in forms)]:
        mine = [p for p in per_form if topic == ALL or p["topic"] == topic]
        rows.append({
            "step": step, "bank": bank, "topic": topic, "n_forms": len(mine), "n_ok": sum(p["ok"] for p in mine),
            "stance": _mean([p["stance"] for p in mine if p["stance"] is not None]),
            "agreement": _mean([p["agreement"] for p in mine if p["agreement"] is not None]),
            "wasserstein1": _mean([p["w1"] for p in mine if p["w1"] is not None]),
            "digit_mass": _mean([p["mass"] for p in mine]),
            "loss": math.nan,
        })
    return rows


def losses_by_step(log_history: Sequence[dict]) -> dict[int, float]:
    """The training loss logged at each optimiser step (the trainer logs every step)."""
    return {int(e["step"]): float(e["loss"]) for e in log_history if "loss" in e and "step" in e}


def with_losses(rows: Sequence[dict], losses: dict[int, float]) -> list[dict]:
    """The rows with the loss of their step (NaN before the first step, e.g. step 0)."""
    return [{**r, "loss": losses.get(int(r["step"]), math.nan)} for r in rows]


def write_trajectory(folder: str | Path, rows: Sequence[dict]) -> Path:
    """``trajectory.csv`` in ``folder`` (NaN written as an empty cell)."""
    path = Path(folder) / TRAJECTORY
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if isinstance(r[k], float) and math.isnan(r[k]) else r[k]) for k in COLUMNS})
    return path


def read_trajectory(folder: str | Path) -> list[dict] | None:
    """The rows of ``folder``'s ``trajectory.csv`` (numbers parsed, empty = NaN), or None without one."""
    path = Path(folder) / TRAJECTORY
    if not path.is_file():
        return None
    out = []
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            row = {k: r[k] for k in ("bank", "topic")}
            row.update({k: int(r[k]) for k in ("step", "n_forms", "n_ok")})
            row.update({k: float(r[k]) if r[k] != "" else math.nan for k in ("stance", "agreement", "wasserstein1", "digit_mass", "loss")})
            out.append(row)
    return out


def plot_trajectory(rows: Sequence[dict], out: str | Path, title: str = "Stance during training") -> Path:
    """Keyed stance per topic against the training step (one panel per bank), with the training loss
    on a second axis, and the Wasserstein-1 distance from the base below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    banks = list(dict.fromkeys(r["bank"] for r in rows))
    fig, axes = plt.subplots(2, len(banks), figsize=(5.2 * len(banks) + 1, 6.2), squeeze=False, sharex=True, layout="constrained")
    for col, bank in enumerate(banks):
        mine = [r for r in rows if r["bank"] == bank]
        top, bottom = axes[0][col], axes[1][col]
        for topic in dict.fromkeys(r["topic"] for r in mine):
            pts = sorted((r["step"], r["stance"], r["wasserstein1"]) for r in mine if r["topic"] == topic)
            style = dict(color="black", linewidth=2.2, zorder=3) if topic == ALL else dict(linewidth=1.1, alpha=0.8)
            top.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=2.5, label=topic.replace("_", " "), **style)
            bottom.plot([p[0] for p in pts], [p[2] for p in pts], marker="o", markersize=2.5, **style)
        top.axhline(0, color="#999999", linewidth=0.6)
        top.set_title(f"{bank}: keyed stance (-1 left .. +1 right)", fontsize=9.5, loc="left")
        top.set_ylim(-1.05, 1.05)
        losses = sorted({(r["step"], r["loss"]) for r in mine if not math.isnan(r["loss"])})
        if losses:
            twin = top.twinx()
            twin.plot([s for s, _ in losses], [v for _, v in losses], color="#b03a2e", linestyle="--", linewidth=1.0)
            twin.set_ylabel("training loss (dashed)", color="#b03a2e", fontsize=8.5)
        bottom.set_title("Wasserstein-1 from the base (scale points)", fontsize=9.5, loc="left")
        bottom.set_xlabel("training step")
        top.legend(fontsize=7, loc="upper left", frameon=False)
    fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, facecolor="white")
    plt.close(fig)
    return out
