"""`polistance ...`: one module per command group; each parses its arguments, calls the library and
prints. ``main`` dispatches and turns a ``PolistanceError`` into one line and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import PolistanceError, redact
from .misc import tasks_path

__all__ = ["build_parser", "main", "tasks_path"]

# Each module defines ``register(subparsers)``; the order is the order of ``polistance --help``.
COMMAND_MODULES = ("misc", "evaluate", "compass", "compare", "train", "neurons")


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is what ``--help`` is for), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {redact(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="polistance", description="Political stance of language models as answer distributions.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("POLISTANCE_DEBUG") == "1"
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # argparse: --help (0) or a bad argument (its one-line error, 2)
            return stop.code if isinstance(stop.code, int) else 2
        return int(args.func(args) or 0)
    except PolistanceError as e:
        if debug:
            raise
        print(f"polistance: error: {redact(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("polistance: interrupted", file=sys.stderr)
        return 130
