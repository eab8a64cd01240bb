"""The report's "forced vs unforced" section: per model, how often the open answer matches the forced
one, the compass point of the open answers with its interval, the share of "No position", and how
far the grader of the open answers agreed with itself across label orders."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from ..core.kappa import KAPPA_THRESHOLD
from ..instruments.compass import LIKERT, load_source
from ..instruments.unforced import POSITIONS, SUITE, order_agreement_of, unforced_summaries

UNFORCED_COLS = ["model", "source", "propositions", "replies", "replies_graded", "graded", "with_position", "no_position",
                 "no_position_mean_p", "compared", "match", "econ", "econ_lo", "econ_hi", "soc", "soc_lo", "soc_hi",
                 "forced_argmax_econ", "forced_argmax_soc"]


def unforced_row(s: dict) -> dict:
    """One model's summary (``summarise_unforced``) as a flat table row."""
    ci = s["unforced_ci"]
    return {**{k: s[k] for k in UNFORCED_COLS if k in s},
            "econ": s["unforced"]["econ"], "econ_lo": ci["econ"][0], "econ_hi": ci["econ"][1],
            "soc": s["unforced"]["soc"], "soc_lo": ci["soc"][0], "soc_hi": ci["soc"][1],
            "forced_argmax_econ": s["forced_argmax"]["econ"], "forced_argmax_soc": s["forced_argmax"]["soc"]}


def _label(index, names: Sequence[str]) -> str:
    return "–" if index is None else names[index]


def unforced_section(records: Sequence[dict], meta: dict) -> dict | None:
    """Tables and display rows of the section; None when the run has no unforced answers."""
    if not any(r.get("suite") == SUITE for r in records):
        return None
    source = load_source(meta.get("compass_source") or "compass", meta.get("pct_file"))
    summaries = unforced_summaries(records, source, meta["models"], meta.get("compass_resamples", 2000), meta.get("seed", 0))
    table = pd.DataFrame([unforced_row(s) for s in summaries], columns=UNFORCED_COLS)
    props = pd.DataFrame([{"model": s["model"], "item_id": p.id, "axis": p.axis,
                           "unforced": _label(s["answers"][i], POSITIONS), "forced": _label(s["forced_answers"][i], LIKERT)}
                          for s in summaries for i, p in enumerate(source.propositions)])
    own = order_agreement_of(records)

    def num(v, spec=".2f"):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    rows = [{"model": r["model"], "graded": f"{r['graded']}/{r['propositions']}", "no_position": num(r["no_position"], ".0%"),
             "match": num(r["match"], ".0%"), "compared": r["compared"],
             "econ": f"{num(r['econ'], '+.2f')} [{num(r['econ_lo'], '+.2f')}, {num(r['econ_hi'], '+.2f')}]",
             "soc": f"{num(r['soc'], '+.2f')} [{num(r['soc_lo'], '+.2f')}, {num(r['soc_hi'], '+.2f')}]",
             "forced": f"({num(r['forced_argmax_econ'], '+.2f')}, {num(r['forced_argmax_soc'], '+.2f')})"}
            for r in table.to_dict(orient="records")]
    kappa = own["kappa"]
    return {"table": table, "propositions": props, "rows": rows, "source": source.name,
            "order_agreement": own, "order_kappa": num(kappa), "order_tv": num(own["mean_tv"]),
            "reliable": own["n_orders"] >= 2 and not math.isnan(kappa) and kappa >= KAPPA_THRESHOLD,
            "threshold": KAPPA_THRESHOLD}
