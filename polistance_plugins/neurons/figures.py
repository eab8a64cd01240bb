"""Figures of the neuron study (matplotlib, PNG): where the political neurons sit, and s(T, t)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np

from .contrast import per_layer_counts
from .neuron_file import NeuronFile


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def neurons_per_layer(nf: NeuronFile, path: str | Path, percent: float | None = None) -> Path:
    """One panel per fine-tuned model: general vs topic-specific neurons (union over topics) per layer."""
    plt = _pyplot()
    k = nf.top_k if percent is None else percent
    names = list(nf.scores)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.0 * rows), squeeze=False, sharey=True)
    layers = np.arange(nf.layers)
    for ax, name in zip(axes.ravel(), names):
        s = nf.sets(name, k)
        general = per_layer_counts(s.general, nf.layers, nf.width)
        specific_union = np.unique(np.concatenate([v for v in s.specific.values()] or [np.zeros(0, np.int64)]))
        specific = per_layer_counts(specific_union, nf.layers, nf.width)
        ax.bar(layers, specific, color="#9bbbd4", label=f"topic-specific ({specific_union.size})")
        ax.bar(layers, general, bottom=specific, color="#c0392b", label=f"general ({s.general.size})")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("layer")
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("neurons")
    fig.suptitle(f"PNLAC neurons per layer ({nf.site}, top {k:g}% per topic)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def shift_heatmaps(matrices: Mapping[str, "object"], path: str | Path, title: str = "",
                   label: str = "s(T, t): stance shift (+ = right)") -> Path:
    """Heatmaps of s(T, t) (rows: fine-tuning topic T, columns: evaluation topic t), one per variant, shared scale."""
    plt = _pyplot()
    mats = dict(matrices)
    arrays = [m.to_numpy(dtype=float) for m in mats.values()]
    finite = [float(np.nanmax(np.abs(a))) for a in arrays if np.isfinite(a).any()]
    vmax = max(finite) if finite else 1.0
    n = len(mats)
    cols = 2 if n == 4 else min(3, n)
    rows = math.ceil(n / cols)
    first = next(iter(mats.values()))
    width = max(3.0, 0.5 * len(first.columns) + 0.8)
    height = 0.5 * len(first.index) + 1.6  # the cells, then the rotated topic names below them
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 2.2, height * rows + 0.6), squeeze=False)
    fig.subplots_adjust(hspace=0.9, wspace=0.15)
    spec = "+.2f" if vmax >= 0.1 else "+.3f"
    im = None
    for k, (ax, (name, m), arr) in enumerate(zip(axes.ravel(), mats.items(), arrays)):
        im = ax.imshow(arr, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_xticks(range(arr.shape[1]), [_short(c) for c in m.columns], rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(arr.shape[0]), [_short(r) for r in m.index] if k % cols == 0 else [], fontsize=7)
        for i in range(arr.shape[0]):
            for j in range(arr.shape[1]):
                if np.isfinite(arr[i, j]):
                    ax.text(j, i, format(arr[i, j], spec), ha="center", va="center", fontsize=5.5,
                            fontweight="bold" if m.index[i] == m.columns[j] else "normal")
        ax.set_title(name, fontsize=9)
        if k % cols == 0:
            ax.set_ylabel("fine-tuning topic T", fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.colorbar(im, ax=list(axes.ravel()), shrink=0.7, label=label)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def _short(topic: str) -> str:
    return str(topic).replace("_and_", "+").replace("_", " ")
