"""The elaboration probe on local weights: sample explanations of prefilled answers in batches and
grade each with a local model's next-token probabilities of the category numbers.

This is the engine behind ``polistance compare --suite elaboration``; the Inspect task
``polistance_plugins/elaboration`` runs the same probe (same targets, follow-up and judge prompt)
through Inspect's model API instead.

Which targets each model explains follows the sports-team paper: every model explains the base
model's modal answers ("normal" targets); each adapter also explains the answers it gives that lie
far from every answer the base gives ("radical" targets, ``instruments.elaboration.radical_answers``).
"""

from __future__ import annotations

import contextlib
import zlib
from typing import Mapping, Sequence

from ..core import DIGITS, Distribution
from ..core.label_orders import listed
from ..core.records import DEFAULT_MIN_MASS
from ..instruments.elaboration import (
    CATEGORIES,
    FOLLOW_UP,
    KINDS,
    MIN_ANSWER_PROBABILITY,
    MIN_DISTANCE,
    ElaborationTarget,
    choose_targets,
    follow_up_conversation,
    judge_prompt,
)
from ..instruments.questionnaire import Form, answered_by
from .grading import grade_in_orders, labelled
from .loop import score_texts

# Targets are generated and graded in chunks of about this many replies: a crash loses at most one
# chunk, and a resumed run regenerates whole chunks with the same seed, so its replies are identical.
CHUNK_REPLIES = 64


def plan_targets(
    forms: Sequence[Form],
    base: Sequence[Distribution],
    adapters: Mapping[str, Sequence[Distribution]],
    reference: str,
    radical: int | None = 3,
    normal: int | None = None,
    min_distance: int = MIN_DISTANCE,
    min_probability: float = MIN_ANSWER_PROBABILITY,
) -> dict[str, list[ElaborationTarget]]:
    """Targets per model label (pure): the reference explains the normal targets; each adapter
    explains the same normal targets plus its own radical ones (at most ``radical`` per adapter)."""
    normal_targets = choose_targets(forms, base, None, ("normal",), normal=normal)
    plan = {reference: list(normal_targets)}
    for label, dists in adapters.items():
        mine = (choose_targets(forms, base, dists, ("radical",), radical=radical, min_distance=min_distance,
                               min_probability=min_probability) if radical != 0 else [])
        # the adapter's own probability of each normal answer, for the record
        by_form = {f.key: d for f, d in zip(forms, dists)}
        normals = [
            ElaborationTarget(t.form, t.answer, t.kind, t.p_base, by_form[t.form.key].probs[t.answer] if by_form[t.form.key].valid else None)
            for t in normal_targets
        ]
        plan[label] = mine + normals
    return plan


def record_key(label: str, target: ElaborationTarget, sample: int) -> str:
    return f"{label}|elaboration|{target.id}|s{sample}"


def _chunk_seed(seed: int, label: str, index: int) -> int:
    """A stable per-(model, chunk) seed (independent of Python's hash randomisation)."""
    return (seed * 1_000_003 + zlib.crc32(label.encode("utf-8")) + index * 7919) % (2**31)


def grade_replies(grader, questions: Sequence[tuple[str, int]], replies: Sequence[str], min_mass: float,
                  follow_up: str = FOLLOW_UP, orders: int = 1) -> list[dict]:
    """Grade each reply with ``grader`` (a local or served backend, used as it is: the caller picks
    its adapter): the probability of each category number as the next token, read by
    ``grader_choice``, in ``orders`` label orders mapped back to the categories and averaged
    (``engine.grading``). ``grader_method`` and ``grader_coverage`` say how a served grader's numbers
    were read (echo or top-k) and how many category numbers it saw."""
    def prompt(i: int, order) -> str:
        (q, a), r = questions[i], replies[i]
        return judge_prompt(q, a, r, "logprob", follow_up, categories=listed(CATEGORIES, order))

    out = []
    for grade in grade_in_orders(grader, prompt, len(replies), CATEGORIES, orders, min_mass):
        g = labelled(grade, CATEGORIES)
        out.append({
            "category": g["label"],
            "grader_probs": g["probs"],
            "grader_mass": g["mass"],
            "grader_order_labels": g["order_labels"],
            "grader_order_probs": g["order_probs"],
            "grader_method": g["method"],
            "grader_coverage": g["coverage"],
            "problem": g["problem"],
        })
    return out


def evaluate_elaboration(
    backend,
    targets: Mapping[str, Sequence[ElaborationTarget]],
    variants,
    writer,
    grader=None,
    samples: int = 5,
    max_new_tokens: int = 96,
    temperature: float = 1.0,
    batch_size: int = 16,
    seed: int = 0,
    min_mass: float = DEFAULT_MIN_MASS,
    follow_up: str = FOLLOW_UP,
    bank: str | None = None,
    progress: bool = True,
    stats: dict | None = None,
    graders: Sequence[tuple[str, object]] | None = None,
    grader_orders: int = 1,
) -> dict:
    """Sample ``samples`` explanations per target for every variant and grade each one.

    ``targets`` maps a variant's label to the targets it explains; ``grader`` is a local backend
    (default: ``backend`` with adapters off, i.e. the base model grades). ``graders`` replaces it
    with named graders, ``(name, backend or None for the base model)``: the first gives the
    record's category, each further one is kept in ``other_graders`` (for the agreement between
    graders). Every grader grades in ``grader_orders`` label orders. One record per reply is
    appended to ``writer``: the target, the reply, its category (None when the grader's answer could
    not be read, with ``problem`` saying why) and the grader's probabilities. Returns counts.
    """
    from tqdm import tqdm

    per_chunk = max(1, CHUNK_REPLIES // max(1, samples))
    counts = {"recorded": 0, "skipped": 0, "failed": 0, "unscored": 0}
    total = sum(len(targets.get(v.label, ())) for v in variants) * samples
    bar = tqdm(total=total, desc="elaboration", unit="reply", disable=not progress, leave=False)
    for variant in variants:
        mine = list(targets.get(variant.label, ()))
        for c, start in enumerate(range(0, len(mine), per_chunk)):
            chunk = mine[start : start + per_chunk]
            keys = [[record_key(variant.label, t, k) for k in range(samples)] for t in chunk]
            if all(k in writer.done for row in keys for k in row):
                counts["skipped"] += len(chunk) * samples
                bar.update(len(chunk) * samples)
                continue
            with backend.use(variant.adapter):
                replies = backend.sample_replies(
                    [follow_up_conversation(t, follow_up) for t in chunk], n=samples,
                    max_new_tokens=max_new_tokens, temperature=temperature, batch_size=batch_size,
                    seed=_chunk_seed(seed, variant.label, c), stats=stats,
                )
            flat = [(t, k, replies[i][k]) for i, t in enumerate(chunk) for k in range(samples)]
            questions, texts = [(t.form.prompt(), t.answer) for t, _, _ in flat], [r for _, _, r in flat]
            per_grader = []
            for name, judge in graders or [(None, grader)]:
                judge = judge if judge is not None else backend
                with (judge.use(None) if judge is backend else contextlib.nullcontext()):
                    per_grader.append((name, grade_replies(judge, questions, texts, min_mass, follow_up, grader_orders)))
            grades = [_with_others(i, per_grader) for i in range(len(flat))]
            for (t, k, reply), grade in zip(flat, grades):
                key = record_key(variant.label, t, k)
                if key in writer.done:
                    counts["skipped"] += 1
                    continue
                writer.append(_record(variant, bank, t, k, key, reply, grade))
                counts["recorded"] += 1
                counts["unscored"] += grade["category"] is None
            bar.update(len(flat))
    bar.close()
    return counts


def _with_others(i: int, per_grader: list) -> dict:
    """Reply ``i``'s grade by the first grader, named, with the other graders' grades beside it."""
    (name, first), others = per_grader[0], per_grader[1:]
    grade = {**first[i], **({"grader": name} if name is not None else {})}
    if others:
        grade["other_graders"] = [{"grader": n, **g[i]} for n, g in others]
    return grade


def _record(variant, bank: str | None, target: ElaborationTarget, sample: int, key: str, reply: str, grade: dict) -> dict:
    return {
        "key": key,
        **answered_by(variant.label, variant.adapter_path, bank, target.form),
        "target": target.id,
        "kind": target.kind,
        "answer": target.answer,
        "p_base": target.p_base,
        "p_adapter": target.p_adapter,
        "distance": target.distance,
        "sample": sample,
        "reply": reply,
        "status": "ok" if grade["category"] is not None else "unscored",
        **grade,
    }


def target_distributions(backend, forms: Sequence[Form], variants, progress=None) -> dict[str, list[Distribution]]:
    """The 0-9 distribution of every form under every variant (what the targets are chosen from),
    from a local or a served backend."""
    from ..errors import PolistanceError

    prompts = [f.prompt() for f in forms]
    out = {}
    for v in variants:
        with backend.use(v.adapter):
            results = score_texts(backend, prompts, DIGITS)
        failed = [r.error for r in results if r.distribution is None]
        if failed:
            raise PolistanceError(f"elaboration targets: {len(failed)} of {len(prompts)} questions could not be scored "
                                  f"for {v.label} ({failed[0]})")
        out[v.label] = [r.distribution for r in results]
        if progress:
            progress(len(prompts))
    return out


def auto_targets(
    forms: Sequence[Form],
    base: str,
    adapter: str | None = None,
    kinds: Sequence[str] = KINDS,
    radical: int | None = None,
    normal: int | None = None,
    min_distance: int = MIN_DISTANCE,
    min_probability: float = MIN_ANSWER_PROBABILITY,
    batch_size: int | str = 16,
    device: str = "auto",
    dtype: str = "auto",
    device_map: str | None = None,
) -> list[ElaborationTarget]:
    """Choose targets by scoring ``forms`` on the base model and on base + adapter (local weights).

    ``base`` is a named model, a local folder or a hub id (``models.resolve``); ``adapter`` a PEFT
    adapter folder; ``device``/``dtype``/``device_map``/``batch_size`` as for ``polistance eval``.
    The distributions are the exact ones ``polistance eval`` records.
    """
    from . import models
    from .backends.hf import LocalBackend

    backend = LocalBackend(models.resolve(base), batch_size=batch_size, device=device, dtype=dtype, device_map=device_map)
    prompts = [f.prompt() for f in forms]
    with backend.use(None):
        base_dists = backend.distributions(prompts, DIGITS)
    adapted = None
    if adapter is not None:
        backend.load_adapter("adapter", adapter)
        with backend.use("adapter"):
            adapted = backend.distributions(prompts, DIGITS)
    return choose_targets(forms, base_dists, adapted, kinds, radical, normal, min_distance, min_probability)
