"""`polistance compare` over a served base + 3 adapters (the fake OpenAI server serving LoRA adapters
as model names, as vLLM does), exact mode, 8-way concurrency; and four separate `polistance eval`
runs against the same server, whose records must be the compare run's.

The fake runs in its own process with a 2-layer random Llama (the embedded model's tokenizer) and
three random LoRA adapters. The four `eval` runs go first: they are "cold" (the server computes
every answer on this machine's cores). The `compare` run then finds the answers in the server's
cache, so its items/s (scoring time from its manifest, report building excluded) measures the
client and HTTP path, which is what a real server's GPU leaves to polistance.

Usage: python bench/bench_served_compare.py [--bank topics] [--topics race] [--concurrency 8] [--batch-size 16]
Target (issue 16): at least 150 items/s at concurrency 8; records identical to the four evals.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error",
       "PYTHONPATH": str(ROOT)}
CLI = [sys.executable, "-m", "polistance_plugins.cli"]
SCORE_FIELDS = ("probs", "mass", "present", "coverage", "expected", "entropy", "stance", "status", "method")


def records(folder: Path) -> dict[str, dict]:
    """Records by (model label, form) key, the compare run's suite tag left out."""
    out = {}
    for line in (folder / "items.jsonl").read_text().splitlines():
        r = json.loads(line)
        out[r["key"]] = {k: r.get(k) for k in SCORE_FIELDS}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", default="topics")
    ap.add_argument("--topics", default="race")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16, help="forms per batch; the loop hands the backend 4 batches at a time")
    args = ap.parse_args()

    from polistance_plugins.engine import models
    from tests.conftest import build_tiny_model, make_adapter

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tiny = build_tiny_model(work / "tiny", models.prepare(models.DEFAULT_MODEL, log=lambda m: None))
        names = ("a1", "a2", "a3")
        adapters = {n: make_adapter(tiny, work / n, seed) for seed, n in enumerate(names, 1)}
        server = subprocess.Popen([sys.executable, "-m", "tests.backends.fake_openai", str(tiny), "--max-seconds", "3600",
                                   "--name", "base", *[f"--adapter={n}={p}" for n, p in adapters.items()]],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
        try:
            line = server.stdout.readline()
            if not line.startswith("READY "):
                raise SystemExit(f"fake server did not start: {line!r}")
            url = line.split()[1]
            common = ["--api-base", url, "--tokenizer", str(tiny), "--api-mode", "exact", "--concurrency", str(args.concurrency),
                      "--bank", args.bank, "--topics", args.topics, "--batch-size", str(args.batch_size)]
            print(f"fake server {url} serving base, {', '.join(names)}; load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            separate: dict[str, dict] = {}
            t_evals = time.perf_counter()
            for label in ("base", *names):
                out = work / f"eval-{label}"
                subprocess.run([*CLI, "eval", *common, "--api-model", label, "--out", str(out)], check=True,
                               capture_output=True, env=ENV)
                for key, rec in records(out).items():
                    separate[f"{label}|{key.split('|', 1)[1]}"] = rec
            t_evals = time.perf_counter() - t_evals
            out = work / "compare"
            t = time.perf_counter()
            subprocess.run([*CLI, "compare", *common, "--api-model", "base", "--adapters", ",".join(f"{n}={n}" for n in names),
                            "--suite", "questionnaire", "--out", str(out)], check=True, capture_output=True, env=ENV)
            wall = time.perf_counter() - t
        finally:
            server.stdin.close()
            server.wait(timeout=60)
        manifest = json.loads((out / "manifest.json").read_text())
        scoring = sum(v for k, v in manifest["timings"].items() if k.startswith("questionnaire:"))
        mine = records(out)
        same = mine == separate
        n = len(mine)
        print(f"four separate evals (cold: the server computes): {len(separate)} items in {t_evals:.1f} s")
        print(f"compare, base + 3 served adapters, batch size {args.batch_size}: {n} items, scoring {scoring:.2f} s = {n / scoring:.0f} items/s "
              f"(target >= 150); {wall:.1f} s end to end with start-up and report")
        print(f"records identical to the four evals: {same} ({n} vs {len(separate)} records, fields {', '.join(SCORE_FIELDS)})")
        print(f"load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
