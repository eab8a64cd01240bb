"""The InhibitFT study: plain adapters per topic, PNLAC localisation, InhibitFT adapters per
(topic, n), evaluation on the topics bank, and the cross-topic table and heatmap.

Layout of the study folder (every step reuses finished work, so an interrupted study continues):

    adapters/plain-<T>/           LoRA SFT on topic T's training split (i01-i40) toward --leaning
    neurons.json                  PNLAC scores of every neuron, localised on held-out instructions (i41-i48)
    neurons_per_layer.png         general vs topic-specific neurons per layer
    adapters/inhibit<n>-<T>/      the same training with the top-n% general neurons of plain-<T> inhibited
    eval/                         run folder: every form for base and every adapter (items.jsonl)
    shifts.csv                    s(T, t) for the plain adapters and each n
    table.csv, table.md           per T and n: in-topic effect, CTG, reduction and retention with intervals
    heatmap.png                   s(T, t) plain vs InhibitFT
    *_agreement.*                 the same on the unkeyed expected rating (secondary: acquiescence shifts)
    study.json                    configuration, timings and machine load per session, what each mask verified
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..core.records import DEFAULT_MIN_MASS
from ..errors import PolistanceError

DEFAULT_INHIBIT_TOP = (1.0, 5.0, 10.0, 15.0)


@dataclass
class StudyConfig:
    """Everything that defines a study's results."""

    model: str
    topics: list[str]
    inhibit_top: list[float] = field(default_factory=lambda: list(DEFAULT_INHIBIT_TOP))
    leaning: str = "right"
    site: str = "mlp_out"
    bank: str = "topics"
    paraphrases: str = "first"
    directions: tuple[str, ...] = ("normal",)
    eval_batch_size: int = 16
    min_mass: float = DEFAULT_MIN_MASS
    seed: int = 0
    n_resamples: int = 2000
    # training (the training module's TrainConfig fields); small defaults so the embedded model runs on a CPU
    max_steps: int = 6
    learning_rate: float = 4e-3
    rank: int = 8
    batch_size: int = 4

    def train_config(self):
        """The training module's configuration for every adapter of the study."""
        from ..train import TrainConfig

        return TrainConfig(max_steps=self.max_steps, learning_rate=self.learning_rate, rank=self.rank,
                           batch_size=self.batch_size, seed=self.seed)


def plain_name(topic: str) -> str:
    return f"plain-{topic}"


def inhibit_name(topic: str, n: float) -> str:
    """Adapter name of InhibitFT at n% (PEFT names may not contain dots: 0.5 -> 0p5)."""
    return f"inhibit{n:g}-{topic}".replace(".", "p")


def load_avg() -> list[float]:
    """1, 5 and 15 minute load averages (the CPU is shared; timings need this context)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# ---- training ------------------------------------------------------------------------------------
def _complete(folder: Path, hyperparameters: dict, gradient_mask: dict | None) -> bool:
    from ..train.manifest import read_manifest

    m = read_manifest(folder)
    return bool(
        m and m.get("status") == "complete" and m.get("hyperparameters") == hyperparameters
        and m.get("gradient_mask") == gradient_mask
    )


def train_adapter(cfg: StudyConfig, topic: str, out: Path, mask=None, log=print) -> dict:
    """Train (or reuse a finished) ideology adapter on ``topic``; returns what happened."""
    from ..train import train_ideology

    tc = cfg.train_config()
    described = json.loads(json.dumps(mask.describe())) if mask is not None else None
    if _complete(out, tc.to_dict(), described):
        log(f"  reusing {out}")
        return {"adapter": str(out), "reused": True}
    t = time.monotonic()
    result = train_ideology(topic, cfg.leaning, out, "sft", cfg.model, tc, gradient_mask=mask, overwrite=True, log=log)
    info = {"adapter": str(out), "reused": False, "seconds": round(time.monotonic() - t, 1), "steps": result.steps,
            "final_loss": result.final_loss}
    if mask is not None:
        info["verification"] = mask.verification()
        if mask.verification()["rows_verified_unchanged"] is not True:
            raise RuntimeError(f"{out}: InhibitFT rows were not verified unchanged")
    return info


def _reusable_neurons(path: Path, cfg: StudyConfig, adapter_hashes: dict):
    """The study's neuron file if it was localised from exactly these adapters, site and topics."""
    from .neuron_file import NeuronFile

    if not path.is_file():
        return None
    try:
        nf = NeuronFile.load(path)
    except PolistanceError:
        return None
    same = (nf.site == cfg.site and nf.topics == list(cfg.topics)
            and {a: info.get("sha256") for a, info in nf.adapters.items()} == adapter_hashes)
    return nf if same else None


def _previous_sessions(path: Path) -> list[dict]:
    try:
        return list(json.loads(path.read_text()).get("sessions", []))
    except (OSError, ValueError, AttributeError):
        return []


# ---- evaluation ------------------------------------------------------------------------------------
def evaluate(cfg: StudyConfig, backend, adapters: dict[str, str], folder: Path, log=print) -> list[dict]:
    """Base and every adapter on the bank's forms, into a (resumable) run folder; returns the records."""
    from ..banks import load_bank
    from ..engine.variants import load_variants
    from ..instruments.questionnaire import QuestionnaireForms, bank_forms
    from ..pipelines.questionnaire import run_questionnaire

    bank = load_bank(cfg.bank)
    formset = QuestionnaireForms(bank, tuple(bank_forms(bank, cfg.paraphrases, cfg.directions, cfg.topics)))
    variants = load_variants(backend, list(adapters.items()))
    resume = (folder / "manifest.json").is_file()
    kwargs = dict(batch_size=cfg.eval_batch_size, min_mass=cfg.min_mass, seed=cfg.seed, progress=True)
    try:
        run = run_questionnaire(backend, formset, variants, folder, resume=resume, overwrite=not resume, **kwargs)
    except PolistanceError:
        log(f"  {folder} holds an evaluation of other adapters: starting it over")
        run = run_questionnaire(backend, formset, variants, folder, resume=False, overwrite=True, **kwargs)
    return run.records


# ---- tables ------------------------------------------------------------------------------------------
def results_tables(cfg: StudyConfig, records: list[dict], trained: dict[float, list[str]], n_neurons: dict,
                   value: str = "stance"):
    """(table, shifts, matrices): per (n, T) comparison rows, the long s(T, t) table, and the matrices.

    ``value`` is the per-form quantity whose shift is s(T, t): the keyed stance (the study's
    measure) or the unkeyed expected rating ("expected", the secondary agreement table).
    """
    import pandas as pd

    from .metrics import compare_study, item_shifts, shift_matrix

    plain = {T: item_shifts(records, plain_name(T), value=value) for T in cfg.topics}
    mats = {"plain": shift_matrix(plain, cfg.topics)}
    rows = []
    for n in cfg.inhibit_top:
        topics_n = trained.get(n, [])
        for T in cfg.topics:
            if T not in topics_n:
                rows.append({"inhibit_top": n, "topic": T, "n_neurons": 0, "note": "no general neurons: not trained"})
        if not topics_n:
            continue
        inhibit = {T: item_shifts(records, inhibit_name(T, n), value=value) for T in topics_n}
        mats[f"InhibitFT {n:g}%"] = shift_matrix(inhibit, cfg.topics)
        try:
            compared = compare_study({T: plain[T] for T in topics_n}, inhibit, cfg.topics, cfg.n_resamples, seed=cfg.seed)
        except ValueError as e:
            raise PolistanceError(
                f"InhibitFT {n:g}%: {e}: no item was answered in format (digit mass >= {cfg.min_mass}) by the base and "
                "every adapter; see eval/items.jsonl, or lower --min-mass"
            ) from None
        for r in compared:
            neurons = n_neurons.get((n, r["topic"]), sum(n_neurons.get((n, T), 0) for T in topics_n))
            rows.append({"inhibit_top": n, **r, "n_neurons": neurons, "note": ""})
    table = pd.DataFrame(rows)
    shifts = pd.concat(
        [m.rename_axis("adapter_topic").reset_index().melt(id_vars="adapter_topic", var_name="eval_topic", value_name="shift")
         .assign(variant=label) for label, m in mats.items()],
        ignore_index=True,
    )
    return table, shifts, mats


# ---- the pipeline --------------------------------------------------------------------------------------
def run_study(cfg: StudyConfig, out: str | Path, log: Callable[[str], None] | None = None) -> dict:
    """Run (or continue) the whole study in ``out``; returns the study summary written to study.json."""
    from ..engine import models
    from ..engine.backends.hf import LocalBackend
    from ..engine.variants import adapter_hash
    from ..engine.runs import atomic_write
    from .neuron_file import NeuronFile, file_sha256
    from .figures import neurons_per_layer, shift_heatmaps
    from .study_table import markdown_table
    from .inhibit_load import mask_from_neuron_file
    from .localize import IDEOLOGY_DATA, heldout_prompts, localize

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    import torch

    summary: dict = {"config": asdict(cfg), "torch_threads": torch.get_num_threads(), "load_start": load_avg(),
                     "phases": {}, "adapters": {}}

    def phase(name, t0):
        summary["phases"][name] = round(time.monotonic() - t0, 1)
        log(f"[{name}] {summary['phases'][name]:.0f}s (load {load_avg()})")

    # 1. plain adapters
    t0 = time.monotonic()
    plain_dirs = {}
    for i, T in enumerate(cfg.topics, 1):
        log(f"plain adapter {i}/{len(cfg.topics)}: {T} ({cfg.leaning})")
        d = out / "adapters" / plain_name(T)
        summary["adapters"][plain_name(T)] = train_adapter(cfg, T, d, None, log)
        plain_dirs[plain_name(T)] = str(d)
    phase("train_plain", t0)

    # 2. localisation on held-out instructions
    t0 = time.monotonic()
    path = models.resolve(cfg.model)
    backend = LocalBackend(path, batch_size=cfg.eval_batch_size)
    prompts_all = heldout_prompts(IDEOLOGY_DATA)
    missing = [t for t in cfg.topics if t not in prompts_all]
    if missing:
        raise PolistanceError(f"no held-out localisation prompts for topics {missing} in {IDEOLOGY_DATA}")
    prompts = {t: prompts_all[t] for t in cfg.topics}
    neurons_path = out / "neurons.json"
    wanted = {name: adapter_hash(d) for name, d in plain_dirs.items()}
    nf = _reusable_neurons(neurons_path, cfg, wanted)
    if nf is not None:
        log(f"reusing {neurons_path} (same adapters, site and topics)")
    else:
        log(f"localising {cfg.site} neurons: {len(plain_dirs)} adapters x {len(prompts)} topics x {len(prompts[cfg.topics[0]])} prompts")
        nf = localize(backend, plain_dirs, prompts, cfg.site, top_k=min(cfg.inhibit_top),
                      prompt_source={"file": str(IDEOLOGY_DATA), "sha256": file_sha256(IDEOLOGY_DATA),
                                     "split": "held-out (ids i41-i48)"},
                      adapter_topics={plain_name(T): T for T in cfg.topics})
        nf.save(neurons_path)
    nf = NeuronFile.load(neurons_path)
    neurons_per_layer(nf, out / "neurons_per_layer.png", percent=5.0 if 5.0 in cfg.inhibit_top else cfg.inhibit_top[0])
    phase("localize", t0)

    # 3. InhibitFT adapters
    t0 = time.monotonic()
    trained: dict[float, list[str]] = {}
    n_neurons: dict = {}
    inhibit_dirs = {}
    for n in cfg.inhibit_top:
        for T in cfg.topics:
            general = nf.sets(plain_name(T), n).general
            n_neurons[(n, T)] = int(general.size)
            name = inhibit_name(T, n)
            if general.size == 0:
                log(f"{name}: no general neurons at top {n:g}% (the six topics' top sets do not intersect): skipped")
                continue
            log(f"InhibitFT adapter {name}: {general.size} general neurons inhibited")
            mask = mask_from_neuron_file(nf, n, plain_name(T), {"neurons_file": str(neurons_path),
                                                               "neurons_sha256": file_sha256(neurons_path)})
            d = out / "adapters" / name
            summary["adapters"][name] = train_adapter(cfg, T, d, mask, log)
            inhibit_dirs[name] = str(d)
            trained.setdefault(n, []).append(T)
    phase("train_inhibit", t0)

    # 4. evaluation
    t0 = time.monotonic()
    records = evaluate(cfg, backend, {**plain_dirs, **inhibit_dirs}, out / "eval", log)
    phase("evaluate", t0)

    # 5. tables and figures
    t0 = time.monotonic()
    table, shifts, mats = results_tables(cfg, records, trained, n_neurons)
    table.to_csv(out / "table.csv", index=False)
    shifts.to_csv(out / "shifts.csv", index=False)
    md = markdown_table(table)
    atomic_write(out / "table.md", md)
    shift_heatmaps(mats, out / "heatmap.png", title=f"s(T, t) on {cfg.bank}: {cfg.model}, {cfg.leaning}-leaning LoRA")
    # secondary: the same metrics on the unkeyed expected rating (agreement, 0-9)
    table_e, shifts_e, mats_e = results_tables(cfg, records, trained, n_neurons, value="expected")
    table_e.to_csv(out / "table_agreement.csv", index=False)
    shifts_e.to_csv(out / "shifts_agreement.csv", index=False)
    atomic_write(out / "table_agreement.md", markdown_table(table_e))
    shift_heatmaps(mats_e, out / "heatmap_agreement.png", label="shift of the expected rating (0-9)",
                   title=f"agreement shift (unkeyed expected rating) on {cfg.bank}: {cfg.model}")
    phase("tables", t0)

    summary.update(
        total_seconds=round(time.monotonic() - started, 1),
        load_end=load_avg(),
        general_neurons={f"{n:g}": {T: n_neurons[(n, T)] for T in cfg.topics} for n in cfg.inhibit_top},
        table=str(out / "table.md"),
    )
    # every session (first run, continuations) keeps its own timings: a continuation that reused
    # everything must not hide how long the work took
    summary["sessions"] = _previous_sessions(out / "study.json") + [
        {k: summary[k] for k in ("torch_threads", "load_start", "load_end", "phases", "total_seconds")}
    ]
    atomic_write(out / "study.json", json.dumps(summary, indent=2, default=str) + "\n")
    summary["markdown"] = md
    summary["markdown_agreement"] = markdown_table(table_e)
    return summary
