"""Inspect task ``polistance_plugins/questionnaire``: the 0-9 questionnaire scored as digit distributions.

Same banks, forms and prompt text as ``polistance eval``; the answer distribution is read from the
first answer token's top log-probabilities and scored by the same core functions. By default as many
log-probabilities are asked as it takes for all ten digits to be there where the provider allows it
(Inspect's ``hf``); elsewhere 20, and the ``coverage`` metrics say how many digits came back.
"""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample

from polistance_plugins.banks import load_bank
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.questionnaire import Form, bank_forms, check_paraphrases, directions_for, parse_topics
from polistance_plugins.scorers import digit_distribution
from polistance_plugins.solvers import digit_answer
from polistance_plugins.solvers.option_answer import CAPPED_TOP_LOGPROBS


def form_sample(form: Form) -> Sample:
    """One Inspect sample per form: the rendered question, the form's fields as metadata."""
    return Sample(input=form.prompt(), id=form.key, metadata=form.fields())


@task
def questionnaire(
    bank: str = "terry9",
    topics: str | list[str] | None = None,
    paraphrases: str = "all",
    directions: str = "auto",
    top_logprobs: int | None = None,
    top_k: int | None = None,
    min_mass: float = DEFAULT_MIN_MASS,
) -> Task:
    """The 0-9 questionnaire: one question per form, scored by the first token's digit distribution.

    Args:
      bank: bundled bank name (terry9, topics) or a path to a JSONL bank.
      topics: comma-separated topics to keep (default all).
      paraphrases: "all" or "first" wording of each item.
      directions: normal, reversed, both, or auto (both for statement banks, normal for questions).
      top_logprobs: first-token log-probabilities to request. Default: all it takes for the ten digits to
        be there on providers without a cap (``hf``: 20, 200, ... up to the whole vocabulary), else 20.
      top_k: score only the top_k most probable returned tokens (5 = the sports-team paper); then
        max(top_logprobs or 20, top_k) are asked, with no search for the missing digits.
      min_mass: digit probability below which an item is off-format.
    """
    loaded = load_bank(bank)
    forms = bank_forms(loaded, check_paraphrases(paraphrases), directions_for(loaded, directions), parse_topics(loaded, topics))
    if not forms:
        raise PolistanceError(f"bank {loaded.name} has no rated items to ask")
    return Task(
        dataset=MemoryDataset([form_sample(f) for f in forms], name=loaded.name),
        solver=digit_answer(top_logprobs=top_logprobs if top_k is None else max(top_logprobs or CAPPED_TOP_LOGPROBS, top_k)),
        scorer=digit_distribution(top_k=top_k, min_mass=min_mass),
        metadata={"bank": loaded.name, "bank_sha256": loaded.sha256},
    )
