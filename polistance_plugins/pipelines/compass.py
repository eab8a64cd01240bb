"""``polistance compass``: the political compass for the base model and its adapters into a run
folder, with per-model summaries, the per-proposition table and the compass plot."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..core.records import DEFAULT_MIN_MASS, json_safe
from ..engine.loop import score_into_folder
from ..engine.runs import atomic_write
from ..engine.variants import Variant
from ..instruments.compass import CompassForms
from ..instruments.compass_summary import proposition_rows, summarise_model, summary_rows


@dataclass
class CompassRun:
    """What a compass run produced: its folder, per-model summaries and the write counts."""

    folder: Path
    summaries: list[dict]
    counts: dict
    plot: Path | None
    unforced: list[dict] | None = None


def run_compass(
    backend,
    formset: CompassForms,
    variants: Sequence[Variant],
    folder: str | Path,
    *,
    batch_size: int | str | None = None,
    min_mass: float = DEFAULT_MIN_MASS,
    n_resamples: int = 2000,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    plot: bool = True,
    on_record: Callable[[dict], None] | None = None,
    progress: bool = True,
    unforced=None,
    limit: int | None = None,
) -> CompassRun:
    """Evaluate the compass for every variant into a run folder and write its summaries and plot.

    Files: ``items.jsonl`` (one record per form), ``propositions.csv`` (pooled per proposition),
    ``summary.json`` / ``summary.csv`` (per model), ``compass.png``, ``manifest.json``. With
    ``unforced`` (``pipelines.unforced.UnforcedOptions``) each proposition is also asked openly and
    graded (records with ``suite`` = ``compass_unforced``), summarised in ``unforced.json``/``unforced.csv``;
    ``limit`` asks only the first propositions openly, as the forms do.
    """
    import pandas as pd

    source = formset.source
    run = score_into_folder(backend, formset, variants, folder, batch_size=batch_size, min_mass=min_mass, seed=seed,
                            resume=resume, overwrite=overwrite,
                            config_extra={"n_resamples": n_resamples, **({"compass_unforced": asdict(unforced)} if unforced else {})},
                            on_record=on_record, progress=progress, desc="compass")
    forced = [r for r in run.records if r.get("suite") is None]
    summaries = [summarise_model([r for r in forced if r["model"] == v.label], source, n_resamples=n_resamples, seed=seed)
                 for v in variants]
    open_answers = _unforced(backend, formset, variants, run, unforced, run.config["batch_size"], min_mass, n_resamples, seed, progress, limit) if unforced else None
    folder = run.folder
    atomic_write(folder / "summary.json", json.dumps(json_safe(summaries), indent=2, sort_keys=True) + "\n")
    atomic_write(folder / "summary.csv", pd.DataFrame(summary_rows(summaries)).to_csv(index=False))
    atomic_write(folder / "propositions.csv", pd.DataFrame(proposition_rows(forced, source)).to_csv(index=False))
    png = None
    if plot:
        from ..report.compass_plot import compass_title, plot_compass

        png = plot_compass(summaries, folder / "compass.png", title=compass_title(source))
    run.finish()
    return CompassRun(folder, summaries, run.counts, png, open_answers)


def _unforced(backend, formset, variants, run, options, batch_size, min_mass, n_resamples, seed, progress, limit=None) -> list[dict]:
    """Ask, sample and grade the open answers into the run folder; per-model summaries, also written."""
    import pandas as pd

    from ..engine.runs import RunWriter, read_records
    from ..instruments.unforced import unforced_summaries
    from ..report.unforced_section import UNFORCED_COLS, unforced_row
    from .unforced import run_unforced

    writer = RunWriter(run.folder, run.config, resume=True)
    try:
        counts, seconds = run_unforced(backend, formset.source, variants, writer, options, batch_size=batch_size, seed=seed,
                                       min_mass=min_mass, progress=progress, limit=limit)
    finally:
        writer.close()
    run.counts["compass_unforced"] = counts
    records = [{**r, "suite": r.get("suite", "compass")} for r in read_records(run.folder)]
    out = unforced_summaries(records, formset.source, [v.label for v in variants], n_resamples, seed)
    atomic_write(run.folder / "unforced.json", json.dumps(json_safe(out), indent=2, sort_keys=True) + "\n")
    atomic_write(run.folder / "unforced.csv", pd.DataFrame([unforced_row(s) for s in out], columns=UNFORCED_COLS).to_csv(index=False))
    return out
