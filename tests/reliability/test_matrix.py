"""The standing reliability matrix: more than a hundred bad inputs thrown at the CLI (banks, PCT files,
training data, adapter folders, damaged run folders, model names, numeric arguments at and past their
limits, environment variables, and every fault of the fake server, lies included, before and after
--resume). Each case must exit with its documented code (0, 2 or 3) without a traceback, a hang, a run
folder left "running", or the API key or URL credentials in any file or output. Grow it whenever a new
failure is found. The counts line it prints is quoted in README.md (Reliability)."""

from __future__ import annotations

import re
import shutil

import pytest

from polistance_plugins.cli import main

from ..backends.fake_openai import FakeOpenAIServer
from ..backends.test_adapters import make_adapter
from . import cases_args, cases_files, cases_server
from .harness import URL_PASSWORD, URL_USER, run_case, summary

MIN_CASES = 100


@pytest.fixture(scope="module")
def workspace(tiny_model_dir, tmp_path_factory):
    """What the cases share: the tiny model, a finished eval run and an intact adapter to copy."""
    root = tmp_path_factory.mktemp("matrix-shared")
    run = root / "finished"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(run)]) == 0
    return {"model": str(tiny_model_dir), "tok": str(tiny_model_dir), "finished_run": str(run),
            "adapter": str(make_adapter(tiny_model_dir, root / "adapter"))}


def test_reliability_matrix(workspace, tiny_backend, tmp_path_factory, capsys):
    cases = cases_files.CASES + cases_args.CASES + cases_server.CASES
    assert len({c.name for c in cases}) == len(cases), "case names must be unique"
    outcomes = []
    with FakeOpenAIServer(tiny_backend, hang_seconds=cases_server.HANG_SECONDS, max_requests=10**6, max_seconds=3600) as srv:
        api = srv.base_url.replace("http://", f"http://{URL_USER}:{URL_PASSWORD}@")
        for c in cases:
            tmp = tmp_path_factory.mktemp(re.sub(r"[^A-Za-z0-9]+", "-", c.name)[:40])
            ws = {**workspace, "tmp": str(tmp), "out": str(tmp / "run-out"), "api": api}
            outcomes.append(run_case(c, ws, srv))
            shutil.rmtree(tmp, ignore_errors=True)
    line = summary(outcomes)
    slowest = sorted(outcomes, key=lambda o: -o.seconds)[:5]
    with capsys.disabled():
        print(f"\n{line}\nslowest: " + "; ".join(f"{o.name} {o.seconds:.1f} s" for o in slowest))
    bad = [o for o in outcomes if not o.ok]
    report = "\n\n".join(f"{o.name}: exit {o.codes}, expected {o.expected}; traceback={o.traceback} hang={o.hang} "
                         f"running={o.running} leaks={o.leaks}\n{o.output[-1500:]}" for o in bad)
    assert not bad, line + "\n" + report
    assert len(outcomes) >= MIN_CASES, line
