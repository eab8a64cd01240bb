"""Inspect scorer for the compass task: the four-option Likert answer of each form, and the coordinates.

With logprobs (number labels), the answer distribution comes from the first answer token's top
log-probabilities: the labels "1".."4" that appear are kept and renormalised, their raw total is
the option mass, and forms under ``min_mass`` are unscored as off-format. The score metadata says
which labels were there (``present``, canonical order) and how many (``coverage``, of 4): a label
missing from the returned log-probabilities gets probability 0 and the renormalised answer skews
toward the most likely label, so partial coverage is never silent (the ``coverage`` and
``partial_coverage`` metrics, a transcript note per such sample, one warning per run). Otherwise (a
text-only model, or word labels, whose first token "Strong..." is shared by two options) the first
line of the reply is parsed strictly: it must be exactly one option (its number, or its words);
anything else is unscored with the reason. The ``econ`` and ``social`` metrics pool the forms per
proposition and compute the coordinates with ``polistance_plugins.core.compass``.
"""

from __future__ import annotations

import math
import re

from inspect_ai.scorer import Metric, SampleScore, Score, Target, mean, metric, scorer
from inspect_ai.solver import TaskState

from polistance_plugins.core import Distribution, option_distribution_from_logprobs
from polistance_plugins.core.compass import LIKERT, answered_counts, argmax_answer, compass_point, load_weights
from polistance_plugins.core.compass_stability import FormAnswer, pool, stability
from polistance_plugins.core.records import DEFAULT_MIN_MASS, format_status
from polistance_plugins.instruments.compass import LikertForm, canonical_distribution

from .coverage import coverage_alarm, coverage_fields, coverages_of, mean_coverage, partial_count
from .logprobs import first_token_logprobs


def parse_first_line(form: LikertForm, completion: str) -> int | None:
    """Strict parse: the reply's first non-empty line must be exactly one listed choice.

    Accepted: the choice itself ("3" or "Agree"), optionally with a final period, any case; with
    number labels also the number followed by its own option words ("3. Agree"). Returns the
    listed position, or None.
    """
    lines = [ln.strip() for ln in completion.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    answer = re.sub(r"[.\s]+$", "", lines[0]).strip().strip("*").strip().lower()
    words = [w.lower() for w in form.option_words]
    for pos, choice in enumerate(form.choices):
        accepted = {choice.lower()}
        if form.labels == "numbers":
            accepted |= {f"{choice}. {words[pos]}", f"{choice} {words[pos]}", f"{choice}) {words[pos]}"}
        if answer in accepted:
            return pos
    return None


def _pooled_point(scores: list[SampleScore], forced: bool) -> tuple[float, float]:
    answers, weights = _form_answers(scores)
    if weights is None:
        return math.nan, math.nan
    pooled = pool(answers, len(weights))
    return compass_point([argmax_answer(p) for p in pooled] if forced else pooled, weights)


def _form_answers(scores: list[SampleScore]):
    answers, names = [], set()
    for s in scores:
        meta = s.score.metadata or {}
        if meta.get("weights") is not None:
            names.add(meta["weights"])
        if meta.get("probs") is None:
            continue
        answers.append(FormAnswer(meta["index"], meta["paraphrase"], meta["order"], meta["labels"], tuple(meta["probs"])))
    if len(names) > 1:
        raise ValueError(f"scores from different questionnaires in one metric: {sorted(names)}")
    return answers, (load_weights(names.pop()) if names else None)


@metric
def econ() -> Metric:
    """Economic coordinate (-10 left .. +10 right) expected under the pooled answer distributions."""

    def compute(scores: list[SampleScore]) -> float:
        return _pooled_point(scores, forced=False)[0]

    return compute


@metric
def social() -> Metric:
    """Social coordinate (-10 libertarian .. +10 authoritarian) expected under the pooled answer distributions."""

    def compute(scores: list[SampleScore]) -> float:
        return _pooled_point(scores, forced=False)[1]

    return compute


@metric
def econ_argmax() -> Metric:
    """Economic coordinate of each proposition's most probable answer (what a forced answer gives)."""

    def compute(scores: list[SampleScore]) -> float:
        return _pooled_point(scores, forced=True)[0]

    return compute


@metric
def social_argmax() -> Metric:
    """Social coordinate of each proposition's most probable answer (what a forced answer gives)."""

    def compute(scores: list[SampleScore]) -> float:
        return _pooled_point(scores, forced=True)[1]

    return compute


def _counts(scores: list[SampleScore]) -> tuple[int, int] | None:
    answers, weights = _form_answers(scores)
    return None if weights is None else answered_counts(pool(answers, len(weights)), weights)["all"]


@metric
def answered() -> Metric:
    """How many propositions have at least one form answered in format: what the point rests on."""

    def compute(scores: list[SampleScore]) -> float:
        counts = _counts(scores)
        return math.nan if counts is None else float(counts[0])

    return compute


@metric
def unanswered() -> Metric:
    """How many of the questionnaire's propositions the point lacks (off-format or unparsed on every
    form, or not asked under --limit); above 0 the point rests on a partial answer set."""

    def compute(scores: list[SampleScore]) -> float:
        counts = _counts(scores)
        return math.nan if counts is None else float(counts[1] - counts[0])

    return compute


@metric
def answer_stability() -> Metric:
    """Share of pairs of forms of a proposition whose forced answers agree (1 = never changes)."""

    def compute(scores: list[SampleScore]) -> float:
        answers, weights = _form_answers(scores)
        return math.nan if weights is None else stability(answers, weights)["agreement"]

    return compute


@metric
def coverage() -> Metric:
    """Mean number of the four option labels among the returned log-probabilities, over the forms read
    from them and scored (off-format forms are unscored; NaN when none was)."""

    def compute(scores: list[SampleScore]) -> float:
        return mean_coverage(coverages_of(scores))

    return compute


@metric
def partial_coverage() -> Metric:
    """Forms with some but not all four labels among the returned log-probabilities: their distribution
    is renormalised over the labels present and skews toward the most likely one."""

    def compute(scores: list[SampleScore]) -> float:
        return partial_count(coverages_of(scores), len(LIKERT))

    return compute


@scorer(metrics=[econ(), social(), econ_argmax(), social_argmax(), answered(), unanswered(), answer_stability(), mean(),
                 coverage(), partial_coverage()])
def likert(min_mass: float = DEFAULT_MIN_MASS):
    """Score a Likert reply: value = expected answer 0 (strongly disagree) .. 3 (strongly agree); the
    canonical distribution, mass and method go to the score's metadata for the compass metrics, and
    for a logprob answer which labels were among the returned log-probabilities."""

    alarm = coverage_alarm("compass", "option label")

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata
        form = LikertForm.from_fields(meta)
        base = {k: meta[k] for k in ("weights", "index", "item_id", "paraphrase", "order", "labels")}
        top = first_token_logprobs(state.output) if state.output else None
        completion = state.output.completion if state.output else ""
        read = {}
        if top is not None and form.token_choices:
            dist = canonical_distribution(form, option_distribution_from_logprobs(top, form.token_choices))
            method = "logprobs"
            read = coverage_fields(dist, len(top))
            alarm(state, form.key, dist.coverage, len(LIKERT), len(top))
            status = format_status(dist, min_mass)
            if status != "ok":
                why = ("no option label among the first token's top logprobs" if status == "no_options"
                       else f"option labels held {dist.mass:.3f} of the probability (< {min_mass})")
                return Score.unscored(reason="off_format", answer=completion, explanation=why,
                                      metadata={**base, "probs": None, "mass": dist.mass if dist.valid else 0.0, "method": method, **read})
        else:
            pos = parse_first_line(form, completion)
            method = "text"
            if pos is None:
                return Score.unscored(reason="unparseable", answer=completion,
                                      explanation=f"first line is not exactly one of {', '.join(form.choices)}",
                                      metadata={**base, "probs": None, "mass": None, "method": method})
            listed = [1.0 if k == pos else 0.0 for k in range(4)]
            dist = Distribution(form.canonical(listed), 1.0, LIKERT)
        probs = [round(p, 10) for p in dist.probs]
        return Score(
            value=dist.expected,
            answer=completion,
            explanation=f"P(sd, d, a, sa) = {', '.join(f'{p:.3f}' for p in probs)} ({method})",
            metadata={**base, "probs": probs, "mass": dist.mass, "method": method, **read},
        )

    return score
