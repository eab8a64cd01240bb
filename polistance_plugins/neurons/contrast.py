"""PNLAC set algebra on plain arrays: RMS activation differences, their ranking, general and
topic-specific neuron sets, and the neuron file (scores + provenance) they are saved in.

A neuron is (layer, dimension) of one capture site, addressed by its flat index
``layer * width + dim``. Layers run at very different scales (the MLP output of a late layer can
be 40 times that of layer 0), so raw differences ranked together mostly pick the largest layers.
Rankings (``RANKINGS``): ``scaled`` (default) divides each score by its layer's base activation
RMS and ranks all neurons together; ``per-layer`` takes the top k% of every layer; ``raw`` ranks raw
differences together (the paper's global ranking, kept for comparison).
No torch here: the capture module reduces activations to per-neuron sums of squares first.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import PolistanceError

SITES = ("mlp_out", "mlp_hidden")
RANKINGS = ("scaled", "per-layer", "raw")
DEFAULT_RANKING = "scaled"


# ---- scoring -----------------------------------------------------------------------------------
def rms_difference(base: np.ndarray, tuned: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-neuron root-mean-square of ``tuned - base`` over the real (mask True) tokens.

    ``base`` and ``tuned`` are ``[prompts, tokens, ...neurons]`` activations of the same padded
    batch; ``mask`` is ``[prompts, tokens]``. Padding positions never enter the mean.
    """
    base = np.asarray(base, dtype=np.float64)
    tuned = np.asarray(tuned, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if base.shape != tuned.shape or base.shape[:2] != mask.shape:
        raise ValueError(f"shapes differ: base {base.shape}, tuned {tuned.shape}, mask {mask.shape}")
    count = int(mask.sum())
    if count == 0:
        raise ValueError("no real tokens under the mask")
    diff = (tuned - base)[mask]  # [real tokens, ...neurons]
    return np.sqrt((diff**2).sum(axis=0) / count)


def rms_from_sums(sum_squares: np.ndarray, count: int) -> np.ndarray:
    """RMS from an accumulated per-neuron sum of squared differences over ``count`` tokens."""
    if count <= 0:
        raise ValueError("count must be positive")
    return np.sqrt(np.asarray(sum_squares, dtype=np.float64) / count)


def n_top(total: int, percent: float) -> int:
    """How many neurons the top ``percent``% of ``total`` keeps (rounded, at least one)."""
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    return max(1, min(total, int(round(total * percent / 100.0))))


def top_percent(scores: np.ndarray, percent: float) -> np.ndarray:
    """Flat indices of the top ``percent``% neurons of a score array ranked together, best first.

    Ties are broken by the lower flat index, so the ranking is deterministic.
    """
    flat = np.asarray(scores, dtype=np.float64).ravel()
    if not np.isfinite(flat).all():
        raise ValueError("scores contain NaN or infinity")
    order = np.lexsort((np.arange(flat.size), -flat))
    return order[: n_top(flat.size, percent)]


def check_ranking(ranking: str) -> str:
    if ranking not in RANKINGS:
        raise PolistanceError(f"--ranking {ranking!r}: expected one of {', '.join(RANKINGS)}")
    return ranking


def scaled_scores(scores: np.ndarray, layer_scale: np.ndarray) -> np.ndarray:
    """Each neuron's score divided by its layer's base activation RMS (0 where a layer is silent)."""
    scale = np.asarray(layer_scale, dtype=np.float64)
    flat = np.asarray(scores, dtype=np.float64).reshape(scale.size, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(scale[:, None] > 0, flat / scale[:, None], 0.0)
    return out.ravel()


def top_neurons(scores: np.ndarray, percent: float, ranking: str, layer_scale: np.ndarray) -> np.ndarray:
    """Flat indices of the top ``percent``% neurons under ``ranking`` (see the module docstring), best
    first by scaled score (``per-layer`` keeps the same count in every layer)."""
    check_ranking(ranking)
    scale = np.asarray(layer_scale, dtype=np.float64)
    if ranking == "raw":
        return top_percent(scores, percent)
    if ranking == "scaled":
        return top_percent(scaled_scores(scores, scale), percent)
    flat = np.asarray(scores, dtype=np.float64).reshape(scale.size, -1)
    width = flat.shape[1]
    chosen = np.concatenate([layer * width + top_percent(row, percent) for layer, row in enumerate(flat)])
    scaled = scaled_scores(scores, scale)[chosen]
    return chosen[np.lexsort((chosen, -scaled))]  # best first, as the other rankings


def general_set(per_topic: Mapping[str, np.ndarray]) -> np.ndarray:
    """General political neurons: the intersection of every evaluation topic's top set (sorted)."""
    sets = list(per_topic.values())
    if not sets:
        raise ValueError("no topics to intersect")
    out = np.unique(np.asarray(sets[0], dtype=np.int64))
    for s in sets[1:]:
        out = np.intersect1d(out, np.asarray(s, dtype=np.int64))
    return out


def specific_sets(per_topic: Mapping[str, np.ndarray], general: np.ndarray) -> dict[str, np.ndarray]:
    """Topic-specific neurons of each topic: its top set minus the general set (sorted)."""
    return {t: np.setdiff1d(np.asarray(s, dtype=np.int64), general) for t, s in per_topic.items()}


def per_layer_counts(indices: np.ndarray, layers: int, width: int) -> np.ndarray:
    """How many of the given flat neuron indices fall in each layer."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= layers * width):
        raise ValueError("neuron index out of range")
    return np.bincount(idx // width, minlength=layers)


def by_layer(indices: np.ndarray, width: int) -> dict[int, np.ndarray]:
    """Split flat indices into ``{layer: sorted dims}`` (layers without neurons are left out)."""
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    out: dict[int, np.ndarray] = {}
    for layer in np.unique(idx // width):
        out[int(layer)] = idx[idx // width == layer] % width
    return out


def matched_random_set(indices: np.ndarray, layers: int, width: int, seed: int) -> np.ndarray:
    """A seeded random neuron set with the same number of neurons in each layer as ``indices`` (the
    layer-matched control), drawn from the other neurons of each layer; where a layer has fewer
    others than it needs, from the whole layer."""
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    counts = per_layer_counts(idx, layers, width)
    rng = np.random.default_rng(seed)
    out = []
    for layer in np.flatnonzero(counts):
        pool = np.setdiff1d(np.arange(layer * width, (layer + 1) * width), idx)
        if counts[layer] > pool.size:
            pool = np.arange(layer * width, (layer + 1) * width)
        out.append(rng.choice(pool, size=int(counts[layer]), replace=False))
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)

