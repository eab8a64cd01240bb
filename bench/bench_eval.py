"""Benchmark of questionnaire scoring on the embedded model, every ratio measured side by side in one run.

(a) prompts/s on the same prompts (forms of the topics bank, both scale directions, chat template
    applied, ten one-digit answers each; model load excluded): polistance with prefix sharing (the
    default), polistance computing every prompt in full, and lm-eval's HF model (``HFLM.loglikelihood``
    on the same contexts and digits). Each polistance path is timed twice, interleaved, best kept.
(b) base + 3 adapters on terry9: one ``polistance eval`` vs four ``lm_eval`` runs, end to end.
(c) the old useful-work measure, for the full path: 2 x non-embedding parameters x prompt tokens per
    second, as a fraction of this machine's fp32 matmul rate.
(d) the honest one with prefix sharing: FLOPs counted on the prompt tokens actually computed
    (a shared prefix counts once per batch), and prompts/s against the no-reuse limit, the fastest
    any method that computes every prompt token could score at the measured matmul rate:
    rate / (2 x non-embedding parameters x prompt tokens per prompt).

Usage: python bench/bench_eval.py [--prompts N] [--batch-size 16] [--threads N] [--skip-e2e]
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
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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


def timed(backend, prompts, share: bool) -> tuple[float, int]:
    """Seconds to score ``prompts`` and the prompt tokens the model computed."""
    from polistance_plugins.core import DIGITS

    before = backend.computed_tokens
    t = time.perf_counter()
    backend.distributions(prompts, DIGITS, share_prefix=share)
    return time.perf_counter() - t, backend.computed_tokens - before


def lm_eval_seconds(model_dir: str, contexts: list[str], batch_size: int) -> float:
    """lm-eval's HF model scoring the same contexts with the ten digits (its loglikelihood path)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from polistance_plugins.core import DIGITS

    lm = HFLM(pretrained=model_dir, dtype="float32", batch_size=batch_size, device="cpu")
    requests = [Instance("loglikelihood", {}, (c, d), i) for i, c in enumerate(contexts) for d in DIGITS]
    lm.loglikelihood(requests[:20], disable_tqdm=True)  # warm-up
    t = time.perf_counter()
    lm.loglikelihood(requests, disable_tqdm=True)
    return time.perf_counter() - t


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


def end_to_end(model_dir: str, adapters: list[Path], work: Path, threads: int) -> tuple[float, float]:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "polistance_plugins.cli", "eval", "--model", model_dir, "--bank", "terry9",
           "--out", str(work / "pol"), "--device", "cpu"]
    for a in adapters:
        cmd += ["--adapter", str(a)]
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    ours = time.perf_counter() - t
    from polistance_plugins.cli import tasks_path

    t = time.perf_counter()
    for extra in [""] + [f",peft={a}" for a in adapters]:
        subprocess.run(
            [str(bin_dir / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32{extra}",
             "--tasks", "polistance_terry9", "--include_path", tasks_path(), "--apply_chat_template", "--batch_size", "16",
             "--device", "cpu"],
            check=True, capture_output=True, env=env,
        )
    theirs = time.perf_counter() - t
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=128, help="forms of the topics bank to score (default 128)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: one per idle core)")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()

    import torch

    from polistance_plugins.banks import load_bank
    from polistance_plugins.engine import models
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.engine.device import auto_threads
    from polistance_plugins.instruments.questionnaire import bank_forms, directions_for

    threads = args.threads or auto_threads()
    torch.set_num_threads(threads)
    model_dir = str(models.prepare())
    bank = load_bank("topics")
    prompts = [f.prompt() for f in bank_forms(bank, "all", directions_for(bank, "auto"))][: args.prompts]
    n = len(prompts)
    print(f"machine: {os.cpu_count()} cores, torch threads {threads}, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{n} forms of the topics bank (both scale directions), batch {args.batch_size}, embedded model, fp32 on the CPU")

    backend = LocalBackend(model_dir, batch_size=args.batch_size, device="cpu")
    backend.distributions(prompts[: args.batch_size], ("0", "1"))  # warm-up
    runs: dict[bool, list[tuple[float, int]]] = {True: [], False: []}
    for share in (False, True, True, False):
        runs[share].append(timed(backend, prompts, share))
    (shared_s, computed), (plain_s, full_tokens) = min(runs[True]), min(runs[False])
    contexts = [backend.chat_prompt(p) for p in prompts]
    lm_s = lm_eval_seconds(model_dir, contexts, args.batch_size)
    gflops_peak = matmul_rate()
    cfg = backend.model.config
    emb = cfg.vocab_size * cfg.hidden_size
    non_emb = sum(p.numel() for p in backend.model.parameters()) - emb * (1 if cfg.tie_word_embeddings else 2)
    tokens = sum(len(backend.encode(c)) for c in contexts)
    assert full_tokens == tokens

    shared, plain, lm = n / shared_s, n / plain_s, n / lm_s
    print(f"(a) prompts/s: polistance with prefix sharing {shared:.2f}, computing every prompt in full {plain:.2f}, "
          f"lm-eval HFLM {lm:.2f}")
    print(f"    sharing vs full {shared / plain:.2f}x (target >= 2x); sharing vs lm-eval {shared / lm:.2f}x (target >= 2.5x); "
          f"full vs lm-eval {plain / lm:.2f}x (old target >= 1.2x)")
    old = (2 * non_emb * tokens + 2 * cfg.hidden_size * 10 * n) / plain_s / 1e9
    print(f"(c) old measure, full path: useful compute {old:.1f} GFLOP/s vs fp32 2048^3 matmul {gflops_peak:.1f} GFLOP/s: "
          f"{100 * old / gflops_peak:.0f}% (old target >= 75%); {tokens / n:.1f} tokens per prompt, "
          f"{non_emb / 1e6:.1f}M non-embedding parameters")
    limit = gflops_peak * 1e9 / (2 * non_emb * tokens / n)
    honest = 2 * non_emb * computed / shared_s / 1e9
    print(f"(d) no-reuse limit {limit:.2f} prompts/s; prefix sharing scores {shared:.2f}: {shared / limit:.2f}x the limit "
          f"(target > 1); it computed {computed} of {tokens} prompt tokens ({100 * computed / tokens:.0f}%), "
          f"{honest:.1f} GFLOP/s on them = {100 * honest / gflops_peak:.0f}% of the matmul rate")
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory() as tmp:
            adapters = make_adapters(model_dir, Path(tmp))
            ours, theirs = end_to_end(model_dir, adapters, Path(tmp), threads)
        print(f"(b) base + 3 adapters on terry9, end to end: one polistance eval {ours:.1f} s, four lm_eval runs "
              f"{theirs:.1f} s, ratio {theirs / ours:.2f}x (target >= 2x)")
    print(f"load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
