"""Side-by-side comparison of a base model and its adapters: one loaded base, one run folder, one report.

``run_compare`` loads nothing itself: it takes a backend (a ``LocalBackend`` with the base loaded
once, or an ``ApiBackend`` whose adapters are model names on the same server), adds each adapter
to it, evaluates base + adapters on the chosen suites through the same scoring
loop ``polistance eval`` and ``polistance compass`` use (``engine.loop.score_forms``), and writes
``runs/NAME/``:

- ``items.jsonl`` (every per-form record, tagged with its ``suite``), ``manifest.json``;
- ``tables/*.csv`` (tidy tables: shifts, entropy, control-adjusted, stability, health, ...);
- ``results.json`` (everything machine-readable, plus each model in lm-eval's results layout)
  and ``lm_eval/<model>/results_<time>.json`` (one lm-eval results file per model);
- ``figures/*.png`` and ``report.html``.

The report is ``report.build.build_report``'s (``polistance report`` rebuilds it from the records).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from ..version import __version__
from ..banks import load_bank
from ..core.records import DEFAULT_MIN_MASS
from ..engine.device import Placement
from ..engine.loop import run_config, run_order, score_forms, settle_batch_size
from ..engine.prompt_checks import check_formset
from ..engine.runs import RunWriter
from ..engine.variants import REFERENCE, load_variants
from ..errors import PolistanceError
from ..instruments.compass import CompassForms, build_forms, load_source
from ..core.label_orders import check_orders
from ..instruments.elaboration import CATEGORIES, FOLLOW_UP
from ..instruments.questionnaire import QuestionnaireForms, bank_forms, directions_for
from ..report.build import rebuild_report
from .graders import grader_backends, unforced_grader_reasons, warning_line

SUITES = ("questionnaire", "compass", "elaboration")
DEFAULT_BANKS = ("terry9", "topics")


@dataclass(frozen=True)
class CompareOptions:
    """What to evaluate and how (everything except the models themselves)."""

    suites: tuple[str, ...] = ("questionnaire",)
    banks: tuple[str, ...] = DEFAULT_BANKS
    control: str | None = None
    topics: tuple[str, ...] | None = None
    paraphrases: str = "all"
    directions: str = "auto"
    batch_size: int | str | None = None
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
    graders: tuple[str, ...] = ()
    grader_orders: int = 2
    compass_unforced: bool = False
    unforced_samples: int = 1
    grader_api_model: str | None = None
    grader_tokenizer: str | None = None
    placement: Placement = field(default_factory=Placement)
    limit: int | None = None  # first N items of every bank and compass source (smoke runs)


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

    @property
    def retrying(self) -> set[str]:
        return self.writer.retrying

    def append(self, record: dict) -> None:
        self.writer.append({**record, "suite": self.suite})


def check_inputs(options: CompareOptions) -> None:
    """Load every bank and source the options name and check the topics, so that a bad path or name
    is reported before any model loads (``run_compare`` builds the same plans again, cheaply)."""
    suites = parse_suites(options.suites)
    if "questionnaire" in suites:
        _questionnaire_plan(options, log=lambda m: None)
    if "compass" in suites or options.compass_unforced:
        _compass_plan(options)
    if "elaboration" in suites:
        _elaboration_plan(options)
        check_orders(len(CATEGORIES), options.grader_orders, "--grader-orders")
    if options.compass_unforced:
        _unforced_options(options)


def _questionnaire_plan(options: CompareOptions, log: Callable[[str], None] = _log) -> list[QuestionnaireForms]:
    """The form set of every bank to ask, validating topics against the banks."""
    plan, known = [], set()
    for name in options.banks:
        bank = load_bank(name)
        known |= set(bank.topics)
        topics = [t for t in options.topics if t in bank.topics] if options.topics else None
        if options.topics and not topics:
            log(f"bank {bank.name}: none of the --topics, skipped")
            continue
        forms = bank_forms(bank, options.paraphrases, directions_for(bank, options.directions), topics, options.limit)
        if not forms:
            raise PolistanceError(f"bank {bank.name} has no rated items to ask")
        plan.append(QuestionnaireForms(bank, tuple(forms)))
    unknown = sorted(set(options.topics or ()) - known)
    if unknown:
        raise PolistanceError(f"--topics: {', '.join(unknown)} in none of the banks {', '.join(options.banks)} (topics: {', '.join(sorted(known))})")
    return plan


def _compass_plan(options: CompareOptions) -> CompassForms:
    source = load_source(options.compass_source, options.pct_file)
    return CompassForms(source, tuple(build_forms(source, options.compass_paraphrases, options.compass_orders, options.compass_labels,
                                               options.limit)))


def _elaboration_plan(options: CompareOptions):
    """(bank, forms) the elaboration targets come from: each rated item once, first wording, normal scale."""
    bank = load_bank(options.elaboration_bank)
    topics = [t for t in options.topics if t in bank.topics] if options.topics else None
    forms = bank_forms(bank, "first", ("normal",), topics, options.limit)
    if not forms:
        raise PolistanceError(f"--elaboration-bank {bank.name}: no rated items to ask" + (" in --topics" if topics is not None else ""))
    return bank, forms


def _unforced_options(options: CompareOptions):
    """The unforced compass settings: the first --grader (default the base model) in --grader-orders orders."""
    from .unforced import UnforcedOptions

    return UnforcedOptions(samples=options.unforced_samples, max_new_tokens=options.max_new_tokens,
                           grader=options.graders[0] if options.graders else None, grader_orders=options.grader_orders).check()


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
    options = options or CompareOptions()
    names = [n for n, _ in adapters]
    if options.control and options.control not in names:
        raise PolistanceError(f"--control {options.control!r}: not one of the adapters ({', '.join(names) or 'none given'})")
    suites = parse_suites(options.suites)
    if options.compass_unforced and "compass" not in suites:
        suites = (*suites, "compass")  # the unforced answers are compared with the forced ones
        log("--compass-unforced: adding the compass suite (the forced answers to compare with)")
    unforced = _unforced_options(options) if options.compass_unforced else None
    plan = _questionnaire_plan(options) if "questionnaire" in suites else []
    compass = _compass_plan(options) if "compass" in suites else None
    elaboration = _elaboration_plan(options) if "elaboration" in suites else None
    folder = Path(out)
    for fs in plan + [compass] * bool(compass):
        check_formset(backend, fs)
    prompts = [fs.prompt(f) for fs in plan + [compass] * bool(compass) for f in fs.forms]
    if elaboration:
        prompts += [f.prompt() for f in elaboration[1]]
    options = replace(options, batch_size=settle_batch_size(
        backend, options.batch_size, prompts, folder=folder, resume=resume,
        recorded=lambda c: c.get("options", {}).get("batch_size"), extra_tokens=options.max_new_tokens if elaboration else 0))
    if elaboration:
        check_orders(len(CATEGORIES), options.grader_orders, "--grader-orders")
    graders, grader_info = grader_backends(backend, options) if elaboration else (None, None)
    for what, reasons in (("the elaboration replies", grader_info["weak_reasons"] if grader_info else []),
                          ("the open compass answers", unforced_grader_reasons(backend, unforced.grader) if unforced else [])):
        line = warning_line(reasons, what)
        if line:
            log(line)
    t0 = time.perf_counter()
    variants = load_variants(backend, adapters, flag="--adapters")
    timings = {"load_adapters_s": round(time.perf_counter() - t0, 3)}

    describe = backend.describe()
    config = {
        "kind": "compare",
        "package_version": __version__,
        "backend": describe,
        "options": {**asdict(options), "suites": list(suites)},
        "reference": REFERENCE,
        "control": options.control,
        "variants": [{"label": v.label, "adapter": v.adapter_path, **({"served_model": v.served_model} if v.served_model else {})}
                     for v in variants],
        "questionnaire": {fs.scope: run_config(describe, fs, variants, options.seed, options.min_mass, options.batch_size) for fs in plan},
    }
    if compass:
        config["compass"] = run_config(describe, compass, variants, options.seed, options.min_mass, options.batch_size,
                                       n_resamples=options.compass_resamples)
    if unforced:
        config["compass_unforced"] = asdict(unforced)
    if elaboration:
        ebank, eforms = elaboration
        config["elaboration"] = {"bank": ebank.name, "bank_sha256": ebank.sha256, "forms": len(eforms), "samples": options.samples,
                                 "max_new_tokens": options.max_new_tokens, "temperature": 1.0, "radical": options.radical,
                                 "normal": options.normal, "follow_up": FOLLOW_UP}
        config["grader"] = grader_info
    config = json.loads(json.dumps(config))  # the form it has when read back on --resume (tuples -> lists)
    writer = RunWriter(folder, config, resume=resume, overwrite=overwrite)
    log(f"compare: {len(variants)} models ({', '.join(v.label for v in variants)}) on {', '.join(suites)} -> {folder}")
    counts: dict[str, dict] = {}
    try:
        for suite, fs in [("questionnaire", fs) for fs in plan] + [("compass", compass)] * bool(compass):
            log(f"{suite} {fs.scope}: {len(fs.forms)} forms x {len(variants)} models")
            t = time.perf_counter()
            counts[f"{suite}:{fs.scope}"] = score_forms(
                backend, fs, variants, SuiteWriter(writer, suite), batch_size=options.batch_size,
                min_mass=options.min_mass, progress=progress, desc=suite,
            )
            timings[f"{suite}:{fs.scope}_s"] = round(time.perf_counter() - t, 3)
        if unforced:
            from .unforced import run_unforced

            log(f"compass unforced: {min(len(compass.source), options.limit or len(compass.source))} propositions x {unforced.samples} replies x {len(variants)} models")
            counts["compass_unforced"], timings["compass_unforced_s"] = run_unforced(
                backend, compass.source, variants, SuiteWriter(writer, "compass_unforced"), unforced,
                batch_size=options.batch_size, seed=options.seed, min_mass=options.min_mass, progress=progress,
                limit=options.limit)
        if elaboration:
            counts["elaboration"], timings["elaboration_s"], generated = _run_elaboration(
                backend, graders, elaboration, variants, writer, options, progress, log)
            counts["elaboration"]["generated_tokens"] = generated
    except BaseException as e:
        writer.abandon(e)
        raise
    records = writer.finish_records([k for fs in plan + [compass] * bool(compass) for k in run_order(fs, variants)])
    failed = sum(r.get("status") == "failed" for r in records)
    status = "complete" if failed == 0 else "incomplete"
    writer.write_manifest(status=status, extra={"counts": counts, "timings": timings})
    log("building the report")
    t = time.perf_counter()
    rebuild_report(folder)
    timings["report_s"] = round(time.perf_counter() - t, 3)
    writer.write_manifest(status=status, extra={"counts": counts, "timings": timings})
    return folder


def _run_elaboration(backend, graders, plan, variants, writer, options: CompareOptions, progress: bool, log):
    """Choose targets from each model's answers, then sample and grade the explanations."""
    from ..engine.elaborate import evaluate_elaboration, plan_targets, target_distributions

    bank, forms = plan
    t = time.perf_counter()
    dists = target_distributions(backend, forms, variants)
    targets = plan_targets(forms, dists[REFERENCE], {v.label: dists[v.label] for v in variants if v.label != REFERENCE},
                           REFERENCE, options.radical, options.normal)
    n = sum(len(v) for v in targets.values())
    log(f"elaboration {bank.name}: {n} targets x {options.samples} replies "
        f"({', '.join(f'{k}: {len(v)}' for k, v in targets.items())}), graded by {' and '.join(n for n, _ in graders)} "
        f"in {options.grader_orders} label order(s)")
    stats: dict = {}
    counts = evaluate_elaboration(
        backend, targets, variants, SuiteWriter(writer, "elaboration"), graders=graders, grader_orders=options.grader_orders,
        samples=options.samples,
        max_new_tokens=options.max_new_tokens, batch_size=options.batch_size, seed=options.seed,
        bank=bank.name, progress=progress, stats=stats, min_mass=options.min_mass,
    )
    return counts, round(time.perf_counter() - t, 3), stats.get("generated_tokens", 0)

