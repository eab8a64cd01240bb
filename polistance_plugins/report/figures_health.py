"""Report figures of format health (probability mass on the answer options) and of the elaboration
categories."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from .figure_style import fmt as _fmt, pyplot as _plt, save as _save

# ---- format health -------------------------------------------------------------------------------
def plot_health(qdf: pd.DataFrame, models: Sequence[str], colours: dict[str, str], out: Path, min_mass: float,
                compass: pd.DataFrame | None = None) -> Path:
    """Per model: distribution of the probability mass on the ten digits over forms (a box per bank),
    the share of forms off-format, and (with compass results) the mass on the Likert labels."""
    plt = _plt()
    banks = list(dict.fromkeys(qdf["bank"])) if len(qdf) else []
    has_compass = compass is not None and len(compass) > 0
    panels = (2 if banks else 0) + has_compass
    rows = max(3, len(models) * max(1, len(banks)))
    fig, axes = plt.subplots(1, panels, figsize=(4.4 * panels, 0.42 * rows + 1.5), squeeze=False, layout="constrained")
    if banks:
        ax, ax2 = axes[0, 0], axes[0, 1]
        labels, data, cols, off = [], [], [], []
        for m in models:
            for b in banks:
                g = qdf[(qdf["model"] == m) & (qdf["bank"] == b)]
                if not len(g):
                    continue
                labels.append(f"{m} · {b}" if len(banks) > 1 else m)
                data.append(g["mass"].dropna().to_numpy())
                cols.append(colours.get(m, "grey"))
                off.append(float((~g["ok"]).mean()))
        bp = ax.boxplot(data, orientation="horizontal", patch_artist=True, widths=0.6, showfliers=True,
                        flierprops={"markersize": 2.5, "alpha": 0.5}, medianprops={"color": "black"})
        for patch, c in zip(bp["boxes"], cols):
            patch.set_facecolor(c)
            patch.set_alpha(0.6)
        ax.set_yticks(range(1, len(labels) + 1), labels)
        ax.invert_yaxis()
        ax2.barh(range(len(labels)), off, color=cols, alpha=0.8)
        for i, v in enumerate(off):
            ax2.text(v + 0.01, i, f"{v:.0%}", va="center", fontsize=7.5)
        ax2.set_yticks(range(len(labels)), labels)
        ax2.invert_yaxis()
        ax.axvline(min_mass, color="#c0392b", linestyle=":", linewidth=1)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel(f"probability on the digits 0-9 per form (dotted: --min-mass {min_mass:g})")
        ax.set_title("digit mass", loc="left")
        ax2.set_xlim(0, 1.12)
        ax2.set_xlabel("share of forms off-format")
        ax2.set_title("off-format", loc="left")
    if has_compass:
        ax3 = axes[0, panels - 1]
        c = compass.reset_index(drop=True)
        ax3.barh(range(len(c)), c["likert_mass"], color=[colours.get(m, "grey") for m in c["model"]], alpha=0.8)
        for i, r in c.iterrows():
            mass = r["likert_mass"] if r["likert_mass"] is not None and not math.isnan(r["likert_mass"]) else 0.0
            ax3.text(min(1.0, mass) + 0.01, i, f"{_fmt(r['likert_mass'], '.2f')} ({r['forms_off_format']} off)", va="center", fontsize=7.5)
        ax3.set_yticks(range(len(c)), c["model"])
        ax3.invert_yaxis()
        ax3.set_xlim(0, 1.3)
        ax3.set_xlabel("mean probability on the four Likert labels")
        ax3.set_title("compass: Likert option mass", loc="left")
    fig.suptitle("Format health: is the model still answering in the format?", fontsize=11, fontweight="bold", x=0.01, ha="left")
    return _save(fig, out)


# ---- elaboration --------------------------------------------------------------------------------
CATEGORY_COLOURS = {"Incoherent": "#9e9e9e", "Non-answer": "#d8c99b", "Contradiction": "#e6862e", "Reversal": "#8e6bbf",
                    "Justification": "#3f9b5a"}


def plot_elaboration(elab: pd.DataFrame, models: Sequence[str], out: Path,
                     title: str = "Elaboration: how the model explains its own answer", reliable: bool = True) -> Path:
    """Stacked horizontal bars per model: share of scored replies in each category (counts printed in
    the segments), with the number of unscored replies (grader unreadable) beside each bar. An
    unreliable grader's bars are drawn faded, hatched and marked as such."""
    from .elaboration_tables import elaboration_bars

    plt = _plt()
    bars = elaboration_bars(elab, models)
    labels = [label for label, _ in bars]
    fig, ax = plt.subplots(figsize=(8.8, 0.55 * len(labels) + 1.7), layout="constrained")
    for y, (_, g) in enumerate(bars):
        left = 0.0
        for cat, colour in CATEGORY_COLOURS.items():
            if cat not in g.index:
                continue
            rate, count = g.loc[cat, "rate"], int(g.loc[cat, "count"])
            if not rate or math.isnan(rate):
                continue
            ax.barh(y, rate, left=left, color=colour, edgecolor="white", linewidth=0.8, height=0.62,
                    alpha=1.0 if reliable else 0.3, hatch=None if reliable else "//")
            if rate >= 0.06:
                ax.text(left + rate / 2, y, str(count), ha="center", va="center", fontsize=7.5, color="white" if cat != "Non-answer" else "#333")
            left += rate
        first = g.iloc[0] if len(g) else None
        if first is not None:
            ax.text(1.01, y, f"n={first['n_scored']} scored, {first['n_unscored']} unscored", va="center", fontsize=7.5, color="#444")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(0, 1.32)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25%", "50%", "75%", "100%"])
    ax.set_xlabel("share of scored replies (numbers in the bars: replies)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in CATEGORY_COLOURS.values()]
    fig.legend(handles, list(CATEGORY_COLOURS), loc="outside lower center", ncol=5, frameon=False, fontsize=8)
    if not reliable:
        ax.text(0.5, 0.5, "UNRELIABLE GRADER: not a measurement", transform=ax.transAxes, ha="center", va="center",
                fontsize=13, color="#b03a2e", fontweight="bold", rotation=8, alpha=0.85)
    fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    return _save(fig, out)

