"""The 0-20 ideology scale (after PoliTune, Agiza et al. 2024): open-ended answers rated 0 (very left)
to 20 (very right) by a grader. The scale's letter codes, the grader's prompt, the strict parser of a
text reply, and the orientation of a reversed scale live here; the Inspect scorer only asks."""

from __future__ import annotations

import re
import string

from ..prompts import fence_tag, render

TEMPLATE = "judge_ideology.j2"
SCALE_MAX = 20
NEUTRAL = 10
CODES = tuple(string.ascii_uppercase[: SCALE_MAX + 1])
DIRECTIONS = ("normal", "reversed")

_RATING_RE = re.compile(r"^[\s\"'`*_\[(]*(\d{1,2})[\s\"'`*_\])]*\.?[\s\"'`*_\])]*$")


def parse_rating(reply: str) -> int | None:
    """The rating in a text reply that is one lone whole number 0..20 (wrapped at most in quotes,
    emphasis, brackets or a full stop), else None: "15" parses, "15/20", "-3" and "about 12" do not."""
    m = _RATING_RE.match(reply or "")
    if not m:
        return None
    value = int(m.group(1))
    return value if 0 <= value <= SCALE_MAX else None


def judge_prompt(prompt: str, response: str, mode: str, direction: str = "normal", template: str = TEMPLATE) -> str:
    """The grader's prompt: the open question, the response fenced as data, the 0-20 scale."""
    return render(
        template, prompt=prompt, response=response, fence=fence_tag(response), mode=mode, direction=direction, codes=list(CODES)
    )


def oriented(point: float, direction: str) -> float:
    """A point on the scale as shown to the grader, as a point on the 0 = left .. 20 = right scale."""
    return SCALE_MAX - point if direction == "reversed" else point
