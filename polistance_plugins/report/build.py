"""A run folder's report from its records: tidy tables, figures, ``results.json`` (with each model in
lm-eval's results layout, also written as ``lm_eval/<model>/results_<time>.json``) and ``report.html``.

``build_report`` is called by ``polistance compare`` at the end of a run, by ``polistance report
RUN`` (``rebuild_report``, from the saved records) and by ``report_from_harness``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..version import __version__
from ..banks import load_bank
from ..core.records import json_safe
from ..engine.runs import atomic_write, read_records
from ..errors import PolistanceError
from ..instruments.compass import load_source
from ..instruments.compass_summary import proposition_rows, summarise_model, summary_rows
from ..readers.inspect_table import inspect_table
from .compass_plot import compass_title, plot_compass
from .elaboration_tables import elaboration_from_logs, elaboration_table
from .evenhandedness_section import evenhandedness_context, evenhandedness_table
from .grader_reliability import reliability_context, reliability_from_logs, reliability_table, verdict
from .meta import config_from_single_run, meta_from_config, read_manifest
from .trajectory_section import trajectory_section
from .unforced_section import unforced_section


def item_texts(banks: Sequence[str]) -> dict[tuple[str, str], str]:
    """First wording of every item of the banks that can still be loaded (figure titles)."""
    out = {}
    for name in banks:
        try:
            bank = load_bank(name)
        except PolistanceError:
            continue
        for it in bank:
            out[(bank.name, it.id)] = it.wordings[0]
    return out


def compass_section(records: Sequence[dict], meta: dict, folder: Path) -> dict | None:
    """Per-model compass summaries (the compass instrument's own), its figure and tables."""
    crecs = [r for r in records if r.get("suite") == "compass"]
    if not crecs:
        return None
    source = load_source(meta.get("compass_source") or "compass", meta.get("pct_file"))
    summaries = []
    for label in meta["models"]:
        mine = [r for r in crecs if r["model"] == label]
        if mine:
            summaries.append(summarise_model(mine, source, n_resamples=meta.get("compass_resamples", 2000), seed=meta.get("seed", 0)))
    png = plot_compass(summaries, folder / "figures" / "compass.png", title=compass_title(source))
    return {"source": source.name, "summaries": summaries, "rows": summary_rows(summaries),
            "propositions": proposition_rows(crecs, source), "figure": png}


def elaboration_section(records: Sequence[dict], meta: dict):
    """Elaboration categories per model: from elaboration records of the run and from Inspect logs."""
    import pandas as pd

    parts = [elaboration_table(records)]
    if meta.get("inspect_logs"):
        parts.append(elaboration_from_logs(inspect_table(meta["inspect_logs"]), meta.get("log_labels")))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


def reliability_section(records: Sequence[dict], meta: dict):
    """The elaboration grader's measured reliability (table, verdict), from the run's records and
    the Inspect elaboration logs; None when there are no graded replies."""
    parts = []
    if any(r.get("suite") == "elaboration" for r in records):
        parts.append(reliability_table(records))
    if meta.get("inspect_logs"):
        parts.append(reliability_from_logs(inspect_table(meta["inspect_logs"])))
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    import pandas as pd

    table = pd.concat(parts, ignore_index=True)
    return table, verdict(table)


def build_report(folder: str | Path, records: Sequence[dict], meta: dict, manifest: dict | None = None) -> Path:
    """Tables, figures, results.json (+ lm-eval layout files) and report.html for a run's records."""
    import pandas as pd

    from . import figures, html, lm_eval_export, tables
    from .frames import questionnaire_frame

    folder = Path(folder)
    models = meta["models"]
    tabs = tables.all_tables(records, meta["reference"], models, meta.get("control"), meta.get("seed", 0))
    compass = compass_section(records, meta, folder)
    if compass:
        tabs["compass"] = pd.DataFrame(compass["rows"])
        tabs["compass_propositions"] = pd.DataFrame(compass["propositions"])
    elaboration = elaboration_section(records, meta)
    reliability = reliability_section(records, meta) if elaboration is not None else None
    if elaboration is not None:
        elaboration = elaboration.assign(grader_reliable=reliability[1]["reliable"] if reliability else False)
        tabs["elaboration"] = elaboration
    if reliability is not None:
        tabs["grader_reliability"] = reliability[0]
    paired = evenhandedness_table(inspect_table(meta["inspect_logs"]), meta.get("log_labels")) if meta.get("inspect_logs") else None
    if paired is not None and len(paired):
        tabs["evenhandedness"] = paired
    unforced = unforced_section(records, meta)
    if unforced is not None:
        tabs["compass_unforced"] = unforced["table"]
        tabs["compass_unforced_propositions"] = unforced["propositions"]
    trajectories = trajectory_section(meta, folder / "figures")
    if trajectories is not None:
        tabs["trajectory"] = trajectories[0]
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    for name, df in tabs.items():
        atomic_write(folder / "tables" / f"{name}.csv", df.to_csv(index=False))

    qdf = questionnaire_frame(records)
    figs = figures.write_figures(
        folder / "figures", qdf, tabs, meta, item_texts(meta.get("banks", [])),
        compass_figure=compass["figure"] if compass else None,
        compass_health=tables.compass_health(compass["summaries"]) if compass else None,
    )
    figs += trajectories[1] if trajectories is not None else []
    lm = lm_eval_export.lm_eval_results(qdf, meta, date=(manifest or {}).get("started"))
    results = {
        "polistance_version": __version__,
        "kind": "polistance-compare",
        "meta": meta,
        "tables": {name: df.to_dict(orient="records") for name, df in tabs.items() if name != "items"},
        "compass": {"source": compass["source"], "summaries": compass["summaries"]} if compass else None,
        "grader_reliability": reliability[1] if reliability else None,
        "compass_unforced_grader": unforced["order_agreement"] if unforced else None,
        "lm_eval": lm,
    }
    atomic_write(folder / "results.json", json.dumps(json_safe(results), indent=2, sort_keys=True, allow_nan=False) + "\n")
    stamp = str((manifest or {}).get("started") or "undated").replace(":", "-").replace("+00-00", "")
    for res in lm.values():
        sub = folder / "lm_eval" / res["model_name_sanitized"]
        atomic_write(sub / f"results_{stamp}.json", json.dumps(json_safe(res), indent=2, allow_nan=False) + "\n")
    return html.write_report(folder, tabs, figs, meta, manifest, compass=compass,
                             elaboration=html.elaboration_context(elaboration, models) if elaboration is not None else None,
                             reliability=reliability_context(*reliability) if reliability else None, unforced=unforced,
                             paired=evenhandedness_context(paired) if paired is not None and len(paired) else None)


def rebuild_report(folder: str | Path) -> Path:
    """Rebuild tables, figures, results.json and report.html of a run folder from its saved records."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    config = manifest.get("config", {})
    records = read_records(folder)
    if config.get("kind") != "compare":
        config = config_from_single_run(config, records)
    return build_report(folder, records, meta_from_config(config), manifest)
