"""What several commands share: the model options, the adapter list, the backend they describe,
and how numbers and distributions are printed."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import PolistanceError

BARS = " ▁▂▃▄▅▆▇█"


def bar(probs) -> str:
    """A compact bar of a distribution: one block per option, height by probability."""
    return "".join(BARS[min(8, int(round(p * 8)))] for p in probs)


def fmt(v, spec=".2f") -> str:
    """A number for a table; missing or NaN prints as a dash."""
    return "  -  " if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


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


def backend_from_args(args):
    """The backend ``--model`` or ``--api-base`` names (``engine.backends.make_backend``)."""
    from ..engine.backends import BackendSpec, make_backend

    return make_backend(BackendSpec(
        model=args.model, batch_size=args.batch_size, system_prompt=args.system_prompt, api_base=args.api_base,
        api_model=args.api_model, api_mode=args.api_mode, tokenizer=args.tokenizer, concurrency=args.concurrency,
        placement=placement_from_args(args), share_prefix=not getattr(args, "no_prefix_sharing", False),
    ))


def placement_from_args(args):
    """``--device``, ``--dtype`` and ``--device-map`` as an ``engine.device.Placement`` (checked)."""
    from ..engine.device import Placement

    return Placement(args.device, args.dtype, args.device_map)


def add_device_args(p: argparse.ArgumentParser) -> None:
    """Where a local model runs and in what precision, and how many prompts go through it at once."""
    from ..engine.device import DEVICE_MAPS, DTYPES, parse_batch_size

    g = p.add_argument_group("device (local models)")
    g.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N|mps",
                   help="where the model runs (default auto: CUDA, else MPS, else the CPU)")
    g.add_argument("--dtype", default="auto", choices=DTYPES,
                   help="weights' precision (default auto: bfloat16 on GPUs that support it, float32 on the CPU)")
    g.add_argument("--device-map", default=None, choices=DEVICE_MAPS,
                   help="spread a model larger than one GPU over every GPU (and the CPU) with accelerate")
    g.add_argument("--batch-size", type=parse_batch_size, default=None, metavar="N|auto",
                   help="prompts per forward pass: a number, or auto (the largest that fits, halving on "
                        "out-of-memory); default 16, or on --resume the run's recorded one")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The options of every command that scores a model: which model, adapters, server, run folder."""
    from ..core.records import DEFAULT_MIN_MASS
    from ..engine.models import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL, help=f"named model, local HF folder or hub id (default {DEFAULT_MODEL})")
    p.add_argument("--adapter", action="append", metavar="[NAME=]DIR",
                   help="PEFT adapter folder, repeatable, each evaluated against the same loaded base; with --api-base, "
                        "NAME=SERVED_MODEL names an adapter the server serves as its own model (vLLM --lora-modules)")
    add_device_args(p)
    p.add_argument("--no-prefix-sharing", action="store_true",
                   help="compute every prompt in full instead of computing the start prompts share once per batch")
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
    p.add_argument("--min-mass", type=float, default=DEFAULT_MIN_MASS,
                   help=f"below this raw option probability a form is off-format (default {DEFAULT_MIN_MASS})")
    p.add_argument("--seed", type=int, default=0)


def run_folder(args, label: str) -> Path:
    """``--resume DIR``, else ``--out DIR``, else a new ``<runs-dir>/<time>-<label>`` folder."""
    from ..engine.runs import new_run_id

    if args.resume:
        return Path(args.resume)
    return Path(args.out) if args.out else Path(args.runs_dir) / new_run_id(label)
