"""`--resume` after a server healed: failed items are asked again, each item keeps one record (its
latest outcome; earlier failures go to failed_attempts.jsonl), the run is complete only when nothing
failed, and items.jsonl is byte-identical to a run that never failed, for eval, compass and compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polistance_plugins.cli import main
from polistance_plugins.engine.runs import FAILURES, RunWriter

from .backends.fake_openai import FakeOpenAIServer, Fault

PROBE = "tea?"  # the API probe's prompt; faults spare it so the run starts and only scoring fails
TARGET = "support abortion?"  # terry9-03


@pytest.fixture(scope="module")
def answers():
    """Answers the fake server computed, shared by every server in this module."""
    return {}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setenv("POLISTANCE_API_ATTEMPTS", "2")
    monkeypatch.setenv("POLISTANCE_API_BACKOFF", "0.01")


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def api_args(srv, model_dir) -> list[str]:
    return ["--api-base", srv.base_url, "--api-model", "fake-model", "--tokenizer", str(model_dir)]


COMMANDS = {
    "eval": ["eval", "--bank", "terry9"],
    "compass": ["compass", "--paraphrases", "first", "--orders", "normal", "--labels", "numbers", "--n-resamples", "100"],
    "compare": ["compare", "--suite", "questionnaire", "--bank", "terry9"],
}


SERVER_DOWN = Fault("500", times=None, exclude=PROBE)  # every scoring request fails, the probe passes
LIES = Fault("lie_positive", times=None, exclude=PROBE)  # every scoring answer is an impossible one


@pytest.mark.parametrize("command,fault", [("eval", SERVER_DOWN), ("eval", LIES), ("compass", SERVER_DOWN), ("compare", LIES)],
                         ids=["eval-500", "eval-lies", "compass-500", "compare-lies"])
def test_resume_after_the_server_heals_equals_a_run_that_never_failed(command, fault, tiny_backend, tiny_model_dir, answers, tmp_path):
    argv = COMMANDS[command]
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    with FakeOpenAIServer(tiny_backend, cache=answers) as srv:  # one server: runs resume only on the same --api-base
        args = argv + api_args(srv, tiny_model_dir)
        assert main(args + ["--out", str(clean)]) == 0
        srv.faults.append(Fault(fault.kind, times=None, exclude=PROBE))
        code = main(args + ["--out", str(broken)])
        assert srv.faults[0].hits > 0
        first = read(broken / "items.jsonl")
        n_failed = sum(r["status"] == "failed" for r in first)
        assert code == 3 and n_failed == len(first) > 0
        assert json.loads((broken / "manifest.json").read_text())["status"] == "incomplete"
        srv.faults.clear()  # healed
        assert main(args + ["--resume", str(broken)]) == 0
    assert (broken / "items.jsonl").read_bytes() == (clean / "items.jsonl").read_bytes()
    manifest = json.loads((broken / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    counts = manifest["counts"] if command != "compare" else next(iter(manifest["counts"].values()))
    assert counts["failed"] == 0 and counts["retried"] == n_failed
    history = read(broken / FAILURES)
    assert len(history) == n_failed and all(r["status"] == "failed" and r["error"] for r in history)
    if command == "eval":
        summary = (broken / "summary.csv").read_text()
        assert summary == (clean / "summary.csv").read_text()


def test_resume_still_failing_stays_incomplete_and_keeps_one_record_per_item(tiny_backend, tiny_model_dir, answers, tmp_path):
    out = tmp_path / "run"
    with FakeOpenAIServer(tiny_backend, cache=answers, faults=[Fault("500", times=None, match=TARGET)]) as srv:
        for flag in (["--out", str(out)], ["--resume", str(out)]):
            assert main(COMMANDS["eval"] + api_args(srv, tiny_model_dir) + flag) == 3
            check_one_failure(out)
    assert [r["item_id"] for r in read(out / FAILURES)] == ["terry9-03"]


def check_one_failure(out: Path) -> None:
    records = read(out / "items.jsonl")
    assert len(records) == 9 and len({r["key"] for r in records}) == 9
    assert [r["item_id"] for r in records if r["status"] == "failed"] == ["terry9-03"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "incomplete" and manifest["counts"]["failed"] == 1


def test_the_writer_retries_failed_keys_and_writes_the_run_order(tmp_path):
    folder = tmp_path / "run"
    writer = RunWriter(folder, {"x": 1})
    for key, status in [("a", "ok"), ("b", "failed"), ("c", "ok"), ("b", "failed")]:
        writer.append({"key": key, "status": status, "error": "HTTP 500" if status == "failed" else None})
    writer.close()
    again = RunWriter(folder, {"x": 1}, resume=True)
    assert again.done == {"a", "c"} and again.retrying == {"b"}
    again.append({"key": "b", "status": "ok", "error": None})
    records = again.finish_records(["a", "b", "c"])
    again.close()
    assert [(r["key"], r["status"]) for r in records] == [("a", "ok"), ("b", "ok"), ("c", "ok")]
    assert [r["key"] for r in read(folder / "items.jsonl")] == ["a", "b", "c"]
    assert [(r["key"], r["status"]) for r in read(folder / FAILURES)] == [("b", "failed")]
