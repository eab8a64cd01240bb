"""The InhibitFT study's table as Markdown: per fine-tuning topic and inhibition level, the in-topic
effect, cross-topic generalisation, and reduction and retention with their intervals."""

from __future__ import annotations

import math


def markdown_table(table) -> str:
    """The study table as Markdown (reduction and retention with their intervals).

    An interval that does not contain its own point estimate is marked with a dagger: the
    bootstrap distribution sits away from the estimate, the sign of a statistic dominated by
    noise (|s| of a near-zero shift grows under resampling).
    """

    def f(v, spec="+.3f"):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    flagged = []

    def ci(r, key):
        v, lo, hi = r.get(key), r.get(key + "_lo"), r.get(key + "_hi")
        if not isinstance(v, float) or math.isnan(v):
            return "–"
        off = not (lo <= v <= hi) if not (math.isnan(lo) or math.isnan(hi)) else False
        flagged.append(off)
        return f"{f(v, '+.2f')} [{f(lo, '+.2f')}, {f(hi, '+.2f')}]" + (" †" if off else "")

    lines = [
        "| n% | fine-tuning topic T | neurons inhibited | s_plain(T,T) | s_inhibit(T,T) | retention [95% CI] | CTG plain | CTG InhibitFT | reduction [95% CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        if r.get("note"):
            lines.append(f"| {r['inhibit_top']:g} | {r['topic']} | 0 | | | | | | {r['note']} |")
            continue
        lines.append(
            f"| {r['inhibit_top']:g} | {'**all (pooled)**' if r['topic'] == 'all' else r['topic']} | "
            f"{('Σ ' if r['topic'] == 'all' else '') + str(int(r['n_neurons']))} | "
            f"{f(r['in_topic_plain'])} | {f(r['in_topic_inhibit'])} | {ci(r, 'retention')} | "
            f"{f(r['ctg_plain'], '.3f')} | {f(r['ctg_inhibit'], '.3f')} | {ci(r, 'reduction')} |"
        )
    text = "\n".join(lines) + "\n"
    if any(flagged):
        text += ("\n† the bootstrap interval excludes its own point estimate: the statistic is dominated by "
                 "resampling noise (e.g. |s| of shifts near zero), so read the point estimate as not distinguishable from noise.\n")
    return text
