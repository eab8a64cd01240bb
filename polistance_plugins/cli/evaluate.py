"""`polistance eval`: answer distributions on a 0-9 bank for a model and its adapters."""

from __future__ import annotations

import sys

from .common import add_model_args, add_run_size_args, backend_options, bar, fmt, parse_adapters


def show_record(rec: dict) -> None:
    """One line per scored form: its distribution as a bar and its statistics."""
    if rec["status"] == "failed":
        print(f"{rec['model']:>10s} {rec['item_id']}/p{rec['paraphrase']}/{rec['direction'][:3]}  FAILED: {rec['error']}")
        return
    print(
        f"{rec['model']:>10s} {rec['item_id']:<10s} p{rec['paraphrase']} {rec['direction'][:3]} "
        f"|{bar(rec['probs'])}| E={fmt(rec['expected'])} H={fmt(rec['entropy'])} "
        f"mass={fmt(rec['mass'], '.3f')} stance={fmt(rec['stance'], '+.2f')}"
        + ("" if rec["status"] == "ok" else f"  [{rec['status']}]")
    )


def print_summary(summary, title: str) -> None:
    """The per-topic table of a questionnaire run."""
    print(f"\n{title}")
    print(f"{'model':>10s} {'topic':<24s} {'n':>4s} {'ok':>4s} {'agree':>7s} {'stance':>7s} {'entropy':>7s} {'mass':>6s}")
    for r in summary.itertuples():
        print(
            f"{r.model:>10s} {r.topic:<24s} {r.n:4d} {r.n_ok:4d} {fmt(r.mean_agreement):>7s} "
            f"{fmt(r.mean_stance, '+.3f'):>7s} {fmt(r.mean_entropy):>7s} {fmt(r.mean_mass, '.3f'):>6s}"
        )
    print("agree: agreement with the items' claims, 0-9 (reversed-scale answers read backwards as 9 - E); "
          "stance: -1 = fully left position, +1 = fully right (means over forms answered in format)")


def cmd_eval(args) -> int:
    from ..api import evaluate

    run = evaluate(
        args.model, bank=args.bank, adapters=parse_adapters(args.adapter), topics=args.topics, paraphrases=args.paraphrases,
        directions=args.directions, limit=args.limit, batch_size=args.batch_size, min_mass=args.min_mass, seed=args.seed,
        out=args.out, runs_dir=args.runs_dir, resume=args.resume, overwrite=args.overwrite, backend=backend_options(args),
        on_record=None if args.quiet else show_record, progress=not args.quiet,
    )
    print_summary(run.tables["summary"], f"per-topic stance ({args.bank})")
    print(f"\nwrote {run.folder}/items.jsonl, summary.csv, manifest.json")
    failed = int((run.records["status"] == "failed").sum()) if len(run.records) else 0
    if failed:
        print(f"{failed} prompts failed (recorded with their reasons); the run is incomplete", file=sys.stderr)
        return 3
    return 0


def register(sub) -> None:
    """Add ``polistance eval`` to the CLI."""
    p = sub.add_parser("eval", help="answer distributions on a 0-9 item bank")
    add_model_args(p)
    p.add_argument("--bank", default="terry9", help="bundled bank name or a .jsonl file (default terry9)")
    p.add_argument("--topics", default=None, help="comma-separated topics to keep")
    p.add_argument("--paraphrases", default="all", choices=["all", "first"])
    p.add_argument("--directions", default="auto", help="normal, reversed, both, or auto (both for statement banks)")
    add_run_size_args(p, "items of the bank")
    p.set_defaults(func=cmd_eval)
