"""Benchmark of `polistance eval` on the embedded model, measured side by side in one run.

(a) prompts/s of polistance's backend vs lm-eval's HF model on the same bank and model (in process,
    model load excluded on both sides);
(b) base + 3 adapters: one `polistance eval` vs four separate `lm_eval` runs, end to end (subprocesses);
(c) useful FLOP rate of polistance scoring as a fraction of this machine's fp32 matmul rate, where
    useful FLOPs = 2 x non-embedding parameters x prompt tokens + 2 x hidden x options per prompt.

Usage: python bench/bench_eval.py [--prompts N] [--skip-e2e]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def matmul_rate(n: int = 2048, reps: int = 10) -> float:
    """fp32 GFLOP/s of an n x n matmul on this machine (best of ``reps``)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def polistance_rate(model_dir: str, prompts: list[str], batch_size: int):
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.core import DIGITS

    backend = LocalBackend(model_dir, batch_size=batch_size)
    backend.distributions(prompts[:batch_size], DIGITS)  # warm-up
    t = time.perf_counter()
    backend.distributions(prompts, DIGITS)
    elapsed = time.perf_counter() - t
    tokens = sum(len(backend.encode(backend.chat_prompt(p))) for p in prompts)
    return len(prompts) / elapsed, tokens, elapsed, backend


def lm_eval_rate(model_dir: str, n: int, batch_size: int) -> float:
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from polistance_plugins.cli import tasks_path

    lm = HFLM(pretrained=model_dir, dtype="float32", batch_size=batch_size, device="cpu")
    tm = TaskManager(include_path=tasks_path())
    kwargs = dict(model=lm, task_manager=tm, apply_chat_template=True, verbosity="ERROR")
    lm_eval.simple_evaluate(tasks=["polistance_topics_race"], limit=2, **kwargs)  # warm-up
    t = time.perf_counter()
    lm_eval.simple_evaluate(tasks=["polistance_topics_race"], limit=n, **kwargs)
    return n / (time.perf_counter() - t)


def make_adapters(model_dir: str, folder: Path, names=("a1", "a2", "a3")) -> list[Path]:
    """Three LoRA adapters with random B matrices (so they change the model), saved in PEFT layout."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = []
    for i, name in enumerate(names):
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        peft = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", init_lora_weights=False))
        peft.save_pretrained(folder / name)
        out.append(folder / name)
    return out


def end_to_end(model_dir: str, adapters: list[Path], work: Path) -> tuple[float, float]:
    bin_dir = Path(sys.executable).parent
    t = time.perf_counter()
    cmd = [str(bin_dir / "polistance"), "eval", "--model", model_dir, "--bank", "terry9", "--out", str(work / "pol")]
    for a in adapters:
        cmd += ["--adapter", str(a)]
    subprocess.run(cmd, check=True, capture_output=True)
    ours = time.perf_counter() - t
    from polistance_plugins.cli import tasks_path

    t = time.perf_counter()
    for extra in [""] + [f",peft={a}" for a in adapters]:
        subprocess.run(
            [str(bin_dir / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32{extra}",
             "--tasks", "polistance_terry9", "--include_path", tasks_path(), "--apply_chat_template", "--batch_size", "16",
             "--device", "cpu"],
            check=True, capture_output=True,
        )
    theirs = time.perf_counter() - t
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()

    import torch

    from polistance_plugins.engine import models
    from polistance_plugins.banks import load_bank
    from polistance_plugins.instruments.questionnaire import bank_forms

    model_dir = str(models.prepare())
    print(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")
    forms = bank_forms(load_bank("topics"), "all", ("normal",), ["race"])
    prompts = [f.prompt() for f in forms][: args.prompts]
    n = len(prompts)

    rate_pol, tokens, elapsed, backend = polistance_rate(model_dir, prompts, args.batch_size)
    gflops_peak = matmul_rate()
    cfg = backend.model.config
    emb = cfg.vocab_size * cfg.hidden_size
    non_emb = sum(p.numel() for p in backend.model.parameters()) - emb * (1 if cfg.tie_word_embeddings else 2)
    useful = 2 * non_emb * tokens + 2 * cfg.hidden_size * 10 * n
    rate_flops = useful / elapsed / 1e9
    rate_lm = lm_eval_rate(model_dir, n, args.batch_size)

    print(f"(a) prompts/s on {n} prompts of the topics bank (race): polistance {rate_pol:.2f}, lm-eval {rate_lm:.2f}, "
          f"ratio {rate_pol / rate_lm:.2f}x (target >= 1.2x)")
    print(f"(c) useful compute {rate_flops:.1f} GFLOP/s vs fp32 2048^3 matmul {gflops_peak:.1f} GFLOP/s: "
          f"{100 * rate_flops / gflops_peak:.0f}% (target >= 75%); {tokens / n:.0f} tokens per prompt, "
          f"{non_emb / 1e6:.1f}M non-embedding parameters")
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory() as tmp:
            adapters = make_adapters(model_dir, Path(tmp))
            ours, theirs = end_to_end(model_dir, adapters, Path(tmp))
        print(f"(b) base + 3 adapters on terry9, end to end: one polistance eval {ours:.1f} s, four lm_eval runs "
              f"{theirs:.1f} s, ratio {theirs / ours:.2f}x (target >= 2x)")


if __name__ == "__main__":
    main()
