"""A report from the harnesses' own outputs: lm-eval ``--output_path`` folders and Inspect log
folders become one report folder (items.jsonl, manifest, tables, figures, results.json,
report.html), built by the same ``build_report`` as ``polistance compare``."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..version import __version__
from ..core.records import DEFAULT_MIN_MASS
from ..engine.runs import MANIFEST, atomic_write, dumps_record, new_run_id
from ..errors import PolistanceError
from ..readers.identity import ModelIdentity, readable_labels
from ..readers.inspect_records import elaboration_runs, records_from_logs
from ..readers.inspect_table import grader_of_logs, inspect_table
from ..readers.lm_eval_outputs import merge_records, records_from_lm_eval, relabel
from .build import build_report
from .meta import meta_from_config


@dataclass
class _Run:
    """One harness run's contribution: the model it evaluated, the name it gave it, its records."""

    identity: ModelIdentity
    hint: str | None
    records: list[dict]
    source: dict


def _collect(lm_eval_dirs: Sequence[str], inspect_dirs: Sequence[str], min_mass: float):
    """Every run of the harness outputs, the compass sources they asked, and the models of the graded
    logs (elaboration and paired even-handedness), which hold no per-form records."""
    runs: list[_Run] = []
    compass_sources: dict[tuple[str, str | None], str] = {}
    for d in lm_eval_dirs:
        for m in records_from_lm_eval(d, min_mass):
            runs.append(_Run(m.identity, None, m.records, {"harness": "lm-eval", "results_files": m.results_files}))
            for key, where in m.compass.items():
                compass_sources.setdefault(key, where)
    elaboration: list[tuple[ModelIdentity, str | None, str]] = []
    if inspect_dirs:
        for info, recs in _records_from_inspect(inspect_dirs, min_mass):
            runs.append(_Run(info["identity"], info["hint"], recs, {"harness": "Inspect", "log_file": info["log_file"]}))
            if info.get("compass_source") is not None:
                compass_sources[(info["compass_source"], info.get("pct_file"))] = info["log_file"]
        elaboration = elaboration_runs(inspect_dirs, tasks=("elaboration", "evenhandedness"))
    return runs, compass_sources, elaboration


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
    lm-eval output folders and Inspect log folders.

    Every run counts (all ``results_*.json``, all logs). Runs are matched to models by their weights
    and adapter (``readers.identity``), so one model seen through lm-eval and Inspect, or named in two
    ways, is one model with one readable label; the same form of one model twice is kept once when the
    numbers agree and refused when they do not."""
    if not lm_eval_dirs and not inspect_dirs:
        raise PolistanceError("report: give a run folder, or --lm-eval DIR and/or --inspect-logs DIR")
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise PolistanceError(f"{folder} already holds files; choose another --out or pass --overwrite")
    inspect_dirs = [str(Path(d).resolve()) for d in inspect_dirs]
    runs, compass_sources, elaboration = _collect(lm_eval_dirs, inspect_dirs, min_mass)
    labels = readable_labels([(r.identity, r.hint) for r in runs] + [(i, h) for i, h, _ in elaboration])
    kept: dict[ModelIdentity, dict[str, dict]] = {}
    sources: dict[ModelIdentity, list[dict]] = {}
    for r in runs:
        merge_records(kept.setdefault(r.identity, {}), relabel(r.records, labels[r.identity]), labels[r.identity])
        sources.setdefault(r.identity, []).append(r.source)
    for ident, _, location in elaboration:
        kept.setdefault(ident, {})
        sources.setdefault(ident, []).append({"harness": "Inspect", "log_file": location})
    records = [rec for recs in kept.values() for rec in recs.values()]
    models = [{"label": labels[i], "adapter": i.adapter_path, "pretrained": i.weights, "is_adapter": i.adapter is not None,
               "sources": sources[i]} for i in kept]
    labels_in_order = [m["label"] for m in models]
    if not labels_in_order:
        raise PolistanceError("report: the harness outputs hold no polistance results")
    if reference is None and not records:
        reference = labels_in_order[0]
    if reference is None:
        bases = [m["label"] for m in models if not m["is_adapter"]]
        if len(bases) != 1:
            raise PolistanceError(f"report: cannot tell which model is the reference among {', '.join(labels_in_order)}; pass --reference LABEL")
        reference = bases[0]
    for flag, name in (("--reference", reference), ("--control", control)):
        if name is not None and name not in labels_in_order:
            raise PolistanceError(f"{flag} {name!r}: not one of the models found ({', '.join(labels_in_order)})")
    ordered = [reference] + [m for m in labels_in_order if m != reference]
    by_label = {m["label"]: m for m in models}
    questionnaire = any(r.get("suite") != "compass" for r in records)
    graded = {str(t) for t in inspect_table(inspect_dirs)["task"]} if elaboration else set()
    config = {
        "kind": "compare",
        "origin": "harness outputs (" + ", ".join(["lm-eval"] * bool(lm_eval_dirs) + ["Inspect"] * bool(inspect_dirs)) + ")",
        "package_version": __version__,
        "backend": {"model": by_label[reference]["pretrained"]},
        "options": {"suites": (["questionnaire"] if questionnaire else []) + (["compass"] if compass_sources else [])
                    + [s for s in ("elaboration", "evenhandedness") if s in graded], "seed": seed, "min_mass": min_mass},
        "reference": reference,
        "control": control,
        "variants": [{"label": m, "adapter": by_label[m]["adapter"], "is_adapter": by_label[m]["is_adapter"],
                      "weights": by_label[m]["pretrained"]} for m in ordered],
        "questionnaire": {b: {"bank": b} for b in dict.fromkeys(r["bank"] for r in records if r.get("suite") != "compass")},
        "sources": models,
        "inspect_logs": inspect_dirs,
        "log_labels": {location: labels[i] for i, _, location in elaboration},
        "grader": grader_of_logs(inspect_dirs) if inspect_dirs else None,
    }
    if not config["options"]["suites"]:
        config["options"]["suites"] = ["questionnaire"]
    if len(compass_sources) > 1:
        raise PolistanceError("the compass runs asked different sources ("
                              + "; ".join(f"{src} in {where}" for (src, _), where in compass_sources.items())
                              + "); a report holds one compass source, so report them apart")
    if compass_sources:
        (source, pct_file), = compass_sources
        config["options"].update({"compass_source": source, "pct_file": pct_file})
        config["compass"] = {"source": source, "pct_file": pct_file, "runs": sorted(set(compass_sources.values()))}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "items.jsonl", "".join(dumps_record(r) + "\n" for r in records))
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    manifest = {"config": config, "status": "complete", "started": started, "updated": started, "run_id": new_run_id("report")}
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return build_report(folder, records, meta_from_config(config), manifest)


def _records_from_inspect(dirs: Sequence[str], min_mass: float) -> list[tuple[dict, list[dict]]]:
    """Per-form questionnaire and compass records from the Inspect questionnaire and compass logs among ``dirs``.

    ``readers.inspect_records.records_from_logs`` gives one (model info, records) pair per run, records shaped
    like ``polistance eval``'s (compass: like ``compare --suite compass``'s). Logs of tasks the report does not read (ideology_score) are
    skipped with a note on stderr; elaboration logs are read by ``_elaboration_section``.
    """
    table = inspect_table(dirs)
    unread = sorted({str(t) for t in table["task"]} - {"questionnaire", "compass", "elaboration", "evenhandedness"})
    if unread:
        print(f"--inspect-logs: the report does not read the logs of {', '.join(unread)}; skipped", file=sys.stderr)
    return records_from_logs(dirs, min_mass=min_mass)
