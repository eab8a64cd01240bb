"""Run every benchmark of the issues' targets one after the other (``make bench``), each with its
default settings, so their numbers come from the same machine state; prints each one's output.

The benchmarks time real work (about 30-40 minutes in all on two idle cores); run them on a quiet
machine, one at a time, or they measure each other. ``llamacpp_vs_local.py`` needs
llama-cpp-python (not a project dependency) and is left out; run it by hand.

Usage: python bench/run_all.py [--only eval,generate,...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "eval": ["bench_eval.py", "--prompts", "64"],
    "generate": ["bench_generate.py"],
    "compare": ["bench_compare.py"],
    "api": ["bench_api_fake.py"],
    "train": ["bench_train.py", "--epochs", "1"],
    "inhibit": ["bench_inhibit.py"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    args = ap.parse_args()
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r} (known: {', '.join(BENCHMARKS)})", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        script, *rest = BENCHMARKS[name]
        print(f"\n===== {name}: python bench/{script} {' '.join(rest)}", flush=True)
        t = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / script), *rest])
        print(f"===== {name}: exit {code}, {time.perf_counter() - t:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
