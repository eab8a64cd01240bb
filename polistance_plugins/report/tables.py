"""Tidy pandas tables of a comparison, built from run records (``items.jsonl``).

Each table is one row per (model, bank, group, measure) with the numbers needed to trace it:
``n_items``, the interval bounds and how the interval was made, the test and its p-value (and
the Benjamini-Hochberg adjusted p-value where a family of topics was tested). The math lives in
``polistance_plugins.scoring.stats``; this module only pairs records and groups them.

Reversed-scale forms are un-reversed before anything is compared: ``agreement`` (0-9, how much
the model endorses the item's own claim) is ``E`` on a normal form and ``9 - E`` on a reversed
one, and its distribution is the digit distribution read backwards.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..scoring import stats as S
from ..scoring.stance import agreement

SCALE_MAX = 9
ALL = "all topics"
FORM_COLS = ["bank", "item_id", "topic", "paraphrase", "direction"]
QUESTIONNAIRE = "questionnaire"


# ---- records -> frames ---------------------------------------------------------------------------
def questionnaire_frame(records: Sequence[dict]) -> pd.DataFrame:
    """One row per (model, form) of the 0-9 questionnaire, with un-reversed agreement and probabilities."""
    rows = [r for r in records if r.get("suite", QUESTIONNAIRE) == QUESTIONNAIRE and "item_id" in r]
    cols = ["model", *FORM_COLS, "keying", "status", "mass", "expected", "stance", "entropy", "probs"]
    if not rows:
        return pd.DataFrame(columns=cols + ["agreement", "agree_probs", "ok"])
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = None
    df = df[cols].copy()
    df["ok"] = df["status"] == "ok"
    for c in ("mass", "expected", "stance", "entropy"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    rev = df["direction"] == "reversed"
    df["agreement"] = np.where(rev, SCALE_MAX - df["expected"], df["expected"])
    df["agree_probs"] = [
        (list(p)[::-1] if r else list(p)) if isinstance(p, (list, tuple)) else None for p, r in zip(df["probs"], rev)
    ]
    return df


def paired_forms(df: pd.DataFrame, model: str, reference: str) -> pd.DataFrame:
    """Forms answered in format by both ``model`` and ``reference``, side by side, with per-form shifts.

    ``d_agreement`` (scale points toward agreeing with the claim), ``d_stance`` (toward the right
    position, on [-2, 2]), ``d_entropy`` (nats) and ``w1`` (Wasserstein-1 in scale points).
    """
    a = df[(df["model"] == model) & df["ok"]]
    b = df[(df["model"] == reference) & df["ok"]]
    keep = FORM_COLS + ["keying", "agreement", "stance", "entropy", "agree_probs", "mass"]
    m = a[keep].merge(b[keep], on=FORM_COLS + ["keying"], suffixes=("", "_ref"))
    m["d_agreement"] = m["agreement"] - m["agreement_ref"]
    m["d_stance"] = m["stance"] - m["stance_ref"]
    m["d_entropy"] = m["entropy"] - m["entropy_ref"]
    m["w1"] = [S.wasserstein1(q, p) for p, q in zip(m["agree_probs_ref"], m["agree_probs"])]
    return m


ESTIMATE_COLS = ["estimate", "ci_low", "ci_high", "n_items", "interval", "test", "p_value"]
SHIFT_COLS = ["model", "reference", "bank", "topic", "measure", "n_forms", *ESTIMATE_COLS]


def _row(est: S.Estimate, **labels) -> dict:
    return {**labels, **est.to_dict()}


def _adjust(table: pd.DataFrame, family: Sequence[str]) -> pd.DataFrame:
    """Add ``p_adjusted`` (BH over the topics of each family; the pooled "all topics" row is not a
    member of the family and keeps its raw p) and ``significance`` marks."""
    if table.empty:
        return pd.DataFrame(columns=[*SHIFT_COLS, "p_adjusted", "significance"])
    table = table.copy()
    table["p_adjusted"] = np.nan
    topical = table["topic"] != ALL
    for _, idx in table[topical].groupby(list(family), sort=False).groups.items():
        table.loc[idx, "p_adjusted"] = S.bh_adjust(table.loc[idx, "p_value"].to_numpy())
    table.loc[~topical, "p_adjusted"] = table.loc[~topical, "p_value"]
    table["significance"] = [S.significance_mark(q) for q in table["p_adjusted"]]
    return table


# ---- shift tables --------------------------------------------------------------------------------
SHIFT_MEASURES = {
    # measure: (per-form column, tested against 0?)
    "stance_shift": ("d_stance", True),
    "agreement_shift": ("d_agreement", True),
    "wasserstein1": ("w1", False),
    "entropy_change": ("d_entropy", True),
}


def _grouped(pairs: pd.DataFrame, model: str, reference: str, measures: Sequence[str], seed: int, with_all: bool = True) -> list[dict]:
    rows = []
    for bank, bdf in pairs.groupby("bank", sort=False):
        groups = [(t, g) for t, g in bdf.groupby("topic", sort=False)]
        if with_all:
            groups.append((ALL, bdf))
        for topic, g in groups:
            for measure in measures:
                col, test = SHIFT_MEASURES[measure]
                est = S.clustered_estimate(g[col].to_numpy(), list(g["item_id"]), S.seed_for(seed, model, reference, bank, topic, measure), test)
                rows.append(_row(est, model=model, reference=reference, bank=bank, topic=topic, measure=measure, n_forms=int(g[col].notna().sum())))
    return rows


def shift_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0, measures: Sequence[str] = ("stance_shift", "agreement_shift", "wasserstein1")) -> pd.DataFrame:
    """Per (model, bank, topic, measure): mean shift vs ``reference`` over items with interval and test.

    Also one pooled row per (model, bank, measure) with topic "all topics". BH adjustment is over
    the topics of each (model, bank, measure).
    """
    rows = []
    for model in models:
        if model == reference:
            continue
        rows += _grouped(paired_forms(df, model, reference), model, reference, measures, seed)
    return _adjust(pd.DataFrame(rows, columns=SHIFT_COLS), ["model", "bank", "measure"])


def entropy_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Entropy change (nats, model - reference) per adapter: pooled and per topic, with interval and test.

    Positive = the adapter spreads its answer mass over more digits than the base (the sports-team
    paper's observation about fine-tuned models).
    """
    return shift_table(df, reference, models, seed, measures=("entropy_change",))


def control_table(df: pd.DataFrame, reference: str, control: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Control-adjusted stance shift: (model - base) - (control - base) = model - control, per form.

    Separates "learned to state opinions at all" (which the control adapter also learned) from
    the content of the fine-tuning data. Same grouping, interval and test as ``shift_table``.
    """
    rows = []
    for model in models:
        if model in (reference, control):
            continue
        pairs = paired_forms(df, model, control)
        for r in _grouped(pairs, model, control, ("stance_shift",), seed):
            r["measure"] = "control_adjusted_stance_shift"
            rows.append(r)
    return _adjust(pd.DataFrame(rows, columns=SHIFT_COLS), ["model", "bank", "measure"])


ITEM_COLS = ["model", "reference", "bank", "item_id", "topic", "keying", "n_forms", "agreement_ref", "agreement", "agreement_shift",
             "ci_low", "ci_high", "interval", "test", "p_value", "stance_shift", "wasserstein1", "wasserstein1_ci_low", "wasserstein1_ci_high"]


def item_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Per (model, bank, item): expected agreement of both models, its shift and the Wasserstein-1 distance.

    Within one item the forms (paraphrases x directions) are the unit: the interval is a bootstrap
    over forms and the test a sign-flip test over forms (with one form: no interval, p = 1).
    """
    rows = []
    for model in models:
        if model == reference:
            continue
        pairs = paired_forms(df, model, reference)
        for (bank, item), g in pairs.groupby(["bank", "item_id"], sort=False):
            seed_i = S.seed_for(seed, model, reference, bank, item)
            est = S.mean_estimate(g["d_agreement"].to_numpy(), seed_i, unit="forms")
            w1 = S.mean_estimate(g["w1"].to_numpy(), seed_i, test=False, unit="forms")
            rows.append(
                {
                    "model": model, "reference": reference, "bank": bank, "item_id": item, "topic": g["topic"].iloc[0],
                    "keying": g["keying"].iloc[0], "n_forms": len(g),
                    "agreement_ref": float(g["agreement_ref"].mean()), "agreement": float(g["agreement"].mean()),
                    "agreement_shift": est.estimate, "ci_low": est.ci_low, "ci_high": est.ci_high,
                    "interval": est.interval, "test": est.test, "p_value": est.p_value,
                    "stance_shift": float(g["d_stance"].mean()),
                    "wasserstein1": w1.estimate, "wasserstein1_ci_low": w1.ci_low, "wasserstein1_ci_high": w1.ci_high,
                }
            )
    return pd.DataFrame(rows, columns=ITEM_COLS)


# ---- stability -----------------------------------------------------------------------------------
def _direction_pairs(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per (bank, item, paraphrase) answered in format in both directions: the agreement (0-1) with the
    item's claim on the normal scale and on the reversed scale (read backwards)."""
    g = df[(df["model"] == model) & df["ok"]]
    n = g[g["direction"] == "normal"]
    r = g[g["direction"] == "reversed"]
    m = n.merge(r, on=["bank", "item_id", "topic", "paraphrase"], suffixes=("_n", "_r"))
    m["a_normal"] = [agreement(e, SCALE_MAX, "normal") for e in m["expected_n"]]
    m["a_reversed"] = [agreement(e, SCALE_MAX, "reversed") for e in m["expected_r"]]
    return m[["bank", "item_id", "topic", "paraphrase", "a_normal", "a_reversed"]]


def _direction_values(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per (bank, item, paraphrase) answered in both directions: 1 - |agreement_normal - agreement_reversed| on [0, 1]."""
    m = _direction_pairs(df, model)
    m["value"] = S.direction_consistency(m["a_normal"], m["a_reversed"])
    return m[["bank", "item_id", "topic", "paraphrase", "value"]]


def _paraphrase_values(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per (bank, item, direction) with two or more paraphrases in format: spread (SD) of the stance."""
    g = df[(df["model"] == model) & df["ok"]]
    rows = []
    for (bank, item, topic, direction), h in g.groupby(["bank", "item_id", "topic", "direction"], sort=False):
        if len(h) >= 2:
            rows.append({"bank": bank, "item_id": item, "topic": topic, "direction": direction, "value": S.spread(h["stance"].to_numpy())})
    return pd.DataFrame(rows, columns=["bank", "item_id", "topic", "direction", "value"])


TRACKING_MEANING = ("correlation across items of the agreement on the normal and on the reversed scale: +1 = the reversed "
                    "answers follow the content, -1 = they repeat the same digits whatever the scale means")
STABILITY = {
    "direction_consistency": (_direction_values, ["paraphrase"], "1 = same endorsement of the claim whichever end of the scale means agree"),
    "paraphrase_spread": (_paraphrase_values, ["direction"], "SD of stance (-1..1) across paraphrases; 0 = wording does not matter"),
}


def stability_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Per (model, bank, measure): scale-direction consistency and paraphrase spread over items, with
    interval, and for adapters the paired difference to the reference with its sign-flip test; and
    direction tracking (the correlation across items of normal- and reversed-scale agreement, with a
    paired bootstrap interval and a permutation test of no association).

    Direction consistency alone rewards answers near the middle of the scale (a model that always
    answers 4.5 scores 1); direction tracking tells a model that follows the statements apart from
    one that repeats the same digits whichever end means "agree"."""
    rows = []
    for measure, (fn, within, meaning) in STABILITY.items():
        per_model = {m: fn(df, m) for m in models}
        ref = per_model.get(reference)
        for model in models:
            vals = per_model[model]
            for bank, g in vals.groupby("bank", sort=False):
                s = S.seed_for(seed, model, bank, measure)
                est = S.clustered_estimate(g["value"].to_numpy(), list(g["item_id"]), s, test=False)
                row = _row(est, model=model, reference=reference, bank=bank, topic=ALL, measure=measure, meaning=meaning,
                           n_units=len(g))
                row.update({"vs_reference": math.nan, "vs_reference_ci_low": math.nan, "vs_reference_ci_high": math.nan})
                if model == reference or ref is None:
                    row["test"], row["p_value"] = "none (reference model)", math.nan
                else:
                    both = g.merge(ref[ref["bank"] == bank], on=["bank", "item_id", "topic", *within], suffixes=("", "_ref"))
                    diff = S.paired_difference(both["value"].to_numpy(), both["value_ref"].to_numpy(), list(both["item_id"]), s)
                    row.update({"vs_reference": diff.estimate, "vs_reference_ci_low": diff.ci_low, "vs_reference_ci_high": diff.ci_high,
                                "test": diff.test + " (model - reference)", "p_value": diff.p_value})
                rows.append(row)
    for model in models:
        for bank, g in _direction_pairs(df, model).groupby("bank", sort=False):
            items = g.groupby("item_id", sort=False)[["a_normal", "a_reversed"]].mean()
            est = S.correlation_estimate(items["a_normal"], items["a_reversed"], S.seed_for(seed, model, bank, "direction_tracking"))
            rows.append({**_row(est, model=model, reference=reference, bank=bank, topic=ALL, measure="direction_tracking",
                                meaning=TRACKING_MEANING, n_units=len(g)),
                         "vs_reference": math.nan, "vs_reference_ci_low": math.nan, "vs_reference_ci_high": math.nan})
    return pd.DataFrame(rows, columns=["model", "reference", "bank", "topic", "measure", "meaning", "n_units", *ESTIMATE_COLS,
                                       "vs_reference", "vs_reference_ci_low", "vs_reference_ci_high"])


# ---- format health -------------------------------------------------------------------------------
def health_table(df: pd.DataFrame, reference: str, models: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Per (model, bank): how much probability fell on the digits (``mass``) and how many forms were
    off-format or failed. Mean mass per item with its interval; adapters tested against the reference."""
    rows = []
    for model in models:
        g = df[df["model"] == model]
        for bank, h in g.groupby("bank", sort=False):
            s = S.seed_for(seed, model, bank, "mass")
            est = S.clustered_estimate(h["mass"].to_numpy(), list(h["item_id"]), s, test=False)
            row = _row(est, model=model, reference=reference, bank=bank, measure="digit_mass",
                       n_forms=len(h), n_ok=int(h["ok"].sum()),
                       n_off_format=int(h["status"].isin(["off_format", "no_options"]).sum()),
                       n_failed=int((h["status"] == "failed").sum()),
                       median_mass=float(h["mass"].median()) if h["mass"].notna().any() else math.nan)
            if model == reference:
                row["test"], row["p_value"] = "none (reference model)", math.nan
            else:
                ref = df[(df["model"] == reference) & (df["bank"] == bank)]
                both = h.merge(ref, on=FORM_COLS, suffixes=("", "_ref"))
                diff = S.paired_difference(both["mass"].to_numpy(), both["mass_ref"].to_numpy(), list(both["item_id"]), s)
                row["test"], row["p_value"] = diff.test + " of the mass (model - reference)", diff.p_value
            rows.append(row)
    return pd.DataFrame(rows)


# ---- distributions for the small multiples -------------------------------------------------------
def item_distributions(df: pd.DataFrame) -> pd.DataFrame:
    """Per (model, bank, item): the mean digit distribution over the item's normal-scale forms answered
    in format (over paraphrases), its expected value and how many forms went in (the panels of the
    per-question figure). Items asked only on the reversed scale use those forms, read backwards.

    The two scale directions are not mixed: a model that gives the same digit whichever end means
    "agree" would otherwise show a symmetric mixture centred on 4.5 (direction consistency in the
    stability table measures exactly that)."""
    rows = []
    for (model, bank, item), g in df.groupby(["model", "bank", "item_id"], sort=False):
        normal = g[g["direction"] == "normal"]
        use = normal if len(normal) else g
        ok = use[use["ok"]]
        probs = np.mean(np.array(list(ok["agree_probs"]), dtype=float), axis=0) if len(ok) else np.full(10, np.nan)
        rows.append(
            {
                "model": model, "bank": bank, "item_id": item, "topic": g["topic"].iloc[0], "keying": g["keying"].iloc[0],
                "direction": "normal" if len(normal) else "reversed (read backwards)",
                "n_forms": len(use), "n_ok": len(ok), "probs": [float(p) for p in probs],
                "expected": float(np.dot(probs, np.arange(probs.size))) if len(ok) else math.nan,
                "mean_mass": float(use["mass"].mean()),
            }
        )
    return pd.DataFrame(rows)


def model_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per (model, bank, topic) means over forms (the lm-eval task metrics): expected score, stance,
    entropy over forms in format; digit mass and off-format share over all forms."""
    rows = []
    for (model, bank, topic), g in df.groupby(["model", "bank", "topic"], sort=False):
        ok = g[g["ok"]]
        rows.append(
            {
                "model": model, "bank": bank, "topic": topic, "n_forms": len(g), "n_ok": len(ok),
                "n_items": int(g["item_id"].nunique()),
                "expected_score": float(ok["expected"].mean()) if len(ok) else math.nan,
                "stance": float(ok["stance"].mean()) if len(ok) else math.nan,
                "entropy": float(ok["entropy"].mean()) if len(ok) else math.nan,
                "digit_mass": float(g["mass"].mean()),
                "off_format": float((~g["ok"]).mean()),
            }
        )
    return pd.DataFrame(rows)


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


# ---- lm-eval results layout ----------------------------------------------------------------------
def _task_template() -> dict:
    """The shared lm-eval task settings (``tasks/lm_eval/_template_yaml``), ``!function`` tags kept as text."""
    import yaml

    from ..tasks import LM_EVAL_DIR

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")
    return yaml.load((LM_EVAL_DIR / "_template_yaml").read_text(), Loader=Loader)


def lm_eval_task(bank: str, topic: str | None) -> tuple[str, str | None]:
    """(task, group) names of a bank/topic in the polistance lm-eval tasks: the topics bank has one
    subtask per topic under the ``polistance_topics`` group; other banks are one task each."""
    import re

    stem = re.sub(r"\W", "_", Path(bank).stem)
    if stem == "topics" and topic:
        return f"polistance_topics_{topic}", "polistance_topics"
    return f"polistance_{stem}", None


def _metrics(g: pd.DataFrame) -> dict:
    """The per-form metrics the lm-eval tasks compute (``utils.process_results``) and their means."""
    from lm_eval.api.metrics import mean_stderr

    per_form = {
        "expected_score": g["expected"].where(g["ok"]),
        "stance": g["stance"].where(g["ok"]),
        "entropy": g["entropy"].where(g["ok"]),
        "digit_mass": g["mass"],
        "off_format": (~g["ok"]).astype(float),
    }
    out = {}
    for name, col in per_form.items():
        vals = col.dropna().to_numpy(dtype=float)
        out[f"{name},none"] = float(vals.mean()) if vals.size else math.nan
        out[f"{name}_stderr,none"] = float(mean_stderr(list(vals))) if vals.size > 1 else "N/A"
    return out


def lm_eval_results(df: pd.DataFrame, meta: dict, date: str | None = None) -> dict[str, dict]:
    """Each model's questionnaire results in lm-eval's results layout (``lm_eval.result_schema.EvalResults``):
    ``results`` task -> ``"metric,filter"`` values with stderrs, ``groups``, ``configs``, ``versions``,
    ``higher_is_better``, ``n-samples`` and ``config`` — what lm-eval based leaderboards read.

    Values are computed exactly as the lm-eval tasks compute them (means over forms; stance,
    expected score and entropy over forms in format); group values are lm-eval's size-weighted
    means of the subtasks.
    """
    import datetime as _dt

    import lm_eval
    from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr
    from lm_eval.utils import sanitize_model_name

    from .. import __version__

    template = _task_template()
    version = (template.get("metadata") or {}).get("version")
    hib = {m["metric"]: m.get("higher_is_better") for m in template.get("metric_list", [])}
    try:
        stamp = _dt.datetime.fromisoformat(date).timestamp() if date else None
    except ValueError:
        stamp = None
    out: dict[str, dict] = {}
    for model in meta["models"]:
        g_model = df[df["model"] == model]
        if g_model.empty:
            continue
        results, groups, subtasks, configs, samples = {}, {}, {}, {}, {}
        standalone: list[str] = []
        for (bank, topic), g in g_model.groupby(["bank", "topic"], sort=False):
            task, group = lm_eval_task(bank, topic)
            if task in results:
                continue
            if group:
                subtasks.setdefault(group, []).append(task)
            else:
                standalone.append(task)
                g = g_model[g_model["bank"] == bank]
            results[task] = {"name": task, "alias": task, "sample_len": len(g), **_metrics(g)}
            samples[task] = {"original": len(g), "effective": len(g)}
            configs[task] = {
                "task": task, "tag": "polistance", "output_type": template.get("output_type"),
                "doc_to_choice": template.get("doc_to_choice"), "target_delimiter": template.get("target_delimiter"),
                "metric_list": [{k: v for k, v in m.items() if k != "aggregation"} for m in template.get("metric_list", [])],
                "metadata": {"version": version},
                "polistance": {"bank": bank, "topic": topic if group else None, "min_mass": meta.get("min_mass")},
            }
        for group, tasks in subtasks.items():
            sizes = [results[t]["sample_len"] for t in tasks]
            agg = {"name": group, "alias": group, "sample_len": sum(sizes), "sample_count": {}}
            for metric in ("expected_score", "stance", "entropy", "digit_mass", "off_format"):
                vals = [results[t][f"{metric},none"] for t in tasks]
                errs = [results[t][f"{metric}_stderr,none"] for t in tasks]
                agg[f"{metric},none"] = float(aggregate_subtask_metrics(vals, sizes, True))
                agg[f"{metric}_stderr,none"] = (
                    float(pooled_sample_stderr(errs, sizes)) if all(isinstance(e, float) for e in errs) and sum(sizes) > len(sizes) else "N/A"
                )
                agg["sample_count"][f"{metric},none"] = sum(sizes)
            results[group] = agg
            groups[group] = agg
        adapter = (meta.get("adapters") or {}).get(model)
        name = adapter or meta.get("model") or model
        out[model] = {
            "results": results,
            "groups": groups,
            "group_subtasks": {**subtasks, **{t: [] for t in standalone}},
            "configs": configs,
            "versions": {t: version for t in results},
            "n-shot": {t: 0 for t in results},
            "higher_is_better": {t: dict(hib) for t in results},
            "n-samples": samples,
            "config": {
                "model": "polistance", "model_args": {"pretrained": meta.get("model"), **({"peft": adapter} if adapter else {})},
                "batch_size": None, "limit": None, "bootstrap_iters": 0, "random_seed": meta.get("seed", 0),
            },
            "date": stamp,
            "model_source": "polistance",
            "model_name": str(name),
            "model_name_sanitized": sanitize_model_name(str(name)),
            "lm_eval_version": lm_eval.__version__,
            "polistance_version": __version__,
            "polistance_label": model,
        }
    return out


# ---- elaboration ---------------------------------------------------------------------------------
ELABORATION_COLS = ["model", "kind", "topic", "category", "count", "rate", "n_scored", "n_unscored", "n_replies"]


def _elaboration_rows(counts: dict[tuple, dict[str, float]], unscored: dict[tuple, float]) -> pd.DataFrame:
    """Rows from counts keyed by (model, kind, topic)."""
    from ..elaboration import CATEGORIES

    rows = []
    for (model, kind, topic), c in counts.items():
        scored = sum(c.values())
        missing = unscored.get((model, kind, topic), 0)
        for cat in CATEGORIES:
            n = c.get(cat, 0)
            rows.append({"model": model, "kind": kind, "topic": topic, "category": cat, "count": int(round(n)),
                         "rate": n / scored if scored else math.nan, "n_scored": int(round(scored)),
                         "n_unscored": int(round(missing)), "n_replies": int(round(scored + missing))})
    return pd.DataFrame(rows, columns=ELABORATION_COLS)


def elaboration_table(records: Sequence[dict]) -> pd.DataFrame:
    """Per (model, target kind, topic), pooled over kinds (kind ``ALL``) and over topics (topic
    ``ALL``): how many replies the grader put in each category, the share among scored replies,
    and how many replies were unscored (grader unreadable).

    Reads records with ``suite == "elaboration"``, ``model``, ``topic``, ``kind`` ("radical",
    "normal", ...; optional) and ``category`` (one of ``elaboration.CATEGORIES``, or None when unscored).
    """
    counts: dict[tuple, dict[str, float]] = {}
    unscored: dict[tuple, float] = {}
    for r in records:
        if r.get("suite") != "elaboration":
            continue
        kinds = [ALL, r["kind"]] if r.get("kind") else [ALL]
        topics = [ALL, r["topic"]] if r.get("topic") else [ALL]
        for kind in kinds:
            for topic in topics:
                key = (r["model"], kind, topic)
                counts.setdefault(key, {})
                if r.get("category") is None:
                    unscored[key] = unscored.get(key, 0) + 1
                else:
                    counts[key][r["category"]] = counts[key].get(r["category"], 0) + 1
    return _elaboration_rows(counts, unscored)


def elaboration_bars(table: pd.DataFrame, models: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """The bars of the elaboration figure and rows of its table, in order: per model, one per target
    kind when the replies carry kinds ("southern · radical"), else one for all its replies.
    Each is (label, that bar's rows over topics pooled, indexed by category)."""
    pooled = table[table["topic"] == ALL]
    order = [m for m in models if m in set(pooled["model"])] + [m for m in dict.fromkeys(pooled["model"]) if m not in models]
    out = []
    for m in order:
        g = pooled[pooled["model"] == m]
        kinds = [k for k in dict.fromkeys(g["kind"]) if k != ALL]
        for k in kinds or [ALL]:
            label = m if k == ALL else f"{m} · {k}"
            out.append((label, g[g["kind"] == k].set_index("category")))
    return out


def elaboration_from_logs(logs: pd.DataFrame) -> pd.DataFrame:
    """The same table from Inspect elaboration logs (``inspect_logs.logs_table``): category shares
    times the scored replies behind them give the counts; logs with the same label are summed.
    The label is the run's adapter when known, else its model."""
    from ..elaboration import CATEGORIES

    counts: dict[tuple[str, str], dict[str, float]] = {}
    unscored: dict[tuple[str, str], float] = {}
    rows = logs[logs["task"].astype(str).str.endswith("elaboration")]
    for (_, topic), g in rows.groupby(["log", "topic"], sort=False):
        label = g["adapter"].iloc[0] if g["adapter"].notna().any() else g["model"].iloc[0]
        values = dict(zip(g["metric"], g["value"]))
        n_total = float(g["n"].dropna().max()) if g["n"].notna().any() else 0.0
        missing = float(values.get("unscored", 0.0))
        key = (str(label), ALL, ALL if topic == "all" else str(topic))
        c = counts.setdefault(key, {})
        for cat in CATEGORIES:
            share = values.get(cat)
            if share is not None and not math.isnan(share):
                c[cat] = c.get(cat, 0) + share * (n_total - missing)
        unscored[key] = unscored.get(key, 0) + missing
    return _elaboration_rows(counts, unscored)
