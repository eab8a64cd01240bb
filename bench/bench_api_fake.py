"""Throughput of the OpenAI-compatible backend against the test suite's fake server: exact, top-k
and auto mode side by side in one run.

The fake (``tests/backends/fake_openai.py``) runs in its own process and computes every answer
from a model on this machine, like a real server: an echo request costs it a forward pass over the
prompt and the option for each of the ten options, a top-k request one forward pass. Each mode gets
a fresh server (nothing cached), scores the same forms of the topics bank (both scale directions)
with 8-way concurrency, first "cold" (the server computes) and then "warm" (answers served from its
cache, which measures the client and HTTP path). Auto reads top-k first and sends echo requests
only for items whose ten digits were not all among the top k; its distributions are compared with
exact mode's. CPU time per item is printed for the client and the server process: on a shared
machine it is the stable figure.

Usage: python bench/bench_api_fake.py [--model smollm2-135m-instruct|tiny] [--prompts 48]
       [--concurrency 8] [--max-top-k 100]
Targets: auto at least 10x faster than exact with the same distributions where coverage is complete
(issue 16, on the llama.cpp bench); 200 items/s warm (issue 8).
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


def start_server(model_dir: str, max_top_k: int):
    server = subprocess.Popen([sys.executable, "-m", "tests.backends.fake_openai", model_dir, "--max-seconds", "3600",
                               "--max-top-k", str(max_top_k)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = server.stdout.readline()
    if not line.startswith("READY "):
        raise SystemExit(f"fake server did not start: {line!r}")
    return server, line.split()[1]


def run_pass(api, prompts, batch: int, server) -> tuple[float, list, float, float]:
    """Score all prompts in chunks of ``batch``; wall seconds, results, client and server CPU seconds."""
    from polistance_plugins.core import DIGITS

    results = []
    cpu0, srv0 = time.process_time(), sum(server.cpu_times()[:2])
    t = time.perf_counter()
    for i in range(0, len(prompts), batch):
        results += api.score_prompts(prompts[i : i + batch], DIGITS)
    wall = time.perf_counter() - t
    return wall, results, time.process_time() - cpu0, sum(server.cpu_times()[:2]) - srv0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="model the fake serves: a named model or 'tiny' (a 2-layer random Llama)")
    ap.add_argument("--prompts", type=int, default=48, help="forms of the topics bank (default 48)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-top-k", type=int, default=100, help="the server's top-logprobs limit (vLLM --max-logprobs)")
    ap.add_argument("--batch", type=int, default=64, help="prompts handed to score_prompts at once (eval's chunk)")
    args = ap.parse_args()

    import psutil

    from polistance_plugins.banks import load_bank
    from polistance_plugins.engine import models
    from polistance_plugins.engine.backends.api import ApiBackend
    from polistance_plugins.engine.backends.api_http import RetryPolicy
    from polistance_plugins.instruments.questionnaire import bank_forms, directions_for
    from tests.conftest import build_tiny_model

    bank = load_bank("topics")
    prompts = [f.prompt() for f in bank_forms(bank, "all", directions_for(bank, "auto"))][: args.prompts]
    n = len(prompts)
    with tempfile.TemporaryDirectory() as tmp:
        embedded = models.prepare(models.DEFAULT_MODEL, log=lambda m: None)
        model_dir = str(build_tiny_model(Path(tmp) / "tiny", embedded) if args.model == "tiny" else models.resolve(args.model))
        print(f"{n} prompts (topics bank, both directions), concurrency {args.concurrency}, server max top-k {args.max_top_k}, "
              f"model served: {args.model}")
        print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
        print(f"{'mode':<6s} {'pass':<5s} {'seconds':>8s} {'items/s':>8s} {'failed':>6s} {'via top-k':>9s} {'via echo':>8s} "
              f"{'client ms/item':>14s} {'server ms/item':>14s}")
        seconds: dict[tuple[str, str], float] = {}
        dists: dict[str, list] = {}
        for mode in ("exact", "topk", "auto"):
            server, url = start_server(model_dir, args.max_top_k)
            try:
                api = ApiBackend(url, "fake-model", model_dir, mode, concurrency=args.concurrency,
                                 retry=RetryPolicy(timeout=600), log=lambda m: print("  " + m))
                api.resolve()
                srv = psutil.Process(server.pid)
                for label in ("cold", "warm"):
                    wall, results, cpu, srv_cpu = run_pass(api, prompts, args.batch, srv)
                    seconds[mode, label] = wall
                    dists.setdefault(mode, [r.distribution for r in results])
                    failed = sum(r.error is not None for r in results)
                    via_topk = sum(r.method == "topk" for r in results)
                    print(f"{mode:<6s} {label:<5s} {wall:8.2f} {n / wall:8.1f} {failed:6d} {via_topk:9d} {n - via_topk - failed:8d} "
                          f"{1000 * cpu / n:14.2f} {1000 * srv_cpu / n:14.2f}", flush=True)
            finally:
                server.stdin.close()
                server.wait(timeout=60)
    full = [i for i, d in enumerate(dists["topk"]) if d is not None and d.coverage == 10]
    gap = max((abs(p - q) for i, (a, b) in enumerate(zip(dists["auto"], dists["exact"])) for p, q in zip(a.probs, b.probs)), default=0.0)
    print(f"top-k covered all ten digits on {len(full)} of {n} items; auto vs exact: largest |dp| {gap:.2e} over all items")
    for label in ("cold", "warm"):
        print(f"{label}: auto {seconds['exact', label] / seconds['auto', label]:.1f}x faster than exact, "
              f"top-k {seconds['exact', label] / seconds['topk', label]:.1f}x")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
