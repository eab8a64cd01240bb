"""Weak graders are flagged where people look (issue 18, point 5): when the judge tasks grade with the
model under test (no grader role), with a role that is the model under test, or with the embedded
model, one console warning per run and a note in the log (score metadata and the eval-level
``weak_grader`` metric, which the logs table reads)."""

from __future__ import annotations

import logging

import pytest

from polistance_plugins.engine.models import DEFAULT_MODEL, prepared_dir
from polistance_plugins.readers.inspect_table import grader_of_logs, logs_table
from polistance_plugins.scorers.weak_grader import NOTE
from polistance_plugins.tasks.elaboration import elaboration
from polistance_plugins.tasks.ideology_score import ideology_score

from .conftest import metrics, mock_output, run_eval, scores
from .test_elaboration import targets_file


def respond(messages, config):
    """Answers like a model under test, and like a grader when shown a judge prompt."""
    prompt = messages[-1].text
    if "DATA-" in prompt:
        return mock_output("Reversal" if "elaborate" in prompt.lower() else "10")
    return mock_output("I meant to say 9.")


def mock(name: str = "mockllm/model", **model_args):
    from inspect_ai.model import get_model

    return get_model(name, custom_outputs=lambda m, t, c, config: respond(m, config), memoize=False, **model_args)


def ideology(tmp_path, grader=None, model=None):
    return run_eval(ideology_score(topics="science", grader_mode="text"), model or mock(), tmp_path, grader=grader)


@pytest.fixture
def caplog():
    """The warnings of the weak-grader module's logger (Inspect reconfigures the root logger's
    handlers during an eval, so pytest's own caplog does not see them)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("polistance_plugins.scorers.weak_grader")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def weak_warnings(records) -> list[str]:
    """The warnings' own lines (inside a sample Inspect puts "sample=ID" on a line before them)."""
    lines = [r.getMessage().splitlines()[-1] for r in records if r.levelno == logging.WARNING]
    return [line for line in lines if line.startswith("weak grader")]


def test_ideology_graded_by_the_model_under_test_is_flagged(tmp_path, caplog):
    log = ideology(tmp_path)
    note = "weak grader: no 'grader' model role, so the model under test grades its own replies (give --model-role grader=MODEL)"
    assert weak_warnings(caplog) == [note]  # one line, not one per reply
    assert metrics(log)["weak_grader"] == 1.0
    assert {s.metadata[NOTE] for s in scores(log)} == {note}
    table = logs_table(tmp_path)
    assert table.loc[table["metric"] == "weak_grader", "value"].tolist() == [1.0]


def test_a_separate_grader_is_not_flagged(tmp_path, caplog):
    log = ideology(tmp_path, grader=mock("mockllm/judge"))
    assert weak_warnings(caplog) == []
    assert metrics(log)["weak_grader"] == 0.0
    assert {s.metadata[NOTE] for s in scores(log)} == {None}


@pytest.mark.parametrize("grader_args,says", [
    ({"model_path": str(prepared_dir(DEFAULT_MODEL))}, f"the embedded {DEFAULT_MODEL}"),
    ({"model_path": "/models/same"}, "is the model under test"),
])
def test_a_grader_role_that_is_weak_is_flagged(tmp_path, caplog, grader_args, says):
    log = ideology(tmp_path, grader=mock("mockllm/judge", **grader_args), model=mock(model_path="/models/same"))
    [warning] = weak_warnings(caplog)
    assert says in warning and metrics(log)["weak_grader"] == 1.0


def test_elaboration_self_graded_is_flagged_and_the_reader_sees_it(tmp_path, caplog):
    log = run_eval(elaboration(targets=targets_file(tmp_path), samples=2, grader_mode="text"), mock(), tmp_path / "logs")
    assert len(weak_warnings(caplog)) == 1
    assert metrics(log)["weak_grader"] == 1.0 and all(s.metadata[NOTE] for s in scores(log))
    assert grader_of_logs([str(tmp_path / "logs")])["weak"] is True


def test_the_reader_takes_the_scorers_verdict_on_the_embedded_grader(tmp_path, caplog):
    """A grader role named differently from the model under test, but loading the embedded model's
    folder: only the scorer's check knows it is weak, and the report's reader takes its metric."""
    grader = mock("mockllm/judge", model_path=str(prepared_dir(DEFAULT_MODEL)))
    run_eval(elaboration(targets=targets_file(tmp_path), samples=1, grader_mode="text"), mock(), tmp_path / "logs", grader=grader)
    assert grader_of_logs([str(tmp_path / "logs")]) == {"model": "mockllm/judge", "weak": True, "source": "Inspect model roles"}


def test_the_warning_reaches_the_console(tmp_path):
    """What a user sees: Inspect prints the warning (its display, not only Python logging) once. In a
    fresh process: Inspect sets up its console once per process, so earlier evals here would decide it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = (
        "from inspect_ai import eval as inspect_eval\n"
        "from tests.inspect.test_weak_grader import mock\n"
        "from polistance_plugins.tasks.ideology_score import ideology_score\n"
        f"[log] = inspect_eval(ideology_score(topics='science', grader_mode='text'), model=mock(), log_dir={str(tmp_path)!r}, "
        "display='plain')\n"
        "assert log.status == 'success'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    text = done.stdout + done.stderr
    assert text.count("weak grader: no 'grader' model role") == 1 and "WARNING" in text
