"""Side-by-side comparison of a base model and its adapters: one loaded base, one run folder, one report.

``run_compare`` loads nothing itself: it takes a ``LocalBackend`` (the base, loaded once), loads
each adapter next to it, evaluates base + adapters on the chosen suites through the same
functions ``polistance eval`` / ``polistance compass`` use (``evaluate_questionnaire``,
``compass.evaluate_compass``), and writes ``runs/NAME/``:

- ``items.jsonl`` (every per-form record, tagged with its ``suite``), ``manifest.json``;
- ``tables/*.csv`` (tidy tables: shifts, entropy, control-adjusted, stability, health, ...);
- ``results.json`` (everything machine-readable, plus each model in lm-eval's results layout)
  and ``lm_eval/<model>/results_<time>.json`` (one lm-eval results file per model);
- ``figures/*.png`` and ``report.html``.

``rebuild_report`` redoes everything after ``items.jsonl`` from the saved records, and
``report_from_harness`` builds the same folder from lm-eval ``--output_path --log_samples`` runs.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Sequence

from . import __version__
from .elaboration import FOLLOW_UP
from .errors import PolistanceError
from .questionnaire import DEFAULT_MIN_MASS

SUITES = ("questionnaire", "compass", "elaboration")
DEFAULT_BANKS = ("terry9", "topics")
REFERENCE = "base"


@dataclass(frozen=True)
class CompareOptions:
    """What to evaluate and how (everything except the models themselves)."""

    suites: tuple[str, ...] = ("questionnaire",)
    banks: tuple[str, ...] = DEFAULT_BANKS
    control: str | None = None
    topics: tuple[str, ...] | None = None
    paraphrases: str = "all"
    directions: str = "auto"
    batch_size: int = 16
    min_mass: float = DEFAULT_MIN_MASS
    seed: int = 0
    compass_source: str = "compass"
    pct_file: str | None = None
    compass_resamples: int = 2000
    compass_paraphrases: str = "all"
    compass_orders: tuple[str, ...] = ("normal", "reversed")
    compass_labels: tuple[str, ...] = ("numbers", "words")
    elaboration_bank: str = "terry9"
    samples: int = 5
    max_new_tokens: int = 96
    radical: int | None = 3
    normal: int | None = None
    grader: str | None = None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- suites --------------------------------------------------------------------------------------
def parse_suites(value: str | Sequence[str]) -> tuple[str, ...]:
    """Validate a suite list ("questionnaire,compass") and check each suite is available in this build."""
    items = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if s.strip()]
    if not items:
        raise PolistanceError("--suite: give at least one of " + ", ".join(SUITES))
    for s in items:
        if s not in SUITES:
            raise PolistanceError(f"--suite: unknown suite {s!r} (known: {', '.join(SUITES)})")
    return tuple(dict.fromkeys(items))


class SuiteWriter:
    """A ``RunWriter`` seen through one suite: records appended here carry ``"suite": name``."""

    def __init__(self, writer, suite: str):
        self.writer = writer
        self.suite = suite

    @property
    def done(self) -> set[str]:
        return self.writer.done

    def append(self, record: dict) -> None:
        self.writer.append({**record, "suite": self.suite})


def _questionnaire_plan(options: CompareOptions):
    """(bank, forms) per bank to ask, validating topics against the banks."""
    from .banks import load_bank
    from .cli import directions_for
    from .questionnaire import bank_forms

    plan, known = [], set()
    for name in options.banks:
        bank = load_bank(name)
        known |= set(bank.topics)
        topics = [t for t in options.topics if t in bank.topics] if options.topics else None
        if options.topics and not topics:
            _log(f"bank {bank.name}: none of the --topics, skipped")
            continue
        forms = bank_forms(bank, options.paraphrases, directions_for(bank, options.directions), topics)
        if not forms:
            raise PolistanceError(f"bank {bank.name} has no rated items to ask")
        plan.append((bank, forms))
    unknown = sorted(set(options.topics or ()) - known)
    if unknown:
        raise PolistanceError(f"--topics: {', '.join(unknown)} in none of the banks {', '.join(options.banks)} (topics: {', '.join(sorted(known))})")
    return plan


def _compass_plan(options: CompareOptions):
    from .compass import build_forms, load_source

    source = load_source(options.compass_source, options.pct_file)
    return source, build_forms(source, options.compass_paraphrases, options.compass_orders, options.compass_labels)


def _elaboration_plan(options: CompareOptions):
    """(bank, forms) the elaboration targets come from: each rated item once, first wording, normal scale."""
    from .banks import load_bank
    from .questionnaire import bank_forms

    bank = load_bank(options.elaboration_bank)
    topics = [t for t in options.topics if t in bank.topics] if options.topics else None
    forms = bank_forms(bank, "first", ("normal",), topics)
    if not forms:
        raise PolistanceError(f"--elaboration-bank {bank.name}: no rated items to ask" + (" in --topics" if topics is not None else ""))
    return bank, forms


def _grader(backend, options: CompareOptions):
    """(grader backend or None = the base model itself, description for the report's banner)."""
    describe = backend.describe()
    if options.grader is None:
        return None, {"model": f"{describe['model']} (the base model, next-token probabilities of the category numbers)",
                      "weak": True, "source": "polistance compare"}
    from . import models
    from .backends.hf import LocalBackend

    grader = LocalBackend(models.resolve(options.grader), batch_size=options.batch_size)
    mine = grader.describe()
    return grader, {"model": f"{mine['model']} (next-token probabilities of the category numbers)",
                    "weak": mine.get("weights_sha256") == describe.get("weights_sha256"), "source": "polistance compare",
                    "weights_sha256": mine.get("weights_sha256")}


def _variants(backend, adapters: Sequence[tuple[str, str]]):
    from .evaluate import Variant

    variants = [Variant(REFERENCE)]
    for name, path in adapters:
        if name == REFERENCE:
            raise PolistanceError(f"--adapters: the name {REFERENCE!r} is reserved for the base model")
        backend.load_adapter(name, path)
        variants.append(Variant(name, name, str(Path(path).resolve())))
    return variants


# ---- the run -------------------------------------------------------------------------------------
def run_compare(
    backend,
    adapters: Sequence[tuple[str, str]],
    out: str | Path,
    options: CompareOptions | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = _log,
) -> Path:
    """Evaluate the base and every adapter on the chosen suites into ``out`` and write the report there."""
    from .evaluate import evaluate_questionnaire, run_config
    from .runs import RunWriter

    options = options or CompareOptions()
    names = [n for n, _ in adapters]
    if len(set(names)) != len(names):
        raise PolistanceError(f"--adapters: duplicate adapter names in {', '.join(names)}")
    if options.control and options.control not in names:
        raise PolistanceError(f"--control {options.control!r}: not one of the adapters ({', '.join(names) or 'none given'})")
    suites = parse_suites(options.suites)
    plan = _questionnaire_plan(options) if "questionnaire" in suites else []
    compass = _compass_plan(options) if "compass" in suites else None
    elaboration = _elaboration_plan(options) if "elaboration" in suites else None
    grader, grader_info = _grader(backend, options) if elaboration else (None, None)
    t0 = time.perf_counter()
    variants = _variants(backend, adapters)
    timings = {"load_adapters_s": round(time.perf_counter() - t0, 3)}

    describe = backend.describe()
    config = {
        "kind": "compare",
        "package_version": __version__,
        "backend": describe,
        "options": {**asdict(options), "suites": list(suites)},
        "reference": REFERENCE,
        "control": options.control,
        "variants": [{"label": v.label, "adapter": v.adapter_path} for v in variants],
        "questionnaire": {bank.name: run_config(describe, bank, variants, forms, options.seed, options.min_mass, options.batch_size) for bank, forms in plan},
    }
    if compass:
        from .compass import compass_run_config

        source, cforms = compass
        config["compass"] = compass_run_config(describe, source, variants, cforms, options.seed, options.min_mass, options.compass_resamples)
    if elaboration:
        ebank, eforms = elaboration
        config["elaboration"] = {"bank": ebank.name, "bank_sha256": ebank.sha256, "forms": len(eforms), "samples": options.samples,
                                 "max_new_tokens": options.max_new_tokens, "temperature": 1.0, "radical": options.radical,
                                 "normal": options.normal, "follow_up": FOLLOW_UP}
        config["grader"] = grader_info
    config = json.loads(json.dumps(config))  # the form it has when read back on --resume (tuples -> lists)
    folder = Path(out)
    writer = RunWriter(folder, config, resume=resume, overwrite=overwrite)
    log(f"compare: {len(variants)} models ({', '.join(v.label for v in variants)}) on {', '.join(suites)} -> {folder}")
    counts: dict[str, dict] = {}
    try:
        for bank, forms in plan:
            log(f"questionnaire {bank.name}: {len(forms)} forms x {len(variants)} models")
            t = time.perf_counter()
            counts[f"questionnaire:{bank.name}"] = evaluate_questionnaire(
                backend, bank, forms, variants, SuiteWriter(writer, "questionnaire"),
                batch_size=options.batch_size, min_mass=options.min_mass, progress=progress,
            )
            timings[f"questionnaire:{bank.name}_s"] = round(time.perf_counter() - t, 3)
        if compass:
            from .compass import evaluate_compass

            source, cforms = compass
            log(f"compass {source.name}: {len(cforms)} forms x {len(variants)} models")
            t = time.perf_counter()
            counts[f"compass:{source.name}"] = evaluate_compass(
                backend, source, cforms, variants, SuiteWriter(writer, "compass"),
                batch_size=options.batch_size, min_mass=options.min_mass, progress=progress,
            )
            timings[f"compass:{source.name}_s"] = round(time.perf_counter() - t, 3)
        if elaboration:
            counts["elaboration"], timings["elaboration_s"], generated = _run_elaboration(
                backend, grader, elaboration, variants, writer, options, progress, log)
            counts["elaboration"]["generated_tokens"] = generated
    finally:
        writer.close()
    failed = sum(c.get("failed", 0) for c in counts.values())
    status = "complete" if failed == 0 else "incomplete"
    writer.write_manifest(status=status, extra={"counts": counts, "timings": timings})
    log("building the report")
    t = time.perf_counter()
    rebuild_report(folder)
    timings["report_s"] = round(time.perf_counter() - t, 3)
    writer.write_manifest(status=status, extra={"counts": counts, "timings": timings})
    return folder


def _run_elaboration(backend, grader, plan, variants, writer, options: CompareOptions, progress: bool, log):
    """Choose targets from each model's answers, then sample and grade the explanations."""
    from .elaboration_run import evaluate_elaboration, plan_targets, target_distributions

    bank, forms = plan
    t = time.perf_counter()
    dists = target_distributions(backend, forms, variants)
    targets = plan_targets(forms, dists[REFERENCE], {v.label: dists[v.label] for v in variants if v.label != REFERENCE},
                           REFERENCE, options.radical, options.normal)
    n = sum(len(v) for v in targets.values())
    log(f"elaboration {bank.name}: {n} targets x {options.samples} replies "
        f"({', '.join(f'{k}: {len(v)}' for k, v in targets.items())}), graded by {'the base model' if grader is None else options.grader}")
    stats: dict = {}
    counts = evaluate_elaboration(
        backend, targets, variants, SuiteWriter(writer, "elaboration"), grader=grader, samples=options.samples,
        max_new_tokens=options.max_new_tokens, batch_size=options.batch_size, seed=options.seed,
        bank=bank.name, progress=progress, stats=stats,
    )
    return counts, round(time.perf_counter() - t, 3), stats.get("generated_tokens", 0)


# ---- the report ----------------------------------------------------------------------------------
def meta_from_config(config: dict) -> dict:
    """What the report needs to know about a run: models in order, reference, control, suites, sources."""
    opts = config.get("options", {})
    return {
        "kind": config.get("kind", "compare"),
        "origin": config.get("origin", "polistance compare"),
        "model": (config.get("backend") or {}).get("model"),
        "reference": config.get("reference", REFERENCE),
        "control": config.get("control"),
        "models": [v["label"] for v in config.get("variants", [])],
        "adapters": {v["label"]: v.get("adapter") for v in config.get("variants", [])},
        "suites": opts.get("suites", ["questionnaire"]),
        "banks": list((config.get("questionnaire") or {}).keys()),
        "seed": opts.get("seed", 0),
        "min_mass": opts.get("min_mass", DEFAULT_MIN_MASS),
        "compass_source": opts.get("compass_source", "compass") if config.get("compass") else None,
        "pct_file": opts.get("pct_file"),
        "compass_resamples": opts.get("compass_resamples", 2000),
        "grader": config.get("grader"),
        "inspect_logs": config.get("inspect_logs") or [],
    }


def _json_safe(obj):
    """NaN/inf -> None, numpy scalars -> Python, recursively (strict JSON for results.json)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _item_texts(banks: Sequence[str]) -> dict[tuple[str, str], str]:
    """First wording of every item of the banks that can still be loaded (figure titles)."""
    from .banks import load_bank

    out = {}
    for name in banks:
        try:
            bank = load_bank(name)
        except PolistanceError:
            continue
        for it in bank:
            out[(bank.name, it.id)] = it.wordings[0]
    return out


def _compass_section(records: Sequence[dict], meta: dict, folder: Path) -> dict | None:
    """Per-model compass summaries (the compass module's own), its figure and table."""
    crecs = [r for r in records if r.get("suite") == "compass"]
    if not crecs:
        return None
    from .compass import load_source, proposition_rows, summarise_model, summary_rows
    from .report.compass_plot import plot_compass

    source = load_source(meta.get("compass_source") or "compass", meta.get("pct_file"))
    summaries = []
    for label in meta["models"]:
        mine = [r for r in crecs if r["model"] == label]
        if mine:
            summaries.append(summarise_model(mine, source, n_resamples=meta.get("compass_resamples", 2000), seed=meta.get("seed", 0)))
    png = plot_compass(summaries, folder / "figures" / "compass.png", title=f"Political compass ({source.name}, {len(source)} propositions)")
    return {"source": source.name, "summaries": summaries, "rows": summary_rows(summaries),
            "propositions": proposition_rows(crecs, source), "figure": png}


def _elaboration_section(records: Sequence[dict], meta: dict):
    """Elaboration categories per model: from elaboration records of the run and from Inspect logs."""
    import pandas as pd

    from .report import tables

    parts = [tables.elaboration_table(records)]
    if meta.get("inspect_logs"):
        parts.append(tables.elaboration_from_logs(_inspect_table(meta["inspect_logs"])))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


def _inspect_table(dirs: Sequence[str]):
    """``inspect_logs.logs_table`` over the folders (each must still exist)."""
    from .inspect_logs import logs_table

    for d in dirs:
        if not Path(d).exists():
            raise PolistanceError(f"Inspect logs {d}: no such file or folder (the report reads them again on rebuild)")
    return logs_table(*dirs)


def grader_of_logs(dirs: Sequence[str]) -> dict | None:
    """Who graded the elaboration logs: the ``grader`` model role, or the model under test when none was
    given. ``weak`` is set when the grader is the evaluated model itself or shares its weights."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    graders, weak = [], False
    for d in dirs:
        files = list_eval_logs(str(d), descending=False) if Path(d).is_dir() else [str(d)]
        for f in files:
            spec = read_eval_log(f, header_only=True).eval
            if not spec.task.split("/")[-1].endswith("elaboration"):
                continue
            role = (spec.model_roles or {}).get("grader")
            role = role[0] if isinstance(role, list) else role
            if role is None:
                graders.append(f"{spec.model} (the model under test)")
                weak = True
                continue
            graders.append(role.model)
            mine = {str(v) for k, v in (spec.model_args or {}).items() if k in ("model_path", "tokenizer_path")}
            theirs = {str(v) for k, v in (role.args or {}).items() if k in ("model_path", "tokenizer_path")}
            weak = weak or role.model == spec.model or bool(mine & theirs)
    if not graders:
        return None
    return {"model": ", ".join(dict.fromkeys(graders)), "weak": weak, "source": "Inspect model roles"}


def build_report(folder: str | Path, records: Sequence[dict], meta: dict, manifest: dict | None = None) -> Path:
    """Tables, figures, results.json (+ lm-eval layout files) and report.html for a run's records."""
    import pandas as pd

    from .report import figures, html, tables
    from .runs import atomic_write

    folder = Path(folder)
    models = meta["models"]
    tabs = tables.all_tables(records, meta["reference"], models, meta.get("control"), meta.get("seed", 0))
    compass = _compass_section(records, meta, folder)
    if compass:
        tabs["compass"] = pd.DataFrame(compass["rows"])
        tabs["compass_propositions"] = pd.DataFrame(compass["propositions"])
    elaboration = _elaboration_section(records, meta)
    if elaboration is not None:
        tabs["elaboration"] = elaboration
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    for name, df in tabs.items():
        atomic_write(folder / "tables" / f"{name}.csv", df.to_csv(index=False))

    qdf = tables.questionnaire_frame(records)
    figs = figures.write_figures(
        folder / "figures", qdf, tabs, meta, _item_texts(meta.get("banks", [])),
        compass_figure=compass["figure"] if compass else None,
        compass_health=tables.compass_health(compass["summaries"]) if compass else None,
    )
    lm = tables.lm_eval_results(qdf, meta, date=(manifest or {}).get("started"))
    results = {
        "polistance_version": __version__,
        "kind": "polistance-compare",
        "meta": meta,
        "tables": {name: df.to_dict(orient="records") for name, df in tabs.items() if name != "items"},
        "compass": {"source": compass["source"], "summaries": compass["summaries"]} if compass else None,
        "lm_eval": lm,
    }
    atomic_write(folder / "results.json", json.dumps(_json_safe(results), indent=2, sort_keys=True, allow_nan=False) + "\n")
    stamp = str((manifest or {}).get("started") or "undated").replace(":", "-").replace("+00-00", "")
    for res in lm.values():
        sub = folder / "lm_eval" / res["model_name_sanitized"]
        atomic_write(sub / f"results_{stamp}.json", json.dumps(_json_safe(res), indent=2, allow_nan=False) + "\n")
    return html.write_report(folder, tabs, figs, meta, manifest, compass=compass,
                             elaboration=html.elaboration_context(elaboration, models) if elaboration is not None else None)


def _read_manifest(folder: Path) -> dict:
    from .runs import MANIFEST

    path = folder / MANIFEST
    if not path.is_file():
        raise PolistanceError(f"{folder}: no {MANIFEST} (not a polistance run folder)")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise PolistanceError(f"{path}: invalid JSON ({e})") from None


def rebuild_report(folder: str | Path) -> Path:
    """Rebuild tables, figures, results.json and report.html of a run folder from its saved records."""
    from .runs import read_records

    folder = Path(folder)
    manifest = _read_manifest(folder)
    config = manifest.get("config", {})
    records = read_records(folder)
    if config.get("kind") != "compare":
        config = _config_from_single_run(config, records)
    return build_report(folder, records, meta_from_config(config), manifest)


def _config_from_single_run(config: dict, records: Sequence[dict]) -> dict:
    """A compare-style config for a ``polistance eval`` run folder (one bank, base + adapters)."""
    if "bank" not in config:
        raise PolistanceError("this run folder was not made by `polistance compare` or `polistance eval`")
    variants = config.get("variants") or [{"label": m, "adapter": None} for m in dict.fromkeys(r["model"] for r in records)]
    return {
        "kind": "compare", "origin": "polistance eval", "backend": config.get("backend"),
        "options": {"suites": ["questionnaire"], "seed": config.get("seed", 0), "min_mass": config.get("min_mass", DEFAULT_MIN_MASS)},
        "reference": variants[0]["label"], "control": None, "variants": variants,
        "questionnaire": {config["bank"]: config},
    }


# ---- reports from the harnesses' own outputs -----------------------------------------------------
def _model_args(results: dict) -> dict:
    args = (results.get("config") or {}).get("model_args") or {}
    if isinstance(args, str):
        pairs = [a.split("=", 1) for a in args.split(",") if "=" in a]
        args = {k.strip(): v.strip() for k, v in pairs}
    return args


def _bank_of_task(task: str, topic: str) -> str:
    """lm-eval task name -> polistance bank name: polistance_terry9 -> terry9, polistance_topics_race -> topics."""
    name = task.removeprefix("polistance_")
    suffix = f"_{topic}"
    return name[: -len(suffix)] if topic and name.endswith(suffix) else name


def _latest(paths: list[Path]) -> Path:
    from lm_eval.utils import get_file_datetime

    return max(paths, key=lambda p: get_file_datetime(p.name))


def records_from_lm_eval(folder: str | Path, min_mass: float = DEFAULT_MIN_MASS) -> list[tuple[dict, list[dict]]]:
    """Polistance records from an lm-eval ``--output_path`` folder written with ``--log_samples``.

    Returns one (model info, records) pair per model folder. Each sample's ten per-digit
    log-likelihoods become the same distribution and per-form scores ``polistance eval`` records.
    """
    from .evaluate import Variant, base_record
    from .questionnaire import Form, score_record
    from .scoring import DIGITS, distribution_from_option_logprobs

    root = Path(folder)
    if not root.is_dir():
        raise PolistanceError(f"--lm-eval {folder}: not a folder")
    result_files = sorted(root.rglob("results_*.json"))
    if not result_files:
        raise PolistanceError(f"--lm-eval {folder}: no results_*.json inside (run lm_eval with --output_path DIR --log_samples)")
    out = []
    for model_dir in sorted({p.parent for p in result_files}):
        res_path = _latest([p for p in result_files if p.parent == model_dir])
        try:
            results = json.loads(res_path.read_text())
        except ValueError as e:
            raise PolistanceError(f"{res_path}: invalid JSON ({e})") from None
        args = _model_args(results)
        adapter = args.get("peft")
        pretrained = args.get("pretrained") or results.get("model_name") or model_dir.name
        label = Path(str(adapter or pretrained).rstrip("/")).name
        info = {"label": label, "adapter": adapter, "pretrained": pretrained, "results_file": str(res_path)}
        records = []
        tasks = [t for t in (results.get("configs") or {}) if t.startswith("polistance_")]
        for task in tasks:
            files = list(model_dir.glob(f"samples_{task}_*.jsonl"))
            if not files:
                raise PolistanceError(f"{model_dir}: no samples_{task}_*.jsonl (run lm_eval with --log_samples)")
            path = _latest(files)
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    sample = json.loads(line)
                    doc = sample["doc"]
                    form = Form(doc["item_id"], doc["topic"], doc["kind"], doc["keying"], int(doc["paraphrase"]), doc["direction"], doc["text"])
                    lls = [float(r[0]) for r in sample["filtered_resps"]]
                except (ValueError, KeyError, TypeError, IndexError) as e:
                    raise PolistanceError(f"{path}:{lineno}: not a polistance questionnaire sample ({type(e).__name__}: {e})") from None
                if len(lls) != len(DIGITS):
                    raise PolistanceError(f"{path}:{lineno}: expected {len(DIGITS)} per-digit log-likelihoods, got {len(lls)}")
                bank = SimpleNamespace(name=_bank_of_task(task, doc["topic"]))
                rec = base_record(Variant(label, label if adapter else None, adapter), bank, form, doc.get("prompt", ""))
                rec.update(score_record(form, distribution_from_option_logprobs(lls, DIGITS), min_mass))
                rec.update({"method": "exact", "suite": "questionnaire", "source_file": path.name})
                records.append(rec)
        out.append((info, records))
    return out


def report_from_harness(
    out: str | Path,
    lm_eval_dirs: Sequence[str] = (),
    inspect_dirs: Sequence[str] = (),
    reference: str | None = None,
    control: str | None = None,
    min_mass: float = DEFAULT_MIN_MASS,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Build a report folder (items.jsonl, manifest, tables, figures, results.json, report.html) from
    lm-eval output folders and Inspect log folders."""
    from .runs import MANIFEST, atomic_write, dumps_record, new_run_id

    if not lm_eval_dirs and not inspect_dirs:
        raise PolistanceError("report: give a run folder, or --lm-eval DIR and/or --inspect-logs DIR")
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise PolistanceError(f"{folder} already holds files; choose another --out or pass --overwrite")
    models: list[dict] = []
    records: list[dict] = []
    for d in lm_eval_dirs:
        for info, recs in records_from_lm_eval(d, min_mass):
            if info["label"] in {m["label"] for m in models}:
                raise PolistanceError(f"--lm-eval {d}: two runs are labelled {info['label']!r}; keep one model per label")
            models.append(info)
            records.extend(recs)
    inspect_dirs = [str(Path(d).resolve()) for d in inspect_dirs]
    compass_sources: dict[tuple[str, str | None], str] = {}
    if inspect_dirs:
        from .report.tables import elaboration_from_logs

        from_lm_eval = {m["label"] for m in models}
        for info, recs in _records_from_inspect(inspect_dirs, min_mass):
            if info.get("compass_source") is not None:
                compass_sources[(info["compass_source"], info.get("pct_file"))] = info["log_file"]
            elif info["label"] in from_lm_eval and recs:
                raise PolistanceError(f"--inspect-logs: questionnaire results labelled {info['label']!r} come from both lm-eval and "
                                      "Inspect; give each model's questionnaire from one harness (or label the runs apart)")
            if info["label"] not in {m["label"] for m in models}:
                models.append(info)
            records.extend(recs)
        elaboration_labels = list(dict.fromkeys(elaboration_from_logs(_inspect_table(inspect_dirs))["model"]))
        for label in elaboration_labels:
            if label not in {m["label"] for m in models}:
                models.append({"label": label, "adapter": None, "pretrained": None})
    labels = [m["label"] for m in models]
    if not labels:
        raise PolistanceError("report: the harness outputs hold no polistance results")
    if reference is None and not records:
        reference = labels[0]
    if reference is None:
        bases = [m["label"] for m in models if not m.get("adapter")]
        if len(bases) != 1:
            raise PolistanceError(f"report: cannot tell which model is the reference among {', '.join(labels)}; pass --reference LABEL")
        reference = bases[0]
    for flag, name in (("--reference", reference), ("--control", control)):
        if name is not None and name not in labels:
            raise PolistanceError(f"{flag} {name!r}: not one of the models found ({', '.join(labels)})")
    ordered = [reference] + [m for m in labels if m != reference]
    config = {
        "kind": "compare",
        "origin": "harness outputs (" + ", ".join(["lm-eval"] * bool(lm_eval_dirs) + ["Inspect"] * bool(inspect_dirs)) + ")",
        "package_version": __version__,
        "backend": {"model": next((m["pretrained"] for m in models if m["label"] == reference), None)},
        "options": {"suites": ["questionnaire"], "seed": seed, "min_mass": min_mass},
        "reference": reference,
        "control": control,
        "variants": [{"label": m, "adapter": next(x.get("adapter") for x in models if x["label"] == m)} for m in ordered],
        "questionnaire": {b: {"bank": b} for b in dict.fromkeys(r["bank"] for r in records if r.get("suite") != "compass")},
        "sources": [{k: v for k, v in m.items()} for m in models],
        "inspect_logs": inspect_dirs,
        "grader": grader_of_logs(inspect_dirs) if inspect_dirs else None,
    }
    if inspect_dirs:
        questionnaire = any(r.get("suite") != "compass" for r in records)
        config["options"]["suites"] = (["questionnaire"] if questionnaire else []) + (["compass"] if compass_sources else []) \
            + (["elaboration"] if elaboration_labels else [])
    if len(compass_sources) > 1:
        raise PolistanceError("--inspect-logs: the compass logs asked different sources ("
                              + "; ".join(f"{src} in {log}" for (src, _), log in compass_sources.items())
                              + "); a report holds one compass source, so report them apart")
    if compass_sources:
        (source, pct_file), = compass_sources
        config["options"].update({"compass_source": source, "pct_file": pct_file})
        config["compass"] = {"source": source, "pct_file": pct_file, "logs": sorted(set(compass_sources.values()))}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "items.jsonl", "".join(dumps_record(r) + "\n" for r in records))
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    manifest = {"config": config, "status": "complete", "started": started, "updated": started, "run_id": new_run_id("report")}
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return build_report(folder, records, meta_from_config(config), manifest)


def _records_from_inspect(dirs: Sequence[str], min_mass: float) -> list[tuple[dict, list[dict]]]:
    """Per-form questionnaire and compass records from the Inspect questionnaire and compass logs among ``dirs``.

    ``inspect_logs.records_from_logs`` gives one (model info, records) pair per run, records shaped
    like ``polistance eval``'s (compass: like ``compare --suite compass``'s). Logs of tasks the report does not read (ideology_score) are
    skipped with a note on stderr; elaboration logs are read by ``_elaboration_section``.
    """
    from .inspect_logs import records_from_logs

    table = _inspect_table(dirs)
    unread = sorted({str(t) for t in table["task"]} - {"questionnaire", "compass", "elaboration"})
    if unread:
        _log(f"--inspect-logs: the report does not read the logs of {', '.join(unread)}; skipped")
    return records_from_logs(dirs, min_mass=min_mass)
