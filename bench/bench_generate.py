"""Benchmark: batched sampling of elaboration replies vs one ``generate`` call per reply, in one run.

Both sides sample the same replies to the same conversations (the elaboration probe's
[question, prefilled answer, "Please elaborate on why you chose that number."] on every terry9
question) with the same model, length limit and temperature, through the code ``compare --suite
elaboration`` uses (``backends.generate.sample_replies``); only the batch size differs. Generated
tokens are counted up to each reply's end-of-sequence token, so a batch that keeps computing for
its longest reply is charged for that time but gets no credit for the padding.

Printed: replies, generated tokens, seconds and tokens/s of each side, and the ratio.

Usage: python bench/bench_generate.py [--model smollm2-135m-instruct] [--samples 4] [--max-new-tokens 64]
       [--batch-sizes 16,36] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--samples", type=int, default=4, help="replies per question (terry9 has 9 questions)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-sizes", default="16,36", help="replies per generate call on the batched side(s) (16 is compare's default --batch-size)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args()

    import torch

    from polistance_plugins.engine import models
    from polistance_plugins.engine.backends.generate import sample_replies
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.banks import load_bank
    from polistance_plugins.instruments.elaboration import choose_targets, follow_up_conversation
    from polistance_plugins.instruments.questionnaire import bank_forms
    from polistance_plugins.core import Distribution

    if args.threads:
        torch.set_num_threads(args.threads)
    backend = LocalBackend(str(models.resolve(args.model)))
    forms = bank_forms(load_bank("terry9"), "first", ("normal",))
    # answer 5 on every question: the replies' content does not matter here, only their length
    targets = choose_targets(forms, [Distribution(tuple(1.0 if d == 5 else 0.0 for d in range(10)), 1.0)] * len(forms), None, ("normal",))
    convs = [follow_up_conversation(t) for t in targets]
    kw = dict(n=args.samples, max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=0)
    sample_replies(backend, convs[:1], n=1, max_new_tokens=4)  # warm-up (first-call allocations)

    rows = []
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    for name, batch in [(f"batched", b) for b in sizes] + [("one at a time", 1)]:
        stats: dict = {}
        t = time.perf_counter()
        replies = sample_replies(backend, convs, batch_size=batch, stats=stats, **kw)
        seconds = time.perf_counter() - t
        rows.append((name, batch, sum(len(r) for r in replies), stats["generated_tokens"], seconds))

    print(f"model {args.model}, {len(convs)} conversations x {args.samples} samples, max {args.max_new_tokens} new tokens, "
          f"temperature {args.temperature}, torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")
    print(f"{'side':<14s} {'batch':>5s} {'replies':>7s} {'tokens':>7s} {'seconds':>8s} {'tokens/s':>9s}")
    for name, batch, n, tokens, seconds in rows:
        print(f"{name:<14s} {batch:5d} {n:7d} {tokens:7d} {seconds:8.1f} {tokens / seconds:9.1f}")
    *batched, (_, _, _, ts, ss) = rows
    for _, batch, _, tb, sb in batched:
        print(f"ratio batched ({batch}) / one at a time, tokens/s: {(tb / sb) / (ts / ss):.2f}x")


if __name__ == "__main__":
    main()
