"""The political compass: propositions -> forms -> Likert answer distributions -> compass points.

A proposition is asked in several *forms*: each paraphrase x option order (listed strongly
disagree .. strongly agree, or reversed) x label style (answer with the option's number 1-4, or
with its words). Each form's answer is the distribution over the four options (exact
probabilities of the option labels, renormalised, raw mass kept); a form whose options held
less than ``min_mass`` of the probability is ``off_format`` and left out of the point.
Per proposition the in-format forms are pooled (mean distribution), and ``scoring.compass``
turns the pooled answers into the expected point, the argmax point, bootstrap intervals and
the stability of the forced answer across forms. Shared by the CLI, lm-eval and Inspect.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .errors import PolistanceError
from .prompts import render, template_source
from .scoring import Distribution, distribution_from_option_logprobs
from .scoring.compass import (
    LIKERT,
    CompassWeights,
    FormAnswer,
    argmax_answer,
    bootstrap_interval,
    compass_point,
    expected_weight,
    load_weights,
    pool,
    stability,
    weights_from_items,
)

TEMPLATE = "likert_question.j2"
SOURCES = ("compass", "pct")
ORDERS = ("normal", "reversed")
LABEL_STYLES = ("numbers", "words")
WORDS: tuple[str, ...] = ("Strongly disagree", "Disagree", "Agree", "Strongly agree")
NUMBERS: tuple[str, ...] = ("1", "2", "3", "4")
DEFAULT_MIN_MASS = 0.05
PCT_HELP = (
    "obtain the official propositions file from the llm-values-pct repository "
    "(data/templates/pct_propositions.csv, CC BY 4.0) and pass it with --pct-file FILE "
    "(Inspect: -T pct_file=FILE; lm-eval: --metadata='{\"pct_file\": \"FILE\"}'); see docs/compass.md"
)


# ---- sources -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposition:
    """One proposition: its id, the axis it scores on, and its wordings."""

    id: str
    axis: str
    wordings: tuple[str, ...]


@dataclass(frozen=True)
class CompassSource:
    """A questionnaire: propositions in file order and the weight tables that score them."""

    name: str
    propositions: tuple[Proposition, ...]
    weights: CompassWeights
    path: str
    sha256: str

    def __len__(self) -> int:
        return len(self.propositions)


def load_source(source: str = "compass", pct_file: str | Path | None = None) -> CompassSource:
    """The project's bank (``"compass"``, or a compass-style .jsonl path) or the official test (``"pct"`` + file)."""
    if source == "pct":
        from .pct import file_sha256, load_pct_file

        if not pct_file:
            raise PolistanceError(f"source 'pct' needs the propositions file: {PCT_HELP}")
        rows = load_pct_file(pct_file)
        weights = load_weights("pct")
        if len(weights) != len(rows):
            raise PolistanceError(f"the PCT weight tables have {len(weights)} rows but {pct_file} has {len(rows)}")
        props = tuple(Proposition(r.pct_id, weights.axis_of(i), (r.text,)) for i, r in enumerate(rows))
        return CompassSource("pct", props, weights, str(Path(pct_file).resolve()), file_sha256(pct_file))
    if pct_file:
        raise PolistanceError(f"--pct-file is only used with source 'pct' (got source {source!r})")
    if source != "compass" and not str(source).endswith(".jsonl"):
        raise PolistanceError(f"unknown compass source {source!r}: use 'compass', 'pct' or a compass-style .jsonl bank")
    from .banks import load_bank
    from .banks.compass_schema import CompassItem

    bank = load_bank(source, model=CompassItem)
    props = tuple(Proposition(it.id, it.axis, tuple(it.wordings)) for it in bank.items)
    return CompassSource(bank.name, props, weights_from_items(bank.items, bank.name), str(bank.path), bank.sha256)


# ---- forms ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LikertForm:
    """One way of asking a proposition: which wording, which option order, which label style."""

    index: int
    item_id: str
    axis: str
    paraphrase: int
    order: str
    labels: str
    text: str

    @property
    def key(self) -> str:
        """Stable id of the form within its source: ``<item>/p<k>/<order>/<labels>``."""
        return f"{self.item_id}/p{self.paraphrase}/{self.order}/{self.labels}"

    @property
    def listed(self) -> tuple[int, ...]:
        """Canonical option index (0 = strongly disagree .. 3 = strongly agree) of each listed option."""
        return (0, 1, 2, 3) if self.order == "normal" else (3, 2, 1, 0)

    @property
    def option_words(self) -> list[str]:
        return [WORDS[i] for i in self.listed]

    @property
    def choices(self) -> tuple[str, ...]:
        """The answer strings in listed order: the numbers 1-4, or the option words."""
        return NUMBERS if self.labels == "numbers" else tuple(self.option_words)

    def metadata(self) -> dict:
        """The form's fields plus its choices: what a harness sample carries to rebuild the form."""
        return {"index": self.index, "item_id": self.item_id, "axis": self.axis, "paraphrase": self.paraphrase,
                "order": self.order, "labels": self.labels, "text": self.text, "choices": list(self.choices)}

    def prompt(self, template: str = TEMPLATE) -> str:
        """The user message for this form."""
        return render(template, text=self.text, options=self.option_words, labels=self.labels)

    def canonical(self, listed_values: Sequence) -> tuple:
        """Reorder per-listed-option values into canonical order."""
        out = [None] * 4
        for pos, idx in enumerate(self.listed):
            out[idx] = listed_values[pos]
        return tuple(out)


def build_forms(
    source: CompassSource,
    paraphrases: str = "all",
    orders: Sequence[str] = ORDERS,
    labels: Sequence[str] = LABEL_STYLES,
) -> list[LikertForm]:
    """Every form of every proposition, grouped by proposition in file order."""
    bad = [o for o in orders if o not in ORDERS] + [s for s in labels if s not in LABEL_STYLES]
    if bad:
        raise PolistanceError(f"unknown option order or label style {bad[0]!r} (orders: {', '.join(ORDERS)}; labels: {', '.join(LABEL_STYLES)})")
    forms = []
    for i, prop in enumerate(source.propositions):
        wordings = prop.wordings if paraphrases == "all" else prop.wordings[:1]
        for k, text in enumerate(wordings):
            for order in orders:
                for style in labels:
                    forms.append(LikertForm(i, prop.id, prop.axis, k, order, style, text))
    return forms


# ---- per-form scores -----------------------------------------------------------------------------
def canonical_distribution(form: LikertForm, listed: Distribution) -> Distribution:
    """A distribution over the listed choices, re-expressed over the canonical Likert options."""
    return Distribution(form.canonical(listed.probs), listed.mass, LIKERT, form.canonical(listed.present))


def distribution_from_choice_logprobs(form: LikertForm, logprobs: Sequence[float]) -> Distribution:
    """Canonical distribution from one log-probability per listed choice (the form's ``choices``)."""
    return canonical_distribution(form, distribution_from_option_logprobs(logprobs, form.choices))


def format_status(dist: Distribution, min_mass: float) -> str:
    """"ok", "off_format" (options held under ``min_mass`` of the probability) or "no_options"."""
    if not dist.valid:
        return "no_options"
    return "off_format" if dist.mass < min_mass else "ok"


def _r(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else round(v, 10)


def score_form(form: LikertForm, dist: Distribution, weights: CompassWeights, min_mass: float = DEFAULT_MIN_MASS) -> dict:
    """Per-form scores: canonical probabilities, raw option mass, status, answer statistics, axis weights."""
    probs = tuple(dist.probs)
    valid = dist.valid
    return {
        "probs": [round(p, 10) for p in probs],
        "present": list(dist.present),
        "mass": float(dist.mass),
        "status": format_status(dist, min_mass),
        "expected": _r(dist.expected),
        "argmax": dist.mode,
        "entropy": _r(dist.entropy),
        "econ": _r(expected_weight(probs, weights.econ.rows[form.index])) if valid else None,
        "soc": _r(expected_weight(probs, weights.soc.rows[form.index])) if valid else None,
    }


# ---- evaluation ----------------------------------------------------------------------------------
def record_key(label: str, source: str, form: LikertForm) -> str:
    return f"{label}|{source}|{form.key}"


def base_record(label: str, adapter: str | None, source: str, form: LikertForm, prompt: str) -> dict:
    """The fields every compass record starts with: who answered which form, before any score."""
    return {
        "key": record_key(label, source, form),
        "model": label,
        "adapter": adapter,
        "source": source,
        "index": form.index,
        "item_id": form.item_id,
        "axis": form.axis,
        "paraphrase": form.paraphrase,
        "order": form.order,
        "labels": form.labels,
        "choices": list(form.choices),
        "options": list(LIKERT),
        "prompt": prompt,
    }


def compass_run_config(backend_info: dict, source: CompassSource, variants, forms, seed: int, min_mass: float, n_resamples: int) -> dict:
    """What defines a compass run's results: compared on --resume, stored in the manifest."""
    from .evaluate import adapter_hash

    return {
        "package_version": __version__,
        "backend": backend_info,
        "source": source.name,
        "source_path": source.path,
        "source_sha256": source.sha256,
        "weights": source.weights.name,
        "template": TEMPLATE,
        "template_sha256": hashlib.sha256(template_source(TEMPLATE).encode()).hexdigest(),
        "variants": [{"label": v.label, "adapter": v.adapter_path, "adapter_sha256": adapter_hash(v.adapter_path)} for v in variants],
        "forms": len(forms),
        "forms_sha256": hashlib.sha256("\n".join(f.key for f in forms).encode()).hexdigest(),
        "seed": seed,
        "min_mass": min_mass,
        "n_resamples": n_resamples,
    }


def evaluate_compass(
    backend,
    source: CompassSource,
    forms: Sequence[LikertForm],
    variants: Sequence,
    writer,
    batch_size: int = 16,
    min_mass: float = DEFAULT_MIN_MASS,
    on_record: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> dict:
    """Score every form for every variant in fixed batches; append records as batches finish.

    Within a batch, forms that share their answer choices go to the backend together: with
    number labels every option is one token, so one forward pass gives all four probabilities.
    """
    from tqdm import tqdm

    prompts = [f.prompt() for f in forms]
    counts = {"recorded": 0, "skipped": 0, "failed": 0, "off_format": 0}
    bar = tqdm(total=len(forms) * len(variants), desc="compass", unit="form", disable=not progress, leave=False)
    for variant in variants:
        with backend.use(variant.adapter):
            for start in range(0, len(forms), batch_size):
                idx = list(range(start, min(start + batch_size, len(forms))))
                keys = {i: record_key(variant.label, source.name, forms[i]) for i in idx}
                if all(keys[i] in writer.done for i in idx):
                    counts["skipped"] += len(idx)
                    bar.update(len(idx))
                    continue
                groups: dict[tuple[str, ...], list[int]] = {}
                for i in idx:
                    groups.setdefault(forms[i].choices, []).append(i)
                results = {}
                for choices, members in groups.items():
                    for i, res in zip(members, backend.score_prompts([prompts[i] for i in members], choices)):
                        results[i] = res
                for i in idx:
                    if keys[i] in writer.done:
                        counts["skipped"] += 1
                        continue
                    form, res = forms[i], results[i]
                    rec = base_record(variant.label, variant.adapter_path, source.name, form, prompts[i])
                    if res.error is not None:
                        rec.update({"status": "failed", "error": res.error})
                        counts["failed"] += 1
                    else:
                        rec.update(score_form(form, canonical_distribution(form, res.distribution), source.weights, min_mass))
                        rec["method"] = res.method
                        counts["off_format"] += rec["status"] != "ok"
                    writer.append(rec)
                    counts["recorded"] += 1
                    if on_record:
                        on_record(rec)
                bar.update(len(idx))
    bar.close()
    return counts


# ---- summaries -----------------------------------------------------------------------------------
def form_answers(records: Sequence[dict]) -> list[FormAnswer]:
    """Records as ``FormAnswer``s; only in-format forms carry probabilities."""
    return [
        FormAnswer(r["index"], r["paraphrase"], r["order"], r["labels"], tuple(r["probs"]) if r.get("status") == "ok" else None)
        for r in records
    ]


def summarise_model(records: Sequence[dict], source: CompassSource, n_resamples: int = 2000, seed: int = 0) -> dict:
    """One model's point(s), intervals, stability and format health from its per-form records."""
    forms = form_answers(records)
    pooled = pool(forms, len(source))
    forced = [argmax_answer(p) for p in pooled]
    w = source.weights
    expected = compass_point(pooled, w)
    argmax = compass_point(forced, w)
    ci_e = bootstrap_interval(pooled, w, n_resamples=n_resamples, seed=seed)
    ci_a = bootstrap_interval(forced, w, n_resamples=n_resamples, seed=seed)
    stab = stability(forms, w)
    masses = [r["mass"] for r in records if r.get("mass") is not None]
    return {
        "model": records[0]["model"] if records else None,
        "adapter": records[0].get("adapter") if records else None,
        "source": source.name,
        "propositions": len(source),
        "answered": sum(p is not None for p in pooled),
        "forms": len(records),
        "forms_ok": sum(r.get("status") == "ok" for r in records),
        "forms_off_format": sum(r.get("status") in ("off_format", "no_options") for r in records),
        "forms_failed": sum(r.get("status") == "failed" for r in records),
        "mean_mass": sum(masses) / len(masses) if masses else math.nan,
        "expected": {"econ": expected[0], "soc": expected[1]},
        "expected_ci": {k: list(v) for k, v in ci_e.items()},
        "argmax": {"econ": argmax[0], "soc": argmax[1]},
        "argmax_ci": {k: list(v) for k, v in ci_a.items()},
        "stability": stab,
        "answers": [None if p is None else list(p) for p in pooled],
    }


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


@dataclass
class CompassRun:
    """What a compass run produced: its folder, per-model summaries and the write counts."""

    folder: Path
    summaries: list[dict]
    counts: dict
    plot: Path | None


def _json_safe(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def run_compass(
    backend,
    source: CompassSource,
    variants: Sequence,
    folder: Path,
    forms: Sequence[LikertForm] | None = None,
    batch_size: int = 16,
    min_mass: float = DEFAULT_MIN_MASS,
    n_resamples: int = 2000,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    plot: bool = True,
    on_record: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> CompassRun:
    """Evaluate the questionnaire for every variant into a run folder and write its summaries and plot.

    Files: ``items.jsonl`` (one record per form), ``propositions.csv`` (pooled per proposition),
    ``summary.json`` / ``summary.csv`` (per model), ``compass.png``, ``manifest.json``.
    """
    import pandas as pd

    from .runs import RunWriter, atomic_write, read_records, sort_records

    forms = list(forms) if forms is not None else build_forms(source)
    config = compass_run_config(backend.describe(), source, variants, forms, seed, min_mass, n_resamples)
    writer = RunWriter(Path(folder), config, resume=resume, overwrite=overwrite)
    try:
        counts = evaluate_compass(backend, source, forms, variants, writer, batch_size, min_mass, on_record, progress)
    finally:
        writer.close()
    order = [record_key(v.label, source.name, f) for v in variants for f in forms]
    records = sort_records(read_records(folder), order)
    summaries = []
    for v in variants:
        mine = [r for r in records if r["model"] == v.label]
        summaries.append(summarise_model(mine, source, n_resamples=n_resamples, seed=seed))
    folder = Path(folder)
    atomic_write(folder / "summary.json", json.dumps(_json_safe(summaries), indent=2, sort_keys=True) + "\n")
    atomic_write(folder / "summary.csv", pd.DataFrame(summary_rows(summaries)).to_csv(index=False))
    atomic_write(folder / "propositions.csv", pd.DataFrame(proposition_rows(records, source)).to_csv(index=False))
    png = None
    if plot:
        from .report.compass_plot import plot_compass

        png = plot_compass(summaries, folder / "compass.png", title=f"Political compass ({source.name}, {len(source)} propositions)")
    status = "complete" if counts["failed"] == 0 else "incomplete"
    writer.write_manifest(status=status, extra={"counts": counts})
    return CompassRun(folder, summaries, counts, png)
