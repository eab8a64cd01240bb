"""What label-order debiasing costs in the elaboration stage: on the embedded model, sample the
elaboration replies of the base model's normal targets (terry9, 5 per target by default), then grade
them in 1 and in 2 label orders. Prints process CPU seconds (all threads; robust to other processes
sharing the cores) and wall seconds of each part, and the elaboration stage's cost with 2 orders
relative to 1 (generation + grading).

Usage: python bench/bench_grader_orders.py [--targets 9] [--samples 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def clock():
    return time.process_time(), time.perf_counter()


def since(start) -> tuple[float, float]:
    cpu, wall = clock()
    return cpu - start[0], wall - start[1]


def main() -> int:
    import torch

    from polistance_plugins.banks import load_bank
    from polistance_plugins.engine import models
    from polistance_plugins.engine.backends.generate import sample_replies
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.engine.elaborate import grade_replies, plan_targets, target_distributions
    from polistance_plugins.engine.variants import Variant
    from polistance_plugins.instruments.elaboration import follow_up_conversation
    from polistance_plugins.instruments.questionnaire import bank_forms

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", type=int, default=9)
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    backend = LocalBackend(str(models.prepare(models.DEFAULT_MODEL, log=lambda m: None)), batch_size=16)
    forms = bank_forms(load_bank("terry9"), "first", ("normal",))
    dists = target_distributions(backend, forms, [Variant("base")])
    targets = plan_targets(forms, dists["base"], {}, "base", normal=args.targets)["base"]
    print(f"load {os.getloadavg()[0]:.2f}; {len(targets)} targets x {args.samples} replies, {args.threads} thread(s)", flush=True)
    t = clock()
    replies = sample_replies(backend, [follow_up_conversation(x) for x in targets], n=args.samples, max_new_tokens=96,
                             temperature=1.0, batch_size=16, seed=0)
    gen = since(t)
    print(f"generation: CPU {gen[0]:.1f} s, wall {gen[1]:.1f} s", flush=True)
    questions = [(x.form.prompt(), x.answer) for x in targets for _ in range(args.samples)]
    texts = [r for row in replies for r in row]
    grading = {}
    for k in (1, 2):
        t = clock()
        grades = grade_replies(backend, questions, texts, 0.05, orders=k)
        grading[k] = since(t)
        cats = [g["category"] for g in grades]
        print(f"grading in {k} order(s): CPU {grading[k][0]:.1f} s, wall {grading[k][1]:.1f} s; "
              f"categories {dict((c, cats.count(c)) for c in dict.fromkeys(cats))}", flush=True)
    for i, name in ((0, "CPU"), (1, "wall")):
        one, two = gen[i] + grading[1][i], gen[i] + grading[2][i]
        print(f"elaboration stage ({name}): 1 order {one:.1f} s, 2 orders {two:.1f} s: {100 * (two - one) / one:+.1f}%")
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
