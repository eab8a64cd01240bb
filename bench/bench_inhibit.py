"""Benchmark: time per optimizer step of plain LoRA vs InhibitFT, measured side by side in one run.

Both arms train the same LoRA (all-linear) on the same ideology data with TRL's SFTTrainer; the
InhibitFT arm carries the gradient mask (tensor hooks + the per-step row guard). The arms alternate
in rounds (plain, inhibit, then inhibit, plain, ...) so that load from other processes on the shared
CPU hits both alike; the first step of every round is a warm-up and is not timed. Prints the median
seconds per step of each arm and their ratio (target: InhibitFT / plain <= 1.10), both in CPU time
of this process (``time.process_time``, all its threads: what the step costs, robust to other
processes' load) and in wall time (what a user waits, noisy on a shared machine).

The mask inhibits the general neurons of a neuron file (``--neurons FILE --inhibit-top N``) or, by
default, a seeded random 15% of all mlp_out neurons (the largest n of the study), spread over
every layer, which is more rows than any general set the study produced.

It also times the mask's own work per step (each gradient hook plus the row guard) directly, which
stays precise when the A/B step times are noisy.

Usage: python bench/bench_inhibit.py [--model M] [--rounds 3] [--steps 4] [--batch-size 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[tuple[float, float]] = []  # (cpu seconds, wall seconds) per step
            self._t = (0.0, 0.0)

        def on_step_begin(self, args, state, control, **kwargs):
            self._t = (time.process_time(), time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append((time.process_time() - self._t[0], time.perf_counter() - self._t[1]))

    return StepTimer()


def mask_overhead(mask, reps: int = 50) -> float:
    """CPU seconds per optimizer step of what InhibitFT adds: each gradient hook once, then the row guard."""
    import torch

    from polistance_plugins.neurons.inhibit import _zero_rows

    grads = [(torch.randn_like(m.param), _zero_rows(m.rows)) for m in mask.masked]
    t = time.process_time()
    for _ in range(reps):
        for g, hook in grads:
            hook(g)
        mask.restore()
    return (time.process_time() - t) / reps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--topic", default="crime_and_guns")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="steps per arm per round (the first is a warm-up)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--neurons", default=None, help="neuron file; default: random neurons")
    ap.add_argument("--inhibit-top", type=float, default=15.0, help="percent of neurons (random) or n of the file's general set")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared CPU, spinning worker threads make CPU time noisy)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from datasets import disable_progress_bars
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from polistance_plugins.engine import models
    from polistance_plugins.neurons.capture import site_shape
    from polistance_plugins.neurons.contrast import by_layer
    from polistance_plugins.neurons.inhibit import InhibitMask
    from polistance_plugins.neurons.inhibit_load import load_inhibit_mask
    from polistance_plugins.train import TrainConfig, ideology_dataset
    from polistance_plugins.train.runner import lora_config

    disable_progress_bars()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    path = models.resolve(args.model)
    tok = AutoTokenizer.from_pretrained(path)
    data = ideology_dataset(args.topic, "right").to_hf()
    tc = TrainConfig(rank=args.rank, batch_size=args.batch_size, learning_rate=1e-3)

    def peft_model():
        return get_peft_model(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), lora_config(tc))

    plain_model, inhibit_model = peft_model(), peft_model()
    if args.neurons:
        mask = load_inhibit_mask(args.neurons, args.inhibit_top)
    else:
        layers, width = site_shape(inhibit_model, "mlp_out")
        total = layers * width
        chosen = np.sort(np.random.default_rng(0).choice(total, int(round(total * args.inhibit_top / 100)), replace=False))
        mask = InhibitMask(by_layer(chosen, width), "mlp_out", {"source": f"random {args.inhibit_top:g}%"})
    mask.attach(inhibit_model)

    times: dict[str, list[tuple[float, float]]] = {"plain": [], "inhibit": []}
    with tempfile.TemporaryDirectory() as tmp:

        def run(arm: str) -> None:
            model = plain_model if arm == "plain" else inhibit_model
            timer = step_timer()
            cbs = [timer] + (mask.callbacks() if arm == "inhibit" else [])
            cfg = SFTConfig(output_dir=tmp, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                            learning_rate=1e-3, bf16=False, gradient_checkpointing=False, report_to="none",
                            save_strategy="no", logging_strategy="no", use_cpu=True, max_length=256,
                            disable_tqdm=True, seed=0, completion_only_loss=True)
            SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, callbacks=cbs).train()
            times[arm].extend(timer.times[1:])

        load0 = os.getloadavg()
        for r in range(args.rounds):
            for arm in (("plain", "inhibit") if r % 2 == 0 else ("inhibit", "plain")):
                run(arm)
                print(f"round {r + 1} {arm:<8s} steps (cpu/wall): "
                      + ", ".join(f"{c:.2f}/{w:.2f}s" for c, w in times[arm][-(args.steps - 1):]), flush=True)
        load1 = os.getloadavg()

    if not mask.check():
        raise SystemExit("InhibitFT rows moved: the mask did not hold")
    overhead = mask_overhead(mask)
    med = {arm: [statistics.median(t[i] for t in times[arm]) for i in (0, 1)] for arm in times}
    info = mask.verification()
    print(f"\nmodel {args.model}, LoRA r={args.rank} all-linear, batch {args.batch_size}, "
          f"{mask.n_neurons} neurons inhibited ({info['rows_masked']} rows in {len(info['parameters_masked'])} lora_B matrices)")
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} (2 shared cores)")
    for arm, label in (("plain", "plain LoRA"), ("inhibit", "InhibitFT ")):
        print(f"{label}: median {med[arm][0]:.3f} s CPU, {med[arm][1]:.3f} s wall per step over {len(times[arm])} steps")
    print(f"mask work per step measured directly (gradient hooks + row guard): {overhead * 1e3:.2f} ms CPU "
          f"= {overhead / med['plain'][0] * 100:.3f}% of a plain step")
    print(f"ratio InhibitFT / plain: CPU time {med['inhibit'][0] / med['plain'][0]:.3f} (target <= 1.10), "
          f"wall time {med['inhibit'][1] / med['plain'][1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
