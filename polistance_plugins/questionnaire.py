"""The 0-9 questionnaire: items become forms (paraphrase x scale direction), forms become prompts,
and answer distributions become per-item records. Shared by the CLI, lm-eval and Inspect."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from .banks import Bank
from .banks.schema import Item
from .prompts import render
from .scoring import DIGITS, Distribution, keyed_stance

TEMPLATE = "digit_question.j2"
DEFAULT_MIN_MASS = 0.05


@dataclass(frozen=True)
class Form:
    """One way of asking a rated item: which paraphrase, which scale direction."""

    item_id: str
    topic: str
    kind: str
    keying: str
    paraphrase: int
    direction: str
    text: str

    @property
    def key(self) -> str:
        """Stable id of the form within its bank: ``<item>/p<k>/<direction>``."""
        return f"{self.item_id}/p{self.paraphrase}/{self.direction}"

    def prompt(self, template: str = TEMPLATE) -> str:
        """The user message for this form."""
        return render(template, kind=self.kind, text=self.text, direction=self.direction)


def forms_for_item(item: Item, paraphrases: str = "all", directions: Sequence[str] = ("normal",)) -> list[Form]:
    """Expand a rated item into forms: every (or only the first) paraphrase x each direction."""
    if item.kind == "open":
        return []
    wordings = item.wordings if paraphrases == "all" else item.wordings[:1]
    return [
        Form(item.id, item.topic, item.kind, item.keying, k, d, text)
        for k, text in enumerate(wordings)
        for d in directions
    ]


def bank_forms(
    bank: Bank | Iterable[Item],
    paraphrases: str = "all",
    directions: Sequence[str] = ("normal",),
    topics: Sequence[str] | None = None,
) -> list[Form]:
    """All forms of a bank, in bank order, optionally restricted to some topics."""
    out: list[Form] = []
    for item in bank:
        if topics and item.topic not in topics:
            continue
        out.extend(forms_for_item(item, paraphrases, directions))
    return out


def score_record(form: Form, dist: Distribution, min_mass: float = DEFAULT_MIN_MASS) -> dict:
    """The per-form scores: distribution, its statistics, keyed stance, and a format-health status.

    Status is "ok", or "off_format" when the options held less than ``min_mass`` of the raw
    probability (the renormalised distribution is kept but must not be read as the model's answer),
    or "no_options" when none of the digits was present at all.
    """
    exp = dist.expected
    status = "ok"
    if not dist.valid:
        status = "no_options"
    elif dist.mass < min_mass:
        status = "off_format"
    return {
        "probs": [round(p, 10) for p in dist.probs],
        "present": list(dist.present),
        "coverage": dist.coverage,
        "mass": round(dist.mass, 10),
        "expected": None if math.isnan(exp) else round(exp, 10),
        "mode": dist.mode,
        "entropy": None if math.isnan(dist.entropy) else round(dist.entropy, 10),
        "stance": None if math.isnan(exp) else round(keyed_stance(exp, form.keying, 9, form.direction), 10),
        "status": status,
    }


def options() -> tuple[str, ...]:
    return DIGITS
