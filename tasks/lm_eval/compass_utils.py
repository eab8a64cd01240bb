"""lm-eval glue for the polistance compass tasks: forms and per-form scores from
``instruments.compass``, coordinates from ``core.compass``.

Referenced from the YAMLs with ``!function compass_utils.<name>``. Each document is one form of a
proposition; ``process_results`` turns the four choice log-likelihoods into the canonical Likert
distribution and hands each form's answer to the aggregation functions, which pool the forms per
proposition and compute the coordinates exactly as ``polistance compass`` does.
"""

from __future__ import annotations

import math
from functools import lru_cache

from polistance_plugins.core.compass import answered_counts, argmax_answer, compass_point, load_weights
from polistance_plugins.core.compass_stability import FormAnswer, pool, stability
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.compass import (
    LABEL_STYLES,
    ORDERS,
    LikertForm,
    build_forms,
    distribution_from_choice_logprobs,
    load_source,
    score_form,
)

PCT_METADATA_HELP = (
    "polistance_pct needs the official Political Compass propositions file, which polistance does not bundle: "
    "pass it with --metadata='{\"pct_file\": \"/path/to/pct_propositions.csv\"}' (obtain it from the llm-values-pct "
    "repository, data/templates/pct_propositions.csv, CC BY 4.0; see docs/compass.md)"
)


def _split(value, default):
    if value is None:
        return default
    return tuple(v.strip() for v in value.split(",")) if isinstance(value, str) else tuple(value)


def _dataset(source: str, pct_file=None, paraphrases: str = "all", orders=None, labels=None, min_mass=DEFAULT_MIN_MASS):
    """A DatasetDict with one ``test`` row per form of the questionnaire (``min_mass`` travels with each row)."""
    import datasets

    src = load_source(source, pct_file)
    forms = build_forms(src, paraphrases, _split(orders, ORDERS), _split(labels, LABEL_STYLES))
    weights = src.name if src.name in ("compass", "pct") else src.path
    rows = [
        {"key": f.key, "weights": weights, **f.metadata(), "prompt": f.prompt(), "target": 0, "min_mass": float(min_mass)}
        for f in forms
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def compass_dataset(bank=None, paraphrases="all", orders=None, labels=None, min_mass=DEFAULT_MIN_MASS, **_):
    """The project's own compass bank (or ``--metadata='{"bank": "file.jsonl"}'`` for a compass-style bank).

    Other ``--metadata`` keys: ``paraphrases`` ("all"/"first"), ``orders`` and ``labels`` (comma lists),
    ``min_mass`` (default ``core.records.DEFAULT_MIN_MASS``).
    """
    return _dataset(bank or "compass", None, paraphrases, orders, labels, min_mass)


def pct_dataset(pct_file=None, paraphrases="all", orders=None, labels=None, min_mass=DEFAULT_MIN_MASS, **_):
    """The official test from the user's propositions file (``--metadata='{"pct_file": ...}'``)."""
    if not pct_file:
        raise PolistanceError(PCT_METADATA_HELP)
    return _dataset("pct", pct_file, paraphrases, orders, labels, min_mass)


@lru_cache(maxsize=8)
def _weights(name: str):
    return load_weights(name)


def process_results(doc: dict, results) -> dict:
    """Per-form metrics from the four choice log-likelihoods lm-eval computed.

    Forms whose choices held less than ``min_mass`` (default 5%) of the probability are off-format: they count in
    ``off_format`` and are left out of the coordinates and ``expected_answer``. lm-eval moves the
    chat template's trailing newline into the continuation, so ``option_mass`` is the polistance
    mass times P(newline), close to it for chat models; the renormalised distribution is the same.
    """
    form = LikertForm.from_fields(doc)
    dist = distribution_from_choice_logprobs(form, [float(ll) for ll, _ in results])
    scores = score_form(form, dist, _weights(doc["weights"]), doc["min_mass"])
    ok = scores["status"] == "ok"
    answer = [doc["weights"], form.index, form.paraphrase, form.order, form.labels, scores["probs"] if ok else None]
    return {
        "econ": answer,
        "social": answer,
        "econ_argmax": answer,
        "social_argmax": answer,
        "stability": answer,
        "answered": answer,
        "unanswered": answer,
        "expected_answer": scores["expected"] if ok else math.nan,
        "option_mass": dist.mass,
        "off_format": 0.0 if ok else 1.0,
    }


def _answers(items):
    """Per-form answers back as FormAnswers, with the weight table they belong to."""
    names = {it[0] for it in items}
    if len(names) != 1:
        raise ValueError(f"forms from different questionnaires in one aggregation: {sorted(names)}")
    weights = _weights(names.pop())
    forms = [FormAnswer(i, k, o, s, None if p is None else tuple(p)) for _, i, k, o, s, p in items]
    return forms, weights


def _point(items, forced: bool) -> tuple[float, float]:
    forms, weights = _answers(items)
    pooled = pool(forms, len(weights))
    answers = [argmax_answer(p) for p in pooled] if forced else pooled
    return compass_point(answers, weights)


def econ_coordinate(items) -> float:
    """Economic coordinate expected under the pooled answer distributions."""
    return _point(items, False)[0]


def social_coordinate(items) -> float:
    """Social coordinate expected under the pooled answer distributions."""
    return _point(items, False)[1]


def econ_argmax_coordinate(items) -> float:
    """Economic coordinate of each proposition's most probable (forced) answer."""
    return _point(items, True)[0]


def social_argmax_coordinate(items) -> float:
    """Social coordinate of each proposition's most probable (forced) answer."""
    return _point(items, True)[1]


def answered_propositions(items) -> float:
    """How many propositions have at least one form answered in format (what the point rests on)."""
    forms, weights = _answers(items)
    return float(answered_counts(pool(forms, len(weights)), weights)["all"][0])


def unanswered_propositions(items) -> float:
    """How many of the questionnaire's propositions the point lacks (off-format, or not asked)."""
    forms, weights = _answers(items)
    got, total = answered_counts(pool(forms, len(weights)), weights)["all"]
    return float(total - got)


def stability_agreement(items) -> float:
    """Share of pairs of forms of a proposition whose forced answers agree."""
    forms, weights = _answers(items)
    return stability(forms, weights)["agreement"]

