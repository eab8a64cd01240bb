"""Benchmark: `polistance compare` on base + 3 adapters vs four separate single-model runs, in one run.

Both sides evaluate the same questionnaire (same bank, forms, batch size) on the same base model
and adapters, end to end as a user would run them (one subprocess each, so every separate run pays
for its own interpreter start, imports, base-model load and adapter load):

- compare:  one ``polistance compare --adapters a=..,b=..,c=..`` (loads the base once, switches
  adapters in place, then writes tables, figures and the HTML report);
- separate: ``polistance eval`` for the base and ``polistance eval --adapter X`` for each adapter.

Printed: wall time of each side, the time compare spent writing its report (from the run's
manifest), and the ratios separate / compare with and without the report.
Without ``--adapters`` three LoRA adapters are made on the model with seeded random weights.

Usage: python bench/bench_compare.py [--model smollm2-135m-instruct] [--bank terry9] [--topics T]
       [--adapters a=DIR,b=DIR,c=DIR] [--batch-size 16] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}
CLI = [sys.executable, "-m", "polistance_plugins.cli"]


def make_adapters(model_dir: str, out: Path, n: int = 3) -> list[tuple[str, str]]:
    """``n`` LoRA adapters (q, v, o, down projections) with seeded random lora_B: each moves the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    made = []
    for k in range(n):
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"]))
        gen = torch.Generator().manual_seed(k + 1)
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_B" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
        path = out / f"adapter{k + 1}"
        peft_model.save_pretrained(path)
        made.append((path.name, str(path)))
    return made


def timed(cmd: list[str]) -> float:
    """Wall seconds of a subprocess that must succeed."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--bank", default="terry9")
    ap.add_argument("--topics", default=None)
    ap.add_argument("--adapters", default=None, help="NAME=DIR,NAME=DIR,NAME=DIR (default: three seeded random LoRA adapters)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1, help="repeat both sides, alternating, and report the medians")
    args = ap.parse_args(argv)

    from polistance_plugins.engine import models

    model_dir = models.resolve(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.adapters:
            adapters = [tuple(a.split("=", 1)) for a in args.adapters.split(",")]
        else:
            adapters = make_adapters(model_dir, root / "adapters")
        common = ["--model", model_dir, "--bank", args.bank, "--batch-size", str(args.batch_size)]
        if args.topics:
            common += ["--topics", args.topics]
        compare_s, separate_s, report_s = [], [], []
        for r in range(args.rounds):
            out = root / f"compare{r}"
            compare_s.append(timed([*CLI, "compare", *common, "--adapters", ",".join(f"{n}={p}" for n, p in adapters), "--out", str(out)]))
            report_s.append(json.loads((out / "manifest.json").read_text())["timings"]["report_s"])
            total = timed([*CLI, "eval", *common, "--out", str(root / f"sep{r}-base")])
            for name, path in adapters:
                total += timed([*CLI, "eval", *common, "--adapter", f"{name}={path}", "--out", str(root / f"sep{r}-{name}")])
            separate_s.append(total)
        forms = sum(1 for _ in open(root / "compare0" / "items.jsonl")) // (1 + len(adapters))

    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    c, s, rep = med(compare_s), med(separate_s), med(report_s)
    print(f"model {args.model}, bank {args.bank}{' (' + args.topics + ')' if args.topics else ''}: {forms} forms x {1 + len(adapters)} models, "
          f"batch {args.batch_size}, {args.rounds} round(s), {os.cpu_count()} CPUs")
    print(f"  compare, base + {len(adapters)} adapters, one process : {c:7.1f} s  (of which the report: {rep:.1f} s)")
    print(f"  four separate polistance eval runs          : {s:7.1f} s")
    print(f"  ratio separate / compare                     : {s / c:5.2f}x  (report included)")
    print(f"  ratio separate / compare without the report  : {s / max(1e-9, c - rep):5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
