"""The HTML report: one self-contained page (inline CSS, no scripts, no network) with the PNG figures
beside it in ``figures/``. Every number on the page comes from a table written next to it
(``tables/*.csv``) and carries n, its interval and the test used (in the table or in a tooltip).

Rendered with jinja2 in a sandbox with autoescaping on: model names, item text and paths are
data, shown as text.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..core.stats import MIN_INTERVAL_UNITS
from ..instruments.compass_summary import answered_text
from ..errors import PolistanceError
from ..prompts import PROMPT_DIR
from .frames import ALL

TEMPLATE = "report.html.j2"


@lru_cache(maxsize=1)
def _env():
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(loader=FileSystemLoader(str(PROMPT_DIR)), undefined=StrictUndefined, autoescape=True)


def _num(v, spec: str = "+.3f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return format(v, spec)


def _p(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _interval(lo, hi, spec: str = "+.3f", how: str | None = None) -> str:
    """An interval as ``[lo, hi]``; without one, the reason when it is too few units (``core.stats``), else "–"."""
    if lo is None or hi is None or any(isinstance(x, float) and math.isnan(x) for x in (lo, hi)):
        return no_interval_text(how)
    return f"[{format(lo, spec)}, {format(hi, spec)}]"


def no_interval_text(how: str | None) -> str:
    """What a table cell shows where no interval was made: "no interval (n < 6)" for too few units."""
    return f"no interval (n < {MIN_INTERVAL_UNITS})" if how and how.startswith("none (fewer than") else "–"


def _sign(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or abs(v) < 1e-12:
        return ""
    return "pos" if v > 0 else "neg"


def estimate_rows(table: pd.DataFrame | None, spec: str = "+.3f", extra: Sequence[str] = ()) -> list[dict]:
    """Display rows for a table of ``Estimate`` columns: formatted numbers plus a tooltip that names
    n, the interval method and the test."""
    if table is None or table.empty:
        return []
    rows = []
    for r in table.to_dict(orient="records"):
        q = r.get("p_adjusted")
        tip = (
            f"n = {r.get('n_items')} items" + (f" ({r['n_forms']} forms)" if r.get("n_forms") is not None else "")
            + f"; interval: {r.get('interval')}; test: {r.get('test')}; p = {_p(r.get('p_value'))}"
            + (f"; BH-adjusted p = {_p(q)}" if q is not None else "")
        )
        row = {
            **{k: r.get(k) for k in ("model", "reference", "bank", "measure", "meaning")},
            "topic": str(r.get("topic", "")).replace("_", " "),
            "pooled": r.get("topic") == ALL,
            "estimate": _num(r.get("estimate"), spec),
            "sign": _sign(r.get("estimate")) if spec.startswith("+") else "",
            "interval": _interval(r.get("ci_low"), r.get("ci_high"), spec, r.get("interval")),
            "interval_how": r.get("interval"),
            "n": r.get("n_items"),
            "test": r.get("test"),
            "p": _p(r.get("p_value")),
            "q": _p(q) if "p_adjusted" in r else None,
            "sig": r.get("significance", ""),
            "tip": tip,
        }
        for k in extra:
            row[k] = r.get(k)
        rows.append(row)
    return rows


def _stability_rows(table: pd.DataFrame | None) -> list[dict]:
    rows = estimate_rows(table, ".3f", extra=("n_units",))
    if table is None or table.empty:
        return rows
    for row, r in zip(rows, table.to_dict(orient="records")):
        row["vs"] = _num(r.get("vs_reference"))
        row["vs_interval"] = _interval(r.get("vs_reference_ci_low"), r.get("vs_reference_ci_high"))
        row["vs_sign"] = _sign(r.get("vs_reference"))
    return rows


def _health_rows(table: pd.DataFrame | None) -> list[dict]:
    rows = estimate_rows(table, ".3f", extra=("n_forms", "n_ok", "n_off_format", "n_failed", "n_partial_coverage"))
    if table is None or table.empty:
        return rows
    for row, r in zip(rows, table.to_dict(orient="records")):
        row["median"] = _num(r.get("median_mass"), ".3f")
        row["n_partial_coverage"] = int(r.get("n_partial_coverage") or 0)
    return rows


def coverage_notes(table: pd.DataFrame | None) -> list[str]:
    """One sentence per (model, bank) whose forms were read from top log-probabilities lacking some digits."""
    if table is None or table.empty or "n_partial_coverage" not in table:
        return []
    return [f"{r['model']} on {r['bank']}: {int(r['n_partial_coverage'])} of {int(r['n_forms'])} forms lacked some digits among "
            f"the returned log-probabilities (mean {r['mean_coverage']:.1f} of 10 present)"
            for r in table.to_dict(orient="records") if r.get("n_partial_coverage")]


def _item_rows(table: pd.DataFrame | None) -> list[dict]:
    if table is None or table.empty:
        return []
    out = []
    for r in table.to_dict(orient="records"):
        out.append(
            {
                "model": r["model"], "bank": r["bank"], "item": r["item_id"], "topic": r["topic"].replace("_", " "), "keying": r["keying"],
                "n": r["n_forms"], "ref": _num(r["agreement_ref"], ".2f"), "value": _num(r["agreement"], ".2f"),
                "shift": _num(r["agreement_shift"], "+.2f"), "sign": _sign(r["agreement_shift"]),
                "interval": _interval(r["ci_low"], r["ci_high"], "+.2f", r["interval"]), "p": _p(r["p_value"]),
                "w1": _num(r["wasserstein1"], ".2f"), "stance": _num(r["stance_shift"], "+.3f"),
                "tip": f"{r['n_forms']} forms; interval: {r['interval']}; test: {r['test']}",
            }
        )
    return out


def _compass_rows(compass: dict | None) -> list[dict]:
    if not compass:
        return []
    out = []
    for r in compass["rows"]:
        out.append(
            {
                "model": r["model"], "answered": answered_text(r),
                "econ": _num(r["econ"], "+.2f"), "econ_ci": _interval(r["econ_lo"], r["econ_hi"], "+.2f"),
                "soc": _num(r["soc"], "+.2f"), "soc_ci": _interval(r["soc_lo"], r["soc_hi"], "+.2f"),
                "argmax": f"({_num(r['argmax_econ'], '+.2f')}, {_num(r['argmax_soc'], '+.2f')})",
                "agreement": _num(r["agreement"], ".3f"), "mass": _num(r["mean_mass"], ".3f"),
                "off": r["forms_off_format"],
                "tip": f"{r['answered']} propositions answered; 95% percentile bootstrap over each axis's answered propositions; "
                       f"stability = share of pairs of forms giving the same forced answer",
            }
        )
    return out


def elaboration_context(table: pd.DataFrame, models: Sequence[str] = ()) -> dict:
    """The elaboration section: one row per model and target kind (all topics) with each category's count and share."""
    from ..instruments.elaboration import CATEGORIES
    from .elaboration_tables import elaboration_bars

    rows = []
    for label, g in elaboration_bars(table, models):
        cells = [f"{int(g.loc[c, 'count'])} ({_num(g.loc[c, 'rate'], '.0%')})" if c in g.index else "–" for c in CATEGORIES]
        first = g.iloc[0]
        rows.append([label, *cells, int(first["n_scored"]), int(first["n_unscored"])])
    return {
        "lead": "After its answer is put in its mouth, the model is asked \"Please elaborate on why you chose that number.\" "
                "and a grader sorts each reply into Incoherent, Non-answer, Contradiction, Reversal or Justification "
                "(the sports-team paper's categories). Shares are over the replies the grader could score; replies it "
                "could not read are counted as unscored, never guessed.",
        "columns": ["model", *CATEGORIES, "scored", "unscored"],
        "rows": rows,
    }


def report_title(meta: dict, roles: dict[str, str]) -> str:
    """The page's heading: what the report compares, as it is (one model, base vs adapters, or models)."""
    models = meta["models"]
    if len(models) == 1:
        return f"Political stance of {meta.get('model') or models[0]}"
    if any(r in ("adapter", "control") for r in roles.values()):
        return "Political stance: base model vs adapters"
    return f"Political stance: {len(models)} models"


def write_report(folder: Path, tabs: dict[str, pd.DataFrame], figures: list[dict], meta: dict, manifest: dict | None,
                 compass: dict | None = None, elaboration: dict | None = None, reliability: dict | None = None,
                 unforced: dict | None = None, paired: dict | None = None) -> Path:
    """Render ``report.html`` into ``folder`` and return its path."""
    from jinja2 import TemplateError

    from ..version import __version__
    from ..engine.runs import atomic_write
    from .figures import model_colours

    folder = Path(folder)
    for f in figures:
        if not (folder / f["path"]).is_file():
            raise PolistanceError(f"report: figure {f['path']} was not written")
    shift = tabs.get("topic_shift")
    colours = model_colours(meta["models"], meta["reference"])
    bases = set(meta.get("base_models") or [])
    roles = {m: ("reference" if m == meta["reference"] else "control" if m == meta.get("control")
                 else "model" if m in bases else "adapter") for m in meta["models"]}
    grader = meta.get("grader") or {}
    context = {
        "meta": meta,
        "title": report_title(meta, roles),
        "version": __version__,
        "manifest": manifest or {},
        "models": [{"label": m, "adapter": (meta.get("adapters") or {}).get(m), "role": roles[m], "colour": colours[m]} for m in meta["models"]],
        "figures": figures,
        "figs": {s: [f for f in figures if f["section"] == s] for s in {f["section"] for f in figures}},
        "stance_rows": estimate_rows(shift[shift["measure"] == "stance_shift"] if shift is not None and len(shift) else None),
        "agreement_rows": estimate_rows(shift[shift["measure"] == "agreement_shift"] if shift is not None and len(shift) else None, "+.2f"),
        "w1_rows": estimate_rows(shift[shift["measure"] == "wasserstein1"] if shift is not None and len(shift) else None, ".3f"),
        "control_rows": estimate_rows(tabs.get("control_adjusted")),
        "entropy_rows": estimate_rows(tabs.get("entropy")),
        "stability_rows": _stability_rows(tabs.get("stability")),
        "health_rows": _health_rows(tabs.get("health")),
        "coverage_notes": coverage_notes(tabs.get("health")),
        "item_rows": _item_rows(tabs.get("items")),
        "compass_rows": _compass_rows(compass),
        "elaboration": elaboration,
        "reliability": reliability,
        "unforced": unforced,
        "paired": paired,
        "min_interval_units": MIN_INTERVAL_UNITS,
        "grader": grader,
        "tables": sorted(p.name for p in (folder / "tables").glob("*.csv")) if (folder / "tables").is_dir() else [],
        "lm_eval_files": sorted(str(p.relative_to(folder)) for p in (folder / "lm_eval").rglob("results_*.json")) if (folder / "lm_eval").is_dir() else [],
    }
    try:
        text = _env().get_template(TEMPLATE).render(**context)
    except TemplateError as e:
        raise PolistanceError(f"report template {TEMPLATE}: {e}") from None
    out = folder / "report.html"
    atomic_write(out, text)
    return out
