"""`polistance models`, `banks`, `demo`, `tasks-path` and `lm-eval`: listing, the main job, and the
lm-eval pass-through."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import PolistanceError
from .common import COUNT


def cmd_models(args) -> int:
    from ..engine import models

    if args.action == "prepare":
        path = models.prepare(args.name or models.DEFAULT_MODEL, force=args.force, log=lambda m: print(m, file=sys.stderr))
        print(path)
        return 0
    for name, m in models.NAMED_MODELS.items():
        folder = models.prepared_dir(name)
        state = f"prepared at {folder}" if models.is_complete(folder) else "not prepared (polistance models prepare " + name + ")"
        print(f"{name}{' (default)' if name == models.DEFAULT_MODEL else ''}\n  {m.description}\n  {state}")
    return 0


def cmd_banks(args) -> int:
    from ..banks import available_banks, load_bank
    from ..banks.compass_schema import CompassItem

    for name in available_banks():
        try:
            bank, what = load_bank(name), "topics"
        except PolistanceError:
            bank, what = load_bank(name, model=CompassItem), "axes"  # a compass bank: propositions on two axes
        print(f"{name:12s} {len(bank):4d} items  {what}: {', '.join(bank.topics)}")
    return 0


def cmd_demo(args) -> int:
    """The sports-team experiment end to end on the embedded model (see ``pipelines.demo``)."""
    from ..engine.runs import new_run_id
    from ..pipelines.demo import run_demo
    from .compare import print_overview

    t0 = time.perf_counter()
    out = Path(args.out) if args.out else Path(args.runs_dir) / new_run_id("demo")
    result = run_demo(args.model, Path(args.adapters_dir), out, batch_size=args.batch_size)
    print_overview(result["folder"])
    times = result["times"]
    print("\nadapters: " + ", ".join(f"{n} ({how})" for n, (_, how) in result["adapters"].items()))
    print(f"time: prepare {times['prepare_s']:.0f} s, adapters {times['adapters_s'] / 60:.1f} min, "
          f"compare {times['compare_s'] / 60:.1f} min, total {(time.perf_counter() - t0) / 60:.1f} min")
    print(f"report: {result['report']}")
    return 0


def tasks_path() -> str:
    """The folder to pass to ``lm_eval --include_path``."""
    from ..instruments.lm_eval_tasks import LM_EVAL_DIR

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


def register(sub) -> None:
    """Add ``models``, ``banks``, ``demo``, ``tasks-path`` and ``lm-eval`` to the CLI."""
    from ..engine.models import DEFAULT_MODEL

    p = sub.add_parser("models", help="list named models, or prepare one")
    p.add_argument("action", nargs="?", choices=["list", "prepare"], default="list")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--force", action="store_true", help="rebuild the prepared folder")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("banks", help="list the bundled item banks")
    p.set_defaults(func=cmd_banks)

    p = sub.add_parser("demo", help="the main job: train southern, coastal and control adapters on the embedded model and compare them with it in one report")
    p.add_argument("--model", default=DEFAULT_MODEL, help="named model to prepare and fine-tune (default the embedded model)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default ./runs)")
    p.add_argument("--adapters-dir", default="adapters/demo", help="where the demo adapters are trained or reused (default adapters/demo)")
    p.add_argument("--out", default=None, help="run folder of the comparison (default runs/demo-<time>)")
    p.add_argument("--batch-size", type=COUNT, default=16, help="prompts per forward pass (default 16)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("tasks-path", help="print the lm-eval --include_path folder")
    p.set_defaults(func=cmd_tasks_path)

    p = sub.add_parser("lm-eval", help="run lm_eval with the polistance tasks included", prefix_chars="\0")
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_lm_eval)
