"""The five-category elaboration judge (Terry 2025): a grader sorts each reply to "Please elaborate
on why you chose that number." into Incoherent, Non-answer, Contradiction, Reversal or Justification.

Score value (one dict per reply): a one-hot over the five categories plus ``unscored`` (0). When the
grader's answer cannot be read, the categories are NaN, ``unscored`` is 1 and the score carries
``reason="grader_failed"`` and the explanation; the metrics count it and leave it out of the rates.
"""

from __future__ import annotations

import math

from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.instruments.elaboration import CATEGORIES, CODES, FOLLOW_UP, TEMPLATE, judge_prompt, parse_category

from .grader import ask_grader, check_mode
from .metrics import summary

def category_index(reply: str) -> int | None:
    """Index in ``CATEGORIES`` of a lone label reply (text mode), else None."""
    label = parse_category(reply)
    return None if label is None else CATEGORIES.index(label)


def category_value(index: int | None) -> dict[str, float]:
    """One-hot over the categories (all NaN when there is no category) plus the ``unscored`` flag."""
    if index is None:
        return {**{c: math.nan for c in CATEGORIES}, "unscored": 1.0}
    return {**{c: 1.0 if i == index else 0.0 for i, c in enumerate(CATEGORIES)}, "unscored": 0.0}


@scorer(metrics=[summary(means=list(CATEGORIES), counts=["unscored"], by="topic")])
def elaboration_judge(
    grader_mode: str = "logprob",
    top_logprobs: int = 20,
    min_mass: float = DEFAULT_MIN_MASS,
    max_tokens: int = 16,
    follow_up: str = FOLLOW_UP,
    template: str = TEMPLATE,
) -> Scorer:
    """Grade the last reply into one of the five categories with the ``grader`` model role.

    Args:
      grader_mode: "logprob" (the grader's next-token probabilities of the category numbers 1-5)
        or "text" (the reply must be one lone category name).
      top_logprobs: how many next-token log-probabilities to ask the grader for (logprob mode).
      min_mass: below this probability on the five numbers the grader is off-format: unscored.
      max_tokens: reply length allowed to the grader in text mode.
      follow_up: the follow-up question shown to the grader (the one the solver asked).
      template: judge prompt template (bundled name or a path to your own jinja2 file).
    """
    check_mode(grader_mode)

    async def score(state: TaskState, target: Target) -> Score:
        elaboration = state.output.completion
        prompt = judge_prompt(state.input_text, state.metadata["answer"], elaboration, grader_mode, follow_up, template)
        verdict = await ask_grader(prompt, grader_mode, CODES, category_index, top_logprobs, min_mass, max_tokens)
        metadata = {"grader_mode": grader_mode, "grader_reply": verdict.reply}
        if verdict.distribution is not None:
            metadata["grader_distribution"] = dict(zip(CATEGORIES, verdict.distribution.probs))
            metadata["grader_mass"] = verdict.distribution.mass
        if verdict.index is None:
            return Score(
                value=category_value(None),
                answer=None,
                explanation=verdict.problem,
                reason="grader_failed",
                metadata=metadata,
            )
        label = CATEGORIES[verdict.index]
        return Score(value=category_value(verdict.index), answer=label, explanation=f"grader: {label}", metadata=metadata)

    return score
