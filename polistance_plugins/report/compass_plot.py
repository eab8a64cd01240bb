"""The compass figure: four coloured quadrants on -10..10 axes, one point per model with its interval.

When every point and interval sits in a small region (small models often land near the centre),
a second panel repeats that region enlarged, and the main compass outlines it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

# Quadrant colours as on the Political Compass chart: authoritarian left red, authoritarian
# right blue, libertarian left green, libertarian right yellow.
QUADRANTS = (
    ((-10, 0), (0, 10), "#f9baba", "Authoritarian left"),
    ((0, 10), (0, 10), "#bcdcf9", "Authoritarian right"),
    ((-10, 0), (-10, 0), "#c9f0c6", "Libertarian left"),
    ((0, 10), (-10, 0), "#f7f5b3", "Libertarian right"),
)
ZOOM_BELOW = 5.0  # add the enlarged panel when the points span less than this on both axes


def _finite(*values) -> bool:
    return all(v is not None and not math.isnan(v) for v in values)


def _err(point: float, interval: Sequence[float] | None) -> list[list[float]]:
    """Asymmetric error-bar lengths (below, above) from an interval; zero when unknown."""
    if not interval or not _finite(*interval):
        return [[0.0], [0.0]]
    lo, hi = interval
    return [[max(0.0, point - lo)], [max(0.0, hi - point)]]


def _plotted(summaries: Sequence[dict]) -> list[dict]:
    return [s for s in summaries if _finite(s["expected"]["econ"], s["expected"]["soc"])]


def _extent(summaries: Sequence[dict], show_argmax: bool) -> tuple[float, float, float, float] | None:
    """Bounding box (x0, x1, y0, y1) of every drawn point and interval end."""
    xs, ys = [], []
    for s in summaries:
        e, c = s["expected"], s.get("expected_ci") or {}
        xs += [e["econ"], *[v for v in c.get("econ", []) if _finite(v)]]
        ys += [e["soc"], *[v for v in c.get("soc", []) if _finite(v)]]
        a = s.get("argmax")
        if show_argmax and a and _finite(a["econ"], a["soc"]):
            xs.append(a["econ"])
            ys.append(a["soc"])
    if not xs:
        return None
    return min(xs), max(xs), min(ys), max(ys)


def _background(ax, lim: tuple[float, float, float, float], labels: bool) -> None:
    from matplotlib.patches import Rectangle

    for (x0, x1), (y0, y1), colour, name in QUADRANTS:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=colour, edgecolor="none", zorder=0))
        if labels:
            ax.text((x0 + x1) / 2, y1 - 0.5 if y1 > 0 else y0 + 0.5, name, ha="center", va="top" if y1 > 0 else "bottom",
                    fontsize=9, color="#444444", zorder=3, bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.5})
    ax.grid(which="both", color="white", linewidth=0.7, zorder=1)
    ax.axhline(0, color="#333333", linewidth=1.2, zorder=2)
    ax.axvline(0, color="#333333", linewidth=1.2, zorder=2)
    ax.set_xlim(lim[0], lim[1])
    ax.set_ylim(lim[2], lim[3])
    ax.set_aspect("equal")


def _points(ax, summaries: Sequence[dict], colours, show_argmax: bool) -> None:
    for k, s in enumerate(summaries):
        colour = colours[k % len(colours)]
        e, c = s["expected"], s.get("expected_ci") or {}
        if not _finite(e["econ"], e["soc"]):
            continue
        a = s.get("argmax")
        if show_argmax and a and _finite(a["econ"], a["soc"]):
            ax.plot([e["econ"], a["econ"]], [e["soc"], a["soc"]], color=colour, linewidth=0.8, linestyle=":", zorder=4)
            ax.plot(a["econ"], a["soc"], marker="D", markersize=7, markerfacecolor="none", markeredgecolor=colour,
                    markeredgewidth=1.8, linestyle="none", zorder=5)
        ax.errorbar(
            e["econ"], e["soc"], xerr=_err(e["econ"], c.get("econ")), yerr=_err(e["soc"], c.get("soc")),
            fmt="o", color=colour, markersize=8, markeredgecolor="black", capsize=4, elinewidth=1.5, alpha=0.9, zorder=6,
        )


def plot_compass(summaries: Sequence[dict], out: str | Path, title: str = "Political compass", show_argmax: bool = True) -> Path:
    """Write a PNG compass: each model's expected point with its 95% interval as error bars.

    ``summaries`` are dicts with ``model``, ``expected`` {econ, soc}, ``expected_ci`` {econ: [lo, hi],
    soc: [lo, hi]} and optionally ``argmax`` {econ, soc} (drawn as a hollow diamond of the same colour).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    colours = plt.get_cmap("tab10").colors
    box = _extent(_plotted(summaries), show_argmax)
    zoom = box is not None and (box[1] - box[0]) < ZOOM_BELOW and (box[3] - box[2]) < ZOOM_BELOW
    if zoom:
        fig, (ax, zax) = plt.subplots(1, 2, figsize=(13, 6.6), dpi=130, gridspec_kw={"width_ratios": [1, 1]})
    else:
        fig, ax = plt.subplots(figsize=(7.5, 7.5), dpi=130)

    _background(ax, (-10, 10, -10, 10), labels=True)
    ax.set_xticks(range(-10, 11, 1), minor=True)
    ax.set_yticks(range(-10, 11, 1), minor=True)
    ax.set_xticks(range(-10, 11, 5))
    ax.set_yticks(range(-10, 11, 5))
    ax.set_xlabel("Economic: left  \u2190  \u2192  right")
    ax.set_ylabel("Social: libertarian  \u2190  \u2192  authoritarian")
    ax.set_title(title)
    _points(ax, summaries, colours, show_argmax)

    if zoom:
        cx, cy = (box[0] + box[1]) / 2, (box[2] + box[3]) / 2
        half = max(box[1] - box[0], box[3] - box[2], 0.2) / 2 * 1.25
        lim = (cx - half, cx + half, cy - half, cy + half)
        ax.add_patch(Rectangle((lim[0], lim[2]), 2 * half, 2 * half, fill=False, edgecolor="#222222", linewidth=1.0,
                               linestyle="--", zorder=7))
        _background(zax, lim, labels=False)
        zax.set_xlabel("Economic: left  \u2190  \u2192  right")
        zax.set_ylabel("Social: libertarian  \u2190  \u2192  authoritarian")
        zax.set_title(f"Enlarged (dashed square, {2 * half:.2g} units wide)")
        _points(zax, summaries, colours, show_argmax)

    handles = [
        Line2D([], [], marker="o", color=colours[k % len(colours)], markeredgecolor="black", linestyle="none", markersize=8,
               label=legend_label(s))
        for k, s in enumerate(summaries)
    ]
    handles.append(Line2D([], [], marker="o", color="grey", markeredgecolor="black", linestyle="none",
                          label="expected point (bars: 95% interval)"))
    if show_argmax:
        handles.append(Line2D([], [], marker="D", markerfacecolor="none", markeredgecolor="grey", linestyle="none",
                              label="argmax point (forced answer)"))
    legend_ax = zax if zoom else ax
    legend_ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def legend_label(summary: dict) -> str:
    """A model's legend entry: its name and how many propositions its point rests on; a model with
    no point says so (it is not drawn)."""
    from ..instruments.compass_summary import answered_text

    e = summary["expected"]
    count = f": {answered_text(summary)}" if "answered" in summary else ""
    return f"{summary['model']}{count}" + ("" if _finite(e["econ"], e["soc"]) else " (no point)")


def compass_title(source) -> str:
    """The compass figure's title: the questionnaire (how many propositions each point rests on is in
    the legend, since a run may answer only some)."""
    return f"Political compass ({source.name})"
