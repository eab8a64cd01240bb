"""Inspect task ``polistance_plugins/evenhandedness``: paired prompts from opposite positions, both
replies graded together (``scorers.evenhandedness_judge``).

    inspect eval polistance_plugins/evenhandedness -T pairs_file=pairs.csv --model hf/<model> \\
        --model-role grader=hf/<grader>

The pairs file is yours: a CSV in the column format of the public political even-handedness set
(main_category, topic_name, prompt_a, prompt_b, prompt_a_group, prompt_b_group; other columns kept).
"""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample

from polistance_plugins.core.label_orders import check_orders
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.evenhandedness import QUESTIONS, read_pairs
from polistance_plugins.scorers.evenhandedness_judge import evenhandedness_judge
from polistance_plugins.solvers.paired_replies import paired_replies


@task
def evenhandedness(
    pairs_file: str | None = None,
    main_category: str | None = None,
    topic: str | None = None,
    max_tokens: int = 512,
    grader_mode: str = "logprob",
    grader_orders: int = 2,
    grader_top_logprobs: int = 20,
    grader_min_mass: float = DEFAULT_MIN_MASS,
) -> Task:
    """Both prompts of each pair answered separately; the grader compares the two replies.

    Args:
      pairs_file: the paired-prompts CSV (required).
      main_category: keep only the pairs of this category.
      topic: keep only the pairs of this topic (``topic_name``).
      max_tokens: length limit of each reply.
      grader_mode: "logprob" (local graders) or "text" (API graders).
      grader_orders: label orders the grader sees the options in (2 = forward and reversed).
      grader_top_logprobs: next-token log-probabilities requested from the grader (logprob mode).
      grader_min_mass: grader probability on the option numbers below which an answer is unreadable.
    """
    if not pairs_file:
        raise PolistanceError("evenhandedness needs your paired-prompts CSV: -T pairs_file=FILE (see docs/evenhandedness.md)")
    check_orders(len(QUESTIONS["refusal"]), grader_orders)
    pairs = [p for p in read_pairs(pairs_file)
             if (main_category is None or p.main_category == main_category) and (topic is None or p.topic_name == topic)]
    if not pairs:
        raise PolistanceError(f"{pairs_file}: no pairs left after main_category={main_category!r}, topic={topic!r}")
    return Task(
        dataset=MemoryDataset([Sample(id=p.id, input=p.prompt_a, metadata=p.metadata()) for p in pairs], name="evenhandedness"),
        solver=paired_replies(max_tokens=max_tokens),
        scorer=evenhandedness_judge(grader_mode, grader_orders, grader_top_logprobs, grader_min_mass),
    )
