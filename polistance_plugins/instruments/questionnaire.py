"""The 0-9 questionnaire: items become forms (paraphrase x scale direction), forms become prompts,
and answer distributions become per-form records. The CLI, lm-eval and Inspect all call these.

Which scale directions a bank is asked on (``directions_for``), how a topic list or paraphrase
choice is checked, and what a record holds are decided here once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

from ..banks import Bank
from ..banks.schema import Item
from ..core import DIGITS, Distribution, keyed_stance
from ..core.records import DEFAULT_MIN_MASS, format_status, record_key, rounded
from ..errors import PolistanceError
from ..prompts import render

TEMPLATE = "digit_question.j2"
PARAPHRASES = ("all", "first")
DIRECTIONS = ("normal", "reversed")
FORM_FIELDS = ("item_id", "topic", "kind", "keying", "paraphrase", "direction", "text")


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

    @classmethod
    def from_fields(cls, fields: Mapping) -> "Form":
        """The form a harness sample or record describes (its ``FORM_FIELDS``); KeyError if one is missing."""
        return cls(*(fields[k] for k in FORM_FIELDS[:4]), int(fields["paraphrase"]), fields["direction"], fields["text"])

    @property
    def key(self) -> str:
        """Stable id of the form within its bank: ``<item>/p<k>/<direction>``."""
        return f"{self.item_id}/p{self.paraphrase}/{self.direction}"

    def fields(self) -> dict:
        """The form's fields (what a harness sample carries to rebuild it with ``from_fields``)."""
        return asdict(self)

    def prompt(self, template: str = TEMPLATE) -> str:
        """The user message for this form."""
        return render(template, kind=self.kind, text=self.text, direction=self.direction)


# ---- which forms ---------------------------------------------------------------------------------
def directions_for(bank: Bank | Iterable[Item], value: str = "auto") -> tuple[str, ...]:
    """The scale directions to ask: ``auto`` asks statement banks on both directions and question
    banks on the normal one; ``both``, or a comma list of ``normal``/``reversed``."""
    if value == "auto":
        kinds = {it.kind for it in bank}
        return ("normal",) if kinds <= {"question", "open"} else DIRECTIONS
    if value == "both":
        return DIRECTIONS
    dirs = tuple(d.strip() for d in str(value).split(","))
    bad = [d for d in dirs if d not in DIRECTIONS]
    if bad:
        raise PolistanceError(f"directions: unknown direction {bad[0]!r} (normal, reversed, both, auto)")
    return dirs


def check_paraphrases(paraphrases: str) -> str:
    """A paraphrase choice: "all" or "first"."""
    if paraphrases not in PARAPHRASES:
        raise PolistanceError(f"paraphrases must be all or first, got {paraphrases!r}")
    return paraphrases


def parse_topics(bank: Bank, topics: str | Sequence[str] | None) -> list[str] | None:
    """A topic list ("a,b" or a sequence; None or "" = all) checked against the bank's topics."""
    if topics is None or topics == "":
        return None
    names = [t.strip() for t in topics.split(",")] if isinstance(topics, str) else [str(t).strip() for t in topics]
    unknown = sorted(set(names) - set(bank.topics))
    if unknown:
        raise PolistanceError(f"topics: {', '.join(unknown)} not in bank {bank.name} (topics: {', '.join(bank.topics)})")
    return names


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
    limit: int | None = None,
) -> list[Form]:
    """All forms of a bank, in bank order, optionally restricted to some topics and to the first
    ``limit`` rated items (a smoke run)."""
    out: list[Form] = []
    asked = 0
    for item in bank:
        if topics and item.topic not in topics:
            continue
        forms = forms_for_item(item, paraphrases, directions)
        if forms and limit is not None and asked >= limit:
            break
        asked += bool(forms)
        out.extend(forms)
    return out


# ---- records -------------------------------------------------------------------------------------
SCALE_MAX = 9


def agreement_on_scale(expected: float | None, direction: str) -> float | None:
    """How much an answer endorses the item's own claim, on 0-9: ``E`` on a normal-scale form and
    ``9 - E`` on a reversed one (read backwards). Averaging raw digits over both directions would
    mean nothing: a model that agrees one point more on both scales moves them in opposite ways."""
    if expected is None or expected != expected:
        return None
    return SCALE_MAX - expected if direction == "reversed" else expected


def options() -> tuple[str, ...]:
    """The answer options of every questionnaire form: the ten digits."""
    return DIGITS


def answered_by(label: str, adapter: str | None, bank: str | None, form: Form) -> dict:
    """Who answered which form: the fields questionnaire and elaboration records share."""
    return {"model": label, "adapter": adapter, "bank": bank, "item_id": form.item_id, "topic": form.topic,
            "paraphrase": form.paraphrase, "direction": form.direction, "keying": form.keying}


def base_record(label: str, adapter: str | None, bank: str, form: Form, prompt: str) -> dict:
    """The fields every questionnaire record starts with: who answered which form, before any score."""
    return {"key": record_key(label, bank, form.key), **answered_by(label, adapter, bank, form), "prompt": prompt,
            "options": list(DIGITS)}


def score_record(form: Form, dist: Distribution, min_mass: float = DEFAULT_MIN_MASS) -> dict:
    """The per-form scores: distribution, its statistics, keyed stance, and the format status
    (``core.records.format_status``; an off-format form keeps its renormalised distribution, which
    must not be read as the model's answer)."""
    exp = dist.expected
    return {
        "probs": [round(p, 10) for p in dist.probs],
        "present": list(dist.present),
        "coverage": dist.coverage,
        "mass": round(dist.mass, 10),
        "expected": rounded(exp),
        "agreement": rounded(agreement_on_scale(exp, form.direction)),
        "mode": dist.mode,
        "entropy": rounded(dist.entropy),
        "stance": None if exp != exp else round(keyed_stance(exp, form.keying, 9, form.direction), 10),
        "status": format_status(dist, min_mass),
    }


@dataclass(frozen=True)
class QuestionnaireForms:
    """The forms of one bank as the scoring loop sees them (``engine.loop.score_forms``).

    Work goes to the backend in chunks of ``chunk_batches`` batches: the backend sorts a chunk by
    length (less padding), and a resumed run recomputes whole chunks, so its numbers are identical."""

    bank: Bank
    forms: tuple[Form, ...]
    chunk_batches: int = 4
    template: str = TEMPLATE

    @property
    def scope(self) -> str:
        return self.bank.name

    def identity(self) -> dict:
        """What names the bank in a run configuration."""
        return {"bank": self.bank.name, "bank_sha256": self.bank.sha256}

    def prompt(self, form: Form) -> str:
        return form.prompt(self.template)

    def where(self, form: Form) -> str:
        """``file:line`` of the form's item in the bank."""
        return self.bank.where(form.item_id)

    def options(self, form: Form) -> tuple[str, ...]:
        return DIGITS

    def base_record(self, label: str, adapter: str | None, form: Form, prompt: str) -> dict:
        return base_record(label, adapter, self.bank.name, form, prompt)

    def score(self, form: Form, dist: Distribution, min_mass: float) -> dict:
        return score_record(form, dist, min_mass)
