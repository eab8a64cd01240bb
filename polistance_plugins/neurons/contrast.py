"""PNLAC set algebra on plain arrays: RMS activation differences, global top-k% ranking, general
and topic-specific neuron sets, and the neuron file (scores + provenance) they are saved in.

A neuron is (layer, dimension) of one capture site; it is addressed by its flat index
``layer * width + dim`` over the whole model so that all layers are ranked together.
No torch here: the capture module reduces activations to per-neuron sums of squares first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import PolistanceError

FORMAT = "polistance-neurons"
VERSION = 1
SITES = ("mlp_out", "mlp_hidden")


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


def random_set(total: int, size: int, seed: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """A seeded uniform random neuron set of ``size`` flat indices (the patching control)."""
    pool = np.arange(total) if exclude is None else np.setdiff1d(np.arange(total), exclude)
    if size > pool.size:
        raise ValueError(f"cannot draw {size} neurons from {pool.size}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=size, replace=False))


# ---- the neuron file ---------------------------------------------------------------------------
@dataclass
class NeuronSets:
    """The sets of one fine-tuned model at one k: per evaluation topic, general, and specific."""

    adapter: str
    percent: float
    per_topic: dict[str, np.ndarray]
    general: np.ndarray
    specific: dict[str, np.ndarray]


@dataclass
class NeuronFile:
    """PNLAC scores of every neuron for each (adapter T, evaluation topic t), with provenance.

    ``scores[adapter][topic]`` is a float array of ``layers * width`` RMS differences. Sets for
    any k are derived from the scores, so one file serves every ``--top-k`` / ``--inhibit-top``.
    """

    site: str
    layers: int
    width: int
    topics: list[str]
    top_k: float
    model: dict
    adapters: dict[str, dict]
    prompt_source: dict
    scores: dict[str, dict[str, np.ndarray]]
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        # Round once here, so the sets computed in memory equal the sets of the saved-and-loaded file.
        self.scores = {a: {t: round_scores(v) for t, v in per.items()} for a, per in self.scores.items()}

    @property
    def total(self) -> int:
        return self.layers * self.width

    def sets(self, adapter: str, percent: float | None = None) -> NeuronSets:
        """Top-``percent``% sets per topic, their intersection, and the per-topic remainders."""
        if adapter not in self.scores:
            raise PolistanceError(f"neuron file has no adapter {adapter!r} (it has: {', '.join(self.scores)})")
        k = self.top_k if percent is None else percent
        per_topic = {t: top_percent(self.scores[adapter][t], k) for t in self.topics}
        general = general_set(per_topic)
        return NeuronSets(adapter, k, per_topic, general, specific_sets(per_topic, general))

    def general_over_adapters(self, percent: float, adapters: Sequence[str] | None = None) -> np.ndarray:
        """Neurons general for every listed adapter (all by default): intersection over all (T, t)."""
        names = list(adapters or self.scores)
        out = self.sets(names[0], percent).general
        for name in names[1:]:
            out = np.intersect1d(out, self.sets(name, percent).general)
        return out

    def to_dict(self) -> dict:
        """JSON-ready form: scores rounded to 6 significant digits, sets at ``top_k`` with scores."""

        def entries(adapter: str, topic: str | None, idx: np.ndarray) -> list[list]:
            sc = self.scores[adapter][topic] if topic else None
            return [
                [int(i // self.width), int(i % self.width)] + ([_round(sc[i])] if sc is not None else [])
                for i in idx
            ]

        sets = {}
        for a in self.scores:
            s = self.sets(a)
            sets[a] = {
                "general": entries(a, None, s.general),
                "per_topic": {t: entries(a, t, s.per_topic[t]) for t in self.topics},
                "specific": {t: entries(a, t, s.specific[t]) for t in self.topics},
            }
        return {
            "format": FORMAT,
            "version": VERSION,
            "site": self.site,
            "layers": self.layers,
            "width": self.width,
            "topics": list(self.topics),
            "top_k": self.top_k,
            "model": self.model,
            "adapters": self.adapters,
            "prompt_source": self.prompt_source,
            "extra": self.extra,
            "sets": sets,
            "scores": {a: {t: [_round(v) for v in arr] for t, arr in per.items()} for a, per in self.scores.items()},
        }

    def save(self, path: str | Path) -> Path:
        """Write the file (atomically); returns its path."""
        from ..engine.runs import atomic_write

        path = Path(path)
        atomic_write(path, json.dumps(self.to_dict(), separators=(",", ":")))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "NeuronFile":
        """Read and validate a neuron file written by :meth:`save`."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise PolistanceError(f"neuron file {path}: cannot read ({e.strerror})") from None
        except ValueError as e:
            raise PolistanceError(f"neuron file {path}: invalid JSON ({e})") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise PolistanceError(f"neuron file {path}: field 'format' must be {FORMAT!r} (not a polistance neuron file)")
        if raw.get("version") != VERSION:
            raise PolistanceError(f"neuron file {path}: field 'version' is {raw.get('version')!r}, this polistance reads {VERSION}")
        for key in ("site", "layers", "width", "topics", "top_k", "scores"):
            if key not in raw:
                raise PolistanceError(f"neuron file {path}: missing field {key!r}")
        if raw["site"] not in SITES:
            raise PolistanceError(f"neuron file {path}: field 'site' is {raw['site']!r}; expected one of {', '.join(SITES)}")
        total = int(raw["layers"]) * int(raw["width"])
        scores: dict[str, dict[str, np.ndarray]] = {}
        for a, per in raw["scores"].items():
            scores[a] = {}
            for t in raw["topics"]:
                if t not in per:
                    raise PolistanceError(f"neuron file {path}: field 'scores.{a}' lacks topic {t!r}")
                arr = np.asarray(per[t], dtype=np.float64)
                if arr.shape != (total,) or not np.isfinite(arr).all():
                    raise PolistanceError(
                        f"neuron file {path}: field 'scores.{a}.{t}' must hold {total} finite numbers (layers x width)"
                    )
                scores[a][t] = arr
        if not scores:
            raise PolistanceError(f"neuron file {path}: field 'scores' is empty")
        return cls(
            site=raw["site"],
            layers=int(raw["layers"]),
            width=int(raw["width"]),
            topics=list(raw["topics"]),
            top_k=float(raw["top_k"]),
            model=raw.get("model", {}),
            adapters=raw.get("adapters", {}),
            prompt_source=raw.get("prompt_source", {}),
            scores=scores,
            extra=raw.get("extra", {}),
        )


def file_sha256(path: str | Path) -> str:
    """Content hash of a neuron file, recorded by whatever consumes it (InhibitFT manifests)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def round_scores(values) -> np.ndarray:
    """Scores rounded to 6 significant digits (what the JSON file stores)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    return np.char.mod("%.6g", arr).astype(np.float64) if arr.size else arr


def _round(v: float) -> float:
    return float(v)
