"""Throughput of the OpenAI-compatible backend against the test suite's fake server (loopback).

Serves a 2-layer random Llama (the embedded model's tokenizer and chat template) with
``tests/backends/fake_openai.py`` in a separate process and scores every form of the topics bank (504 prompts, both
scale directions) through ``ApiBackend`` with 8-way concurrency, in exact mode (10 echoed
continuations per item, several prompts per request) and in top-k mode (one request per item).
Each mode is run twice: the first ("cold") pass includes the fake computing its answers from the
model on the same 2 cores; the second ("warm") pass serves them from its cache, so it measures the
client and HTTP path: request building, retries bookkeeping, JSON parsing, tokenisation checks.
CPU time per item is printed for the client and the server process: on a shared machine it is
the stable figure, while items/s also depends on what else is running.

Usage: python bench/bench_api_fake.py [--concurrency 8] [--batch 16,64,504]
Target (issue 8): at least 200 items/s with 8-way concurrency.
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


def run_pass(api, prompts, batch: int, server) -> tuple[float, int, float, float]:
    """Score all prompts in chunks of ``batch`` (what `polistance eval --batch-size` hands over).

    Returns wall seconds, failed items, and CPU seconds used by this process and by the server.
    """
    from polistance_plugins.core import DIGITS

    failed = 0
    cpu0, srv0 = time.process_time(), sum(server.cpu_times()[:2])
    t = time.perf_counter()
    for i in range(0, len(prompts), batch):
        failed += sum(r.error is not None for r in api.score_prompts(prompts[i : i + batch], DIGITS))
    wall = time.perf_counter() - t
    return wall, failed, time.process_time() - cpu0, sum(server.cpu_times()[:2]) - srv0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batch", default="16,64,504", help="prompts handed to score_prompts at once (comma list)")
    args = ap.parse_args()

    import psutil

    from polistance_plugins.engine import models
    from polistance_plugins.engine.backends.api import ApiBackend
    from polistance_plugins.engine.backends.api_http import RetryPolicy
    from polistance_plugins.banks import load_bank
    from polistance_plugins.instruments.questionnaire import bank_forms
    from tests.conftest import build_tiny_model

    prompts = [f.prompt() for f in bank_forms(load_bank("topics"), "all", ("normal", "reversed"))]
    batches = [int(b) for b in args.batch.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_model(Path(tmp) / "tiny", models.prepare(models.DEFAULT_MODEL, log=lambda m: None))
        # The server is its own process, as a real one would be (no shared interpreter lock).
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.backends.fake_openai", str(tiny), "--max-seconds", "3600"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        try:
            line = server.stdout.readline()
            if not line.startswith("READY "):
                raise SystemExit(f"fake server did not start: {line!r}")
            url = line.split()[1]
            print(f"{len(prompts)} prompts (topics bank, both directions), concurrency {args.concurrency}, fake server {url}")
            print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
            print(f"{'mode':<6s} {'batch':>5s} {'pass':<5s} {'seconds':>8s} {'items/s':>8s} {'failed':>6s} "
                  f"{'client ms/item':>14s} {'server ms/item':>14s}")
            srv = psutil.Process(server.pid)
            for mode in ("exact", "topk"):
                api = ApiBackend(url, "fake-model", str(tiny), mode, concurrency=args.concurrency,
                                 retry=RetryPolicy(timeout=300), log=lambda m: print("  " + m))
                api.resolve()
                for k, batch in enumerate(batches):
                    for label in (("cold", "warm") if k == 0 else ("warm",)):
                        seconds, failed, cpu, srv_cpu = run_pass(api, prompts, batch, srv)
                        n = len(prompts)
                        print(f"{mode:<6s} {batch:5d} {label:<5s} {seconds:8.2f} {n / seconds:8.1f} {failed:6d} "
                              f"{1000 * cpu / n:14.2f} {1000 * srv_cpu / n:14.2f}", flush=True)
            print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        finally:
            server.stdin.close()
            server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
