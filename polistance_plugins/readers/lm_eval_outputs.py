"""Polistance records from lm-eval ``--output_path`` folders written with ``--log_samples``.

Every ``results_<time>.json`` in the folder is read, with the ``samples_<task>_<time>.jsonl`` files of
the same run: several runs of one model into one ``--output_path`` (base on terry9, then on topics)
all count. Runs are grouped by the model they evaluated (``identity.identity_from_lm_eval``: weights
and adapter), not by folder. The same form of the same model in two runs is kept once when the two
agree and refused when they do not.

Questionnaire samples' ten per-digit log-likelihoods become the same distribution and per-form record
``polistance eval`` writes (``instruments.questionnaire.score_record``); compass samples' four choice
log-likelihoods the record ``polistance compare --suite compass`` writes (``instruments.compass.score_form``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..core import DIGITS, distribution_from_option_logprobs
from ..core.records import DEFAULT_MIN_MASS
from ..errors import PolistanceError
from ..instruments import compass as compass_instrument
from ..instruments.questionnaire import Form, base_record, score_record
from .identity import ModelIdentity, identity_from_lm_eval
from .lm_eval_compat import result_file_time

PROVISIONAL = "?"
"""The ``model`` of records before the report gives each model its label (``relabel``)."""


@dataclass
class LmEvalModel:
    """One model's records from every lm-eval run of it in a folder."""

    identity: ModelIdentity
    records: list[dict] = field(default_factory=list)
    results_files: list[str] = field(default_factory=list)
    compass: dict[tuple[str, str | None], str] = field(default_factory=dict)  # (source, pct file) -> results file


def model_args(results: dict) -> dict:
    """The ``--model_args`` of an lm-eval results file as a dict."""
    args = (results.get("config") or {}).get("model_args") or {}
    if isinstance(args, str):
        pairs = [a.split("=", 1) for a in args.split(",") if "=" in a]
        args = {k.strip(): v.strip() for k, v in pairs}
    return args


def bank_of_task(task: str, topic: str) -> str:
    """lm-eval task name -> polistance bank name: polistance_terry9 -> terry9, polistance_topics_race -> topics."""
    name = task.removeprefix("polistance_")
    suffix = f"_{topic}"
    return name[: -len(suffix)] if topic and name.endswith(suffix) else name


def _samples_file(results_path: Path, task: str) -> Path:
    """The samples file written with a results file (lm-eval gives both the same time stamp)."""
    stamp = results_path.name.removeprefix("results_").removesuffix(".json")
    path = results_path.parent / f"samples_{task}_{stamp}.jsonl"
    if path.is_file():
        return path
    raise PolistanceError(f"{results_path}: no {path.name} beside it (run lm_eval with --log_samples)")


def _questionnaire_record(task: str, doc: dict, lls: list[float], adapter: str | None, min_mass: float) -> dict:
    if len(lls) != len(DIGITS):
        raise ValueError(f"expected {len(DIGITS)} per-digit log-likelihoods, got {len(lls)}")
    form = Form.from_fields(doc)
    rec = base_record(PROVISIONAL, adapter, bank_of_task(task, doc["topic"]), form, doc.get("prompt", ""))
    rec.update(score_record(form, distribution_from_option_logprobs(lls, DIGITS), min_mass))
    rec.update({"method": "exact", "suite": "questionnaire"})
    return rec


def _compass_source(doc: dict, task_config: dict, where: Path):
    """(source argument, pct file, loaded source) of an lm-eval compass sample (its ``weights`` field;
    ``polistance_pct`` needs the ``pct_file`` its ``--metadata`` named, still in place)."""
    name = str(doc["weights"])
    pct_file = None
    if name == "pct":
        pct_file = (task_config.get("metadata") or {}).get("pct_file")
        if not pct_file or not Path(str(pct_file)).is_file():
            raise PolistanceError(
                f"{where}: a polistance_pct run, whose propositions file "
                + (f"{pct_file} is no longer there" if pct_file else "the results do not name")
                + "; keep the file passed with --metadata pct_file where it was"
            )
        pct_file = str(pct_file)
    return name, pct_file, compass_instrument.load_source(name, pct_file)


def _compass_record(doc: dict, lls: list[float], source, adapter: str | None, min_mass: float) -> dict:
    form = compass_instrument.LikertForm.from_fields(doc)
    if not 0 <= form.index < len(source) or source.propositions[form.index].id != form.item_id:
        raise ValueError(f"{form.item_id!r} is not proposition {form.index} of {source.name!r} (was the source changed?)")
    rec = compass_instrument.base_record(PROVISIONAL, adapter, source.name, form, doc.get("prompt", ""))
    rec.update(compass_instrument.score_form(form, compass_instrument.distribution_from_choice_logprobs(form, lls),
                                             source.weights, min_mass))
    rec.update({"method": "exact", "suite": "compass"})
    return rec


def _run_records(res_path: Path, results: dict, identity: ModelIdentity, min_mass: float, model: LmEvalModel) -> list[dict]:
    """Every polistance sample of one results file as a record (``model`` still ``PROVISIONAL``)."""
    out = []
    configs = results.get("configs") or {}
    for task in [t for t in configs if t.startswith("polistance_")]:
        path = _samples_file(res_path, task)
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
                doc = sample["doc"]
                lls = [float(r[0]) for r in sample["filtered_resps"]]
                if "weights" in doc and "order" in doc:
                    name, pct_file, source = _compass_source(doc, configs[task], res_path)
                    model.compass.setdefault((name, pct_file), str(res_path))
                    rec = _compass_record(doc, lls, source, identity.adapter_path, min_mass)
                else:
                    rec = _questionnaire_record(task, doc, lls, identity.adapter_path, min_mass)
            except PolistanceError:
                raise
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise PolistanceError(f"{path}:{lineno}: not a polistance sample ({type(e).__name__}: {e})") from None
            rec["source_file"] = str(path)
            out.append(rec)
    return out


def same_numbers(a: dict, b: dict, tol: float = 1e-9) -> bool:
    """Whether two records of one form carry the same answer (status, raw mass and probabilities)."""
    if a.get("status") != b.get("status"):
        return False
    ma, mb = a.get("mass"), b.get("mass")
    if (ma is None) != (mb is None) or (ma is not None and abs(float(ma) - float(mb)) > tol):
        return False
    pa, pb = a.get("probs"), b.get("probs")
    if pa is None or pb is None:
        return pa is pb
    return len(pa) == len(pb) and all(abs(float(x) - float(y)) <= tol for x, y in zip(pa, pb))


def merge_records(kept: dict[str, dict], records: list[dict], label: str) -> None:
    """Add ``records`` to ``kept`` (by key): a form already there with the same numbers is kept once; with
    other numbers it is a real conflict, refused naming both sources."""
    for rec in records:
        other = kept.get(rec["key"])
        if other is None:
            kept[rec["key"]] = rec
        elif not same_numbers(other, rec):
            form = rec["key"].split("|", 1)[1]
            raise PolistanceError(
                f"two runs of {label!r} give different numbers for the same form {form}: {other['source_file']} and "
                f"{rec['source_file']}; keep one of them (or move one to another folder)"
            )


def records_from_lm_eval(folder: str | Path, min_mass: float = DEFAULT_MIN_MASS) -> list[LmEvalModel]:
    """Polistance records from an lm-eval ``--output_path`` folder written with ``--log_samples``.

    Returns one ``LmEvalModel`` per model evaluated (by weights and adapter), with the records of all
    its runs (``model`` is ``PROVISIONAL`` until ``relabel``) and the results files they came from.
    """
    root = Path(folder)
    if not root.is_dir():
        raise PolistanceError(f"--lm-eval {folder}: not a folder")
    result_files = sorted(root.rglob("results_*.json"), key=lambda p: (result_file_time(p.name), str(p)))  # oldest run first
    if not result_files:
        raise PolistanceError(f"--lm-eval {folder}: no results_*.json inside (run lm_eval with --output_path DIR --log_samples)")
    models: dict[ModelIdentity, LmEvalModel] = {}
    kept: dict[ModelIdentity, dict[str, dict]] = {}
    for res_path in result_files:
        try:
            results = json.loads(res_path.read_text())
        except ValueError as e:
            raise PolistanceError(f"{res_path}: invalid JSON ({e})") from None
        identity = identity_from_lm_eval(model_args(results), results.get("model_name"))
        model = models.setdefault(identity, LmEvalModel(identity))
        records = _run_records(res_path, results, identity, min_mass, model)
        if records:
            model.results_files.append(str(res_path))
        merge_records(kept.setdefault(identity, {}), records, identity.adapter_path or identity.weights)
    for identity, model in models.items():
        model.records = list(kept[identity].values())
    return [m for m in models.values() if m.results_files]


def relabel(records: list[dict], label: str) -> list[dict]:
    """The records with ``model`` set to ``label`` and their keys to match (``core.records.record_key``)."""
    out = []
    for rec in records:
        rec = dict(rec)
        rec["key"] = f"{label}|{rec['key'].split('|', 1)[1]}"
        rec["model"] = label
        out.append(rec)
    return out
