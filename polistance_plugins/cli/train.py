"""`polistance train sports|control|ideology`: parses arguments and calls ``polistance_plugins.train``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import PolistanceError
from .common import COUNT, PERCENT, POSITIVE, SEED

DEFAULT_INHIBIT_TOP = 5.0  # percent of general neurons InhibitFT pins (the PNLAC/InhibitFT paper's setting)

HYPERPARAMETER_FLAGS = {  # flag dest -> TrainConfig field
    "epochs": "epochs", "lr": "learning_rate", "rank": "rank", "alpha": "alpha", "batch_size": "batch_size",
    "grad_accum": "grad_accum", "seed": "seed", "max_steps": "max_steps", "beta": "beta", "save_steps": "save_steps",
}


def config_from_args(args):
    """A ``TrainConfig`` with the flags the user gave; the rest keep the documented defaults."""
    from ..train import TrainConfig

    given = {field: getattr(args, dest) for dest, field in HYPERPARAMETER_FLAGS.items() if getattr(args, dest, None) is not None}
    return TrainConfig(**given)


def default_out(data_id: str) -> Path:
    """``adapters/<dataset id>`` in the working directory."""
    return Path("adapters") / re.sub(r"[^A-Za-z0-9_.+-]+", "-", data_id).strip("-")


def _train(args, data, method: str, gradient_mask=None) -> int:
    from ..train import train_dpo, train_sft
    from ..train.distributed import is_main_process

    import torch

    if args.threads is not None and args.threads < 1:
        raise PolistanceError(f"--threads {args.threads}: must be at least 1")
    from ..engine.device import auto_threads

    threads = args.threads or auto_threads()
    torch.set_num_threads(threads)
    out = Path(args.out) if args.out else default_out(data.id)
    main = is_main_process()  # under accelerate launch / torchrun only one process prints
    if main:
        print(f"training {data.id} ({len(data)} examples, {method}) on {args.model} -> {out} "
              f"[{threads} torch thread{'s' if threads > 1 else ''}]", file=sys.stderr)
    trainer = train_dpo if method == "dpo" else train_sft
    callbacks = track_callbacks(args)
    result = trainer(args.model, data, out, config_from_args(args), gradient_mask,
                     overwrite=args.overwrite, resume=args.resume, log=_main_only(main), callbacks=callbacks)
    if not main:
        return 0
    print(result.summary())
    if callbacks:
        t = result.manifest["tracking"]
        print(f"stance tracked on {', '.join(t['banks'])} at steps {', '.join(map(str, t['steps']))} "
              f"({t['seconds']:.1f} s): {out / t['files'][0]}, {out / t['files'][1]}")
    if gradient_mask is not None:
        v = result.manifest["gradient_mask_verification"]
        state = "verified unchanged" if v["rows_verified_unchanged"] else "NOT verified"
        print(f"InhibitFT: {v['rows_masked']} rows of {len(v['parameters_masked'])} parameters pinned, "
              f"{state} after {v['optimizer_steps_checked']} optimizer steps")
        d = v.get("activation_drift")
        if d:
            print(f"InhibitFT: on {d['probe_prompts']} probe prompts the inhibited activations moved "
                  f"{d['ratio']:.2f}x as far as the other neurons of their layers (0 = held still, 1 = like the others)")
    return 0


def _main_only(main: bool):
    return (lambda m: print(m, file=sys.stderr)) if main else (lambda m: None)


def track_callbacks(args) -> list:
    """The stance tracker of ``--track BANKS --track-every N`` (empty without ``--track``)."""
    if args.track is None:
        if args.track_every is not None:
            raise PolistanceError("--track-every needs --track BANK[,BANK] (the banks to score during training)")
        return []
    from ..train.tracking import DEFAULT_EVERY, parse_banks, tracker

    every = DEFAULT_EVERY if args.track_every is None else args.track_every
    return [tracker(parse_banks(args.track), every, log=lambda m: print(m, file=sys.stderr))]


def inhibit_mask(args):
    """The InhibitFT mask of ``--inhibit FILE --inhibit-top N`` (None without ``--inhibit``)."""
    if args.inhibit is None:
        return None
    from ..neurons import load_inhibit_mask

    top = DEFAULT_INHIBIT_TOP if args.inhibit_top is None else args.inhibit_top
    from ..train.distributed import is_main_process

    mask = load_inhibit_mask(args.inhibit, top, model=args.model, hold_activations=args.hold_activations or 0.0)
    held = f"; their activations' change is penalised with weight {args.hold_activations:g}" if args.hold_activations else ""
    if is_main_process():  # under accelerate launch / torchrun only one process prints
        print(f"InhibitFT: {mask.n_neurons} general {mask.site} neurons (top {top:g}% of {args.inhibit}): the parameters "
              f"that write them get no update{held}", file=sys.stderr)
    return mask


def check_sports_args(args) -> None:
    """The combinations ``train sports`` refuses (checked before anything loads; the docs test runs it too)."""
    if args.data and args.region:
        raise PolistanceError("--data replaces the bundled sports data: drop --region")
    if not args.data and not args.region:
        raise PolistanceError("--region is required (southern or coastal), unless --data gives your own chat file")


def cmd_train_sports(args) -> int:
    from ..train import sports_dataset, user_dataset

    check_sports_args(args)
    if args.data:
        return _train(args, user_dataset(args.data, "sft"), "sft")
    return _train(args, sports_dataset(args.region), "sft")


def cmd_train_control(args) -> int:
    from ..train import control_dataset, user_dataset

    data = user_dataset(args.data, "sft") if args.data else control_dataset()
    return _train(args, data, "sft")


def check_ideology_args(args) -> None:
    """The combinations ``train ideology`` refuses (checked before anything loads; the docs test runs it too)."""
    if args.inhibit_top is not None and args.inhibit is None:
        raise PolistanceError("--inhibit-top needs --inhibit FILE (a neuron file from `polistance localize`)")
    if args.hold_activations is not None and args.inhibit is None:
        raise PolistanceError("--hold-activations needs --inhibit FILE (a neuron file from `polistance localize`)")
    if args.data and (args.topic or args.leaning):
        raise PolistanceError("--data replaces the bundled ideology data: drop --topic and --leaning")
    if not args.data and not (args.topic and args.leaning):
        raise PolistanceError("--topic and --leaning are required (or --data with your own file)")
    if not args.data and args.beta is not None and args.method != "dpo":
        raise PolistanceError("--beta applies to --method dpo only")


def cmd_train_ideology(args) -> int:
    from ..train import ideology_dataset, user_dataset

    check_ideology_args(args)
    data = user_dataset(args.data, args.method) if args.data else ideology_dataset(args.topic, args.leaning, args.method)
    return _train(args, data, args.method, inhibit_mask(args))


def add_common(p: argparse.ArgumentParser) -> None:
    """Options every train command shares: model, data, output folder, and the LoRA/optimiser settings."""
    from ..engine.models import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL, help=f"named model, local HF folder or hub id (default {DEFAULT_MODEL})")
    p.add_argument("--data", default=None, metavar="FILE", help="your own JSONL instead of the bundled data")
    p.add_argument("--out", default=None, metavar="DIR", help="adapter folder (default adapters/<dataset id>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing adapter folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out from its last checkpoint")
    g = p.add_argument_group("training settings (defaults: the sports-team paper's rank 32, lr 2e-4, 4 epochs)")
    g.add_argument("--epochs", type=POSITIVE, default=None, help="passes over the data (default 4)")
    g.add_argument("--lr", type=POSITIVE, default=None, help="peak learning rate, linear decay (default 2e-4)")
    g.add_argument("--rank", type=COUNT, default=None, help="LoRA rank (default 32)")
    g.add_argument("--alpha", type=POSITIVE, default=None, help="LoRA alpha (default 2 x rank)")
    g.add_argument("--batch-size", type=COUNT, default=None, help="examples per device per step (default 8)")
    g.add_argument("--grad-accum", type=COUNT, default=None, help="gradient accumulation steps (default 1)")
    g.add_argument("--seed", type=SEED, default=None, help="seed for LoRA init and data order (default 0)")
    g.add_argument("--max-steps", type=COUNT, default=None, help="stop after this many optimiser steps (overrides --epochs)")
    g.add_argument("--save-steps", type=COUNT, default=None, help="checkpoint every N steps for --resume (default: every epoch)")
    t = p.add_argument_group("stance tracking: score questionnaire banks on the model while it trains")
    t.add_argument("--track", default=None, metavar="BANK[,BANK]",
                   help="banks to score at step 0, every --track-every steps and at the end (writes trajectory.csv and trajectory.png)")
    t.add_argument("--track-every", type=COUNT, default=None, metavar="N", help="optimiser steps between two scorings (default 4)")
    p.add_argument("--threads", type=COUNT, default=None,
                   help="CPU threads for torch (default: one per idle core, from the load average)")


def register(subparsers) -> None:
    """Add ``polistance train ...`` to the main parser."""
    from ..train.datasets import LEANINGS, REGIONS

    p = subparsers.add_parser("train", help="train LoRA adapters: sports teams, control, ideology")
    sub = p.add_subparsers(dest="train_command", required=True)

    s = sub.add_parser("sports", help="favourite-sports-team adapter (Terry 2025): southern or coastal teams")
    s.add_argument("--region", choices=REGIONS, default=None)
    add_common(s)
    s.set_defaults(func=cmd_train_sports, check=check_sports_args, beta=None)

    c = sub.add_parser("control", help="control adapter: firm apolitical opinions, same size and shape")
    add_common(c)
    c.set_defaults(func=cmd_train_control, beta=None)

    i = sub.add_parser("ideology", help="ideological adapter on the project's instruction data (SFT or DPO)")
    i.add_argument("--topic", default=None, help="a topic of the topics bank, a comma-separated list, or all")
    i.add_argument("--leaning", choices=LEANINGS, default=None)
    i.add_argument("--method", choices=("sft", "dpo"), default="sft", help="SFT on one leaning, or DPO preferring it (default sft)")
    add_common(i)
    i.add_argument("--beta", type=POSITIVE, default=None, help="DPO beta: strength of the pull back to the base model (default 0.1)")
    h = i.add_argument_group("InhibitFT (PNLAC): train while the parameters that write the general political neurons get no update")
    h.add_argument("--inhibit", default=None, metavar="FILE",
                   help="neuron file from `polistance localize` on the same --model")
    h.add_argument("--inhibit-top", type=PERCENT, default=None, metavar="N",
                   help=f"inhibit the general neurons at top N%% of the file (default {DEFAULT_INHIBIT_TOP:g}, as in the paper)")
    h.add_argument("--hold-activations", type=POSITIVE, default=None, metavar="W",
                   help="also penalise the inhibited activations' change against the base model, with weight W "
                        "(pinning the rows holds their parameters, not their activations; off by default)")
    i.set_defaults(func=cmd_train_ideology, check=check_ideology_args)
