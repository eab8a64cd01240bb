"""Each model's questionnaire results in lm-eval's results layout, so tools that read lm-eval output
folders (leaderboards) take a polistance run as it is. The layout's parts that come from lm-eval
itself (group aggregation, model-name sanitising, the key set) go through ``readers.lm_eval_compat``."""

from __future__ import annotations

import math

import pandas as pd

from ..core import stats as S
from ..instruments.lm_eval_tasks import task_name, task_template
from ..readers import lm_eval_compat as compat


METRICS = ("agreement", "stance", "entropy", "digit_mass", "off_format")


def _metrics(g: pd.DataFrame) -> dict:
    """The per-form metrics the lm-eval tasks compute (``utils.process_results``), their means over
    forms, and standard errors with items as the unit (``core.stats.clustered_stderr``: the forms of
    an item, its paraphrases and scale directions, are not independent measurements)."""
    per_form = {
        "agreement": g["agreement"].where(g["ok"]),
        "stance": g["stance"].where(g["ok"]),
        "entropy": g["entropy"].where(g["ok"]),
        "digit_mass": g["mass"],
        "off_format": (~g["ok"]).astype(float),
    }
    out = {}
    for name, col in per_form.items():
        vals = col.to_numpy(dtype=float)
        kept = vals[~pd.isna(vals)]
        out[f"{name},none"] = float(kept.mean()) if kept.size else math.nan
        se = S.clustered_stderr(vals, list(g["item_id"]))
        out[f"{name}_stderr,none"] = se if math.isfinite(se) else "N/A"
    return out


def lm_eval_results(df: pd.DataFrame, meta: dict, date: str | None = None) -> dict[str, dict]:
    """Each model's questionnaire results in lm-eval's results layout (``lm_eval.result_schema.EvalResults``):
    ``results`` task -> ``"metric,filter"`` values with stderrs, ``groups``, ``configs``, ``versions``,
    ``higher_is_better``, ``n-samples`` and ``config`` — what lm-eval based leaderboards read.

    Values are computed exactly as the lm-eval tasks compute them (means over forms; agreement,
    stance and entropy over forms in format); group values are lm-eval's size-weighted
    means of the subtasks. Standard errors take items as the unit (``_metrics``); a group's is the
    standard error of that weighted mean of independent subtasks (``core.stats.weighted_mean_stderr``).
    """
    import datetime as _dt

    from ..version import __version__

    template = task_template()
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
            task, group = task_name(bank, topic)
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
            for metric in METRICS:
                vals = [results[t][f"{metric},none"] for t in tasks]
                errs = [results[t][f"{metric}_stderr,none"] for t in tasks]
                agg[f"{metric},none"] = compat.aggregate_subtask_metrics(vals, sizes)
                agg[f"{metric}_stderr,none"] = (
                    S.weighted_mean_stderr(errs, sizes) if all(isinstance(e, float) for e in errs) else "N/A"
                )
                agg["sample_count"][f"{metric},none"] = sum(sizes)
            results[group] = agg
            groups[group] = agg
        adapter = (meta.get("adapters") or {}).get(model)
        name = adapter or (meta.get("weights") or {}).get(model) or meta.get("model") or model
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
                "model": "polistance",
                "model_args": {"pretrained": (meta.get("weights") or {}).get(model) or meta.get("model"), **({"peft": adapter} if adapter else {})},
                "batch_size": None, "limit": None, "bootstrap_iters": 0, "random_seed": meta.get("seed", 0),
            },
            "date": stamp,
            "model_source": "polistance",
            "model_name": str(name),
            "model_name_sanitized": compat.sanitize_model_name(str(name)),
            "lm_eval_version": compat.lm_eval_version(),
            "polistance_version": __version__,
            "polistance_label": model,
        }
    return out

