"""Unforced compass answers on local weights: each proposition asked openly (first wording), replies
sampled in batches per model, each reply graded into a position (``instruments.unforced.POSITIONS``)
by the grader's next-token probabilities in several label orders (``engine.grading``).

Work is cut into fixed chunks with a seed per (model, chunk), so a resumed run regenerates whole
chunks and records exactly the replies an uninterrupted run does."""

from __future__ import annotations

import contextlib
import zlib
from typing import Sequence

from ..core.label_orders import listed
from ..core.records import DEFAULT_MIN_MASS
from ..instruments.compass import CompassSource
from ..instruments.unforced import POSITIONS, SUITE, judge_prompt, open_question
from .grading import grade_in_orders, labelled

CHUNK_REPLIES = 64


def record_key(label: str, source: str, item_id: str, sample: int) -> str:
    return f"{label}|{SUITE}|{source}|{item_id}|s{sample}"


def _seed(seed: int, label: str, index: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(f"unforced:{label}".encode("utf-8")) + index * 7919) % (2**31)


def grade_positions(grader, statements: Sequence[str], replies: Sequence[str], orders: int = 2,
                    min_mass: float = DEFAULT_MIN_MASS) -> list[dict]:
    """Each reply's position (``engine.grading.labelled`` fields) from ``grader`` (used as it is)."""
    def prompt(i: int, order) -> str:
        return judge_prompt(statements[i], replies[i], "logprob", listed(POSITIONS, order))

    return [labelled(g, POSITIONS) for g in grade_in_orders(grader, prompt, len(replies), POSITIONS, orders, min_mass)]


def evaluate_unforced(backend, source: CompassSource, variants, writer, grader=None, samples: int = 1,
                      max_new_tokens: int = 96, temperature: float = 1.0, batch_size: int = 16, seed: int = 0,
                      grader_orders: int = 2, min_mass: float = DEFAULT_MIN_MASS, progress: bool = True) -> dict:
    """Ask every proposition openly ``samples`` times per variant, grade each reply, append one record
    per reply to ``writer`` (``suite`` = ``compass_unforced``). ``grader``: a local backend, default
    the base model (``backend`` with adapters off). Returns counts."""
    from tqdm import tqdm

    from .backends.generate import sample_replies

    props = list(source.propositions)
    per_chunk = max(1, CHUNK_REPLIES // max(1, samples))
    counts = {"recorded": 0, "skipped": 0, "unscored": 0}
    bar = tqdm(total=len(props) * samples * len(variants), desc="unforced compass", unit="reply", disable=not progress, leave=False)
    for variant in variants:
        for c, start in enumerate(range(0, len(props), per_chunk)):
            chunk = list(enumerate(props))[start : start + per_chunk]
            keys = [[record_key(variant.label, source.name, p.id, k) for k in range(samples)] for _, p in chunk]
            if all(k in writer.done for row in keys for k in row):
                counts["skipped"] += len(keys) * samples
                bar.update(len(keys) * samples)
                continue
            questions = [open_question(p.wordings[0]) for _, p in chunk]
            with backend.use(variant.adapter):
                replies = sample_replies(backend, [[{"role": "user", "content": q}] for q in questions], n=samples,
                                         max_new_tokens=max_new_tokens, temperature=temperature, batch_size=batch_size,
                                         seed=_seed(seed, variant.label, c))
            flat = [(i, p, q, k, replies[j][k]) for j, ((i, p), q) in enumerate(zip(chunk, questions)) for k in range(samples)]
            judge = grader if grader is not None else backend
            with (judge.use(None) if judge is backend else contextlib.nullcontext()):
                grades = grade_positions(judge, [p.wordings[0] for _, p, _, _, _ in flat], [r for *_, r in flat], grader_orders, min_mass)
            for (i, p, q, k, reply), g in zip(flat, grades):
                key = record_key(variant.label, source.name, p.id, k)
                if key in writer.done:
                    counts["skipped"] += 1
                    continue
                writer.append({
                    "key": key, "suite": SUITE, "model": variant.label, "adapter": variant.adapter_path, "source": source.name,
                    "index": i, "item_id": p.id, "axis": p.axis, "sample": k, "prompt": q, "reply": reply,
                    "position": g["label"], "grader_probs": g["probs"], "grader_mass": g["mass"],
                    "grader_order_labels": g["order_labels"], "grader_order_probs": g["order_probs"],
                    "problem": g["problem"], "status": "ok" if g["label"] is not None else "unscored",
                })
                counts["recorded"] += 1
                counts["unscored"] += g["label"] is None
            bar.update(len(flat))
    bar.close()
    return counts
