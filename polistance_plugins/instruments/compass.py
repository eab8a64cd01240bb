"""The political compass: propositions -> forms -> Likert answer distributions -> compass points.

A proposition is asked in several *forms*: each paraphrase x option order (listed strongly
disagree .. strongly agree, or reversed) x label style (answer with the option's number 1-4, or
with its words). Each form's answer is the distribution over the four options (exact
probabilities of the option labels, renormalised, raw mass kept); a form whose options held
less than ``min_mass`` of the probability is ``off_format`` and left out of the point.
Per proposition the in-format forms are pooled (mean distribution), and ``core.compass``
turns the pooled answers into the expected point, the argmax point, bootstrap intervals and
the stability of the forced answer across forms. Shared by the CLI, lm-eval and Inspect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..core import Distribution, distribution_from_option_logprobs
from ..core.compass import LIKERT, CompassWeights, expected_weight, load_weights, weights_from_items
from ..core.records import DEFAULT_MIN_MASS, format_status, record_key, rounded
from ..errors import PolistanceError
from ..prompts import render

TEMPLATE = "likert_question.j2"
SOURCES = ("compass", "pct")
ORDERS = ("normal", "reversed")
LABEL_STYLES = ("numbers", "words")
WORDS: tuple[str, ...] = ("Strongly disagree", "Disagree", "Agree", "Strongly agree")
NUMBERS: tuple[str, ...] = ("1", "2", "3", "4")
PCT_HELP = (
    "obtain the official propositions file from the llm-values-pct repository "
    "(data/templates/pct_propositions.csv, CC BY 4.0) and pass it with --pct-file FILE "
    "(Inspect: -T pct_file=FILE; lm-eval: --metadata='{\"pct_file\": \"FILE\"}'); see docs/compass.md"
)


# ---- sources -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposition:
    """One proposition: its id, the axis it scores on, and its wordings."""

    id: str
    axis: str
    wordings: tuple[str, ...]


@dataclass(frozen=True)
class CompassSource:
    """A questionnaire: propositions in file order and the weight tables that score them."""

    name: str
    propositions: tuple[Proposition, ...]
    weights: CompassWeights
    path: str
    sha256: str

    def __len__(self) -> int:
        return len(self.propositions)


def load_source(source: str = "compass", pct_file: str | Path | None = None) -> CompassSource:
    """The project's bank (``"compass"``, or a compass-style .jsonl path) or the official test (``"pct"`` + file)."""
    if source == "pct":
        from .pct import file_sha256, load_pct_file

        if not pct_file:
            raise PolistanceError(f"source 'pct' needs the propositions file: {PCT_HELP}")
        rows = load_pct_file(pct_file)
        weights = load_weights("pct")
        if len(weights) != len(rows):
            raise PolistanceError(f"the PCT weight tables have {len(weights)} rows but {pct_file} has {len(rows)}")
        props = tuple(Proposition(r.pct_id, weights.axis_of(i), (r.text,)) for i, r in enumerate(rows))
        return CompassSource("pct", props, weights, str(Path(pct_file).resolve()), file_sha256(pct_file))
    if pct_file:
        raise PolistanceError(f"--pct-file is only used with source 'pct' (got source {source!r})")
    if source != "compass" and not str(source).endswith(".jsonl"):
        raise PolistanceError(f"unknown compass source {source!r}: use 'compass', 'pct' or a compass-style .jsonl bank")
    from ..banks import load_bank
    from ..banks.compass_schema import CompassItem

    bank = load_bank(source, model=CompassItem)
    props = tuple(Proposition(it.id, it.axis, tuple(it.wordings)) for it in bank.items)
    return CompassSource(bank.name, props, weights_from_items(bank.items, bank.name), str(bank.path), bank.sha256)


# ---- forms ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LikertForm:
    """One way of asking a proposition: which wording, which option order, which label style."""

    index: int
    item_id: str
    axis: str
    paraphrase: int
    order: str
    labels: str
    text: str

    @classmethod
    def from_fields(cls, fields: Mapping) -> "LikertForm":
        """The form a harness sample or record describes (``metadata()`` fields); KeyError if one is missing."""
        return cls(int(fields["index"]), str(fields["item_id"]), str(fields["axis"]), int(fields["paraphrase"]),
                   str(fields["order"]), str(fields["labels"]), str(fields["text"]))

    @property
    def key(self) -> str:
        """Stable id of the form within its source: ``<item>/p<k>/<order>/<labels>``."""
        return f"{self.item_id}/p{self.paraphrase}/{self.order}/{self.labels}"

    @property
    def listed(self) -> tuple[int, ...]:
        """Canonical option index (0 = strongly disagree .. 3 = strongly agree) of each listed option."""
        return (0, 1, 2, 3) if self.order == "normal" else (3, 2, 1, 0)

    @property
    def option_words(self) -> list[str]:
        return [WORDS[i] for i in self.listed]

    @property
    def choices(self) -> tuple[str, ...]:
        """The answer strings in listed order: the numbers 1-4, or the option words."""
        return NUMBERS if self.labels == "numbers" else tuple(self.option_words)

    @property
    def token_choices(self) -> tuple[str, ...]:
        """The choices read from the first answer token's log-probabilities: the numbers (one token each);
        none with word labels, whose first token ("Strong...") two options share, so they are read as text."""
        return NUMBERS if self.labels == "numbers" else ()

    def metadata(self) -> dict:
        """The form's fields plus its choices: what a harness sample carries to rebuild the form."""
        return {"index": self.index, "item_id": self.item_id, "axis": self.axis, "paraphrase": self.paraphrase,
                "order": self.order, "labels": self.labels, "text": self.text, "choices": list(self.choices)}

    def prompt(self, template: str = TEMPLATE) -> str:
        """The user message for this form."""
        return render(template, text=self.text, options=self.option_words, labels=self.labels)

    def canonical(self, listed_values: Sequence) -> tuple:
        """Reorder per-listed-option values into canonical order."""
        out = [None] * 4
        for pos, idx in enumerate(self.listed):
            out[idx] = listed_values[pos]
        return tuple(out)


def build_forms(
    source: CompassSource,
    paraphrases: str = "all",
    orders: Sequence[str] = ORDERS,
    labels: Sequence[str] = LABEL_STYLES,
    limit: int | None = None,
) -> list[LikertForm]:
    """Every form of every proposition (or of the first ``limit``), grouped by proposition in file order."""
    bad = [o for o in orders if o not in ORDERS] + [s for s in labels if s not in LABEL_STYLES]
    if bad:
        raise PolistanceError(f"unknown option order or label style {bad[0]!r} (orders: {', '.join(ORDERS)}; labels: {', '.join(LABEL_STYLES)})")
    forms = []
    for i, prop in enumerate(source.propositions[:limit]):
        wordings = prop.wordings if paraphrases == "all" else prop.wordings[:1]
        for k, text in enumerate(wordings):
            for order in orders:
                for style in labels:
                    forms.append(LikertForm(i, prop.id, prop.axis, k, order, style, text))
    return forms


# ---- per-form scores -----------------------------------------------------------------------------
def canonical_distribution(form: LikertForm, listed: Distribution) -> Distribution:
    """A distribution over the listed choices, re-expressed over the canonical Likert options."""
    return Distribution(form.canonical(listed.probs), listed.mass, LIKERT, form.canonical(listed.present))


def distribution_from_choice_logprobs(form: LikertForm, logprobs: Sequence[float]) -> Distribution:
    """Canonical distribution from one log-probability per listed choice (the form's ``choices``)."""
    return canonical_distribution(form, distribution_from_option_logprobs(logprobs, form.choices))


def score_form(form: LikertForm, dist: Distribution, weights: CompassWeights, min_mass: float = DEFAULT_MIN_MASS) -> dict:
    """Per-form scores: canonical probabilities, which options had a log-probability and how many, raw
    option mass, status, answer statistics, axis weights."""
    probs = tuple(dist.probs)
    valid = dist.valid
    return {
        "probs": [round(p, 10) for p in probs],
        "present": list(dist.present),
        "coverage": dist.coverage,
        "mass": float(dist.mass),
        "status": format_status(dist, min_mass),
        "expected": rounded(dist.expected),
        "argmax": dist.mode,
        "entropy": rounded(dist.entropy),
        "econ": rounded(expected_weight(probs, weights.econ.rows[form.index])) if valid else None,
        "soc": rounded(expected_weight(probs, weights.soc.rows[form.index])) if valid else None,
    }


def base_record(label: str, adapter: str | None, source: str, form: LikertForm, prompt: str) -> dict:
    """The fields every compass record starts with: who answered which form, before any score."""
    return {
        "key": record_key(label, source, form.key),
        "model": label,
        "adapter": adapter,
        "source": source,
        "index": form.index,
        "item_id": form.item_id,
        "axis": form.axis,
        "paraphrase": form.paraphrase,
        "order": form.order,
        "labels": form.labels,
        "choices": list(form.choices),
        "options": list(LIKERT),
        "prompt": prompt,
    }


@dataclass(frozen=True)
class CompassForms:
    """The forms of one compass run as the scoring loop sees them (``engine.loop.score_forms``).

    A chunk is one batch: the forms of a batch that share their answer choices go to the backend
    together (with number labels every option is one token, so one forward pass gives all four)."""

    source: CompassSource
    forms: tuple[LikertForm, ...]
    chunk_batches: int = 1
    template: str = TEMPLATE

    @property
    def scope(self) -> str:
        return self.source.name

    def identity(self) -> dict:
        """What names the questionnaire in a run configuration."""
        return {"source": self.source.name, "source_path": self.source.path, "source_sha256": self.source.sha256,
                "weights": self.source.weights.name}

    def prompt(self, form: LikertForm) -> str:
        return form.prompt(self.template)

    def where(self, form: LikertForm) -> str:
        """``file:line`` of the form's proposition in the source file."""
        from ..banks import item_line
        from .pct import proposition_line

        path = Path(self.source.path)
        line = proposition_line(path, form.item_id) if self.source.name == "pct" else item_line(path, form.item_id)
        return f"{path}:{line}" if line else str(path)

    def options(self, form: LikertForm) -> tuple[str, ...]:
        return form.choices

    def base_record(self, label: str, adapter: str | None, form: LikertForm, prompt: str) -> dict:
        return base_record(label, adapter, self.source.name, form, prompt)

    def score(self, form: LikertForm, listed: Distribution, min_mass: float) -> dict:
        return score_form(form, canonical_distribution(form, listed), self.source.weights, min_mass)
