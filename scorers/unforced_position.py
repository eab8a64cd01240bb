"""The unforced compass answer: a grader (``grader`` role; ``grader2`` too when given) sorts the open
reply into one of five positions (``instruments.unforced.POSITIONS``) in several label orders.

Score value: one-hot over the positions, ``unscored`` (1 when the grader could not be read), and
``match`` (1 when the position is the forced answer's most probable option, 0 when it is another
option, NaN without a forced answer or with "No position"). Metrics: the shares per axis, the compass
point of the open answers with its interval (``unforced_point``), the grader's reliability, and how
many of the labels 1-4 the forced answers were read from (``forced_coverage``, ``forced_partial_coverage``:
a label missing from the returned log-probabilities skews the renormalised forced answer, so each such
sample says so in its transcript and the first one of a run warns, as in the compass task).
"""

from __future__ import annotations

import math

from inspect_ai.model import model_roles
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, metric, scorer
from inspect_ai.solver import TaskState

from polistance_plugins.core.compass import LIKERT, argmax_answer, load_weights
from polistance_plugins.core.label_orders import listed
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.instruments.unforced import NO_POSITION, POSITIONS, judge_prompt, parse_position, pooled_positions, top_positions, unforced_point

from .coverage import COVERAGE_FIELDS, coverage_alarm, coverages_of, mean_coverage, partial_count
from .graded_orders import grade_in_orders
from .grader import check_mode
from .metrics import summary
from .reliability import SECOND_ROLE, grader_reliability
from .weak_grader import NOTE, weak_grader, weakness_flag

FORCED_FIELDS = ("forced_probs", *(f"forced_{k}" for k in COVERAGE_FIELDS))
"""The forced answer's sample metadata (written by ``solvers.forced_then_open``, copied to the score):
``forced_probs`` (canonical, None when off-format) and ``forced_present``/``forced_coverage``/
``forced_tokens_returned`` (``coverage.coverage_fields``; None without log-probabilities)."""


def position_value(index: int | None, forced: list[float] | None) -> dict[str, float]:
    """One-hot over the positions plus ``unscored`` and ``match`` (see the module notes)."""
    if index is None:
        return {**{p: math.nan for p in POSITIONS}, "unscored": 1.0, "match": math.nan}
    match = math.nan if forced is None or index == NO_POSITION else float(argmax_answer(forced) == index)
    return {**{p: float(i == index) for i, p in enumerate(POSITIONS)}, "unscored": 0.0, "match": match}


@metric(scores="unreduced")
def unforced_point_metric(n_resamples: int = 1000, seed: int = 0) -> Metric:
    """``unforced_econ``, ``unforced_soc`` and their 95% interval bounds (``_lo``/``_hi``), plus
    ``no_position_share`` over propositions, from the pooled graded distributions per proposition."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        metas = [s.score.metadata or {} for s in scores]
        if not metas:
            return {}
        weights = load_weights(metas[0]["weights"])
        records = [{"index": m["index"], "grader_probs": m.get("grader_distribution")} for m in metas]
        top = top_positions(pooled_positions(records, len(weights)))
        got = unforced_point(top, weights, n_resamples, seed)
        graded = [t for t in top if t is not None]
        out = {"unforced_econ": got["point"]["econ"], "unforced_soc": got["point"]["soc"],
               "no_position_share": sum(t == NO_POSITION for t in graded) / len(graded) if graded else math.nan}
        for axis in ("econ", "soc"):
            out[f"unforced_{axis}_lo"], out[f"unforced_{axis}_hi"] = got["ci"][axis]
        return out

    return compute


def _forced_coverages(scores: list[SampleScore]) -> list[int]:
    """``forced_coverage`` per proposition (its first epoch's forced answer; every epoch asks it alike, at
    temperature 0) where that answer was read from log-probabilities in format (those ``match`` uses).
    The metrics take every epoch's scores, as the scorer's others do, so the log keeps one score entry."""
    first: dict = {}
    for s in scores:
        first.setdefault(s.sample_id, s)
    read = [s for s in first.values() if (s.score.metadata or {}).get("forced_probs") is not None]
    return coverages_of(read, "forced_coverage")


@metric(scores="unreduced")
def forced_coverage() -> Metric:
    """Mean number of the four labels among the forced answer's returned log-probabilities, over the
    propositions answered in format (NaN when none was)."""

    def compute(scores: list[SampleScore]) -> float:
        return mean_coverage(_forced_coverages(scores))

    return compute


@metric(scores="unreduced")
def forced_partial_coverage() -> Metric:
    """Propositions whose forced answer had some but not all four labels among the returned
    log-probabilities: renormalised over those, it skews toward the most likely one."""

    def compute(scores: list[SampleScore]) -> float:
        return partial_count(_forced_coverages(scores), len(LIKERT))

    return compute


@scorer(metrics=[summary(means=[*POSITIONS, "match"], counts=["unscored"], by="axis"), unforced_point_metric(),
                 grader_reliability(list(POSITIONS)), weak_grader(), forced_coverage(), forced_partial_coverage()])
def unforced_position(grader_mode: str = "logprob", grader_orders: int = 2, top_logprobs: int = 20,
                      min_mass: float = DEFAULT_MIN_MASS, max_tokens: int = 16) -> Scorer:
    """Grade the open reply into a position with the ``grader`` role (see the module notes).

    Args:
      grader_mode: "logprob" (the grader's probabilities of the position numbers) or "text".
      grader_orders: label orders the positions are listed in (forward, reversed, rotations), averaged.
      top_logprobs: next-token log-probabilities requested from the grader (logprob mode).
      min_mass: grader probability on the position numbers below which a reply is unscored.
      max_tokens: reply length allowed to the grader in text mode.
    """
    check_mode(grader_mode)
    weakness = weakness_flag()
    alarm = coverage_alarm("compass_unforced", "option label", metrics="forced_")

    async def score(state: TaskState, target: Target) -> Score:
        reply, statement = state.output.completion, state.metadata["text"]

        def prompt_for(order) -> str:
            return judge_prompt(statement, reply, grader_mode, listed(POSITIONS, order))

        async def grade(role: str) -> dict:
            g = await grade_in_orders(prompt_for, grader_mode, POSITIONS, parse_position, grader_orders, top_logprobs,
                                      min_mass, max_tokens, role=role)
            return {"label": POSITIONS[g["index"]] if g["index"] is not None else None,
                    "distribution": dict(zip(POSITIONS, g["probs"])) if g["probs"] is not None else None,
                    "order_labels": [POSITIONS[i] if i is not None else None for i in g["order_labels"]],
                    "order_probs": g["order_probs"], "problem": g["problem"]}

        first = await grade("grader")
        forced = state.metadata.get("forced_probs")
        metadata = {k: state.metadata[k] for k in ("weights", "index", "item_id", "axis")}
        metadata.update({k: state.metadata.get(k) for k in FORCED_FIELDS})
        if metadata["forced_coverage"] is not None:
            alarm(state, metadata["item_id"], metadata["forced_coverage"], len(LIKERT), metadata["forced_tokens_returned"])
        metadata.update(forced_answer=None if forced is None else POSITIONS[argmax_answer(forced)],
                        grader_label=first["label"], grader_distribution=first["distribution"],
                        grader_order_labels=first["order_labels"], grader_order_probs=first["order_probs"], **{NOTE: weakness()})
        if SECOND_ROLE in model_roles():
            metadata[SECOND_ROLE] = await grade(SECOND_ROLE)
        index = POSITIONS.index(first["label"]) if first["label"] is not None else None
        if index is None:
            return Score(value=position_value(None, forced), answer=None, explanation=first["problem"], reason="grader_failed",
                         metadata=metadata)
        return Score(value=position_value(index, forced), answer=first["label"], explanation=f"grader: {first['label']}",
                     metadata=metadata)

    return score
