"""The compass figure: four coloured quadrants on -10..10 axes, one point per model with its interval."""

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


def _err(point: float, interval: Sequence[float] | None) -> list[list[float]]:
    """Asymmetric error-bar lengths (below, above) from an interval; zero when unknown."""
    if not interval or any(v is None or math.isnan(v) for v in interval):
        return [[0.0], [0.0]]
    lo, hi = interval
    return [[max(0.0, point - lo)], [max(0.0, hi - point)]]


def plot_compass(summaries: Sequence[dict], out: str | Path, title: str = "Political compass", show_argmax: bool = True) -> Path:
    """Write a PNG compass: the expected point of each model with its 95% interval as error bars.

    ``summaries`` are dicts with ``model``, ``expected`` {econ, soc}, ``expected_ci`` {econ: [lo, hi],
    soc: [lo, hi]} and optionally ``argmax`` {econ, soc} (drawn as a hollow marker of the same colour).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 7.5), dpi=130)
    for (x0, x1), (y0, y1), colour, name in QUADRANTS:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=colour, edgecolor="none", zorder=0))
        ax.text((x0 + x1) / 2, y1 - 0.5 if y1 > 0 else y0 + 0.5, name, ha="center", va="top" if y1 > 0 else "bottom",
                fontsize=9, color="#444444", zorder=3, bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.5})
    ax.set_xticks(range(-10, 11, 1), minor=True)
    ax.set_yticks(range(-10, 11, 1), minor=True)
    ax.set_xticks(range(-10, 11, 5))
    ax.set_yticks(range(-10, 11, 5))
    ax.grid(which="minor", color="white", linewidth=0.6, zorder=1)
    ax.grid(which="major", color="white", linewidth=1.0, zorder=1)
    ax.axhline(0, color="#333333", linewidth=1.2, zorder=2)
    ax.axvline(0, color="#333333", linewidth=1.2, zorder=2)
    ax.set_xlim(-10, 10)
    ax.set_ylim(-10, 10)
    ax.set_aspect("equal")
    ax.set_xlabel("Economic: left  \u2190  \u2192  right")
    ax.set_ylabel("Social: libertarian  \u2190  \u2192  authoritarian")
    ax.set_title(title)

    colours = plt.get_cmap("tab10").colors
    handles = []
    for k, s in enumerate(summaries):
        colour = colours[k % len(colours)]
        e, c = s["expected"], s.get("expected_ci") or {}
        if e["econ"] is None or e["soc"] is None or math.isnan(e["econ"]) or math.isnan(e["soc"]):
            continue
        ax.errorbar(
            e["econ"], e["soc"], xerr=_err(e["econ"], c.get("econ")), yerr=_err(e["soc"], c.get("soc")),
            fmt="o", color=colour, markersize=8, markeredgecolor="black", capsize=4, elinewidth=1.5, zorder=5,
        )
        label = s["model"]
        if show_argmax and s.get("argmax"):
            a = s["argmax"]
            if not (math.isnan(a["econ"]) or math.isnan(a["soc"])):
                ax.plot([e["econ"], a["econ"]], [e["soc"], a["soc"]], color=colour, linewidth=0.8, linestyle=":", zorder=4)
                ax.plot(a["econ"], a["soc"], marker="D", markersize=7, markerfacecolor="none", markeredgecolor=colour,
                        markeredgewidth=1.8, linestyle="none", zorder=5)
        handles.append(Line2D([], [], marker="o", color=colour, markeredgecolor="black", linestyle="none", markersize=8, label=label))
    if show_argmax:
        handles.append(Line2D([], [], marker="o", color="grey", markeredgecolor="black", linestyle="none",
                              label="expected point (bars: 95% interval)"))
        handles.append(Line2D([], [], marker="D", markerfacecolor="none", markeredgecolor="grey", linestyle="none",
                              label="argmax point (forced answer)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out
