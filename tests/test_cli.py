import json
import subprocess
import sys

import pytest

from polistance_plugins.cli import main


def test_eval_writes_items_summary_manifest(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out), "--batch-size", "4"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "terry9-01" in printed and "E=" in printed and "per-topic stance" in printed
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert len(records) == 9
    for r in records:
        assert len(r["probs"]) == 10 and abs(sum(r["probs"]) - 1) < 1e-6
        assert r["model"] == "base" and r["bank"] == "terry9"
    manifest = json.loads((out / "manifest.json").read_text())
    cfg = manifest["config"]
    assert cfg["bank_sha256"] and cfg["template"] == "digit_question.j2" and cfg["package_version"]
    assert manifest["status"] == "complete"
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("model,topic,n,n_ok")
    assert len(summary) == 1 + 6  # six topics in terry9


def test_topics_bank_asks_both_scale_directions(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "topics", "--topics", "race", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert {r["direction"] for r in records} == {"normal", "reversed"}
    assert len(records) == 14 * 3 * 2
    rev = next(r for r in records if r["direction"] == "reversed")
    assert "0 means you strongly agree" in rev["prompt"]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["eval", "--bank", "no_such_bank"], "unknown bank"),
        (["eval", "--model", "/nonexistent/model", "--bank", "terry9"], "--model /nonexistent/model: no such folder"),
        (["models", "prepare", "gpt-9"], "unknown named model"),
    ],
)
def test_user_errors_exit_2_without_traceback(argv, needle, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "polistance_plugins.cli", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_tasks_path_holds_the_yamls(capsys):
    assert main(["tasks-path"]) == 0
    from pathlib import Path

    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "polistance_terry9.yaml").is_file()
    assert (folder / "_polistance_topics.yaml").is_file()
