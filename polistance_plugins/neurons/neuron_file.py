"""The neuron file: PNLAC scores of every neuron per (adapter, evaluation topic), the settings that
produced them, and the general and topic-specific sets derived from them at any k."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import PolistanceError
from .contrast import (
    DEFAULT_RANKING,
    RANKINGS,
    SITES,
    check_ranking,
    general_set,
    specific_sets,
    top_neurons,
)

FORMAT = "polistance-neurons"
VERSION = 2


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

    ``scores[adapter][topic]`` is a float array of ``layers * width`` RMS differences over the
    probe tokens that ``positions`` selects, and ``layer_scale[topic]`` the base model's activation
    RMS of each layer over the same tokens. Sets for any k are derived from the scores with the
    file's ``ranking``, so one file serves every ``--top-k`` / ``--inhibit-top``.
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
    layer_scale: dict[str, np.ndarray]
    positions: str
    ranking: str = DEFAULT_RANKING
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        check_ranking(self.ranking)
        # Round once here, so the sets computed in memory equal the sets of the saved-and-loaded file.
        self.scores = {a: {t: round_scores(v) for t, v in per.items()} for a, per in self.scores.items()}
        self.layer_scale = {t: round_scores(v) for t, v in self.layer_scale.items()}

    @property
    def total(self) -> int:
        return self.layers * self.width

    def sets(self, adapter: str, percent: float | None = None) -> NeuronSets:
        """Top-``percent``% sets per topic, their intersection, and the per-topic remainders."""
        if adapter not in self.scores:
            raise PolistanceError(f"neuron file has no adapter {adapter!r} (it has: {', '.join(self.scores)})")
        k = self.top_k if percent is None else percent
        per_topic = {t: top_neurons(self.scores[adapter][t], k, self.ranking, self.layer_scale[t]) for t in self.topics}
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
            "positions": self.positions,
            "ranking": self.ranking,
            "model": self.model,
            "adapters": self.adapters,
            "prompt_source": self.prompt_source,
            "extra": self.extra,
            "sets": sets,
            "scores": {a: {t: [_round(v) for v in arr] for t, arr in per.items()} for a, per in self.scores.items()},
            "layer_scale": {t: [_round(v) for v in arr] for t, arr in self.layer_scale.items()},
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
        if raw.get("version") == 1:
            raise PolistanceError(f"neuron file {path}: version 1, scored over every prompt token (mostly chat-template "
                                  "text) and ranked on raw values; run `polistance localize` again")
        if raw.get("version") != VERSION:
            raise PolistanceError(f"neuron file {path}: field 'version' is {raw.get('version')!r}, this polistance reads {VERSION}")
        for key in ("site", "layers", "width", "topics", "top_k", "scores", "layer_scale", "positions", "ranking"):
            if key not in raw:
                raise PolistanceError(f"neuron file {path}: missing field {key!r}")
        if raw["site"] not in SITES:
            raise PolistanceError(f"neuron file {path}: field 'site' is {raw['site']!r}; expected one of {', '.join(SITES)}")
        if raw["ranking"] not in RANKINGS:
            raise PolistanceError(f"neuron file {path}: field 'ranking' is {raw['ranking']!r}; expected one of {', '.join(RANKINGS)}")
        layer_scale = {}
        for t in raw["topics"]:
            arr = np.asarray(raw["layer_scale"].get(t, []), dtype=np.float64)
            if arr.shape != (int(raw["layers"]),) or not np.isfinite(arr).all():
                raise PolistanceError(f"neuron file {path}: field 'layer_scale.{t}' must hold {raw['layers']} finite numbers")
            layer_scale[t] = arr
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
            layer_scale=layer_scale,
            positions=str(raw["positions"]),
            ranking=raw["ranking"],
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
