"""``polistance compass``: the political compass for the base model and its adapters into a run
folder, with per-model summaries, the per-proposition table and the compass plot."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
) -> CompassRun:
    """Evaluate the compass for every variant into a run folder and write its summaries and plot.

    Files: ``items.jsonl`` (one record per form), ``propositions.csv`` (pooled per proposition),
    ``summary.json`` / ``summary.csv`` (per model), ``compass.png``, ``manifest.json``.
    """
    import pandas as pd

    source = formset.source
    run = score_into_folder(backend, formset, variants, folder, batch_size=batch_size, min_mass=min_mass, seed=seed,
                            resume=resume, overwrite=overwrite, config_extra={"n_resamples": n_resamples},
                            on_record=on_record, progress=progress, desc="compass")
    summaries = [summarise_model([r for r in run.records if r["model"] == v.label], source, n_resamples=n_resamples, seed=seed)
                 for v in variants]
    folder = run.folder
    atomic_write(folder / "summary.json", json.dumps(json_safe(summaries), indent=2, sort_keys=True) + "\n")
    atomic_write(folder / "summary.csv", pd.DataFrame(summary_rows(summaries)).to_csv(index=False))
    atomic_write(folder / "propositions.csv", pd.DataFrame(proposition_rows(run.records, source)).to_csv(index=False))
    png = None
    if plot:
        from ..report.compass_plot import compass_title, plot_compass

        png = plot_compass(summaries, folder / "compass.png", title=compass_title(source))
    run.finish()
    return CompassRun(folder, summaries, run.counts, png)
