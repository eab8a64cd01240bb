"""Inspect task ``polistance_plugins/compass_unforced``: forced vs unforced compass answers.

    inspect eval polistance_plugins/compass_unforced --model hf/<model> -T source=compass
    inspect eval polistance_plugins/compass_unforced -T source=pct -T pct_file=/path/to/pct_propositions.csv \\
        --model-role grader=hf/<grader>

Per proposition (first wording): the forced Likert answer (numbers 1-4, first-token log-probabilities,
asked for as many as it takes to see all four labels where the provider has no cap, as the compass
task does: ``solvers.forced_then_open``), then the proposition asked openly ("What do you think about
the following statement?") and the reply graded into strongly disagree .. strongly agree or no
position (``scorers.unforced_position``, whose ``forced_coverage`` and ``forced_partial_coverage``
metrics say how many labels the forced answers were read from).
"""

from __future__ import annotations

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import MemoryDataset, Sample

from polistance_plugins.core.label_orders import check_orders
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.instruments.compass import build_forms, load_source
from polistance_plugins.instruments.unforced import POSITIONS, open_question
from polistance_plugins.scorers.unforced_position import unforced_position
from polistance_plugins.solvers.forced_then_open import forced_then_open
from polistance_plugins.solvers.option_answer import CAPPED_TOP_LOGPROBS


@task
def compass_unforced(
    source: str = "compass",
    pct_file: str | None = None,
    samples: int = 1,
    max_tokens: int = 256,
    min_mass: float = DEFAULT_MIN_MASS,
    top_logprobs: int | None = None,
    grader_mode: str = "logprob",
    grader_orders: int = 2,
    grader_min_mass: float = DEFAULT_MIN_MASS,
) -> Task:
    """Each proposition forced and unforced; metrics: position shares, match with the forced answer,
    the unforced compass point with its interval, the grader's reliability, and the forced answers'
    label coverage.

    Args:
      source: "compass" (the project's bank), "pct" (needs pct_file) or a compass-style .jsonl bank.
      pct_file: the official propositions CSV (the project does not ship its text).
      samples: open replies per proposition (Inspect epochs).
      max_tokens: length limit of the open reply.
      min_mass: below this probability on the numbers 1-4 the forced answer is off-format.
      top_logprobs: first-token alternatives requested for the forced answer and the grader. None
        (default): for the forced answer 20, then 200, 2000, ... until all four labels are there on
        Inspect's ``hf`` provider (no cap), 20 elsewhere; for the grader 20. A number is asked as given.
      grader_mode: "logprob" (local graders) or "text" (API graders).
      grader_orders: label orders the grader sees the positions in (2 = forward and reversed).
      grader_min_mass: grader probability on the position numbers below which a reply is unscored.
    """
    check_orders(len(POSITIONS), grader_orders)
    src = load_source(source, pct_file)
    weights = src.name if src.name in ("compass", "pct") else src.path
    forms = build_forms(src, "first", ("normal",), ("numbers",))
    asked = None if top_logprobs is None else int(top_logprobs)
    dataset = [Sample(id=f.item_id, input=f.prompt(), metadata={"weights": weights, "open_question": open_question(f.text), **f.metadata()})
               for f in forms]
    return Task(
        dataset=MemoryDataset(dataset, name=f"polistance_compass_unforced_{src.name}"),
        solver=forced_then_open(max_tokens=max_tokens, top_logprobs=asked, min_mass=min_mass),
        scorer=unforced_position(grader_mode, grader_orders, CAPPED_TOP_LOGPROBS if asked is None else asked, grader_min_mass),
        epochs=Epochs(samples, "mean"),
    )
