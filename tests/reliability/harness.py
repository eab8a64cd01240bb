"""The reliability matrix's runner: one case = a list of CLI runs (a first run, then resumes), each
run in process through ``polistance_plugins.cli.main`` under a time limit, then four checks:

- the exit code is the documented one (0 ok, 2 the user's error, 3 incomplete);
- no traceback in what was printed (and no exception escaped ``main``);
- no run folder under the case's folder is left ``"status": "running"``;
- neither the API key nor the URL credentials appear in any file written or anything printed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

KEY = "sk-MATRIX-LEAK-CANARY-8c1f0e"
URL_USER, URL_PASSWORD = "matrixuser", "MATRIX-PW-CANARY-41d"
SECRETS = ("LEAK-CANARY", "sk-MATRIX", "PW-CANARY", URL_USER)
BASE_ENV = {"POLISTANCE_API_KEY": KEY, "POLISTANCE_API_ATTEMPTS": "2", "POLISTANCE_API_BACKOFF": "0.01",
            "POLISTANCE_API_TIMEOUT": "30", "HF_HUB_OFFLINE": "1"}


class Hang(BaseException):
    """Raised in the main thread when a run passes its time limit."""


@dataclass
class Case:
    """One bad input: ``runs`` are (argv, expected exit code, faults on the server during that run);
    argv entries are formatted with the workspace (``{out}``, ``{tmp}``, ``{model}``, ``{api}``...)."""

    name: str
    runs: list[tuple[list[str], int, list]]
    setup: Callable | None = None
    env: dict = field(default_factory=dict)
    timeout: float = 90.0


def case(name: str, argv: list[str], code: int, setup=None, env=None, faults=None, then=(), timeout: float = 90.0) -> Case:
    """A case with one run (``then``: more runs as (argv, code, faults))."""
    return Case(name, [(list(argv), code, list(faults or []))] + [(list(a), c, list(f)) for a, c, f in then], setup,
                dict(env or {}), timeout)


@dataclass
class Outcome:
    name: str
    codes: list
    expected: list
    traceback: bool = False
    hang: bool = False
    running: list = field(default_factory=list)
    leaks: list = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.codes == self.expected and not (self.traceback or self.hang or self.running or self.leaks)


@contextlib.contextmanager
def environment(values: dict):
    """Set (value) or unset (None) environment variables for the block."""
    before = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def working_folder(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def time_limit(seconds: float):
    def alarm(signum, frame):
        raise Hang(f"no exit after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_case(c: Case, ws: dict, server) -> Outcome:
    """Run every step of a case in its own folder ``ws["tmp"]`` and check the outcome."""
    from polistance_plugins.cli import main

    tmp = Path(ws["tmp"])
    out = Outcome(c.name, [], [code for _, code, _ in c.runs])
    printed = io.StringIO()
    t0 = time.monotonic()
    with environment({**BASE_ENV, **c.env}), working_folder(tmp):
        if c.setup is not None:
            c.setup(ws)
        for argv, _, faults in c.runs:
            if server is not None:
                server.faults[:] = [f.__class__(**{**f.__dict__, "hits": 0}) for f in faults]
            args = [str(a).format(**ws) for a in argv]
            try:
                with time_limit(c.timeout), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                    out.codes.append(main(args))
            except SystemExit as stop:  # what the `polistance` command would exit with
                out.codes.append(stop.code if isinstance(stop.code, int) else 1)
            except Hang:
                out.hang = True
                out.codes.append("hang")
                break
            except BaseException:  # noqa: BLE001 - anything escaping main is what the matrix looks for
                out.traceback = True
                out.codes.append("exception")
                printed.write(traceback.format_exc())
                break
    if server is not None:
        server.faults[:] = []
    out.seconds = time.monotonic() - t0
    out.output = printed.getvalue()
    out.traceback = out.traceback or "Traceback (most recent call last)" in out.output
    out.running = [str(p.parent) for p in tmp.rglob("manifest.json") if _status(p) == "running"]
    out.leaks = [s for s in SECRETS if s in out.output] + [
        str(p) for p in tmp.rglob("*") if p.is_file() and any(s.encode() in p.read_bytes() for s in SECRETS)]
    return out


def _status(path: Path):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data.get("status") if isinstance(data, dict) else None


def summary(outcomes: list[Outcome]) -> str:
    """The counts line the README quotes."""
    runs = sum(len(o.codes) for o in outcomes)
    return (f"reliability matrix: {len(outcomes)} cases ({runs} CLI runs): {sum(not o.ok for o in outcomes)} failing, "
            f"{sum(o.codes != o.expected for o in outcomes)} wrong exit codes, {sum(o.traceback for o in outcomes)} tracebacks, "
            f"{sum(o.hang for o in outcomes)} hangs, {sum(bool(o.running) for o in outcomes)} left running, "
            f"{sum(bool(o.leaks) for o in outcomes)} leaks")
