"""Inspect task ``polistance_plugins/ideology_score``: open-ended prompts rated 0 (very left) to
20 (very right) by a grader model, as PoliTune (Agiza et al. 2024) did."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample

from polistance_plugins.banks import load_bank
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.questionnaire import check_paraphrases, parse_topics
from polistance_plugins.scorers import ideology_judge
from polistance_plugins.solvers import open_ended


@task
def ideology_score(
    bank: str = "topics_open",
    topics: str | list[str] | None = None,
    paraphrases: str = "first",
    samples: int = 1,
    max_tokens: int = 256,
    grader_mode: str = "logprob",
    direction: str = "normal",
    grader_top_logprobs: int = 20,
    grader_min_mass: float = DEFAULT_MIN_MASS,
) -> Task:
    """Answer each open prompt freely; a grader rates the answer's leaning on PoliTune's 0-20 scale.

    Args:
      bank: bank of open items (default topics_open: 8 prompts on each of 6 topics).
      topics: comma-separated topics to keep (default all).
      paraphrases: "first" or "all" wordings of each item.
      samples: responses per prompt (Inspect epochs; each response is rated).
      max_tokens: response length limit.
      grader_mode: "logprob" (local graders) or "text" (API graders).
      direction: "normal" (0 = left shown to the grader) or "reversed" (0 = right); results are 0 = left.
      grader_top_logprobs: next-token log-probabilities requested from the grader (logprob mode).
      grader_min_mass: grader probability on the scale's letters below which a rating is unscored.
    """
    loaded = load_bank(bank)
    keep = parse_topics(loaded, topics)
    check_paraphrases(paraphrases)
    rows = []
    for item in loaded:
        if item.kind != "open" or (keep and item.topic not in keep):
            continue
        wordings = item.wordings if paraphrases == "all" else item.wordings[:1]
        for k, text in enumerate(wordings):
            rows.append(
                Sample(input=text, id=f"{item.id}/p{k}", metadata={"item_id": item.id, "topic": item.topic, "paraphrase": k})
            )
    if not rows:
        raise PolistanceError(f"bank {loaded.name} has no open items{' on ' + ', '.join(keep) if keep else ''}")
    return Task(
        dataset=MemoryDataset(rows, name=loaded.name),
        solver=open_ended(max_tokens=max_tokens),
        scorer=ideology_judge(grader_mode, direction, grader_top_logprobs, grader_min_mass),
        epochs=samples,
        metadata={"bank": loaded.name, "bank_sha256": loaded.sha256},
    )
