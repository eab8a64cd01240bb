"""Inspect task ``polistance_plugins/questionnaire``: the 0-9 questionnaire scored as digit distributions.

Same banks, forms and prompt text as ``polistance eval``; the answer distribution is read from the
first answer token's top log-probabilities and scored by the same core functions.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Sequence

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample

from polistance_plugins.banks import Bank, load_bank
from polistance_plugins.cli import directions_for
from polistance_plugins.errors import PolistanceError
from polistance_plugins.questionnaire import DEFAULT_MIN_MASS, Form, bank_forms
from polistance_plugins.scorers import digit_distribution
from polistance_plugins.solvers import digit_answer


def registered_name(name: str) -> str:
    """The name to register a task under so that ``inspect eval polistance_plugins/<name>`` finds it.

    Inspect prefixes the package itself when it recognises a module as part of an installed
    package. It does not for an editable install whose distribution name (``polistance``) differs
    from the import package (``polistance_plugins``); there the prefix is added here.
    """
    try:
        from inspect_ai._util.package import get_installed_package_name
    except ImportError:  # Inspect moved its helper: keep its default naming
        return name
    return name if get_installed_package_name(sys.modules[__name__]) else f"polistance_plugins/{name}"


def parse_topics(bank: Bank, topics: str | Sequence[str] | None) -> list[str] | None:
    """A ``topics`` task argument ("a,b" or a list) checked against the bank's topics."""
    if topics is None or topics == "":
        return None
    names = [t.strip() for t in topics.split(",")] if isinstance(topics, str) else [str(t).strip() for t in topics]
    unknown = sorted(set(names) - set(bank.topics))
    if unknown:
        raise PolistanceError(f"topics: {', '.join(unknown)} not in bank {bank.name} (topics: {', '.join(bank.topics)})")
    return names


def check_paraphrases(paraphrases: str) -> str:
    """A ``paraphrases`` task argument: "all" or "first"."""
    if paraphrases not in ("all", "first"):
        raise PolistanceError(f"paraphrases must be all or first, got {paraphrases!r}")
    return paraphrases


def form_sample(form: Form) -> Sample:
    """One Inspect sample per form: the rendered question, the form's fields as metadata."""
    return Sample(input=form.prompt(), id=form.key, metadata=asdict(form))


@task(name=registered_name("questionnaire"))
def questionnaire(
    bank: str = "terry9",
    topics: str | list[str] | None = None,
    paraphrases: str = "all",
    directions: str = "auto",
    top_logprobs: int = 20,
    top_k: int | None = None,
    min_mass: float = DEFAULT_MIN_MASS,
) -> Task:
    """The 0-9 questionnaire: one question per form, scored by the first token's digit distribution.

    Args:
      bank: bundled bank name (terry9, topics) or a path to a JSONL bank.
      topics: comma-separated topics to keep (default all).
      paraphrases: "all" or "first" wording of each item.
      directions: normal, reversed, both, or auto (both for statement banks, normal for questions).
      top_logprobs: first-token log-probabilities to request (default 20).
      top_k: score only the top_k most probable returned tokens (5 = the sports-team paper).
      min_mass: digit probability below which an item is off-format.
    """
    loaded = load_bank(bank)
    forms = bank_forms(loaded, check_paraphrases(paraphrases), directions_for(loaded, directions), parse_topics(loaded, topics))
    if not forms:
        raise PolistanceError(f"bank {loaded.name} has no rated items to ask")
    return Task(
        dataset=MemoryDataset([form_sample(f) for f in forms], name=loaded.name),
        solver=digit_answer(top_logprobs=max(top_logprobs, top_k or 0)),
        scorer=digit_distribution(top_k=top_k, min_mass=min_mass),
        metadata={"bank": loaded.name, "bank_sha256": loaded.sha256},
    )
