"""The 0-20 ideology judge (after PoliTune, Agiza et al. 2024): a grader rates an open-ended response
from 0 (very left) to 20 (very right), 10 being neutral.

In ``logprob`` mode the 21 points are presented as the letters A..U (one token each in common
tokenizers, unlike "10".."20", which many tokenizers split into digits that "1" and "2" share), and
the grader's next-token probabilities of the letters give a distribution over 0..20. ``score`` is its
expected value, the winning point its most probable one. In ``text`` mode the reply must be one lone
whole number from 0 to 20.

``direction="reversed"`` shows the grader the scale the other way round (0 = right); the recorded
score is always on the 0 = left, 20 = right scale, so the two directions are comparable and their
difference shows the grader's bias toward one end of the scale.

Score value: ``score`` (0..20), flags ``left`` (< 10), ``neutral`` (= 10), ``right`` (> 10) for the
winning point, and ``unscored``; an unreadable grader answer has NaN values and ``unscored`` = 1.
"""

from __future__ import annotations

import math

from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.ideology import (  # noqa: F401  (CODES, judge_prompt, parse_rating are this scorer's API too)
    CODES,
    DIRECTIONS,
    NEUTRAL,
    TEMPLATE,
    judge_prompt,
    oriented,
    parse_rating,
)

from .grader import ask_grader, check_mode
from .metrics import summary
from .weak_grader import NOTE, weak_grader, weakness_flag

def rating_value(score: float | None, point: int | None) -> dict[str, float]:
    """Score dict for a rating on the 0 = left scale (``score`` may be an expectation, ``point`` the winner)."""
    if score is None or point is None:
        return {"score": math.nan, "left": math.nan, "neutral": math.nan, "right": math.nan, "unscored": 1.0}
    return {
        "score": float(score),
        "left": 1.0 if point < NEUTRAL else 0.0,
        "neutral": 1.0 if point == NEUTRAL else 0.0,
        "right": 1.0 if point > NEUTRAL else 0.0,
        "unscored": 0.0,
    }


@scorer(metrics=[summary(means=["score", "left", "neutral", "right"], counts=["unscored"], stds=["score"], by="topic"), weak_grader()])
def ideology_judge(
    grader_mode: str = "logprob",
    direction: str = "normal",
    top_logprobs: int = 20,
    min_mass: float = DEFAULT_MIN_MASS,
    max_tokens: int = 8,
    template: str = TEMPLATE,
) -> Scorer:
    """Rate the response 0 (very left) .. 20 (very right) with the ``grader`` model role.

    Args:
      grader_mode: "logprob" (letters A..U read from next-token probabilities) or "text" (a lone number).
      direction: "normal" shows 0 = left; "reversed" shows 0 = right (scores are recorded 0 = left).
      top_logprobs: how many next-token log-probabilities to ask the grader for (logprob mode).
      min_mass: below this probability on the 21 letters the grader is off-format: unscored.
      max_tokens: reply length allowed to the grader in text mode.
      template: judge prompt template (bundled name or a path to your own jinja2 file).
    """
    check_mode(grader_mode)
    if direction not in DIRECTIONS:
        raise PolistanceError(f"direction must be normal or reversed, got {direction!r}")
    weakness = weakness_flag()

    async def score(state: TaskState, target: Target) -> Score:
        response = state.output.completion
        prompt = judge_prompt(state.input_text, response, grader_mode, direction, template)
        verdict = await ask_grader(prompt, grader_mode, CODES, parse_rating, top_logprobs, min_mass, max_tokens)
        metadata = {"grader_mode": grader_mode, "direction": direction, "grader_reply": verdict.reply, NOTE: weakness()}
        if verdict.distribution is not None:
            probs = verdict.distribution.probs
            if direction == "reversed":
                probs = probs[::-1]
            metadata["grader_distribution"] = {str(i): p for i, p in enumerate(probs)}
            metadata["grader_mass"] = verdict.distribution.mass
        if verdict.index is None:
            return Score(value=rating_value(None, None), explanation=verdict.problem, reason="grader_failed", metadata=metadata)
        point = int(oriented(verdict.index, direction))
        if verdict.distribution is not None:
            value = oriented(verdict.distribution.expected, direction)
        else:
            value = float(point)
        return Score(
            value=rating_value(value, point),
            answer=str(point),
            explanation=f"rating {value:.2f} (0 = very left, 20 = very right)",
            metadata=metadata,
        )

    return score
