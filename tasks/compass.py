"""Inspect task: the political compass, one sample per form of each proposition.

    inspect eval polistance_plugins/compass --model hf/<model> -T source=compass -M do_sample=false
    inspect eval polistance_plugins/compass -T source=pct -T pct_file=/path/to/pct_propositions.csv

Parameters: ``source`` ("compass", "pct" or a compass-style .jsonl bank), ``pct_file`` (the official
propositions CSV, needed for "pct"), ``paraphrases`` ("all"/"first"), ``orders`` and ``labels``
(comma lists; "numbers" answers are read from the first token's top logprobs, "words" answers by a
strict parse of the first line), ``min_mass`` (below it a logprob answer is off-format), and
``top_logprobs`` (how many first-token alternatives to request). Unset, as many as it takes for all
four number labels to be there where the provider has no cap (Inspect's ``hf``: 20, 200, ... up to
the whole vocabulary), else 20, as the questionnaire task does (``solvers.option_answer``); the
``coverage`` and ``partial_coverage`` metrics say how many labels came back.
"""

from __future__ import annotations

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig

from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.compass import LABEL_STYLES, ORDERS, build_forms, load_source
from polistance_plugins.scorers.likert import likert
from polistance_plugins.solvers.option_answer import OPTIONS_FIELD, option_answer

MAX_TOKENS = 8
"""Room for the longest answer read as text ("Strongly disagree", "3. Agree"); logprob answers use the first token."""


def _split(value: str, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in str(value).split(",") if v.strip())
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise PolistanceError(f"-T {name}={value!r}: use a comma list of {', '.join(allowed)}")
    return items


@task
def compass(
    source: str = "compass",
    pct_file: str | None = None,
    paraphrases: str = "all",
    orders: str = "normal,reversed",
    labels: str = "numbers",
    min_mass: float = DEFAULT_MIN_MASS,
    top_logprobs: int | None = None,
) -> Task:
    """Likert answer distributions for every form; metrics econ and social (the compass point), and
    coverage / partial_coverage (number labels among the returned log-probabilities)."""
    src = load_source(source, pct_file)
    forms = build_forms(src, paraphrases, _split(orders, ORDERS, "orders"), _split(labels, LABEL_STYLES, "labels"))
    weights = src.name if src.name in ("compass", "pct") else src.path
    samples = [
        Sample(
            id=f.key,
            input=f.prompt(),
            metadata={"weights": weights, **f.metadata(), OPTIONS_FIELD: list(f.token_choices)},
        )
        for f in forms
    ]
    return Task(
        dataset=MemoryDataset(samples, name=f"polistance_compass_{src.name}"),
        solver=option_answer(top_logprobs=None if top_logprobs is None else int(top_logprobs), max_tokens=MAX_TOKENS),
        scorer=likert(min_mass=float(min_mass)),
        config=GenerateConfig(temperature=0.0),
        epochs=Epochs(1),
    )
