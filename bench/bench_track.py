"""Cost of stance tracking during training: the southern sports adapter on the embedded model at the
default settings (52 steps), trained with and without ``--track terry9`` (default ``--track-every``),
side by side, alternating the two so that both see the same load. Prints for each run the wall time
and the CPU time of the training process (user + system, all threads: robust to other processes
sharing the cores), the tracker's own seconds, and the overhead of tracking on both clocks.

Usage: python bench/bench_track.py [--rounds 1] [--threads 1] [--track terry9] [--every 4] [--keep DIR]
Target (issue 17): tracking adds at most 25% to the training time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(out: Path, threads: int, track: str | None, every: int | None) -> dict:
    """One ``polistance train sports`` run in a child process; its wall and CPU seconds."""
    argv = [sys.executable, "-m", "polistance_plugins.cli", "train", "sports", "--region", "southern", "--out", str(out),
            "--overwrite", "--threads", str(threads)]
    if track:
        argv += ["--track", track] + (["--track-every", str(every)] if every else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    manifest = json.loads((out / "polistance.json").read_text())
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "steps": manifest["steps"], "tracker_s": (manifest.get("tracking") or {}).get("seconds", 0.0),
            "points": len((manifest.get("tracking") or {}).get("steps", [])), "load": load}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=1, help="pairs of runs (plain, tracked), alternating")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--track", default="terry9")
    p.add_argument("--every", type=int, default=None, help="--track-every (default: the command's default)")
    p.add_argument("--keep", default=None, metavar="DIR", help="train into DIR (kept) instead of a temporary folder")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        for k in range(args.rounds):
            for track in (None, args.track):
                r = train(root / f"run{k}-{'tracked' if track else 'plain'}", args.threads, track, args.every)
                rows.append({"tracked": bool(track), **r})
                print(f"{'tracked' if track else 'plain':>8s}: {r['steps']} steps, wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, "
                      f"tracker {r['tracker_s']:.1f} s at {r['points']} points, load at start {r['load']:.2f}", flush=True)
    plain = [r for r in rows if not r["tracked"]]
    tracked = [r for r in rows if r["tracked"]]
    for clock in ("wall", "cpu"):
        a = sum(r[clock] for r in plain) / len(plain)
        b = sum(r[clock] for r in tracked) / len(tracked)
        print(f"{clock:>4s}: plain {a:.1f} s, tracked {b:.1f} s, overhead {100 * (b - a) / a:+.1f}% (target <= +25%)")
    share = sum(r["tracker_s"] for r in tracked) / sum(r["wall"] for r in tracked)
    print(f"tracker's own time: {100 * share:.1f}% of the tracked runs' wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
