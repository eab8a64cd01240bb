"""Training speed of the sports adapter on the embedded model, on this machine's CPU.

Trains the southern sports-team adapter (99 chats; the default settings: LoRA rank 32 on all linear
layers, batch 8, lr 2e-4) on SmolLM2-135M-Instruct for one epoch (13 steps) once per requested torch
thread count, side by side in one run, and prints for each: tokens/s (non-padding tokens through
forward and backward), seconds per epoch (wall and CPU), the projected wall time of the default
4-epoch run, and the machine's load average (other processes share the 2 cores; a busy machine
slows every figure, and more threads than free cores slows torch further).

Usage: python bench/bench_train.py [--threads 1,2] [--epochs 1] [--profile-steps 0]
Target (issue 5): the 4-epoch sports adapter trains in under 10 minutes on 2 cores.
``--profile-steps N`` profiles N optimisation steps (after a warm-up step) and prints where the time goes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def profiler_callback(steps: int):
    """A callback that profiles ``steps`` optimisation steps after the first and prints the top operators."""
    import torch
    from transformers import TrainerCallback

    class Profile(TrainerCallback):
        def __init__(self):
            self.prof = None

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 1 and self.prof is None:
                self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                self.prof.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            if self.prof is not None and state.global_step == 1 + steps:
                self.prof.__exit__(None, None, None)
                print(self.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12), flush=True)
                self.prof = None

    return Profile()


def cpu_clock():
    """A callback that measures the process CPU time spent inside ``trainer.train`` (all threads)."""
    from transformers import TrainerCallback

    class CpuClock(TrainerCallback):
        seconds = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.process_time()

        def on_train_end(self, args, state, control, **kwargs):
            self.seconds = time.process_time() - self.start

    return CpuClock()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="torch thread counts to compare (comma list)")
    ap.add_argument("--epochs", type=float, default=1.0, help="epochs per measurement (default 1)")
    ap.add_argument("--profile-steps", type=int, default=0, help="profile this many steps of the first run")
    args = ap.parse_args()

    import torch

    from polistance_plugins.engine import models
    from polistance_plugins.train import TrainConfig, sports_dataset, train_sft

    path = str(models.prepare(models.DEFAULT_MODEL, log=lambda m: print(m, file=sys.stderr)))
    data = sports_dataset("southern")
    config = TrainConfig(epochs=args.epochs)
    print(f"sports-southern: {len(data)} chats, batch {config.batch_size}, rank {config.rank} all-linear, "
          f"{args.epochs:g} epoch(s) per run, model {models.DEFAULT_MODEL}, {os.cpu_count()} CPUs")
    print(f"{'threads':>7s} {'steps':>5s} {'tokens':>6s} {'tok/s':>6s} {'s/epoch':>8s} {'cpu-s/epoch':>11s} "
          f"{'4 epochs':>9s} {'load before':>12s} {'load after':>11s}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, n in enumerate(int(t) for t in args.threads.split(",")):
            torch.set_num_threads(n)
            load_before = os.getloadavg()[0]
            clock = cpu_clock()
            callbacks = [clock] + ([profiler_callback(args.profile_steps)] if args.profile_steps and k == 0 else [])
            result = train_sft(path, data, Path(tmp) / f"t{n}", config, callbacks=callbacks, log=lambda m: None)
            cpu = clock.seconds
            load_after = os.getloadavg()[0]
            train_s = result.manifest["last_session"]["train_seconds"]
            overhead = result.wall_seconds - train_s  # model load, data preparation, saving
            per_epoch = train_s / args.epochs
            projected = 4 * per_epoch + overhead
            rows.append((n, per_epoch))
            print(f"{n:7d} {result.steps:5d} {result.tokens_seen:6d} {result.tokens_seen / train_s:6.1f} {per_epoch:8.1f} "
                  f"{cpu / args.epochs:11.1f} {projected / 60:8.1f}m {load_before:12.2f} {load_after:11.2f}", flush=True)
    if len(rows) > 1:
        base = rows[0][1]
        print("speed relative to the first row: " + ", ".join(f"{n} threads x{base / s:.2f}" for n, s in rows))
    print("target: 4 epochs (the default run) under 10 minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
