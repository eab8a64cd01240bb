"""Compass summaries from per-form records: each model's point with intervals, stability and format
health, and the per-proposition table. Pure: the math is ``core.compass`` and ``core.compass_stability``."""

from __future__ import annotations

import math
from typing import Sequence

from ..core.compass import LIKERT, answered_counts, argmax_answer, compass_point, expected_weight, is_partial
from ..core.compass_stability import FormAnswer, bootstrap_interval, pool, stability
from ..core.records import OFF_FORMAT_STATUSES
from .compass import CompassSource


def form_answers(records: Sequence[dict]) -> list[FormAnswer]:
    """Records as ``FormAnswer``s; only in-format forms carry probabilities."""
    return [
        FormAnswer(r["index"], r["paraphrase"], r["order"], r["labels"], tuple(r["probs"]) if r.get("status") == "ok" else None)
        for r in records
    ]


def summarise_model(records: Sequence[dict], source: CompassSource, n_resamples: int = 2000, seed: int = 0) -> dict:
    """One model's point(s), intervals, stability and format health from its per-form records.

    ``answered`` counts the propositions with at least one form answered in format (``answered_econ``
    and ``answered_soc`` per axis, out of ``propositions_econ`` / ``propositions_soc``); ``partial``
    says the point rests on fewer propositions than the questionnaire has. An axis with none
    answered has no coordinate (NaN)."""
    forms = form_answers(records)
    pooled = pool(forms, len(source))
    forced = [argmax_answer(p) for p in pooled]
    w = source.weights
    expected = compass_point(pooled, w)
    argmax = compass_point(forced, w)
    ci_e = bootstrap_interval(pooled, w, n_resamples=n_resamples, seed=seed)
    ci_a = bootstrap_interval(forced, w, n_resamples=n_resamples, seed=seed)
    stab = stability(forms, w)
    counts = answered_counts(pooled, w)
    masses = [r["mass"] for r in records if r.get("mass") is not None]
    return {
        "model": records[0]["model"] if records else None,
        "adapter": records[0].get("adapter") if records else None,
        "source": source.name,
        "propositions": len(source),
        "answered": counts["all"][0],
        "answered_econ": counts["econ"][0],
        "answered_soc": counts["soc"][0],
        "propositions_econ": counts["econ"][1],
        "propositions_soc": counts["soc"][1],
        "partial": is_partial(counts),
        "forms": len(records),
        "forms_ok": sum(r.get("status") == "ok" for r in records),
        "forms_off_format": sum(r.get("status") in OFF_FORMAT_STATUSES for r in records),
        "forms_failed": sum(r.get("status") == "failed" for r in records),
        "mean_mass": sum(masses) / len(masses) if masses else math.nan,
        "expected": {"econ": expected[0], "soc": expected[1]},
        "expected_ci": {k: list(v) for k, v in ci_e.items()},
        "argmax": {"econ": argmax[0], "soc": argmax[1]},
        "argmax_ci": {k: list(v) for k, v in ci_a.items()},
        "stability": stab,
        "answers": [None if p is None else list(p) for p in pooled],
    }


def answered_text(summary: dict) -> str:
    """How many propositions a model's point rests on, in words: "64/64 answered", or
    "1/64 answered (partial: economic 1/32, social 0/32)"."""
    head = f"{summary['answered']}/{summary['propositions']} answered"
    if not summary.get("partial"):
        return head
    return (f"{head} (partial: economic {summary['answered_econ']}/{summary['propositions_econ']}, "
            f"social {summary['answered_soc']}/{summary['propositions_soc']})")


def proposition_rows(records: Sequence[dict], source: CompassSource) -> list[dict]:
    """Per (model, proposition): pooled probabilities, forced answer, mean mass and expected axis weights."""
    rows = []
    by_model: dict[str, list[dict]] = {}
    for r in records:
        by_model.setdefault(r["model"], []).append(r)
    for model, recs in by_model.items():
        pooled = pool(form_answers(recs), len(source))
        for i, prop in enumerate(source.propositions):
            mine = [r for r in recs if r["index"] == i]
            masses = [r["mass"] for r in mine if r.get("mass") is not None]
            p = pooled[i]
            rows.append(
                {
                    "model": model,
                    "item_id": prop.id,
                    "axis": prop.axis,
                    "forms": len(mine),
                    "forms_ok": sum(r.get("status") == "ok" for r in mine),
                    **{f"p_{name.replace(' ', '_')}": (None if p is None else p[k]) for k, name in enumerate(LIKERT)},
                    "argmax": argmax_answer(p),
                    "mean_mass": sum(masses) / len(masses) if masses else None,
                    "econ": expected_weight(p, source.weights.econ.rows[i]),
                    "soc": expected_weight(p, source.weights.soc.rows[i]),
                }
            )
    return rows


def summary_rows(summaries: Sequence[dict]) -> list[dict]:
    """Flat one-line-per-model view of the summaries (for summary.csv and the printed table)."""
    out = []
    for s in summaries:
        st = s["stability"]
        out.append(
            {
                "model": s["model"],
                "source": s["source"],
                "answered": s["answered"],
                "propositions": s["propositions"],
                "answered_econ": s["answered_econ"],
                "answered_soc": s["answered_soc"],
                "propositions_econ": s["propositions_econ"],
                "propositions_soc": s["propositions_soc"],
                "partial": s["partial"],
                "econ": s["expected"]["econ"],
                "soc": s["expected"]["soc"],
                "econ_lo": s["expected_ci"]["econ"][0],
                "econ_hi": s["expected_ci"]["econ"][1],
                "soc_lo": s["expected_ci"]["soc"][0],
                "soc_hi": s["expected_ci"]["soc"][1],
                "argmax_econ": s["argmax"]["econ"],
                "argmax_soc": s["argmax"]["soc"],
                "argmax_econ_lo": s["argmax_ci"]["econ"][0],
                "argmax_econ_hi": s["argmax_ci"]["econ"][1],
                "argmax_soc_lo": s["argmax_ci"]["soc"][0],
                "argmax_soc_hi": s["argmax_ci"]["soc"][1],
                "agreement": st["agreement"],
                **{f"agreement_{k}": v for k, v in st["agreement_by_factor"].items()},
                "spread_argmax_econ": st["spread"]["argmax"][0],
                "spread_argmax_soc": st["spread"]["argmax"][1],
                "spread_expected_econ": st["spread"]["expected"][0],
                "spread_expected_soc": st["spread"]["expected"][1],
                "mean_mass": s["mean_mass"],
                "forms": s["forms"],
                "forms_off_format": s["forms_off_format"],
                "forms_failed": s["forms_failed"],
            }
        )
    return out

