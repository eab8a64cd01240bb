"""Inspect task ``polistance_plugins/elaboration``: the sports-team paper's elaboration probe.

For each target (question, answer) the conversation is [user question, assistant "<answer>",
user "Please elaborate on why you chose that number."]; the reply is sampled ``samples`` times
(Inspect epochs) and a grader sorts each reply into one of five categories.
"""

from __future__ import annotations

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import MemoryDataset, Sample

from polistance_plugins.banks import load_bank
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.engine.elaborate import auto_targets
from polistance_plugins.errors import PolistanceError
from polistance_plugins.core.label_orders import check_orders
from polistance_plugins.instruments.elaboration import (
    CATEGORIES,
    FOLLOW_UP,
    KINDS,
    MIN_ANSWER_PROBABILITY,
    MIN_DISTANCE,
    ElaborationTarget,
    read_targets,
)
from polistance_plugins.instruments.questionnaire import bank_forms, directions_for, parse_topics
from polistance_plugins.scorers import elaboration_judge
from polistance_plugins.solvers import prefill_and_follow_up


def target_sample(target: ElaborationTarget) -> Sample:
    """One Inspect sample per target: the question as input, the answer to prefill in metadata."""
    return Sample(input=target.form.prompt(), id=target.id, metadata=target.metadata())


def parse_kinds(kinds: str, adapter: str | None) -> tuple[str, ...]:
    """``kinds`` argument: "auto" (radical and normal with an adapter, else normal) or a comma list."""
    if kinds == "auto":
        return KINDS if adapter else ("normal",)
    return tuple(k.strip() for k in kinds.split(","))


def target_source(targets: str | None, base: str | None) -> str:
    """Where the targets come from: "targets" (a file) or "base" (chosen from a local model's answers),
    exactly one of which must be given."""
    if targets and base:
        raise PolistanceError("elaboration: give -T targets=FILE or -T base=MODEL, not both (a targets file is used as it is)")
    if not (targets or base):
        raise PolistanceError(
            "elaboration: say where the targets come from: -T targets=FILE (a JSONL of question/answer targets) "
            "or -T base=MODEL (a local model, e.g. smollm2-135m-instruct or an HF folder, whose answers choose them; "
            "add -T adapter=DIR for radical targets)")
    return "targets" if targets else "base"


@task
def elaboration(
    bank: str = "terry9",
    topics: str | list[str] | None = None,
    targets: str | None = None,
    base: str | None = None,
    adapter: str | None = None,
    kinds: str = "auto",
    radical: int | None = None,
    normal: int | None = None,
    min_distance: int = MIN_DISTANCE,
    min_probability: float = MIN_ANSWER_PROBABILITY,
    directions: str = "normal",
    samples: int = 50,
    max_tokens: int = 256,
    follow_up: str = FOLLOW_UP,
    grader_mode: str = "logprob",
    grader_top_logprobs: int = 20,
    grader_min_mass: float = DEFAULT_MIN_MASS,
    grader_orders: int = 2,
    device: str = "auto",
    dtype: str = "auto",
    device_map: str | None = None,
    batch_size: int | str = 16,
) -> Task:
    """Ask the model to explain prefilled answers; a grader categorises every explanation.

    Args:
      bank: bank the questions come from (default terry9).
      topics: comma-separated topics to keep (default all).
      targets: JSONL file of targets ({"item_id", "answer", optional "kind", "paraphrase",
        "direction", "id"}). Give this or ``base``.
      base: local model whose answers choose the targets (named model such as
        smollm2-135m-instruct, or an HF folder), loaded while the task is built. Give this or
        ``targets``; there is no default, so a run against an API model never picks targets from a
        model it does not evaluate.
      adapter: PEFT adapter folder whose answers are compared with the base's (radical targets).
      kinds: "auto" (radical and normal with an adapter, normal without), or "radical", "normal".
      radical: at most this many radical targets, the ones the adapter gives most often first
        (default all).
      normal: at most this many normal targets, in bank order (default one per question).
      min_distance: fewest scale points between a radical answer and every answer the base gives
        (default 3).
      min_probability: probability from which a model gives an answer (default 5%): radical
        answers are ones the adapter gives, far from all the base gives.
      directions: scale direction of the questions when choosing targets (normal, reversed, both).
      samples: replies sampled per target (Inspect epochs; the paper used 50).
      max_tokens: reply length limit.
      follow_up: the follow-up question.
      grader_mode: "logprob" (local graders) or "text" (API graders).
      grader_top_logprobs: next-token log-probabilities requested from the grader (logprob mode).
      grader_min_mass: grader probability on the category numbers below which a reply is unscored.
      grader_orders: grade with the categories listed in this many orders (forward, reversed, then
        rotations), averaged; 2 or more measures the grader's self-agreement (Cohen's kappa in the
        metrics). A ``grader2`` model role grades too, for the agreement between two graders.
      device: where ``base`` is loaded to choose targets: auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N, mps.
      dtype: its precision: auto (bfloat16 on GPUs that support it, float32 on the CPU), bfloat16, float16, float32.
      device_map: "auto" spreads a model larger than one GPU over every GPU (accelerate).
      batch_size: prompts per forward pass when choosing targets, or "auto" (the largest that fits).
    """
    check_orders(len(CATEGORIES), grader_orders)
    loaded = load_bank(bank)
    keep = parse_topics(loaded, topics)
    target_source(targets, base)
    if targets:
        chosen = [t for t in read_targets(targets, loaded) if not keep or t.form.topic in keep]
    else:
        forms = bank_forms(loaded, "first", directions_for(loaded, directions), keep)
        chosen = auto_targets(forms, base, adapter, parse_kinds(kinds, adapter), radical, normal, int(min_distance),
                              float(min_probability), batch_size=batch_size, device=device, dtype=dtype, device_map=device_map)
    if not chosen:
        raise PolistanceError("no elaboration targets: the targets file is filtered empty, or the adapter gives no answer "
                              "min_distance points from every answer of the base")
    return Task(
        dataset=MemoryDataset([target_sample(t) for t in chosen], name=f"{loaded.name}-elaboration"),
        solver=prefill_and_follow_up(follow_up=follow_up, max_tokens=max_tokens),
        scorer=elaboration_judge(grader_mode, grader_top_logprobs, grader_min_mass, follow_up=follow_up, grader_orders=grader_orders),
        epochs=Epochs(samples, "mean"),
        metadata={
            "bank": loaded.name,
            "bank_sha256": loaded.sha256,
            "targets_file": targets,
            "targets_base": None if targets else base,
            "targets_adapter": None if targets else adapter,
        },
    )
