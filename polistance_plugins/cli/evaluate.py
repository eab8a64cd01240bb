"""`polistance eval`: answer distributions on a 0-9 bank for a model and its adapters."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import PolistanceError
from .common import add_model_args, backend_from_args, bar, check_adapters, fmt, parse_adapters, run_folder


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
    print(f"{'model':>10s} {'topic':<24s} {'n':>4s} {'ok':>4s} {'E[0-9]':>7s} {'stance':>7s} {'entropy':>7s} {'mass':>6s}")
    for r in summary.itertuples():
        print(
            f"{r.model:>10s} {r.topic:<24s} {r.n:4d} {r.n_ok:4d} {fmt(r.mean_expected):>7s} "
            f"{fmt(r.mean_stance, '+.3f'):>7s} {fmt(r.mean_entropy):>7s} {fmt(r.mean_mass, '.3f'):>6s}"
        )
    print("stance: -1 = fully left position, +1 = fully right (mean over items answered in format)")


def cmd_eval(args) -> int:
    from ..banks import load_bank
    from ..engine.variants import load_variants
    from ..instruments.questionnaire import QuestionnaireForms, bank_forms, directions_for, parse_topics
    from ..pipelines.questionnaire import run_questionnaire

    bank = load_bank(args.bank)
    topics = parse_topics(bank, args.topics)
    forms = bank_forms(bank, args.paraphrases, directions_for(bank, args.directions), topics)
    if not forms:
        raise PolistanceError(f"bank {bank.name} has no rated items to ask")
    adapters = parse_adapters(args.adapter)
    check_adapters(adapters)
    folder = run_folder(args, f"{bank.name}-{Path(str(args.model)).name}")
    backend = backend_from_args(args)
    variants = load_variants(backend, adapters)
    print(f"run folder: {folder}", file=sys.stderr)
    run = run_questionnaire(
        backend, QuestionnaireForms(bank, tuple(forms)), variants, folder, batch_size=args.batch_size,
        min_mass=args.min_mass, seed=args.seed, resume=bool(args.resume), overwrite=args.overwrite,
        backend_info={"model_id": args.model, **backend.describe()}, on_record=show_record,
    )
    print_summary(run.summary, f"per-topic stance ({args.bank})")
    print(f"\nwrote {folder}/items.jsonl, summary.csv, manifest.json")
    if run.counts["failed"]:
        print(f"{run.counts['failed']} prompts failed (recorded with their reasons); the run is incomplete", file=sys.stderr)
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
    p.set_defaults(func=cmd_eval)
