"""`polistance compare` and `polistance report`: parsing and printing only; the work is in ``compare``."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..errors import PolistanceError
from .common import (COUNT, NON_NEGATIVE, PROBABILITY, SEED, add_model_args, add_run_size_args, backend_options,
                     device_options, fmt, parse_adapters)


def _adapter_args(args) -> list[str]:
    """``--adapters a=DIR,b=DIR`` and repeated ``--adapter`` merged into one list."""
    values = list(args.adapter or [])
    for v in args.adapters or []:
        values += [x.strip() for x in v.split(",") if x.strip()]
    return values


def print_overview(folder: Path) -> None:
    """The pooled stance shift and entropy change per adapter and bank, read back from the tables."""
    import pandas as pd

    from ..report.frames import ALL

    path = folder / "tables" / "topic_shift.csv"
    if not path.is_file():
        return
    shift = pd.read_csv(path)
    pooled = shift[(shift["topic"] == ALL) & (shift["measure"].isin(["stance_shift", "wasserstein1"]))]
    if pooled.empty:
        return
    print(f"\n{'adapter':>12s} {'bank':<8s} {'measure':<14s} {'estimate':>9s} {'95% interval':>20s} {'n':>4s} {'p':>7s}")
    for r in pooled.itertuples():
        ci = f"[{fmt(r.ci_low, '+.3f')}, {fmt(r.ci_high, '+.3f')}]"
        p = fmt(r.p_value, ".3f") if not (isinstance(r.p_value, float) and math.isnan(r.p_value)) else "  -  "
        print(f"{r.model:>12s} {r.bank:<8s} {r.measure:<14s} {fmt(r.estimate, '+.3f'):>9s} {ci:>20s} {r.n_items:4d} {p:>7s}")
    print("stance shift: adapter - base on -2..2 (negative = toward the left position); wasserstein1 in scale points")


def print_reliability(folder: Path) -> None:
    """The elaboration grader's verdict and the kappas behind it, from results.json."""
    import json

    path = folder / "results.json"
    judged = json.loads(path.read_text()).get("grader_reliability") if path.is_file() else None
    if not judged:
        return
    numbers = ", ".join(f"{k} {fmt(v, '.2f')}" for k, v in judged["measures"].items()) or "nothing measured"
    state = "reliable" if judged["reliable"] else "UNRELIABLE: categories left out of conclusions"
    print(f"\nelaboration grader: {state} ({numbers}; threshold kappa {judged['threshold']:g})")
    for reason in judged["reasons"]:
        print(f"  {reason}")


def cmd_compare(args) -> int:
    from ..api import compare
    from ..instruments.compass import LABEL_STYLES, ORDERS
    from .compass import choice_list

    banks = tuple(b.strip() for b in args.bank.split(",") if b.strip())
    if "questionnaire" in args.suite and not banks:
        raise PolistanceError("--bank: give at least one bank (e.g. terry9,topics)")
    run = compare(
        args.model, parse_adapters(_adapter_args(args)), out=args.out, runs_dir=args.runs_dir, resume=args.resume,
        overwrite=args.overwrite, backend=backend_options(args), progress=not args.quiet,
        suites=args.suite, banks=banks, control=args.control, topics=args.topics, limit=args.limit,
        paraphrases=args.paraphrases, directions=args.directions, batch_size=args.batch_size, min_mass=args.min_mass,
        seed=args.seed, compass_source=args.compass_source, pct_file=args.pct_file,
        compass_paraphrases=args.compass_paraphrases, compass_orders=choice_list(args.compass_orders, ORDERS, "--compass-orders"),
        compass_labels=choice_list(args.compass_labels, LABEL_STYLES, "--compass-labels"),
        elaboration_bank=args.elaboration_bank, samples=args.samples, max_new_tokens=args.max_new_tokens,
        radical=args.radical, normal=args.normal, graders=tuple(args.grader or ()), grader_orders=args.grader_orders,
        compass_unforced=args.compass_unforced, unforced_samples=args.unforced_samples,
        grader_api_model=args.grader_api_model, grader_tokenizer=args.grader_tokenizer, **device_options(args),
    )
    print_overview(run.folder)
    print_reliability(run.folder)
    print(f"\nreport: {run.report}")
    failed = int((run.records["status"] == "failed").sum()) if len(run.records) else 0
    if failed:
        print(f"{failed} forms failed (recorded with their reasons); the run is incomplete: --resume {run.folder} asks them again",
              file=sys.stderr)
        return 3
    return 0


def cmd_report(args) -> int:
    from ..report.build import rebuild_report
    from ..report.harness import report_from_harness

    if args.run and (args.lm_eval or args.inspect_logs):
        raise PolistanceError("report: give either a run folder or --lm-eval/--inspect-logs, not both")
    if args.run:
        path = rebuild_report(args.run)
    else:
        if not (args.lm_eval or args.inspect_logs):
            raise PolistanceError("report: give a run folder (polistance report runs/NAME) or --lm-eval DIR / --inspect-logs DIR")
        if not args.out:
            raise PolistanceError("report --lm-eval/--inspect-logs: give --out DIR for the report folder")
        path = report_from_harness(
            args.out, args.lm_eval or [], args.inspect_logs or [], reference=args.reference, control=args.control,
            min_mass=args.min_mass, seed=args.seed, overwrite=args.overwrite,
        )
    print_overview(path.parent)
    print_reliability(path.parent)
    print(f"\nreport: {path}")
    return 0


def register(subparsers) -> None:
    """Add ``polistance compare`` and ``polistance report`` to the CLI."""
    from ..core.records import DEFAULT_MIN_MASS
    from ..pipelines.compare import DEFAULT_BANKS
    from .compass import add_unforced_args

    p = subparsers.add_parser("compare", help="base model vs its adapters on the chosen suites: one run folder, one HTML report")
    add_model_args(p)
    p.add_argument("--adapters", action="append", metavar="NAME=DIR[,NAME=DIR...]",
                   help="PEFT adapter folders to compare with the base (comma-separated; repeatable); with --api-base, "
                        "NAME=SERVED_MODEL: adapters served as model names on the same server (vLLM --lora-modules)")
    p.add_argument("--control", default=None, metavar="NAME", help="the adapter trained on neutral content: shifts are also reported relative to it")
    p.add_argument("--suite", default="questionnaire", help="comma-separated suites: questionnaire, compass, elaboration (default questionnaire)")
    p.add_argument("--bank", default=",".join(DEFAULT_BANKS), help=f"questionnaire banks, comma-separated (default {','.join(DEFAULT_BANKS)})")
    p.add_argument("--topics", default=None, help="comma-separated topics to keep (in every bank that has them)")
    p.add_argument("--paraphrases", default="all", choices=["all", "first"])
    p.add_argument("--directions", default="auto", help="normal, reversed, both, or auto (both for statement banks)")
    p.add_argument("--compass-source", default="compass", help="compass suite source: compass (bundled bank), pct (needs --pct-file) or a .jsonl bank")
    p.add_argument("--pct-file", default=None, metavar="FILE", help="official Political Compass propositions CSV for --compass-source pct")
    p.add_argument("--compass-paraphrases", default="all", choices=["all", "first"], help="compass wordings to ask (default all)")
    p.add_argument("--compass-orders", default="normal,reversed", help="compass option orders: normal, reversed or both (default both)")
    p.add_argument("--compass-labels", default="numbers,words",
                   help="compass label styles: numbers (one token per answer, ~5x cheaper), words, or both (default both)")
    add_run_size_args(p, "items of every bank (and propositions of the compass)")
    add_unforced_args(p, with_grader=False)
    e = p.add_argument_group("elaboration suite (the sports-team paper's probe: explain a prefilled answer, graded in 5 categories)")
    e.add_argument("--elaboration-bank", default="terry9", help="bank whose questions get prefilled answers (default terry9)")
    e.add_argument("--samples", type=COUNT, default=5, help="replies sampled per target, temperature 1 (default 5; the paper used 50)")
    e.add_argument("--max-new-tokens", type=COUNT, default=96, help="length limit of each reply, and of the --compass-unforced replies (default 96)")
    e.add_argument("--radical", type=NON_NEGATIVE, default=3, help="radical targets per adapter: the answers it raised most over the base (default 3)")
    e.add_argument("--normal", type=NON_NEGATIVE, default=None, help="normal targets (the base model's modal answers) every model explains (default: every question)")
    e.add_argument("--grader", action="append", default=None, metavar="MODEL",
                   help="local model that grades the replies (named model or HF folder; 'base' = the model under test, the default, "
                        "flagged as a weak grader); give it twice (--grader A --grader B) to measure the agreement between two "
                        "graders; the first also grades the --compass-unforced replies")
    e.add_argument("--grader-orders", type=COUNT, default=2, metavar="K",
                   help="grade with the categories listed in K orders (forward, reversed, then rotations), averaged; "
                        "K >= 2 also measures the grader's agreement with itself (default 2; also for --compass-unforced)")
    e.add_argument("--grader-api-model", default=None, metavar="NAME",
                   help="with --api-base: a model served there grades the replies (category numbers read by echo or top-k)")
    e.add_argument("--grader-tokenizer", default=None, metavar="NAME_OR_DIR",
                   help="tokenizer of --grader-api-model when it differs from --tokenizer")
    p.set_defaults(func=cmd_compare)

    p = subparsers.add_parser("report", help="rebuild a report from a run folder, or build one from lm-eval / Inspect outputs")
    p.add_argument("run", nargs="?", default=None, help="a run folder written by `polistance compare` (or `polistance eval`)")
    p.add_argument("--lm-eval", action="append", metavar="DIR", help="an lm_eval --output_path folder written with --log_samples (repeatable)")
    p.add_argument("--inspect-logs", action="append", metavar="DIR", help="an Inspect log folder (repeatable)")
    p.add_argument("--out", default=None, help="report folder to write (with --lm-eval / --inspect-logs)")
    p.add_argument("--reference", default=None, metavar="LABEL", help="the model the others are compared with (default: the one without an adapter)")
    p.add_argument("--control", default=None, metavar="LABEL", help="the control adapter's label")
    p.add_argument("--min-mass", type=PROBABILITY, default=DEFAULT_MIN_MASS, help=f"below this raw digit probability a form is off-format (default {DEFAULT_MIN_MASS})")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the bootstrap and permutation tests")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.set_defaults(func=cmd_report)
