"""``polistance eval``: a questionnaire bank for the base model and its adapters into a run folder,
with ``summary.csv`` (per model and topic) beside the records."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..core.records import DEFAULT_MIN_MASS, OFF_FORMAT_STATUSES
from ..engine.loop import score_into_folder
from ..engine.runs import atomic_write
from ..engine.variants import Variant
from ..instruments.questionnaire import QuestionnaireForms, agreement_on_scale


@dataclass
class QuestionnaireRun:
    """What ``run_questionnaire`` produced: the folder, every record, the per-topic summary, the counts."""

    folder: Path
    records: list[dict]
    summary: "pd.DataFrame"  # noqa: F821
    counts: dict


def run_questionnaire(backend, formset: QuestionnaireForms, variants: Sequence[Variant], folder: str | Path, *,
                      batch_size: int = 16, min_mass: float = DEFAULT_MIN_MASS, seed: int = 0, resume: bool = False,
                      overwrite: bool = False, backend_info: dict | None = None,
                      on_record: Callable[[dict], None] | None = None, progress: bool = True) -> QuestionnaireRun:
    """Score every form for every variant into ``folder`` and write ``summary.csv`` and the manifest."""
    run = score_into_folder(backend, formset, variants, folder, batch_size=batch_size, min_mass=min_mass, seed=seed,
                            resume=resume, overwrite=overwrite, backend_info=backend_info, on_record=on_record,
                            progress=progress)
    summary = topic_summary(run.records)
    atomic_write(run.folder / "summary.csv", summary.to_csv(index=False))
    run.finish()
    return QuestionnaireRun(run.folder, run.records, summary, run.counts)


def topic_summary(records: Sequence[dict]):
    """Per (model, topic) table: counts by status and means over the items answered in format."""
    import pandas as pd

    df = pd.DataFrame(records)
    rows = []
    for (model, topic), g in df.groupby(["model", "topic"], sort=False):
        ok = g[g["status"] == "ok"]
        rows.append(
            {
                "model": model,
                "topic": topic,
                "n": len(g),
                "n_ok": len(ok),
                "n_off_format": int((g["status"].isin(OFF_FORMAT_STATUSES)).sum()),
                "n_failed": int((g["status"] == "failed").sum()),
                # E on normal-scale forms, 9 - E on reversed ones (records written before the field existed too)
                "mean_agreement": _mean(pd.Series([agreement_on_scale(e, d) for e, d in zip(ok.get("expected", []), ok.get("direction", []))],
                                                  dtype=float)),
                "mean_stance": _mean(ok.get("stance")),
                "mean_entropy": _mean(ok.get("entropy")),
                "mean_mass": _mean(g.get("mass")),
                # top-k sources: answers where some options had no log-probability at all
                "n_partial_coverage": _partial_coverage(g),
                "mean_coverage": _mean(g.get("coverage")),
            }
        )
    return pd.DataFrame(rows)


def _partial_coverage(g) -> int:
    """How many scored records lack a log-probability for at least one of their options."""
    if "coverage" not in g or "options" not in g:
        return 0
    scored = g[g["status"] != "failed"]
    return int(sum(1 for cov, opts in zip(scored["coverage"], scored["options"]) if cov is not None and cov < len(opts)))


def _mean(col) -> float:
    if col is None:
        return math.nan
    vals = [float(v) for v in col if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else math.nan
