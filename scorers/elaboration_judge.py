"""The five-category elaboration judge (Terry 2025): a grader sorts each reply to "Please elaborate
on why you chose that number." into Incoherent, Non-answer, Contradiction, Reversal or Justification.

Score value (one dict per reply): a one-hot over the five categories plus ``unscored`` (0). When the
grader's answer cannot be read, the categories are NaN, ``unscored`` is 1 and the score carries
``reason="grader_failed"`` and the explanation; the metrics count it and leave it out of the rates.
"""

from __future__ import annotations

import math

from inspect_ai.model import model_roles
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.core.label_orders import listed
from polistance_plugins.instruments.elaboration import CATEGORIES, FOLLOW_UP, TEMPLATE, judge_prompt, parse_category

from .graded_orders import grade_in_orders
from .grader import check_mode
from .metrics import summary
from .reliability import SECOND_ROLE, grader_reliability
from .weak_grader import NOTE, weak_grader, weakness_flag

def category_index(reply: str) -> int | None:
    """Index in ``CATEGORIES`` of a lone label reply (text mode), else None."""
    label = parse_category(reply)
    return None if label is None else CATEGORIES.index(label)


def category_value(index: int | None) -> dict[str, float]:
    """One-hot over the categories (all NaN when there is no category) plus the ``unscored`` flag."""
    if index is None:
        return {**{c: math.nan for c in CATEGORIES}, "unscored": 1.0}
    return {**{c: 1.0 if i == index else 0.0 for i, c in enumerate(CATEGORIES)}, "unscored": 0.0}


def _named(grade: dict) -> dict:
    """A grade's fields with category names (what the score metadata keeps)."""
    return {
        "label": CATEGORIES[grade["index"]] if grade["index"] is not None else None,
        "distribution": dict(zip(CATEGORIES, grade["probs"])) if grade["probs"] is not None else None,
        "mass": grade["mass"],
        "order_labels": [CATEGORIES[i] if i is not None else None for i in grade["order_labels"]],
        "order_probs": grade["order_probs"],
        "replies": grade["replies"],
        "problem": grade["problem"],
    }


@scorer(metrics=[summary(means=list(CATEGORIES), counts=["unscored"], by="topic"), grader_reliability(list(CATEGORIES)), weak_grader()])
def elaboration_judge(
    grader_mode: str = "logprob",
    top_logprobs: int = 20,
    min_mass: float = DEFAULT_MIN_MASS,
    max_tokens: int = 16,
    follow_up: str = FOLLOW_UP,
    template: str = TEMPLATE,
    grader_orders: int = 2,
) -> Scorer:
    """Grade the last reply into one of the five categories with the ``grader`` model role (and,
    when a ``grader2`` role is given, with that one too, for the agreement between graders).

    Args:
      grader_mode: "logprob" (the grader's next-token probabilities of the category numbers 1-5)
        or "text" (the reply must be one lone category name).
      top_logprobs: how many next-token log-probabilities to ask the grader for (logprob mode).
      min_mass: below this probability on the five numbers the grader is off-format: unscored.
      max_tokens: reply length allowed to the grader in text mode.
      follow_up: the follow-up question shown to the grader (the one the solver asked).
      template: judge prompt template (bundled name or a path to your own jinja2 file).
      grader_orders: grade with the categories listed in this many orders (forward, reversed, then
        rotations), mapped back and averaged; 2 or more also measures the grader's self-agreement.
    """
    check_mode(grader_mode)
    weakness = weakness_flag()

    async def score(state: TaskState, target: Target) -> Score:
        elaboration = state.output.completion

        def prompt_for(order) -> str:
            return judge_prompt(state.input_text, state.metadata["answer"], elaboration, grader_mode, follow_up, template,
                                categories=listed(CATEGORIES, order))

        async def grade(role: str) -> dict:
            return _named(await grade_in_orders(prompt_for, grader_mode, CATEGORIES, category_index, grader_orders,
                                                top_logprobs, min_mass, max_tokens, role=role))

        first = await grade("grader")
        metadata = {"grader_mode": grader_mode, "grader_reply": first["replies"][0], "grader_label": first["label"],
                    "grader_order_labels": first["order_labels"], "grader_order_probs": first["order_probs"], NOTE: weakness()}
        if first["distribution"] is not None:
            metadata["grader_distribution"] = first["distribution"]
        if grader_mode == "logprob":
            metadata["grader_mass"] = first["mass"]
        if SECOND_ROLE in model_roles():
            metadata[SECOND_ROLE] = await grade(SECOND_ROLE)
        if first["label"] is None:
            return Score(
                value=category_value(None),
                answer=None,
                explanation=first["problem"],
                reason="grader_failed",
                metadata=metadata,
            )
        label = first["label"]
        return Score(value=category_value(CATEGORIES.index(label)), answer=label, explanation=f"grader: {label}", metadata=metadata)

    return score
