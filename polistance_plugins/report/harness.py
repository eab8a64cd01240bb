"""A report from the harnesses' own outputs: lm-eval ``--output_path`` folders and Inspect log
folders become one report folder (items.jsonl, manifest, tables, figures, results.json,
report.html), built by the same ``build_report`` as ``polistance compare``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..core.records import DEFAULT_MIN_MASS
from ..engine.runs import MANIFEST, atomic_write, dumps_record, new_run_id
from ..errors import PolistanceError
from ..readers.inspect_records import records_from_logs
from ..readers.inspect_table import grader_of_logs, inspect_table
from ..readers.lm_eval_outputs import records_from_lm_eval
from .build import build_report
from .elaboration_tables import elaboration_from_logs
from .evenhandedness_section import evenhandedness_table
from .meta import meta_from_config


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
        table = inspect_table(inspect_dirs)
        elaboration_labels = list(dict.fromkeys(elaboration_from_logs(table)["model"]))
        paired_labels = list(dict.fromkeys(evenhandedness_table(table)["model"]))
        for label in elaboration_labels + paired_labels:
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
            + (["elaboration"] if elaboration_labels else []) + (["evenhandedness"] if paired_labels else [])
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

    ``readers.inspect_records.records_from_logs`` gives one (model info, records) pair per run, records shaped
    like ``polistance eval``'s (compass: like ``compare --suite compass``'s). Logs of tasks the report does not read (ideology_score) are
    skipped with a note on stderr; elaboration logs are read by ``_elaboration_section``.
    """
    table = inspect_table(dirs)
    unread = sorted({str(t) for t in table["task"]} - {"questionnaire", "compass", "elaboration", "evenhandedness"})
    if unread:
        print(f"--inspect-logs: the report does not read the logs of {', '.join(unread)}; skipped", file=sys.stderr)
    return records_from_logs(dirs, min_mass=min_mass)
