"""Shared look of the report's figures: one colour per model (the reference in dark grey), the
matplotlib setup, and saving a figure as a PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

BASE_COLOUR = "#3b3b3b"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
DPI = 110
MAX_PANELS = 12


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 9.5, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def model_colours(models: Sequence[str], reference: str) -> dict[str, str]:
    """One colour per model, the reference in dark grey, the same in every figure."""
    out, k = {}, 0
    for m in models:
        if m == reference:
            out[m] = BASE_COLOUR
        else:
            out[m] = PALETTE[k % len(PALETTE)]
            k += 1
    return out


def save(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, facecolor="white")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out


def fmt(v: float, spec: str = "+.2f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)
