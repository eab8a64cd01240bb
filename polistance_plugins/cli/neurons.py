"""`polistance localize`, `polistance patch`, `polistance inhibitft-study`: thin wrappers over
``polistance_plugins.neurons``."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..errors import PolistanceError
from .common import COUNT, PERCENT, POSITIVE, PROBABILITY, RESAMPLES, SEED


def _model_args(p, site_default: str | None = "mlp_out") -> None:
    from ..engine.models import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL, help=f"named model or local HF folder (default {DEFAULT_MODEL})")
    p.add_argument("--batch-size", type=COUNT, default=16, help="prompts per forward pass (default 16)")
    p.add_argument("--system-prompt", default=None, help="system message (default: the chat template's own)")
    p.add_argument("--threads", type=COUNT, default=None,
                   help="CPU threads for torch (default: one per idle core, from the load average)")
    p.add_argument("--site", default=site_default, choices=["mlp_out", "mlp_hidden"],
                   help="neurons: MLP block outputs (mlp_out) or the MLP's intermediate activations (mlp_hidden)"
                   + (f" (default {site_default})" if site_default else " (default: the neuron file's)"))


def _threads(args) -> int:
    """Set torch's thread count (``--threads`` or one per idle core) and return it."""
    import torch

    from ..engine.device import auto_threads

    if args.threads is not None and args.threads < 1:
        raise PolistanceError(f"--threads {args.threads}: must be at least 1")
    threads = args.threads or auto_threads()
    torch.set_num_threads(threads)
    return threads


def _backend(args):
    from ..engine import models
    from ..engine.backends.hf import LocalBackend

    _threads(args)
    return LocalBackend(models.resolve(args.model), batch_size=args.batch_size, system_prompt=args.system_prompt)


def _topics(spec: str, available: list[str], flag: str = "--topics") -> list[str]:
    items = [t.strip() for t in spec.split(",") if t.strip()]
    if items == ["all"]:
        return list(available)
    unknown = [t for t in items if t not in available]
    if unknown or not items:
        raise PolistanceError(f"{flag}: unknown topic {unknown[0] if unknown else spec!r} (available: {', '.join(available)}, or all)")
    return items


def _percent_list(spec: str, flag: str) -> list[float]:
    try:
        values = [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise PolistanceError(f"{flag} {spec!r}: expected comma-separated percentages, e.g. 1,5,10,15") from None
    if not values or any(not 0 < v <= 100 for v in values):
        raise PolistanceError(f"{flag} {spec!r}: every percentage must be in (0, 100]")
    return values


# ---- localize ----------------------------------------------------------------------------------
def adapters_in(folder: str) -> dict[str, str]:
    """Adapter folders (with adapter_config.json) directly inside ``folder``, by folder name."""
    root = Path(folder)
    if not root.is_dir():
        raise PolistanceError(f"--adapters-dir {folder}: not a folder")
    found = {p.name: str(p) for p in sorted(root.iterdir()) if (p / "adapter_config.json").is_file()}
    if not found and (root / "adapter_config.json").is_file():
        found = {root.name: str(root)}
    if not found:
        raise PolistanceError(f"--adapters-dir {folder}: no PEFT adapter folders (adapter_config.json) inside")
    return found


def adapter_topic(path: str) -> str | None:
    """The topic an adapter was trained on, from its polistance.json (None when unknown or several)."""
    import json

    try:
        manifest = json.loads((Path(path) / "polistance.json").read_text())
    except (OSError, ValueError):
        return None
    data_id = str(manifest.get("dataset", {}).get("id", ""))
    parts = data_id.split("-")
    single = data_id.startswith("ideology-") and len(parts) >= 3 and "+" not in parts[1] and parts[1] != "all"
    return parts[1] if single else None


def cmd_localize(args) -> int:
    from .common import parse_adapters
    from ..neurons.contrast import file_sha256
    from ..neurons.figures import neurons_per_layer
    from ..neurons.localize import heldout_prompts, localize

    adapters = dict(parse_adapters(args.adapter)) if args.adapter else {}
    if args.adapters_dir:
        adapters.update(adapters_in(args.adapters_dir))
    if not adapters:
        raise PolistanceError("give --adapters-dir DIR or --adapter [NAME=]DIR (the fine-tuned models to contrast)")
    prompts_all = heldout_prompts(args.prompts, args.first_heldout)
    topics = _topics(args.topics, list(prompts_all))
    prompts = {t: prompts_all[t] for t in topics}
    backend = _backend(args)
    print(f"contrasting {len(adapters)} adapters x {len(topics)} topics ({sum(map(len, prompts.values()))} prompts), site {args.site}",
          file=sys.stderr)
    from tqdm import tqdm

    with tqdm(total=len(adapters) * len(topics), desc="localize", unit="pair") as bar:
        nf = localize(backend, adapters, prompts, args.site, args.top_k,
                      prompt_source={"file": str(Path(args.prompts).resolve()), "sha256": file_sha256(args.prompts),
                                     "split": f"held-out (ids i{args.first_heldout} and up)"},
                      adapter_topics={n: adapter_topic(p) for n, p in adapters.items()}, progress=bar.update)
    out = Path(args.out)
    nf.save(out)
    fig = neurons_per_layer(nf, args.figure or out.with_suffix(".png"))
    print(f"\n{'adapter':<32s} {'top-k/topic':>11s} {'general':>8s}  specific per topic")
    for name in nf.scores:
        s = nf.sets(name)
        spec = ", ".join(f"{t}={s.specific[t].size}" for t in topics)
        print(f"{name:<32s} {len(next(iter(s.per_topic.values()))):>11d} {s.general.size:>8d}  {spec}")
    print(f"\nwrote {out} and {fig}")
    return 0


# ---- patch -------------------------------------------------------------------------------------
def cmd_patch(args) -> int:
    from ..banks import load_bank
    from .common import parse_adapters
    from ..engine.variants import adapter_hash
    from ..neurons.contrast import NeuronFile
    from ..neurons.patching import patching_table
    from ..instruments.questionnaire import bank_forms

    [(name, path)] = parse_adapters([args.adapter])
    nf = NeuronFile.load(args.neurons)
    key = _match_adapter(nf, name, adapter_hash(path))
    sets = nf.sets(key, args.top_k)
    if args.site and args.site != nf.site:
        raise PolistanceError(f"--site {args.site}: the neuron file holds {nf.site} neurons")
    bank = load_bank(args.bank)
    shared = [t for t in bank.topics if t in nf.topics]
    if not shared:
        raise PolistanceError(f"bank {bank.name} shares no topic with the neuron file ({', '.join(nf.topics)})")
    topics = _topics(args.topics, shared)
    forms = bank_forms(bank, args.paraphrases, ("normal",), topics)
    backend = _backend(args)
    backend.load_adapter(name, path)
    from tqdm import tqdm

    with tqdm(total=len(forms), desc="patching", unit="form") as bar:
        table = patching_table(backend, name, forms, sets, nf.site, seed=args.seed, progress=bar.update,
                               value="stance" if args.measure == "stance" else "expected")
    if args.out:
        table.to_csv(args.out, index=False)
    print(f"\nshift reproduced by patching {nf.site} neurons of {key} into the base (top {sets.percent:g}%)")
    print(f"{'topic':<24s} {'set':<16s} {'neurons':>7s} {'adapter shift':>13s} {'patched shift':>13s} {'fraction':>8s}")
    for r in table.itertuples():
        frac = "  -" if math.isnan(r.fraction) else f"{r.fraction:+.2f}"
        print(f"{r.topic:<24s} {r.set:<16s} {r.n_neurons:>7d} {r.adapter_shift:>+13.4f} {r.patched_shift:>+13.4f} {frac:>8s}")
    what = "mean keyed stance" if args.measure == "stance" else "mean expected rating (0-9, unkeyed)"
    print(f"fraction = (patched - base) / (adapter - base), {what} over the topic's forms")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _match_adapter(nf, name: str, sha: str | None) -> str:
    if name in nf.scores:
        return name
    for key, info in nf.adapters.items():
        if sha and info.get("sha256") == sha:
            return key
    if len(nf.scores) == 1:
        return next(iter(nf.scores))
    raise PolistanceError(f"--adapter {name}: not in the neuron file (it has {', '.join(nf.scores)}); use NAME=DIR with one of those names")


# ---- inhibitft-study ---------------------------------------------------------------------------
def cmd_study(args) -> int:
    from ..neurons.localize import heldout_prompts
    from ..neurons.study import StudyConfig, run_study

    topics = _topics(args.topics, list(heldout_prompts()))
    cfg = StudyConfig(
        model=args.model, topics=topics, inhibit_top=_percent_list(args.inhibit_top, "--inhibit-top"),
        leaning=args.leaning, site=args.site, paraphrases=args.paraphrases,
        directions=("normal", "reversed") if args.directions == "both" else ("normal",),
        eval_batch_size=args.batch_size, seed=args.seed, n_resamples=args.n_resamples, min_mass=args.min_mass,
        max_steps=args.steps, learning_rate=args.learning_rate, rank=args.rank, batch_size=args.train_batch_size,
    )
    out = args.out or f"runs/inhibitft-study-{Path(str(args.model)).name}"
    threads = _threads(args)
    print(f"inhibitft-study: {len(topics)} topics, n = {', '.join(f'{n:g}' for n in cfg.inhibit_top)}% -> {out} "
          f"[{threads} torch thread{'s' if threads > 1 else ''}]", file=sys.stderr)
    summary = run_study(cfg, out)
    print(summary["markdown"])
    print("s(T, t) = mean keyed stance (adapter - base) on topic t's items; CTG = mean |s(T, t)| over t != T;")
    print("reduction = 1 - CTG_InhibitFT / CTG_plain; retention = s_InhibitFT(T, T) / s_plain(T, T); 95% bootstrap intervals over items")
    print(f"(the same metrics on the unkeyed expected rating, which shows acquiescence shifts: {out}/table_agreement.md)")
    print(f"\ntotal {summary['total_seconds'] / 60:.1f} min (phases: "
          + ", ".join(f"{k} {v / 60:.1f}" for k, v in summary["phases"].items()) + f"); wrote {out}/")
    return 0


def register(sub) -> None:
    """Add the neuron commands to the ``polistance`` parser."""
    from ..core.records import DEFAULT_MIN_MASS
    from ..neurons.localize import IDEOLOGY_DATA

    p = sub.add_parser("localize", help="PNLAC: find general and topic-specific political neurons")
    _model_args(p)
    p.add_argument("--adapters-dir", default=None, help="folder whose sub-folders are the fine-tuned adapters to contrast")
    p.add_argument("--adapter", action="append", metavar="[NAME=]DIR", help="an adapter to contrast; repeatable")
    p.add_argument("--topics", default="all", help="evaluation topics (comma-separated or all)")
    p.add_argument("--top-k", type=PERCENT, default=5.0, help="percent of all neurons kept per (adapter, topic) (default 5)")
    p.add_argument("--prompts", default=str(IDEOLOGY_DATA), help="JSONL with id/topic/instruction (default: the bundled ideology data)")
    p.add_argument("--first-heldout", type=COUNT, default=41, help="ids numbered from this on are the localisation prompts (default 41)")
    p.add_argument("--out", default="neurons.json", help="neuron file to write (default neurons.json)")
    p.add_argument("--figure", default=None, help="neurons-per-layer PNG (default: next to --out)")
    p.set_defaults(func=cmd_localize)

    p = sub.add_parser("patch", help="activation patching: how much of an adapter's shift its neurons carry")
    _model_args(p, site_default=None)
    p.add_argument("--adapter", required=True, metavar="[NAME=]DIR", help="the fine-tuned adapter")
    p.add_argument("--neurons", required=True, help="neuron file from `polistance localize`")
    p.add_argument("--top-k", type=PERCENT, default=None, help="percent per topic (default: the file's)")
    p.add_argument("--bank", default="topics", help="rated bank whose items are scored (default topics)")
    p.add_argument("--topics", default="all", help="topics to score (default: all shared with the neuron file)")
    p.add_argument("--paraphrases", default="first", choices=["all", "first"])
    p.add_argument("--seed", type=SEED, default=0, help="seed of the random control sets")
    p.add_argument("--measure", default="stance", choices=["stance", "agreement"],
                   help="keyed stance (default) or the unkeyed expected rating, which shows acquiescence shifts")
    p.add_argument("--out", default=None, help="CSV of the table")
    p.set_defaults(func=cmd_patch)

    p = sub.add_parser("inhibitft-study", help="plain vs InhibitFT adapters per topic: cross-topic generalisation table")
    _model_args(p)
    p.add_argument("--topics", default="all", help="topics (comma-separated or all)")
    p.add_argument("--inhibit-top", default="1,5,10,15", help="percentages n of general neurons to inhibit (default 1,5,10,15)")
    p.add_argument("--leaning", default="right", choices=["left", "right"], help="direction of the fine-tuning (default right)")
    p.add_argument("--steps", type=COUNT, default=6, help="optimizer steps per adapter (default 6, sized for a shared 2-core CPU)")
    p.add_argument("--learning-rate", type=POSITIVE, default=4e-3, help="LoRA learning rate (default 4e-3: few steps need a large one)")
    p.add_argument("--rank", type=COUNT, default=8, help="LoRA rank (default 8)")
    p.add_argument("--train-batch-size", type=COUNT, default=4)
    p.add_argument("--paraphrases", default="first", choices=["all", "first"], help="item wordings evaluated (default first)")
    p.add_argument("--directions", default="normal", choices=["normal", "both"], help="scale directions evaluated (default normal)")
    p.add_argument("--min-mass", type=PROBABILITY, default=DEFAULT_MIN_MASS,
                   help=f"an answer counts when the digits hold at least this raw probability (default {DEFAULT_MIN_MASS})")
    p.add_argument("--n-resamples", type=RESAMPLES, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", default=None, help="study folder (default runs/inhibitft-study-<model>); rerun to continue")
    p.set_defaults(func=cmd_study)
