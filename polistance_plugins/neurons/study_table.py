"""The InhibitFT study's tables as Markdown: pooled arms, paired comparisons, and per-topic rows."""

from __future__ import annotations

import math


def _f(v, spec="+.4f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _ci(r: dict, key: str, spec: str = "+.4f") -> str:
    lo, hi = r.get(key + "_lo"), r.get(key + "_hi")
    interval = "" if lo is None or (isinstance(lo, float) and math.isnan(lo)) else f" [{_f(lo, spec)}, {_f(hi, spec)}]"
    return _f(r.get(key), spec) + interval


def _p(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"p={v:.3g}"


def markdown_report(arms, comps, units, measure: str, cfg) -> str:
    """Three tables: arms pooled over units, paired comparisons, and each fine-tuning topic (mean over seeds)."""
    lines = [f"Measure: {measure}. Units: (fine-tuning topic, seed) pairs, matched across arms. "
             "IN = in-topic effect s(T, T); CTG = mean of s(T, t) over the other topics; ratio = CTG / IN. "
             "[95% intervals: two-level bootstrap over units and items]", "",
             "| n% | arm | units | IN | CTG | ratio CTG/IN | general neurons' drift |",
             "|---|---|---|---|---|---|---|"]
    for r in arms.to_dict("records"):
        drift = r.get("general_drift_ratio")
        lines.append(f"| {r['inhibit_top']:g} | {r['arm']} | {r['units']} | {_ci(r, 'in_topic')} | {_ci(r, 'ctg')} | "
                     f"{_ci(r, 'ratio', '.2f')} | {_f(drift, '.2f')} |")
    lines += ["", "Paired over units: difference of means (arm - reference) with the permutation test's p-value; "
              "reduction = 1 - CTG_arm / CTG_reference.", "",
              "| n% | arm - reference | ΔIN | ΔCTG | CTG reduction | Δ ratio |", "|---|---|---|---|---|---|"]
    for r in comps.to_dict("records"):
        lines.append(f"| {r['inhibit_top']:g} | {r['arm']} - {r['reference']} | {_ci(r, 'd_in_topic')} ({_p(r['p_in_topic'])}) | "
                     f"{_ci(r, 'd_ctg')} ({_p(r['p_ctg'])}) | {_ci(r, 'reduction', '+.2f')} | {_ci(r, 'd_ratio', '+.2f')} |")
    lines += ["", f"Per fine-tuning topic: mean over {len(cfg.seeds)} seeds (lowest .. highest seed).", "",
              "| n% | T | arm | IN | CTG |", "|---|---|---|---|---|"]
    for (n, T, arm), g in units.groupby(["inhibit_top", "topic", "arm"], sort=False):
        lines.append(f"| {n:g} | {T} | {arm} | {_f(g['in_topic'].mean())} ({_f(g['in_topic'].min())} .. "
                     f"{_f(g['in_topic'].max())}) | {_f(g['ctg'].mean())} ({_f(g['ctg'].min())} .. {_f(g['ctg'].max())}) |")
    lines.append("")
    lines.append("general neurons' drift: how far the activations of the unit's general neurons moved (RMS change "
                 "against the base on the held-out probe prompts, scaled by layer) relative to the other neurons of "
                 "their layers; 0 = held still, 1 = moved like the others.")
    return "\n".join(lines) + "\n"
