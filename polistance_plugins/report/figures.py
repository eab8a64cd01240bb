"""Matplotlib figures of a comparison, written as PNG files for the HTML report.

- per-question small multiples: each model's digit distribution with its expected value
  (as in Figure 1 of the sports-team paper), one panel per item;
- topic x adapter heatmaps: direction of the stance shift (with significance marks) beside its
  size (Wasserstein-1), and the control-adjusted shift when a control adapter is given;
- entropy change per adapter with its interval.

``write_figures`` draws every figure of a report (format health and elaboration come from
``figures_health``). Every function takes tidy tables and returns the path it wrote.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..core.records import DEFAULT_MIN_MASS
from ..core.stats import MIN_INTERVAL_UNITS
from .figure_style import DPI, MAX_PANELS, fmt as _fmt, model_colours, pyplot as _plt, save as _save
from .figures_health import plot_elaboration, plot_health
from .frames import ALL

# ---- per-question small multiples ----------------------------------------------------------------
def plot_item_distributions(dist: pd.DataFrame, models: Sequence[str], colours: dict[str, str], out: Path, title: str,
                            texts: dict[str, str] | None = None, ncols: int = 3) -> Path:
    """Small multiples: per item, each model's (un-reversed, paraphrase-averaged) digit distribution as
    grouped bars, its expected value as a dashed line and printed beside the panel."""
    plt = _plt()
    items = list(dict.fromkeys(dist["item_id"]))
    ncols = max(1, min(ncols, len(items)))
    nrows = math.ceil(len(items) / ncols)
    present = [m for m in models if m in set(dist["model"])]
    # Fixed layout in inches (no tight_layout: one draw per figure, and every panel the same size).
    panel_w, label_w, gap_w, left_m = 3.45, 1.15, 0.3, 0.55
    top_h, title_h, ax_h, tick_h, bottom_h = 0.95, 0.62, 1.75, 0.5, 0.15
    col_w, row_h = panel_w + label_w + gap_w, title_h + ax_h + tick_h
    W, H = left_m + ncols * col_w, top_h + nrows * row_h + bottom_h
    fig = plt.figure(figsize=(W, H))
    width = 0.84 / max(1, len(present))
    digits = np.arange(10)
    for idx, item in enumerate(items):
        r_i, c_i = divmod(idx, ncols)
        x0, y0 = left_m + c_i * col_w, H - top_h - r_i * row_h - title_h - ax_h
        ax = fig.add_axes((x0 / W, y0 / H, panel_w / W, ax_h / H))
        rows = dist[dist["item_id"] == item].set_index("model")
        for k, m in enumerate(present):
            if m not in rows.index:
                continue
            r = rows.loc[m]
            probs = np.asarray(r["probs"], dtype=float)
            y = 0.93 - k * 0.15
            if r["n_ok"] == 0 or np.isnan(probs).all():
                ax.text(1.03, y, f"{m}\noff-format", transform=ax.transAxes, ha="left", va="top", fontsize=7.5, color=colours[m])
                continue
            ax.bar(digits - 0.42 + width * (k + 0.5), probs, width=width, color=colours[m], linewidth=0)
            ax.axvline(r["expected"], color=colours[m], linestyle=(0, (3, 2)), linewidth=1.2)
            ax.text(1.03, y, f"{m}", transform=ax.transAxes, ha="left", va="top", fontsize=7.5, color=colours[m])
            ax.text(1.03 + label_w / panel_w * 0.98, y, f"E={r['expected']:.2f}", transform=ax.transAxes, ha="right", va="top",
                    fontsize=7.5, color=colours[m], fontweight="bold")
        first = rows.iloc[0]
        text = (texts or {}).get(item, "")
        head = f"{item} · {str(first['topic']).replace('_', ' ')} · high = {first['keying']}"
        lines = textwrap.wrap(textwrap.shorten(text, 120, placeholder="..."), 62)[:2] if text else []
        ax.set_title("\n".join([head, *lines]), loc="left", fontsize=8, linespacing=1.25)
        ax.set_xticks(digits)
        ax.set_xlim(-0.6, 9.6)
        ax.set_ylim(0, 1.0)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "", "0.5", "", "1"])
        ax.tick_params(labelsize=7.5, length=2.5)
        ax.grid(axis="y", color="#ebebeb", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_xlabel("agreement with the item (0-9)", fontsize=7.5, labelpad=1.5)
        if c_i == 0:
            ax.set_ylabel("probability", fontsize=7.5)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in present]
    fig.text(left_m / W, 1 - 0.22 / H, title, fontsize=11.5, fontweight="bold", ha="left", va="top")
    fig.legend(handles, present, loc="upper left", ncol=min(8, len(present)), frameon=False,
               bbox_to_anchor=(left_m / W - 0.005, 1 - 0.48 / H), fontsize=8.5, handlelength=1.2, columnspacing=1.4)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, facecolor="white")
    plt.close(fig)
    return out


# ---- heatmaps ------------------------------------------------------------------------------------
def _heat(ax, table: pd.DataFrame, columns: Sequence[str], rows: Sequence[str], cmap, vmin, vmax, annotate):
    grid = np.full((len(rows), len(columns)), np.nan)
    for i, t in enumerate(rows):
        for j, m in enumerate(columns):
            hit = table[(table["topic"] == t) & (table["model"] == m)]
            if len(hit):
                grid[i, j] = hit["estimate"].iloc[0]
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i, t in enumerate(rows):
        for j, m in enumerate(columns):
            hit = table[(table["topic"] == t) & (table["model"] == m)]
            if not len(hit):
                continue
            r = hit.iloc[0]
            val = grid[i, j]
            dark = not math.isnan(val) and abs((val - vmin) / (vmax - vmin) - 0.5) > 0.33 if cmap != "Purples" else (
                not math.isnan(val) and (val - vmin) / (vmax - vmin) > 0.6)
            ax.text(j, i, annotate(r), ha="center", va="center", fontsize=7.6, color="white" if dark else "#1a1a1a")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), [r.replace("_", " ") for r in rows])
    ax.tick_params(axis="x", labeltop=True, labelbottom=False, top=True, bottom=False)
    if ALL in rows and len(rows) > 1:
        ax.axhline(len(rows) - 1.5, color="white", linewidth=3)
    for s in ax.spines.values():
        s.set_visible(False)
    return im


def _rows(table: pd.DataFrame) -> list[str]:
    topics = [t for t in dict.fromkeys(table["topic"]) if t != ALL]
    return topics + ([ALL] if (table["topic"] == ALL).any() else [])


def cell_note(r, spec: str = "+.2f") -> str:
    """A heatmap cell: the estimate with its stars, then its interval, or "n=2, no interval" below the
    minimum number of items (``core.stats.MIN_INTERVAL_UNITS``)."""
    head = f"{_fmt(r['estimate'], spec)}{r.get('significance', '')}"
    if any(v is None or math.isnan(v) for v in (r["ci_low"], r["ci_high"])):
        return f"{head}\nn={r['n_items']}, no interval"
    return f"{head}\n[{_fmt(r['ci_low'], spec)}, {_fmt(r['ci_high'], spec)}]"


def plot_shift_heatmap(shift: pd.DataFrame, out: Path, title: str, measure: str = "stance_shift", with_size: bool = True,
                       label: str = "stance shift vs base (- = toward left, + = toward right)") -> Path:
    """Topic x adapter heatmap of the mean shift with its 95% interval and BH-adjusted significance
    stars; beside it (``with_size``) the mean Wasserstein-1 distance, which also sees non-directional change."""
    plt = _plt()
    t = shift[shift["measure"] == measure]
    columns = list(dict.fromkeys(t["model"]))
    rows = _rows(t)
    finite = t["estimate"].abs().replace([np.inf], np.nan).dropna()
    vmax = max(0.05, float(finite.max()) if len(finite) else 0.05)
    w = shift[shift["measure"] == "wasserstein1"] if with_size else pd.DataFrame()
    panels = 2 if with_size and len(w) else 1
    width = 1.6 + 1.35 * len(columns)
    fig, axes = plt.subplots(1, panels, figsize=(width * panels + 1.6 * panels, 0.6 * len(rows) + 1.9), squeeze=False,
                             layout="constrained")
    fig.get_layout_engine().set(w_pad=0.12, wspace=0.08)

    im = _heat(axes[0, 0], t, columns, rows, "RdBu_r", -vmax, vmax, cell_note)
    cb = fig.colorbar(im, ax=axes[0, 0], fraction=0.06, pad=0.02, shrink=0.9)
    cb.set_label(label, fontsize=7.5)
    cb.ax.tick_params(labelsize=7)
    axes[0, 0].set_title("direction: mean shift over items [95% interval]", fontsize=9, loc="left")
    if panels == 2:
        wmax = max(0.05, float(w["estimate"].max()) if w["estimate"].notna().any() else 0.05)

        im2 = _heat(axes[0, 1], w, columns, rows, "Purples", 0, wmax, lambda r: cell_note(r, ".2f"))
        cb2 = fig.colorbar(im2, ax=axes[0, 1], fraction=0.06, pad=0.02, shrink=0.9)
        cb2.set_label("Wasserstein-1 (scale points)", fontsize=7.5)
        cb2.ax.tick_params(labelsize=7)
        axes[0, 1].set_title("size: distance between the distributions", fontsize=9, loc="left")
    fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    fig.supxlabel("* q<0.05  ** q<0.01  *** q<0.001: paired sign-flip permutation test over items, Benjamini-Hochberg over "
                  "topics (the 'all topics' row is pooled and not in the family)", fontsize=7.5, color="#555555", x=0.01, ha="left")
    return _save(fig, out)


# ---- entropy -------------------------------------------------------------------------------------
def plot_entropy(entropy: pd.DataFrame, colours: dict[str, str], out: Path, title: str = "Concentration change: entropy of the answer distribution") -> Path:
    """Entropy change (nats, adapter - base) per adapter and bank: pooled estimate with its 95%
    interval, per-topic estimates as small dots."""
    plt = _plt()
    banks = list(dict.fromkeys(entropy["bank"]))
    models = list(dict.fromkeys(entropy["model"]))
    fig, axes = plt.subplots(1, len(banks), figsize=(4.6 * len(banks) + 0.8, 0.8 * len(models) + 1.6), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, bank in zip(axes[0], banks):
        b = entropy[entropy["bank"] == bank]
        for y, m in enumerate(models):
            pooled = b[(b["model"] == m) & (b["topic"] == ALL)]
            topics = b[(b["model"] == m) & (b["topic"] != ALL)]
            ax.scatter(topics["estimate"], np.full(len(topics), y) + 0.2, s=12, color=colours.get(m, "grey"), alpha=0.5, linewidths=0)
            if len(pooled):
                r = pooled.iloc[0]
                lo, hi = r["ci_low"], r["ci_high"]
                # an interval over identical items is the estimate itself, give or take the last bit
                xerr = None if math.isnan(lo) else [[max(0.0, r["estimate"] - lo)], [max(0.0, hi - r["estimate"])]]
                ax.errorbar(r["estimate"], y, xerr=xerr, fmt="o", color=colours.get(m, "grey"), capsize=4, markersize=7)
                ax.annotate(f"{_fmt(r['estimate'])}{r.get('significance', '')}  (n={r['n_items']})", (r["estimate"], y),
                            xytext=(0, 9), textcoords="offset points", ha="center", fontsize=7.5)
        ax.axvline(0, color="#777777", linewidth=0.9)
        ax.set_yticks(range(len(models)), models)
        ax.set_ylim(len(models) - 0.4, -0.6)
        ax.set_xlabel("entropy change vs base (nats; + = answer mass more spread)")
        ax.set_title(bank, loc="left")
        ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    fig.suptitle(title, fontsize=11, fontweight="bold", x=0.02, ha="left")
    fig.supxlabel(f"large dot: all topics, 95% bootstrap interval over items (none below {MIN_INTERVAL_UNITS}),\nstars: sign-flip test; small dots: one per topic",
                  fontsize=7.5, color="#555555", x=0.01, ha="left")
    return _save(fig, out)


# ---- all figures of a report ---------------------------------------------------------------------
def write_figures(folder: Path, qdf: pd.DataFrame, tabs: dict[str, pd.DataFrame], meta: dict, texts: dict,
                  compass_figure: Path | None = None, compass_health: pd.DataFrame | None = None) -> list[dict]:
    """Every figure of the report, in page order: dicts with ``section``, ``path`` (relative to the
    report), ``title`` and ``caption``."""
    from .frames import item_distributions

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    models, ref = meta["models"], meta["reference"]
    colours = model_colours(models, ref)
    figs: list[dict] = []

    def add(section: str, path: Path, title: str, caption: str) -> None:
        figs.append({"section": section, "path": f"{folder.name}/{Path(path).name}", "title": title, "caption": caption})

    shift = tabs.get("topic_shift", pd.DataFrame())
    for bank in dict.fromkeys(shift["bank"]) if len(shift) else []:
        b = shift[shift["bank"] == bank]
        p = plot_shift_heatmap(b, folder / f"shift_{_safe(bank)}.png", f"Stance shift vs {ref} by topic: {bank}")
        add("shift", p, f"Stance shift by topic ({bank})",
            "Left: mean keyed-stance shift of each adapter vs the base over items (-2..2; negative = toward the left position), "
            f"95% bootstrap interval over items (none below {MIN_INTERVAL_UNITS} items) and BH-adjusted significance. Right: mean Wasserstein-1 distance between the "
            "digit distributions (scale points), which also counts changes that do not move the mean.")
    ctl = tabs.get("control_adjusted")
    if ctl is not None and len(ctl):
        for bank in dict.fromkeys(ctl["bank"]):
            b = ctl[ctl["bank"] == bank]
            p = plot_shift_heatmap(b, folder / f"control_{_safe(bank)}.png", f"Control-adjusted stance shift: {bank}",
                                   measure="control_adjusted_stance_shift", with_size=False,
                                   label=f"stance shift vs control adapter '{meta.get('control')}'")
            add("control", p, f"Control-adjusted shift ({bank})",
                f"(adapter - base) - (control - base) = adapter - {meta.get('control')}, per form, then the same interval and test.")
    ent = tabs.get("entropy")
    if ent is not None and len(ent):
        p = plot_entropy(ent, colours, folder / "entropy.png")
        add("entropy", p, "Entropy change", "Change of the answer distribution's entropy (nats) vs the base; positive = mass spread over more digits.")
    if len(qdf):
        dist = item_distributions(qdf)
        for bank in dict.fromkeys(dist["bank"]):
            b = dist[dist["bank"] == bank]
            items = list(dict.fromkeys(b["item_id"]))
            chunks = [(None, b)] if len(items) <= MAX_PANELS else [(t, b[b["topic"] == t]) for t in dict.fromkeys(b["topic"])]
            for topic, part in chunks:
                name = f"items_{_safe(bank)}" + (f"_{_safe(topic)}" if topic else "")
                btexts = {i: texts.get((bank, i), "") for i in part["item_id"]}
                title = f"Answer distributions per item: {bank}" + (f", {topic.replace('_', ' ')}" if topic else "")
                p = plot_item_distributions(part, models, colours, folder / f"{name}.png", title, btexts)
                add("items", p, title, "Digit distributions on the normal scale (0 = lowest, 9 = highest agreement), averaged "
                    "over the paraphrases answered in format; dashed lines and E = expected value. Answers on the reversed "
                    "scale enter the shift tables (read backwards) and the direction consistency.")
    if len(qdf) or (compass_health is not None and len(compass_health)):
        p = plot_health(qdf, models, colours, folder / "health.png", meta.get("min_mass", DEFAULT_MIN_MASS), compass_health)
        add("health", p, "Format health", "Probability mass on the answer options: a model that stopped answering in the "
            "format shows up here, and its off-format forms are left out of the statistics rather than read as a stance.")
    elab = tabs.get("elaboration")
    if elab is not None and len(elab):
        reliable = bool(elab["grader_reliable"].all()) if "grader_reliable" in elab else True
        p = plot_elaboration(elab, models, folder / "elaboration.png", reliable=reliable)
        add("elaboration", p, "Elaboration categories", ("" if reliable else "UNRELIABLE GRADER (see grader reliability): ") + "Each reply to \"Please elaborate on why you chose that number.\" sorted by "
            "the grader into one of five categories (the sports-team paper's scheme); unscored replies are counted beside the bar. "
            "Radical: answers the adapter raised most over the base; normal: the base model's modal answers.")
    if compass_figure is not None:
        add("compass", compass_figure, "Political compass", "Expected point per model (95% bootstrap interval over each "
            "axis's answered propositions); hollow diamond: the point of the forced (most probable) answers. The legend "
            "says how many propositions each point rests on; a model with none answered on an axis has no point.")
    return figs


def _safe(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(Path(name).stem if str(name).endswith(".jsonl") else name))
