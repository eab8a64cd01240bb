"""lm-eval glue for the polistance tasks: datasets from the package's banks, scores from its core.

Referenced from the YAMLs with ``!function utils.<name>``. Nothing here computes anything of its
own: forms come from ``polistance_plugins.questionnaire`` and scores from ``polistance_plugins.scoring``.
"""

from __future__ import annotations

import math

from polistance_plugins.banks import load_bank
from polistance_plugins.questionnaire import DEFAULT_MIN_MASS, Form, bank_forms
from polistance_plugins.scoring import DIGITS, distribution_from_option_logprobs, keyed_stance

DIRECTIONS = {"terry9": ("normal",), "topics": ("normal", "reversed")}


def _dataset(bank_name: str, topic: str | None = None, bank: str | None = None, directions=None, paraphrases: str = "all", **_):
    """A DatasetDict with one ``test`` row per form of the bank (optionally one topic)."""
    import datasets

    loaded = load_bank(bank or bank_name)
    dirs = tuple(directions.split(",")) if isinstance(directions, str) else (directions or DIRECTIONS.get(bank_name, ("normal",)))
    forms = bank_forms(loaded, paraphrases, dirs, [topic] if topic else None)
    rows = [
        {
            "key": f.key,
            "item_id": f.item_id,
            "topic": f.topic,
            "kind": f.kind,
            "keying": f.keying,
            "paraphrase": f.paraphrase,
            "direction": f.direction,
            "text": f.text,
            "prompt": f.prompt(),
            "target": 0,
        }
        for f in forms
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def terry9(**kwargs):
    return _dataset("terry9", **kwargs)


def topics(**kwargs):
    return _dataset("topics", **kwargs)


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

    Items whose digits held less than 5% of the probability are off-format: their stance and
    expected score are NaN (skipped by ``nanmean``) and counted in ``off_format``.
    lm-eval moves the chat template's trailing newline into the continuation, so its digit mass
    is the polistance mass times P(newline), which is close to 1 for chat models.
    """
    lls = [float(ll) for ll, _ in results]
    dist = distribution_from_option_logprobs(lls, DIGITS)
    off = (not dist.valid) or dist.mass < DEFAULT_MIN_MASS
    nan = float("nan")
    expected = dist.expected
    return {
        "expected_score": nan if off else expected,
        "stance": nan if off else keyed_stance(expected, doc["keying"], 9, doc["direction"]),
        "entropy": nan if off else dist.entropy,
        "digit_mass": dist.mass,
        "off_format": 1.0 if off else 0.0,
    }


def nanmean(values) -> float:
    """Mean over the values that are not NaN (NaN when there are none)."""
    vals = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else float("nan")
