"""The InhibitFT study's bookkeeping: which bank items are held out, the evaluation run folder,
reuse of a finished localisation, and the machine load recorded next to every timing."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import PolistanceError


def load_avg() -> list[float]:
    """1, 5 and 15 minute load averages (the CPU is shared; timings need this context)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def heldout_items(bank, topics) -> tuple[list, dict]:
    """The bank's items of ``topics`` whose sub-issue no training instruction asks, and what was checked.

    The ideology training split (ids 01-40) and the topics bank carry ``subissue`` labels; an item
    that shares its sub-issue with a training instruction, or has no label, is left out, so that
    every evaluated item is a held-out question.
    """
    from ..train.datasets import load_ideology, training_split

    trained = {r.subissue for r in training_split(load_ideology()) if r.subissue}
    chosen, shared, unlabelled = [], [], []
    for item in bank:
        if item.topic not in topics or item.kind == "open":
            continue
        if not item.subissue:
            unlabelled.append(item.id)
        elif item.subissue in trained:
            shared.append(item.id)
        else:
            chosen.append(item)
    if not chosen:
        raise PolistanceError(f"bank {bank.name}: no item of {', '.join(topics)} asks a sub-issue outside the training split")
    info = {"items": len(chosen), "training_subissues": len(trained), "left_out_shared_subissue": shared,
            "left_out_unlabelled": unlabelled,
            "statement": f"all {len(chosen)} evaluated items ask sub-issues that no training instruction asks"}
    return chosen, info


def evaluate(cfg, backend, adapters: dict[str, str], items: list, folder: Path, log=print) -> list[dict]:
    """Base and every adapter on the items' forms, into a (resumable) run folder; returns the records."""
    from ..banks import load_bank
    from ..engine.variants import load_variants
    from ..instruments.questionnaire import QuestionnaireForms, bank_forms
    from ..pipelines.questionnaire import run_questionnaire

    bank = load_bank(cfg.bank)
    formset = QuestionnaireForms(bank, tuple(bank_forms(items, cfg.paraphrases, cfg.directions)))
    variants = load_variants(backend, list(adapters.items()))
    resume = (folder / "manifest.json").is_file()
    kwargs = dict(batch_size=cfg.eval_batch_size, min_mass=cfg.min_mass, seed=0, progress=True)
    try:
        run = run_questionnaire(backend, formset, variants, folder, resume=resume, overwrite=not resume, **kwargs)
    except PolistanceError:
        log(f"  {folder} holds an evaluation of other adapters or items: starting it over")
        run = run_questionnaire(backend, formset, variants, folder, resume=False, overwrite=True, **kwargs)
    return run.records


def reusable_neurons(path: Path, cfg, topics: list[str], adapter_hashes: dict):
    """The study's neuron file if it was localised from exactly these adapters, settings and topics."""
    from .neuron_file import NeuronFile

    if not path.is_file():
        return None
    try:
        nf = NeuronFile.load(path)
    except PolistanceError:
        return None
    same = (nf.site == cfg.site and nf.topics == list(topics) and nf.positions == cfg.positions
            and nf.ranking == cfg.ranking and {a: info.get("sha256") for a, info in nf.adapters.items()} == adapter_hashes)
    return nf if same else None


def reusable_drift(path: Path, adapter_hashes: dict[str, str], neurons_sha256: str) -> list[dict] | None:
    """The rows of a finished drift.csv when it measured exactly these adapters with this neuron file."""
    import pandas as pd

    try:
        rows = pd.read_csv(path).to_dict("records")
    except (OSError, ValueError):
        return None
    measured = {r.get("adapter"): r.get("adapter_sha256") for r in rows}
    same = measured == adapter_hashes and {r.get("neurons_sha256") for r in rows} == {neurons_sha256}
    return rows if same else None


def previous_sessions(path: Path) -> list[dict]:
    """Timings of earlier sessions of a continued study (a continuation must not hide the work done)."""
    try:
        return list(json.loads(path.read_text()).get("sessions", []))
    except (OSError, ValueError, AttributeError):
        return []
