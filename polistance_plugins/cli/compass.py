"""`polistance compass`: the political compass for a model and its adapters (parsing and printing only)."""

from __future__ import annotations

import json
import sys

from ..errors import PolistanceError
from .common import COUNT, RESAMPLES, add_model_args, add_run_size_args, backend_options, device_options, fmt, parse_adapters


def _interval(ci) -> str:
    return f"[{fmt(ci[0], '+.2f')}, {fmt(ci[1], '+.2f')}]"


def _point(value, ci) -> str:
    return f"{fmt(value, '+.2f')} {_interval(ci)}"


def print_table(summaries, source_name: str) -> None:
    """Two tables per model: the points with 95% intervals, then stability and format health; a
    point resting on a partial answer set is marked * and explained."""
    from ..instruments.compass_summary import answered_text

    print(f"\npolitical compass ({source_name}): economic left -10 .. right +10, social libertarian -10 .. authoritarian +10")
    print(f"{'model':>12s} {'answered':>8s}  {'expected econ [95%]':>22s}  {'expected soc [95%]':>22s}  {'argmax econ [95%]':>22s}  {'argmax soc [95%]':>22s}")
    for s in summaries:
        e, a = s["expected"], s["argmax"]
        print(
            f"{s['model']:>12s} {s['answered']:>4d}/{s['propositions']:<3d}{'*' if s.get('partial') else ' '} "
            f"{_point(e['econ'], s['expected_ci']['econ']):>22s}  {_point(e['soc'], s['expected_ci']['soc']):>22s}  "
            f"{_point(a['econ'], s['argmax_ci']['econ']):>22s}  {_point(a['soc'], s['argmax_ci']['soc']):>22s}"
        )
    print(f"\n{'model':>12s} {'stability':>9s} {'paraphrase':>10s} {'order':>6s} {'labels':>6s}  {'spread econ/soc':>15s}  {'mass':>6s} {'off-format':>10s} {'failed':>6s}")
    for s in summaries:
        st = s["stability"]
        by = st["agreement_by_factor"]
        spread = st["spread"]["argmax"]
        print(
            f"{s['model']:>12s} {fmt(st['agreement'], '.3f'):>9s} {fmt(by['paraphrase'], '.3f'):>10s} {fmt(by['order'], '.3f'):>6s} "
            f"{fmt(by['labels'], '.3f'):>6s}  {fmt(spread[0], '.2f') + ' / ' + fmt(spread[1], '.2f'):>15s}  "
            f"{fmt(s['mean_mass'], '.3f'):>6s} {s['forms_off_format']:>4d}/{s['forms']:<5d} {s['forms_failed']:>6d}"
        )
    print(
        "expected: coordinates expected under the pooled answer distributions; argmax: each proposition's most\n"
        "probable answer (a forced answer). [95%]: percentile bootstrap over propositions. stability: share of pairs\n"
        "of forms of a proposition giving the same forced answer (overall, and for pairs differing only in paraphrase,\n"
        "option order or label style). spread: SD of the argmax point across questionnaire versions. mass: mean raw\n"
        "probability of the four option labels; off-format forms (below --min-mass) are left out of the point."
    )
    for s in summaries:
        if s.get("partial"):
            print(f"* {s['model']}: {answered_text(s)}; the point rests on the answered propositions only "
                  "(an axis with none answered has no point)")


def cmd_compass(args) -> int:
    from ..api import compass
    from ..instruments.compass import LABEL_STYLES, ORDERS

    run = compass(
        args.model, source=args.source, pct_file=args.pct_file, adapters=parse_adapters(args.adapter),
        paraphrases=args.paraphrases, orders=choice_list(args.orders, ORDERS, "--orders"),
        labels=choice_list(args.labels, LABEL_STYLES, "--labels"), limit=args.limit, n_resamples=args.n_resamples,
        batch_size=args.batch_size, min_mass=args.min_mass, seed=args.seed, out=args.out, runs_dir=args.runs_dir,
        resume=args.resume, overwrite=args.overwrite, backend=backend_options(args), progress=not args.quiet,
        **device_options(args),
        compass_unforced=args.compass_unforced, unforced_samples=args.unforced_samples, max_new_tokens=args.max_new_tokens,
        grader=args.grader, grader_orders=args.grader_orders,
    )
    summaries = json.loads((run.folder / "summary.json").read_text())
    print_table(summaries, run.manifest["config"]["source"])
    unforced = run.folder / "unforced.json"
    if args.compass_unforced and unforced.is_file():
        print_unforced(json.loads(unforced.read_text()))
    print(f"\nwrote {run.folder}/items.jsonl, propositions.csv, summary.json, summary.csv, compass.png, manifest.json"
          + (", unforced.json, unforced.csv" if args.compass_unforced else ""))
    failed = int((run.records["status"] == "failed").sum()) if len(run.records) else 0
    if failed:
        print(f"{failed} forms failed (recorded with their reasons); the run is incomplete", file=sys.stderr)
        return 3
    if any(s["expected"]["econ"] is None and s["expected"]["soc"] is None for s in summaries):
        print("no proposition was answered in format by at least one model: its point is undefined", file=sys.stderr)
    return 0


def print_unforced(summaries) -> None:
    """Forced vs unforced: match rate, share of no position and the unforced point per model."""
    print(f"\nunforced answers (asked openly, graded): {'model':>12s} {'graded':>7s} {'no pos.':>7s} {'match':>6s} {'n':>3s}  "
          f"{'unforced econ [95%]':>22s}  {'unforced soc [95%]':>22s}")
    for s in summaries:
        ci = s["unforced_ci"]
        print(f"{'':41s}{s['model']:>12s} {s['graded']:>3d}/{s['propositions']:<3d} {fmt(s['no_position'], '.0%'):>7s} "
              f"{fmt(s['match'], '.0%'):>6s} {s['compared']:>3d}  {_point(s['unforced']['econ'], ci['econ']):>22s}  "
              f"{_point(s['unforced']['soc'], ci['soc']):>22s}")
    print("match: share of propositions answered both ways where the open answer equals the forced (argmax) one; "
          "no pos.: share graded 'No position' (left out of the unforced point)")
    for s in summaries:
        verdict = "reliable" if s.get("grader_reliable") else "UNRELIABLE: the open answers are not a measurement"
        print(f"grader of {s['model']}'s open answers: {verdict} (self-agreement across {s.get('label_orders', 1)} label "
              f"orders: kappa {fmt(s.get('order_kappa'), '.2f')}, mean TV {fmt(s.get('order_mean_tv'), '.2f')}; threshold kappa 0.4)")


def choice_list(value: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
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
    p.add_argument("--n-resamples", type=RESAMPLES, default=2000, help="bootstrap resamples for the 95%% intervals (default 2000)")
    add_run_size_args(p, "propositions")
    add_unforced_args(p, with_grader=True)
    p.set_defaults(func=cmd_compass)


def add_unforced_args(p, with_grader: bool) -> None:
    """``--compass-unforced`` and the settings of the open answers (compass and compare share them)."""
    g = p.add_argument_group("unforced answers (Röttger et al.): each proposition also asked openly, the reply graded")
    g.add_argument("--compass-unforced", action="store_true",
                   help="also ask every proposition openly, sample a reply and grade it (strongly disagree .. strongly agree, no position)")
    g.add_argument("--unforced-samples", type=COUNT, default=1, help="replies sampled per proposition, temperature 1 (default 1)")
    if with_grader:
        g.add_argument("--max-new-tokens", type=COUNT, default=96, help="length limit of each open reply (default 96)")
        g.add_argument("--grader", default=None, metavar="MODEL", help="local model that grades the replies (default: the base model)")
        g.add_argument("--grader-orders", type=COUNT, default=2, metavar="K",
                       help="grade with the positions listed in K orders, averaged (default 2: forward and reversed)")
