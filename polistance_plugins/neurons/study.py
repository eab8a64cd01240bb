"""The InhibitFT study: does pinning the general political neurons make fine-tuning more topic-specific?

Design (arms in ``study_train``): for each fine-tuning topic T and seed, a plain adapter, an
InhibitFT adapter, a layer-matched random control and (optionally) InhibitFT with the activation
penalty; localisation on the first seed's plain adapters; evaluation of the base and every adapter
on the topics bank, whose items all ask sub-issues that the training split does not (checked here);
statistics over matched (T, seed) units in ``study_stats``. Every step reuses finished work, so an
interrupted study continues. Layout of the study folder:

    adapters/<arm>[n]-<T>-s<seed>/   the adapters (see study_train.adapter_name)
    neurons.json, neurons_per_layer.png   PNLAC localisation from the first seed's plain adapters
    eval/                            run folder: every form for base and every adapter (items.jsonl)
    units.csv                        per (arm, T, seed): in-topic effect, CTG, ratio, s(T, t)
    table.md, arms.csv, comparisons.csv   pooled arms and paired comparisons with intervals
    drift.csv                        how far the general neurons' activations moved, per adapter
    heatmap.png                      s(T, t) per arm (mean over seeds)
    *_agreement.*                    the same on the expected rating (secondary: acquiescence shifts)
    study.json                       configuration, held-out check, timings and load per session
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..core.records import DEFAULT_MIN_MASS
from ..engine.device import Placement
from ..errors import PolistanceError
from .contrast import DEFAULT_RANKING
from .positions import DEFAULT_POSITIONS
from .study_io import evaluate, heldout_items, load_avg, previous_sessions, reusable_drift, reusable_neurons
from .study_train import ARMS, MASKED_ARMS, adapter_name, arm_label, build_mask, train_adapter

DEFAULT_TOPICS = ("crime_and_guns", "immigration")
MIN_SEEDS = 3


@dataclass
class StudyConfig:
    """Everything that defines a study's results."""

    model: str
    topics: list[str] = field(default_factory=lambda: list(DEFAULT_TOPICS))  # fine-tuning topics T
    eval_topics: list[str] | None = None  # evaluation topics t (default: every topic of the bank)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    arms: list[str] = field(default_factory=lambda: list(MASKED_ARMS))
    inhibit_top: list[float] = field(default_factory=lambda: [5.0])
    hold_weight: float = 1.0
    leaning: str = "right"
    site: str = "mlp_out"
    positions: str = DEFAULT_POSITIONS
    ranking: str = DEFAULT_RANKING
    bank: str = "topics"
    paraphrases: str = "first"
    directions: tuple[str, ...] = ("normal",)
    eval_batch_size: int | str = 16
    placement: Placement = field(default_factory=Placement)  # where the evaluations run (training: TRL/accelerate)
    min_mass: float = DEFAULT_MIN_MASS
    n_resamples: int = 2000
    stats_seed: int = 0  # the bootstrap's and the permutation tests' random draws
    # training (the training module's TrainConfig fields); sized for the embedded model on a shared CPU
    max_steps: int = 6
    learning_rate: float = 4e-3
    rank: int = 8
    batch_size: int = 4

    def validate(self) -> None:
        if len(set(self.seeds)) < MIN_SEEDS:
            raise PolistanceError(f"--seeds: the study needs at least {MIN_SEEDS} different seeds per arm "
                                  f"(training noise is part of what the intervals and the paired test measure)")
        unknown = [a for a in self.arms if a not in MASKED_ARMS]
        if unknown or not self.arms:
            raise PolistanceError(f"--arms {','.join(self.arms)}: choose from {', '.join(MASKED_ARMS)}")
        if "hold" in self.arms and not self.hold_weight > 0:
            raise PolistanceError(f"--hold-weight {self.hold_weight:g}: must be positive")

    def train_config(self, seed: int):
        """The training module's configuration for every adapter of the study with ``seed``."""
        from ..train import TrainConfig

        return TrainConfig(max_steps=self.max_steps, learning_rate=self.learning_rate, rank=self.rank,
                           batch_size=self.batch_size, seed=seed)

    @property
    def sign(self) -> float:
        """+1 when the training leans right (keyed stance +1 = right), -1 when it leans left."""
        return 1.0 if self.leaning == "right" else -1.0


def run_study(cfg: StudyConfig, out: str | Path, log: Callable[[str], None] | None = None) -> dict:
    """Run (or continue) the whole study in ``out``; returns the study summary written to study.json."""
    import torch

    from ..banks import load_bank
    from ..engine import models
    from ..engine.backends.hf import LocalBackend
    from ..engine.runs import atomic_write
    from ..engine.variants import adapter_hash
    from .figures import neurons_per_layer
    from .inhibit_load import default_probes
    from .localize import IDEOLOGY_DATA, heldout_prompts, localize
    from .neuron_file import NeuronFile, file_sha256
    from .study_results import write_results

    cfg.validate()
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bank = load_bank(cfg.bank)
    eval_topics = list(cfg.eval_topics or bank.topics)
    items, heldout = heldout_items(bank, eval_topics)
    summary: dict = {"config": asdict(cfg), "eval_topics": eval_topics, "heldout": heldout,
                     "torch_threads": torch.get_num_threads(), "load_start": load_avg(), "phases": {}, "adapters": {}}

    def phase(name, t0):
        summary["phases"][name] = round(time.monotonic() - t0, 1)
        log(f"[{name}] {summary['phases'][name]:.0f}s (load {load_avg()})")

    # 1. plain adapters, every seed
    t0 = time.monotonic()
    dirs: dict[str, str] = {}
    for T in cfg.topics:
        for seed in cfg.seeds:
            name = adapter_name("plain", T, seed)
            log(f"plain adapter {name} ({cfg.leaning})")
            summary["adapters"][name] = train_adapter(cfg, T, seed, out / "adapters" / name, None, log)
            dirs[name] = str(out / "adapters" / name)
    phase("train_plain", t0)

    # 2. localisation from the first seed's plain adapters, on the held-out prompts of every evaluation topic
    t0 = time.monotonic()
    p = cfg.placement
    backend = LocalBackend(models.resolve(cfg.model), batch_size=cfg.eval_batch_size, device=p.device, dtype=p.dtype,
                           device_map=p.device_map)
    prompts_all = heldout_prompts(IDEOLOGY_DATA)
    missing = [t for t in eval_topics if t not in prompts_all]
    if missing:
        raise PolistanceError(f"no held-out localisation prompts for topics {missing} in {IDEOLOGY_DATA}")
    prompts = {t: prompts_all[t] for t in eval_topics}
    first = cfg.seeds[0]
    localised = {adapter_name("plain", T, first): dirs[adapter_name("plain", T, first)] for T in cfg.topics}
    neurons_path = out / "neurons.json"
    if reusable_neurons(neurons_path, cfg, eval_topics, {n: adapter_hash(d) for n, d in localised.items()}) is None:
        log(f"localising {cfg.site} neurons ({cfg.positions} positions, {cfg.ranking} ranking): "
            f"{len(localised)} adapters x {len(prompts)} topics")
        localize(backend, localised, prompts, cfg.site, top_k=min(cfg.inhibit_top), positions=cfg.positions,
                 ranking=cfg.ranking, prompt_source={"file": str(IDEOLOGY_DATA), "sha256": file_sha256(IDEOLOGY_DATA),
                                                     "split": "held-out (ids i41-i48)"},
                 adapter_topics={adapter_name("plain", T, first): T for T in cfg.topics}).save(neurons_path)
    nf = NeuronFile.load(neurons_path)
    neurons_per_layer(nf, out / "neurons_per_layer.png", percent=5.0 if 5.0 in cfg.inhibit_top else cfg.inhibit_top[0])
    general = {(n, T): nf.sets(adapter_name("plain", T, first), n).general for n in cfg.inhibit_top for T in cfg.topics}
    phase("localize", t0)

    # 3. masked arms
    t0 = time.monotonic()
    provenance = {"neurons_file": str(neurons_path), "neurons_sha256": file_sha256(neurons_path), "localised_seed": first}
    for n in cfg.inhibit_top:
        for T in cfg.topics:
            if general[(n, T)].size == 0:
                log(f"{T}: no general neurons at top {n:g}% (the topics' top sets do not intersect): no masked arms")
                continue
            for arm in cfg.arms:
                for seed in cfg.seeds:
                    name = adapter_name(arm, T, seed, n)
                    log(f"{arm} adapter {name}: {general[(n, T)].size} rows of down_proj pinned")
                    mask = build_mask(arm, nf, general[(n, T)], n, T, seed, provenance, cfg.hold_weight)
                    summary["adapters"][name] = train_adapter(cfg, T, seed, out / "adapters" / name, mask, log)
                    dirs[name] = str(out / "adapters" / name)
    phase("train_masked", t0)

    # 4. evaluation, and how far the general neurons' activations moved in every adapter
    t0 = time.monotonic()
    records = evaluate(cfg, backend, dirs, items, out / "eval", log)
    phase("evaluate", t0)
    t0 = time.monotonic()
    from .drift import measure_adapter_drift

    hashes = {name: adapter_hash(d) for name, d in dirs.items()}
    drift_rows = reusable_drift(out / "drift.csv", hashes, file_sha256(neurons_path))
    if drift_rows is None:
        drift_rows = []
        for n in cfg.inhibit_top:
            sets = {name: general[(n, T)] for T in cfg.topics if general[(n, T)].size for s in cfg.seeds
                    for name in _unit_names(cfg, T, s, n) if name in dirs}
            for name, d in measure_adapter_drift(backend, sets, cfg.site, default_probes(), nf.positions).items():
                drift_rows.append({"inhibit_top": n, "adapter": name, "adapter_sha256": hashes[name],
                                   "neurons_sha256": file_sha256(neurons_path), **d})
    else:
        log("reusing drift.csv (same adapters and neuron file)")
    phase("drift", t0)

    # 5. tables and figures
    t0 = time.monotonic()
    results = write_results(cfg, records, general, eval_topics, drift_rows, out)
    phase("tables", t0)

    summary.update(total_seconds=round(time.monotonic() - started, 1), load_end=load_avg(),
                   general_neurons={f"{n:g}": {T: int(general[(n, T)].size) for T in cfg.topics} for n in cfg.inhibit_top},
                   table=str(out / "table.md"))
    summary["sessions"] = previous_sessions(out / "study.json") + [
        {k: summary[k] for k in ("torch_threads", "load_start", "load_end", "phases", "total_seconds")}
    ]
    atomic_write(out / "study.json", json.dumps(summary, indent=2, default=str) + "\n")
    summary.update(results)
    return summary


def _unit_names(cfg: StudyConfig, topic: str, seed: int, n: float) -> set[str]:
    """Every adapter of one unit at level n (plain and each masked arm)."""
    return {adapter_name("plain", topic, seed)} | {adapter_name(a, topic, seed, n) for a in cfg.arms}


def arm_labels(cfg: StudyConfig, n: float) -> list[str]:
    return ["plain"] + [arm_label(a, n) for a in cfg.arms]


__all__ = ["ARMS", "StudyConfig", "arm_labels", "run_study"]
