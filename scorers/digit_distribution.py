"""Score a 0-9 answer by the distribution over the ten digits in the first answer token's top
log-probabilities, with the same scoring core (and the same per-item record) as ``polistance eval``.

Score value (one dict per item): ``expected`` (the 0-9 expected digit), ``agreement`` (the same
read on the item's own claim: ``9 - E`` on a reversed-scale form) and ``stance`` (-1 fully left ..
+1 fully right), all NaN unless the item was answered in format; ``mass`` (probability on
digits before renormalising) and ``entropy``; flags ``no_digit`` (no digit among the top
log-probabilities at all) and ``off_format`` (digits present but holding less than ``min_mass``);
``coverage``, how many of the ten digits were among the returned log-probabilities, and the flag
``partial_coverage`` (some but not all ten). The full distribution is kept in the score metadata.

A distribution renormalised over the digits that happen to be returned pulls the answer toward the
most likely digit (on the embedded model, 2 items gave E = 1.38 from 20 log-probabilities against
the exact 1.82). So partial coverage is never silent: it is a metric, each such sample says so in
its transcript, and the first one of a run warns on the console and in the log (``scorers.coverage``).
"""

from __future__ import annotations

import math

from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from polistance_plugins.core import digit_distribution_from_logprobs
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.instruments.questionnaire import Form, score_record

from .coverage import coverage_alarm, is_partial
from .logprobs import first_token_logprobs
from .metrics import summary

# Means over samples. Not ``expected``: averaged over normal and reversed forms, raw digits mean nothing.
MEANS = ["agreement", "stance", "entropy", "mass", "coverage"]
COUNTS = ["no_digit", "off_format", "partial_coverage"]


def _num(v) -> float:
    return math.nan if v is None else float(v)


def digit_value(record: dict) -> dict[str, float]:
    """The numeric score dict for one ``score_record``: measured values, NaN where nothing was measured."""
    ok = record["status"] == "ok"
    return {
        "expected": _num(record["expected"]) if ok else math.nan,
        "agreement": _num(record["agreement"]) if ok else math.nan,
        "stance": _num(record["stance"]) if ok else math.nan,
        "entropy": _num(record["entropy"]) if ok else math.nan,
        "mass": float(record["mass"]),
        "no_digit": 1.0 if record["status"] == "no_options" else 0.0,
        "off_format": 1.0 if record["status"] == "off_format" else 0.0,
        "coverage": float(record["coverage"]),
        "partial_coverage": 1.0 if is_partial(record["coverage"], len(record["probs"])) else 0.0,
    }


@scorer(metrics=[summary(means=MEANS, counts=COUNTS, by="topic")])
def digit_distribution(top_k: int | None = None, min_mass: float = DEFAULT_MIN_MASS) -> Scorer:
    """The 0-9 answer distribution from the first answer token's top log-probabilities.

    Args:
      top_k: keep only the ``top_k`` most probable tokens before looking for digits (5 reproduces the
        sports-team paper's top-5 renormalisation); None keeps every returned token.
      min_mass: below this probability on the digits the item is off-format and left out of the
        means of expected, stance and entropy (as in ``polistance eval``).
    """

    alarm = coverage_alarm("questionnaire", "digit")

    async def score(state: TaskState, target: Target) -> Score:
        form = Form.from_fields(state.metadata)
        logprobs = first_token_logprobs(state.output, top_k)
        if logprobs is None:
            return Score.unscored(
                reason="scoring_failed",
                explanation="the model returned no log-probabilities (use a provider that supports logprobs)",
            )
        dist = digit_distribution_from_logprobs(logprobs)
        record = score_record(form, dist, min_mass)
        alarm(state, form.key, record["coverage"], len(record["probs"]), len(logprobs))
        answer = str(dist.mode) if dist.valid else None
        explanation = (
            f"E={record['expected']:.3f} stance={record['stance']:+.3f} mass={record['mass']:.3g}"
            if record["status"] == "ok"
            else f"{record['status']}: digit mass {record['mass']:.3g} among {len(logprobs)} returned tokens"
        )
        return Score(
            value=digit_value(record),
            answer=answer,
            explanation=explanation,
            reason=None if record["status"] == "ok" else "invalid_response_format",
            metadata={"record": record, "top_k": top_k, "tokens_returned": len(logprobs)},
        )

    return score
