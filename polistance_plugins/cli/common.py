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


def backend_options(args) -> dict:
    """The served-model options of ``add_model_args`` (the API's ``backend=``): local weights unless ``--api-base``."""
    return {"system_prompt": args.system_prompt, "api_base": args.api_base, "api_model": args.api_model,
            "api_mode": args.api_mode, "tokenizer": args.tokenizer, "concurrency": args.concurrency}


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_run_size_args(p: argparse.ArgumentParser, what: str) -> None:
    """``--limit N`` (a smoke run on the first N items) and ``--quiet`` (no per-form lines or progress bars)."""
    p.add_argument("--limit", type=positive_int, default=None, metavar="N", help=f"ask only the first N {what} (a quick smoke run)")
    p.add_argument("--quiet", action="store_true", help="print no line per form and no progress bars, only the summary")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The options of every command that scores a model: which model, adapters, server, run folder."""
    from ..core.records import DEFAULT_MIN_MASS
    from ..engine.models import DEFAULT_MODEL

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
    p.add_argument("--min-mass", type=float, default=DEFAULT_MIN_MASS,
                   help=f"below this raw option probability a form is off-format (default {DEFAULT_MIN_MASS})")
    p.add_argument("--seed", type=int, default=0)
