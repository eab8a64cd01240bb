"""`polistance ...`: parses arguments and calls the library. No logic of its own beyond printing."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from .errors import PolistanceError

BARS = " ▁▂▃▄▅▆▇█"

# Feature modules that add subcommands: each defines ``register(subparsers)`` and keeps its own
# argument parsing and printing (calling ``add_model_args`` from here for the shared options).
COMMAND_MODULES: list[str] = []
COMMAND_MODULES.append("cli_compass")
COMMAND_MODULES.append("cli_compare")
COMMAND_MODULES.append("cli_train")
COMMAND_MODULES.append("cli_neurons")


def bar(probs) -> str:
    """A compact bar of a distribution: one block per option, height by probability."""
    return "".join(BARS[min(8, int(round(p * 8)))] for p in probs)


def _fmt(v, spec=".2f") -> str:
    return "  -  " if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


# ---- models ------------------------------------------------------------------------------------
def cmd_models(args) -> int:
    from . import models

    if args.action == "prepare":
        path = models.prepare(args.name or models.DEFAULT_MODEL, force=args.force, log=lambda m: print(m, file=sys.stderr))
        print(path)
        return 0
    for name, m in models.NAMED_MODELS.items():
        folder = models.prepared_dir(name)
        state = f"prepared at {folder}" if models._is_complete(folder) else "not prepared (polistance models prepare " + name + ")"
        print(f"{name}{' (default)' if name == models.DEFAULT_MODEL else ''}\n  {m.description}\n  {state}")
    return 0


def cmd_banks(args) -> int:
    from .banks import available_banks, load_bank

    for name in available_banks():
        try:
            bank = load_bank(name)
        except PolistanceError:
            continue
        topics = bank.topics
        print(f"{name:10s} {len(bank):4d} items  topics: {', '.join(topics)}")
    return 0


# ---- eval --------------------------------------------------------------------------------------
def parse_adapters(values: list[str] | None) -> list[tuple[str, str]]:
    """``--adapter DIR`` or ``--adapter NAME=DIR``; names default to the folder name."""
    out: list[tuple[str, str]] = []
    for v in values or []:
        name, sep, path = v.partition("=")
        if not sep:
            name, path = Path(v.rstrip("/")).name, v
        if not name or not path:
            raise PolistanceError(f"--adapter {v!r}: expected DIR or NAME=DIR")
        if name == "base" or name in {n for n, _ in out}:
            raise PolistanceError(f"--adapter {v!r}: the name {name!r} is taken; use NAME=DIR")
        out.append((name, path))
    return out


def make_backend(args):
    """Local weights (``--model``) or an OpenAI-compatible server (``--api-base``)."""
    if getattr(args, "api_base", None):
        from .backends.openai_api import ApiBackend

        if args.adapter:
            raise PolistanceError("--adapter works with local models only; serve adapters as separate API models")
        return ApiBackend(
            base_url=args.api_base,
            model=args.api_model,
            tokenizer=args.tokenizer,
            mode=args.api_mode,
            concurrency=args.concurrency,
            system_prompt=args.system_prompt,
        )
    from . import models
    from .backends.hf import LocalBackend

    path = models.resolve(args.model)
    return LocalBackend(path, batch_size=args.batch_size, system_prompt=args.system_prompt)


def directions_for(bank, value: str) -> tuple[str, ...]:
    if value == "auto":
        kinds = {it.kind for it in bank}
        return ("normal",) if kinds <= {"question", "open"} else ("normal", "reversed")
    if value == "both":
        return ("normal", "reversed")
    dirs = tuple(d.strip() for d in value.split(","))
    bad = [d for d in dirs if d not in ("normal", "reversed")]
    if bad:
        raise PolistanceError(f"--directions: unknown direction {bad[0]!r} (normal, reversed, both, auto)")
    return dirs


def run_questionnaire(args, backend, bank_name: str, out: Path | None, quiet: bool = False):
    """Evaluate one bank for base + adapters into a run folder; returns (folder, records, counts)."""
    import random

    from .banks import load_bank
    from .evaluate import Variant, evaluate_questionnaire, run_config, topic_summary
    from .questionnaire import bank_forms
    from .runs import RunWriter, atomic_write, new_run_id, read_records

    random.seed(args.seed)
    bank = load_bank(bank_name)
    topics = [t.strip() for t in args.topics.split(",")] if args.topics else None
    if topics:
        unknown = sorted(set(topics) - set(bank.topics))
        if unknown:
            raise PolistanceError(f"--topics: {', '.join(unknown)} not in bank {bank.name} (topics: {', '.join(bank.topics)})")
    forms = bank_forms(bank, args.paraphrases, directions_for(bank, args.directions), topics)
    if not forms:
        raise PolistanceError(f"bank {bank.name} has no rated items to ask")
    variants = [Variant("base")]
    for name, path in parse_adapters(getattr(args, "adapter", None)):
        backend.load_adapter(name, path)
        variants.append(Variant(name, name, str(Path(path).resolve())))
    if args.resume:
        folder = Path(args.resume)
    else:
        folder = Path(out) if out else Path(args.runs_dir) / new_run_id(f"{bank.name}-{Path(str(args.model)).name}")
    config = run_config({"model_id": args.model, **backend.describe()}, bank, variants, forms, args.seed, args.min_mass, args.batch_size)
    writer = RunWriter(folder, config, resume=bool(args.resume), overwrite=args.overwrite)
    print(f"run folder: {folder}", file=sys.stderr)

    def show(rec):
        if quiet:
            return
        if rec["status"] == "failed":
            print(f"{rec['model']:>10s} {rec['item_id']}/p{rec['paraphrase']}/{rec['direction'][:3]}  FAILED: {rec['error']}")
            return
        print(
            f"{rec['model']:>10s} {rec['item_id']:<10s} p{rec['paraphrase']} {rec['direction'][:3]} "
            f"|{bar(rec['probs'])}| E={_fmt(rec['expected'])} H={_fmt(rec['entropy'])} "
            f"mass={_fmt(rec['mass'], '.3f')} stance={_fmt(rec['stance'], '+.2f')}"
            + ("" if rec["status"] == "ok" else f"  [{rec['status']}]")
        )

    try:
        counts = evaluate_questionnaire(
            backend, bank, forms, variants, writer, batch_size=args.batch_size, min_mass=args.min_mass, on_record=show
        )
    finally:
        writer.close()
    records = read_records(folder)
    summary = topic_summary(records)
    atomic_write(folder / "summary.csv", summary.to_csv(index=False))
    status = "complete" if counts["failed"] == 0 else "incomplete"
    writer.write_manifest(status=status, extra={"counts": counts})
    return folder, records, summary, counts


def print_summary(summary, title: str) -> None:
    print(f"\n{title}")
    print(f"{'model':>10s} {'topic':<24s} {'n':>4s} {'ok':>4s} {'E[0-9]':>7s} {'stance':>7s} {'entropy':>7s} {'mass':>6s}")
    for r in summary.itertuples():
        print(
            f"{r.model:>10s} {r.topic:<24s} {r.n:4d} {r.n_ok:4d} {_fmt(r.mean_expected):>7s} "
            f"{_fmt(r.mean_stance, '+.3f'):>7s} {_fmt(r.mean_entropy):>7s} {_fmt(r.mean_mass, '.3f'):>6s}"
        )
    print("stance: -1 = fully left position, +1 = fully right (mean over items answered in format)")


def cmd_eval(args) -> int:
    backend = make_backend(args)
    folder, _, summary, counts = run_questionnaire(args, backend, args.bank, args.out)
    print_summary(summary, f"per-topic stance ({args.bank})")
    print(f"\nwrote {folder}/items.jsonl, summary.csv, manifest.json")
    if counts["failed"]:
        print(f"{counts['failed']} prompts failed (recorded with their reasons); the run is incomplete", file=sys.stderr)
        return 3
    return 0


def cmd_demo(args) -> int:
    """The sports-team experiment end to end on the embedded model (see ``polistance_plugins.demo``)."""
    from .cli_compare import print_overview
    from .demo import run_demo

    t0 = time.perf_counter()
    out = Path(args.out) if args.out else Path(args.runs_dir) / new_demo_id()
    result = run_demo(args.model, Path(args.adapters_dir), out, batch_size=args.batch_size)
    print_overview(result["folder"])
    times = result["times"]
    print("\nadapters: " + ", ".join(f"{n} ({how})" for n, (_, how) in result["adapters"].items()))
    print(f"time: prepare {times['prepare_s']:.0f} s, adapters {times['adapters_s'] / 60:.1f} min, "
          f"compare {times['compare_s'] / 60:.1f} min, total {(time.perf_counter() - t0) / 60:.1f} min")
    print(f"report: {result['report']}")
    return 0


def models_default() -> str:
    from .models import DEFAULT_MODEL

    return DEFAULT_MODEL


def new_demo_id() -> str:
    from .runs import new_run_id

    return new_run_id("demo")


# ---- harness glue ------------------------------------------------------------------------------
def tasks_path() -> str:
    from .tasks import LM_EVAL_DIR

    return str(LM_EVAL_DIR)


def cmd_tasks_path(args) -> int:
    print(tasks_path())
    return 0


def cmd_lm_eval(args) -> int:
    """Pass-through to the lm_eval CLI with ``--include_path`` pointing at our tasks."""
    import subprocess

    extra = list(args.lm_eval_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    cmd = [sys.executable, "-m", "lm_eval", *extra]
    if "--include_path" not in extra:
        cmd += ["--include_path", tasks_path()]
    return subprocess.call(cmd)


# ---- parser ------------------------------------------------------------------------------------
def add_model_args(p: argparse.ArgumentParser) -> None:
    from .models import DEFAULT_MODEL
    from .questionnaire import DEFAULT_MIN_MASS

    p.add_argument("--model", default=DEFAULT_MODEL, help=f"named model, local HF folder or hub id (default {DEFAULT_MODEL})")
    p.add_argument("--adapter", action="append", metavar="[NAME=]DIR", help="PEFT adapter folder; repeatable, each evaluated against the same loaded base")
    p.add_argument("--batch-size", type=int, default=16, help="prompts per forward pass (default 16)")
    p.add_argument("--system-prompt", default=None, help="system message (default: the chat template's own)")
    p.add_argument("--api-base", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (key from OPENAI_API_KEY)")
    p.add_argument("--api-model", default=None, help="model name on the server")
    p.add_argument("--api-mode", default="auto", choices=["exact", "topk", "auto"], help="how to read answer probabilities from the server")
    p.add_argument("--tokenizer", default=None, help="local tokenizer (name or folder) whose chat template builds completion prompts")
    p.add_argument("--concurrency", type=int, default=8, help="parallel requests to the server (default 8)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default ./runs)")
    p.add_argument("--out", default=None, help="run folder (default runs/<time>-<bank>-<model>)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run; refuses a different configuration")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--min-mass", type=float, default=DEFAULT_MIN_MASS, help="below this raw option probability an item is off-format (default 0.05)")
    p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polistance", description="Political stance of language models as answer distributions.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list named models, or prepare one")
    p.add_argument("action", nargs="?", choices=["list", "prepare"], default="list")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--force", action="store_true", help="rebuild the prepared folder")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("banks", help="list the bundled item banks")
    p.set_defaults(func=cmd_banks)

    p = sub.add_parser("eval", help="answer distributions on a 0-9 item bank")
    add_model_args(p)
    p.add_argument("--bank", default="terry9", help="bundled bank name or a .jsonl file (default terry9)")
    p.add_argument("--topics", default=None, help="comma-separated topics to keep")
    p.add_argument("--paraphrases", default="all", choices=["all", "first"])
    p.add_argument("--directions", default="auto", help="normal, reversed, both, or auto (both for statement banks)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="the main job: train southern, coastal and control adapters on the embedded model and compare them with it in one report")
    p.add_argument("--model", default=models_default(), help="named model to prepare and fine-tune (default the embedded model)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default ./runs)")
    p.add_argument("--adapters-dir", default="adapters/demo", help="where the demo adapters are trained or reused (default adapters/demo)")
    p.add_argument("--out", default=None, help="run folder of the comparison (default runs/demo-<time>)")
    p.add_argument("--batch-size", type=int, default=16, help="prompts per forward pass (default 16)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("tasks-path", help="print the lm-eval --include_path folder")
    p.set_defaults(func=cmd_tasks_path)

    p = sub.add_parser("lm-eval", help="run lm_eval with the polistance tasks included", prefix_chars="\0")
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_lm_eval)

    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(f"polistance_plugins.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("POLISTANCE_DEBUG") == "1"
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except PolistanceError as e:
        if debug:
            raise
        print(f"polistance: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("polistance: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
