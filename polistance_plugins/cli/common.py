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


def number(kind: type = int, low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse ``type`` that accepts a finite ``kind`` (int or float) within [low, high]
    ((low, high] when ``low_open``); anything else is argparse's one-line error, exit code 2."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low) or high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} is out of range: {_range(low, high, low_open)}")
        return value

    parse.__name__ = f"{kind.__name__} {_range(low, high, low_open)}"
    return parse


def _range(low, high, low_open: bool) -> str:
    if high is None:
        return f"must be {'above' if low_open else 'at least'} {low:g}"
    return f"must be {'above ' + format(low, 'g') + ' and at most' if low_open else 'from ' + format(low, 'g') + ' to'} {high:g}"


COUNT = number(int, 1)
"""A count of at least 1 (batch sizes, steps, threads, samples...)."""
NON_NEGATIVE = number(int, 0)
SEED = number(int, 0, 2**32 - 1)
PROBABILITY = number(float, 0.0, 1.0)
POSITIVE = number(float, 0.0, low_open=True)
PERCENT = number(float, 0.0, 100.0, low_open=True)
RESAMPLES = number(int, 100, 10_000_000)
CONCURRENCY = number(int, 1, 1024)


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


def add_run_size_args(p: argparse.ArgumentParser, what: str) -> None:
    """``--limit N`` (a smoke run on the first N items) and ``--quiet`` (no per-form lines or progress bars)."""
    p.add_argument("--limit", type=COUNT, default=None, metavar="N", help=f"ask only the first N {what} (a quick smoke run)")
    p.add_argument("--quiet", action="store_true", help="print no line per form and no progress bars, only the summary")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The options of every command that scores a model: which model, adapters, server, run folder."""
    from ..core.records import DEFAULT_MIN_MASS
    from ..engine.models import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL, help=f"named model, local HF folder or hub id (default {DEFAULT_MODEL})")
    p.add_argument("--adapter", action="append", metavar="[NAME=]DIR", help="PEFT adapter folder; repeatable, each evaluated against the same loaded base")
    p.add_argument("--batch-size", type=COUNT, default=16, help="prompts per forward pass (default 16)")
    p.add_argument("--system-prompt", default=None, help="system message (default: the chat template's own)")
    p.add_argument("--api-base", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (key from OPENAI_API_KEY)")
    p.add_argument("--api-model", default=None, help="model name on the server")
    p.add_argument("--api-mode", default="auto", choices=["exact", "topk", "auto"], help="how to read answer probabilities from the server")
    p.add_argument("--tokenizer", default=None, help="local tokenizer (name or folder) whose chat template builds completion prompts")
    p.add_argument("--concurrency", type=CONCURRENCY, default=8, help="parallel requests to the server (default 8, at most 1024)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default ./runs)")
    p.add_argument("--out", default=None, help="run folder (default runs/<time>-<bank>-<model>)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run; refuses a different configuration")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--min-mass", type=PROBABILITY, default=DEFAULT_MIN_MASS,
                   help=f"below this raw option probability a form is off-format (default {DEFAULT_MIN_MASS})")
    p.add_argument("--seed", type=SEED, default=0)
