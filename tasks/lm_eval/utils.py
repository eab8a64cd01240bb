"""lm-eval glue for the polistance 0-9 questionnaire tasks: datasets from the package's banks, scores
from its record rule. Referenced from the YAMLs with ``!function utils.<name>``.

Nothing here decides anything of its own: forms and scale directions come from
``instruments.questionnaire`` (``directions_for``: both directions for statement banks, the normal
one for question banks, exactly as ``polistance eval``), and each form's status and scores from
``instruments.questionnaire.score_record``. ``--metadata`` keys: ``bank`` (a bundled name or a
.jsonl file; required by ``polistance_bank``), ``directions``, ``paraphrases`` and ``min_mass``.
"""

from __future__ import annotations

import math

from polistance_plugins.banks import load_bank
from polistance_plugins.core import DIGITS, distribution_from_option_logprobs
from polistance_plugins.core.records import DEFAULT_MIN_MASS, check_min_mass
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.questionnaire import Form, bank_forms, check_paraphrases, directions_for, score_record

BANK_METADATA_HELP = (
    "polistance_bank evaluates your own 0-9 bank: pass it with --metadata='{\"bank\": \"/path/to/bank.jsonl\"}' "
    "(the bank format is described in the README, 'Item banks')"
)


def _dataset(bank_name: str | None, topic: str | None = None, bank: str | None = None, directions: str = "auto",
             paraphrases: str = "all", min_mass: float = DEFAULT_MIN_MASS, **_):
    """A DatasetDict with one ``test`` row per form of the bank (optionally one topic); ``min_mass``
    travels with each row to ``process_results``."""
    import datasets

    try:
        min_mass = check_min_mass(min_mass, "--metadata min_mass")
    except (TypeError, ValueError) as e:
        raise PolistanceError(str(e)) from None
    loaded = load_bank(bank or bank_name)
    forms = bank_forms(loaded, check_paraphrases(paraphrases), directions_for(loaded, directions), [topic] if topic else None)
    if not forms:
        raise PolistanceError(f"bank {loaded.name} has no rated items to ask" + (f" on topic {topic}" if topic else ""))
    rows = [{"key": f.key, **f.fields(), "prompt": f.prompt(), "target": 0, "min_mass": min_mass} for f in forms]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def terry9(**kwargs):
    return _dataset("terry9", **kwargs)


def topics(**kwargs):
    return _dataset("topics", **kwargs)


def user_bank(bank=None, **kwargs):
    """``polistance_bank``: the user's own bank (``--metadata='{"bank": "file.jsonl"}'``)."""
    if not bank:
        raise PolistanceError(BANK_METADATA_HELP)
    return _dataset(None, bank=bank, **kwargs)


def _topic(name):
    def build(**kwargs):
        return _dataset("topics", topic=name, **kwargs)

    build.__name__ = f"topics_{name}"
    return build


topics_crime_and_guns = _topic("crime_and_guns")
topics_race = _topic("race")
topics_science = _topic("science")
topics_immigration = _topic("immigration")
topics_economy_and_inequality = _topic("economy_and_inequality")
topics_gender_and_sexuality = _topic("gender_and_sexuality")


def process_results(doc: dict, results) -> dict:
    """Per-form metrics from the ten digit log-likelihoods lm-eval computed.

    ``agreement`` is the expected digit read on the item's own claim (``9 - E`` on a reversed-scale
    form, ``instruments.questionnaire.agreement_on_scale``). A form that is not ``ok`` under the
    record rule (digits under the run's ``min_mass``) has NaN agreement, stance and entropy (skipped by ``nanmean``) and counts in ``off_format``.
    lm-eval moves the chat template's trailing newline into the continuation, so its digit mass
    is the polistance mass times P(newline), which is close to 1 for chat models.
    """
    lls = [float(ll) for ll, _ in results]
    dist = distribution_from_option_logprobs(lls, DIGITS)
    record = score_record(Form.from_fields(doc), dist, doc["min_mass"])
    ok = record["status"] == "ok"
    nan = float("nan")
    return {
        "agreement": record["agreement"] if ok else nan,
        "stance": record["stance"] if ok else nan,
        "entropy": record["entropy"] if ok else nan,
        "digit_mass": dist.mass,
        "off_format": 0.0 if ok else 1.0,
    }


def nanmean(values) -> float:
    """Mean over the values that are not NaN (NaN when there are none)."""
    vals = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else float("nan")


def mean(values) -> float:
    """Plain mean. A function of our own rather than lm-eval's ``mean``, so that lm-eval does not
    attach its standard error over forms (see the note in ``_template_yaml``)."""
    vals = list(values)
    return sum(vals) / len(vals) if vals else float("nan")
