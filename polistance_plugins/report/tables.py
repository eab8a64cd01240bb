"""Every table of a comparison by name (the CSV files of a run folder are these)."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .frames import model_summary, questionnaire_frame
from .shift_tables import control_table, entropy_table, item_table, shift_table
from .stability_tables import health_table, stability_table


def all_tables(records: Sequence[dict], reference: str, models: Sequence[str], control: str | None = None, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Every questionnaire table of a comparison, by name (the CSV files of a run are these)."""
    df = questionnaire_frame(records)
    out = {
        "summary": model_summary(df),
        "topic_shift": shift_table(df, reference, models, seed),
        "entropy": entropy_table(df, reference, models, seed),
        "items": item_table(df, reference, models, seed),
        "stability": stability_table(df, reference, models, seed),
        "health": health_table(df, reference, models, seed),
    }
    if control:
        out["control_adjusted"] = control_table(df, reference, control, models, seed)
    return out


def compass_health(summaries: Sequence[dict]) -> pd.DataFrame:
    """Per model: mean raw probability on the four Likert labels and how many compass forms were off-format."""
    return pd.DataFrame(
        [
            {"model": s["model"], "likert_mass": s["mean_mass"], "forms": s["forms"],
             "forms_off_format": s["forms_off_format"], "forms_failed": s["forms_failed"]}
            for s in summaries
        ]
    )

