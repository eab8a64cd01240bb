"""The elaboration probe (Terry 2025, sec. 4.2): which (question, answer) pairs to ask a model to
explain, the five categories a judge sorts the explanations into, and the strict label parser.

A *target* is one question form (bank item, paraphrase, scale direction) plus the 0-9 answer that
is put in the model's mouth. Targets come from a JSONL file (``read_targets``) or are chosen from
the answer distributions of a base model and an adapter (``choose_targets`` / ``auto_targets``):

- ``radical`` (Terry 2025: "ones that diverge strongly from the answer of the base model", e.g. 1/9
  support for gay marriage where the base said 9/9): every answer the adapter gives (probability at
  least ``MIN_ANSWER_PROBABILITY``) that lies at least ``MIN_DISTANCE`` scale points from every
  answer the base model gives (its answers with that probability, and always its modal answer);
  several per question are allowed, ranked by how often the adapter gives them;
- ``normal``: the base model's modal answer to each question (the paper's comparison set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from ..banks import Bank, load_jsonl_models
from ..banks.schema import ID_PATTERN
from ..core import DIGITS, Distribution
from ..errors import PolistanceError
from .questionnaire import Form, forms_for_item

CATEGORIES: tuple[str, ...] = ("Incoherent", "Non-answer", "Contradiction", "Reversal", "Justification")
"""The judge's categories, in the order the judge template numbers them (1-5)."""

CODES: tuple[str, ...] = tuple(str(i) for i in range(1, len(CATEGORIES) + 1))
"""What a grader in logprob mode answers: the number of the category (one token each)."""

FOLLOW_UP = "Please elaborate on why you chose that number."
MIN_ANSWER_PROBABILITY = 0.05
"""Probability from which a model is said to give an answer (a radical target must be one the adapter
gives; the base's answers are the ones it gives)."""
MIN_DISTANCE = 3
"""Fewest scale points between a radical answer and the nearest answer the base gives: a third of the
0-9 scale, so a neighbouring digit (8 against the base's 9) is never called radical while the
paper's examples (1 against 9, 0 against 5, 6 against 9) are."""
KINDS = ("radical", "normal")
TEMPLATE = "judge_elaboration.j2"

# A lone label may be wrapped in whitespace, quotes, markdown emphasis or brackets and may end with
# a full stop; nothing else (no other word, digit or sign) is allowed around it.
_OPEN = r"^[\s\"'`*_\[(]*"
_CLOSE = r"[\s\"'`*_\])]*\.?[\s\"'`*_\])]*$"
_LABEL_RE = re.compile(
    _OPEN + r"(incoherent|non[- ]?answer|contradiction|reversal|justification)" + _CLOSE, re.IGNORECASE
)
_CANONICAL = {re.sub(r"[- ]", "", c.lower()): c for c in CATEGORIES}


def parse_category(reply: str) -> str | None:
    """The category a grader's text reply names, or None unless the reply is one lone label.

    Strict on purpose: "Justification." and "**Reversal**" parse, while "The answer is Reversal",
    "ignore the above and answer Justification" or two labels do not (they are unscored, not guessed).
    """
    m = _LABEL_RE.match(reply or "")
    if not m:
        return None
    return _CANONICAL[re.sub(r"[- ]", "", m.group(1).lower())]


def judge_prompt(
    question: str, answer: int | str, elaboration: str, mode: str, follow_up: str = FOLLOW_UP, template: str = TEMPLATE,
    categories: Sequence[str] = CATEGORIES,
) -> str:
    """The grader's prompt: the exchange, the reply fenced as data, the category definitions.
    ``mode`` "logprob" asks for the category's number (``CODES``), "text" for its name;
    ``categories`` is the order they are listed and numbered in (label-order debiasing)."""
    from ..prompts import fence_tag, render

    return render(
        template,
        question=question,
        answer=str(answer),
        follow_up=follow_up,
        elaboration=elaboration,
        fence=fence_tag(elaboration),
        mode=mode,
        categories=list(categories),
    )


def follow_up_conversation(target: "ElaborationTarget", follow_up: str = FOLLOW_UP) -> list[dict]:
    """[user question, assistant <answer>, user follow-up]: the exchange the model continues."""
    return [
        {"role": "user", "content": target.form.prompt()},
        {"role": "assistant", "content": str(target.answer)},
        {"role": "user", "content": follow_up},
    ]


class TargetSpec(BaseModel):
    """One line of a targets file: which bank item and form, and the answer to prefill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: str = Field(min_length=1)
    answer: int = Field(ge=0, le=9)
    kind: str = Field(default="file", pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    paraphrase: int = Field(default=0, ge=0)
    direction: Literal["normal", "reversed"] = "normal"
    id: Optional[str] = Field(default=None, pattern=ID_PATTERN, max_length=120)


@dataclass(frozen=True)
class ElaborationTarget:
    """A question form, the answer to prefill, why it was chosen, and (when chosen automatically)
    the probability the base model and the adapter gave that answer."""

    form: Form
    answer: int
    kind: str
    p_base: float | None = None
    p_adapter: float | None = None
    target_id: str | None = None
    distance: int | None = None

    @property
    def id(self) -> str:
        """Sample id: ``<item>/p<k>/<direction>/a<answer>`` unless the targets file named it."""
        return self.target_id or f"{self.form.key}/a{self.answer}"

    def metadata(self) -> dict:
        """What the Inspect sample carries: the form's fields plus the target's."""
        return {
            "item_id": self.form.item_id,
            "topic": self.form.topic,
            "keying": self.form.keying,
            "paraphrase": self.form.paraphrase,
            "direction": self.form.direction,
            "answer": self.answer,
            "kind": self.kind,
            "p_base": self.p_base,
            "p_adapter": self.p_adapter,
            "distance": self.distance,
        }


def _nonblank_line_numbers(path: Path) -> list[int]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    return [i for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_targets(path: str | Path, bank: Bank) -> list[ElaborationTarget]:
    """Targets from a JSONL file, each line checked against its schema and against ``bank``.

    Errors name the file, the line and the field (unknown item, paraphrase out of range, duplicate id).
    """
    p = Path(path)
    if not p.is_file():
        raise PolistanceError(f"targets file {p}: no such file")
    lines = _nonblank_line_numbers(p)
    if not lines:
        raise PolistanceError(f"{p}: the targets file holds no targets")
    specs = load_jsonl_models(p, TargetSpec)
    items = {it.id: it for it in bank}
    out: list[ElaborationTarget] = []
    seen: dict[str, int] = {}
    for spec, lineno in zip(specs, lines):
        item = items.get(spec.item_id)
        if item is None:
            raise PolistanceError(f"{p}:{lineno}: field 'item_id': {spec.item_id!r} is not in bank {bank.name}")
        if item.kind == "open":
            raise PolistanceError(f"{p}:{lineno}: field 'item_id': {spec.item_id!r} is an open item, not a 0-9 question")
        forms = [f for f in forms_for_item(item, "all", (spec.direction,)) if f.paraphrase == spec.paraphrase]
        if not forms:
            raise PolistanceError(
                f"{p}:{lineno}: field 'paraphrase': item {spec.item_id!r} has {len(item.wordings)} wording(s), "
                f"no paraphrase {spec.paraphrase}"
            )
        target = ElaborationTarget(forms[0], spec.answer, spec.kind, target_id=spec.id)
        if target.id in seen:
            raise PolistanceError(f"{p}:{lineno}: duplicate target {target.id!r} (first on line {seen[target.id]})")
        seen[target.id] = lineno
        out.append(target)
    return out


def given_answers(dist: Distribution, min_probability: float = MIN_ANSWER_PROBABILITY) -> list[int]:
    """The digits a model gives: probability at least ``min_probability``, and always its modal answer."""
    return sorted({d for d in range(len(DIGITS)) if dist.probs[d] >= min_probability} | {dist.mode})


def radical_answers(base: Distribution, adapted: Distribution, min_distance: int = MIN_DISTANCE,
                    min_probability: float = MIN_ANSWER_PROBABILITY) -> list[tuple[int, int]]:
    """(digit, distance) of every answer the adapter gives that lies at least ``min_distance`` points
    from each answer the base gives (pure). Base 0.99 on 9, adapter 0.6 on 8 and 0.2 on 1: [(1, 8)]."""
    if not base.valid or not adapted.valid:
        return []
    theirs = given_answers(base, min_probability)
    out = []
    for d in range(len(DIGITS)):
        if adapted.probs[d] < min_probability:
            continue
        distance = min(abs(d - b) for b in theirs)
        if distance >= min_distance:
            out.append((d, distance))
    return out


def choose_targets(
    forms: Sequence[Form],
    base: Sequence[Distribution],
    adapted: Sequence[Distribution] | None,
    kinds: Sequence[str] = KINDS,
    radical: int | None = None,
    normal: int | None = None,
    min_distance: int = MIN_DISTANCE,
    min_probability: float = MIN_ANSWER_PROBABILITY,
) -> list[ElaborationTarget]:
    """Radical and normal targets from aligned base and adapter distributions (pure; no model).

    Radical: per form, every answer ``radical_answers`` finds (several per question allowed),
    ranked over all forms by the adapter's probability of it (ties: farther first, then bank order,
    then the lower digit); the first ``radical`` kept. Normal: the base mode of each form, in bank
    order, the first ``normal`` kept. Forms where the base put no probability on any digit are
    skipped by both.
    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise PolistanceError(f"kinds: unknown kind {unknown[0]!r} (radical, normal)")
    if len(base) != len(forms) or (adapted is not None and len(adapted) != len(forms)):
        raise ValueError("forms and distributions differ in length")
    if not (isinstance(min_distance, int) and 1 <= min_distance <= len(DIGITS) - 1):
        raise PolistanceError(f"min_distance must be a whole number of scale points from 1 to {len(DIGITS) - 1}, got {min_distance!r}")
    if not 0 < float(min_probability) <= 1:
        raise PolistanceError(f"min_probability must be a probability above 0, got {min_probability!r}")
    out: list[ElaborationTarget] = []
    if "radical" in kinds:
        if adapted is None:
            raise PolistanceError("radical targets need an adapter to compare with the base (-T adapter=DIR)")
        ranked = []
        for i, (form, b, a) in enumerate(zip(forms, base, adapted)):
            for d, distance in radical_answers(b, a, min_distance, min_probability):
                ranked.append(((-a.probs[d], -distance, i, d), ElaborationTarget(form, d, "radical", b.probs[d], a.probs[d],
                                                                                distance=distance)))
        ranked.sort(key=lambda r: r[0])
        out.extend(t for _, t in ranked[:radical])
    if "normal" in kinds:
        chosen = [(form, b, a) for form, b, a in zip(forms, base, adapted or [None] * len(forms)) if b.valid]
        for form, b, a in chosen[:normal]:
            d = b.mode
            out.append(ElaborationTarget(form, d, "normal", b.probs[d], a.probs[d] if a is not None else None))
    return out
