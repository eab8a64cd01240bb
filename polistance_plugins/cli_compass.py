"""`polistance compass`: the political compass for a model and its adapters (parsing and printing only)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from .cli import _fmt, add_model_args, make_backend, parse_adapters
from .errors import PolistanceError


def _interval(ci) -> str:
    return f"[{_fmt(ci[0], '+.2f')}, {_fmt(ci[1], '+.2f')}]"


def print_table(summaries, source_name: str) -> None:
    """The per-model table: expected and argmax points with 95% intervals, stability, option mass."""
    print(f"\npolitical compass ({source_name}): economic left -10 .. right +10, social libertarian -10 .. authoritarian +10")
    head = (f"{'model':>12s} {'answered':>8s}  {'expected econ':>13s} {'95% interval':>16s}  {'expected soc':>12s} {'95% interval':>16s}  "
            f"{'argmax econ':>11s} {'95% interval':>16s}  {'argmax soc':>10s} {'95% interval':>16s}  {'stability':>9s} {'spread':>13s} {'mass':>6s} {'off':>4s}")
    print(head)
    for s in summaries:
        e, a = s["expected"], s["argmax"]
        st = s["stability"]
        spread = st["spread"]["argmax"]
        print(
            f"{s['model']:>12s} {s['answered']:>4d}/{s['propositions']:<3d}  "
            f"{_fmt(e['econ'], '+.2f'):>13s} {_interval(s['expected_ci']['econ']):>16s}  "
            f"{_fmt(e['soc'], '+.2f'):>12s} {_interval(s['expected_ci']['soc']):>16s}  "
            f"{_fmt(a['econ'], '+.2f'):>11s} {_interval(s['argmax_ci']['econ']):>16s}  "
            f"{_fmt(a['soc'], '+.2f'):>10s} {_interval(s['argmax_ci']['soc']):>16s}  "
            f"{_fmt(st['agreement'], '.3f'):>9s} {_fmt(spread[0], '.2f') + '/' + _fmt(spread[1], '.2f'):>13s} "
            f"{_fmt(s['mean_mass'], '.3f'):>6s} {s['forms_off_format']:>4d}"
        )
    by = ", ".join(
        f"{s['model']}: " + " ".join(f"{k}={_fmt(v, '.3f')}" for k, v in s["stability"]["agreement_by_factor"].items())
        for s in summaries
    )
    print(
        "expected: coordinates expected under the answer distributions; argmax: each proposition's most probable answer.\n"
        "95% interval: percentile bootstrap over propositions. stability: share of pairs of forms of a proposition\n"
        "(paraphrase x option order x label style) giving the same forced answer; by factor: " + by + ".\n"
        "spread: SD of the argmax point (econ/soc) across questionnaire versions; mass: mean raw probability of the\n"
        "four option labels; off: forms below --min-mass (left out of the point)."
    )


def cmd_compass(args) -> int:
    from .compass import LABEL_STYLES, ORDERS, build_forms, load_source, run_compass
    from .evaluate import Variant
    from .runs import new_run_id

    if args.n_resamples < 100:
        raise PolistanceError("--n-resamples: use at least 100 bootstrap resamples")
    source = load_source(args.source, args.pct_file)
    orders = _choice_list(args.orders, ORDERS, "--orders")
    labels = _choice_list(args.labels, LABEL_STYLES, "--labels")
    forms = build_forms(source, args.paraphrases, orders, labels)
    adapters = parse_adapters(args.adapter)
    backend = make_backend(args)
    variants = [Variant("base")]
    for name, path in adapters:
        backend.load_adapter(name, path)
        variants.append(Variant(name, name, str(Path(path).resolve())))
    if args.resume:
        folder = Path(args.resume)
    else:
        folder = Path(args.out) if args.out else Path(args.runs_dir) / new_run_id(f"compass-{source.name}-{Path(str(args.model)).name}")
    print(f"run folder: {folder} ({len(source)} propositions, {len(forms)} forms, {len(variants)} model(s))", file=sys.stderr)
    run = run_compass(
        backend, source, variants, folder, forms=forms, batch_size=args.batch_size, min_mass=args.min_mass,
        n_resamples=args.n_resamples, seed=args.seed, resume=bool(args.resume), overwrite=args.overwrite,
    )
    print_table(run.summaries, source.name)
    print(f"\nwrote {folder}/items.jsonl, propositions.csv, summary.json, summary.csv, compass.png, manifest.json")
    if run.counts["failed"]:
        print(f"{run.counts['failed']} forms failed (recorded with their reasons); the run is incomplete", file=sys.stderr)
        return 3
    if any(math.isnan(s["expected"]["econ"]) and math.isnan(s["expected"]["soc"]) for s in run.summaries):
        print("no proposition was answered in format by at least one model: its point is undefined", file=sys.stderr)
    return 0


def _choice_list(value: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise PolistanceError(f"{flag}: {bad[0] if bad else value!r} is not one of {', '.join(allowed)}")
    return items


def register(subparsers) -> None:
    """Add ``polistance compass`` to the CLI."""
    p = subparsers.add_parser("compass", help="political compass point with intervals and stability, plus a plot")
    add_model_args(p)
    p.add_argument("--source", default="compass", help="compass (the project's bank, default), pct (official test, needs --pct-file), or a compass-style .jsonl bank")
    p.add_argument("--pct-file", default=None, metavar="FILE", help="the official propositions CSV (pct_id, pct_prompt, pct_note; 62 rows)")
    p.add_argument("--paraphrases", default="all", choices=["all", "first"], help="ask every paraphrase (default) or only the first")
    p.add_argument("--orders", default="normal,reversed", help="option orders to ask: normal, reversed or both (default normal,reversed)")
    p.add_argument("--labels", default="numbers,words", help="label styles: numbers (answer 1-4), words (answer the option), or both (default)")
    p.add_argument("--n-resamples", type=int, default=2000, help="bootstrap resamples for the 95%% intervals (default 2000)")
    p.set_defaults(func=cmd_compass)
