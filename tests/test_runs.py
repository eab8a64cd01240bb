"""Run folders: crash-safe appends, resumption identical to an uninterrupted run, refusal of a
mismatched configuration, determinism, and off-format marking."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from polistance_plugins.cli import main


def eval_cmd(model_dir, *extra):
    return [sys.executable, "-m", "polistance_plugins.cli", "eval", "--model", str(model_dir), "--bank", "topics",
            "--topics", "race,science", "--batch-size", "2", *extra]


def test_kill_and_resume_gives_the_uninterrupted_records(tiny_model_dir, tmp_path):
    full = tmp_path / "full"
    assert subprocess.run(eval_cmd(tiny_model_dir, "--out", str(full)), capture_output=True).returncode == 0

    part = tmp_path / "part"
    proc = subprocess.Popen(eval_cmd(tiny_model_dir, "--out", str(part)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    items = part / "items.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if items.exists() and items.read_bytes().count(b"\n") >= 40:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = items.read_bytes().count(b"\n")
    total = (full / "items.jsonl").read_bytes().count(b"\n")
    assert 40 <= n_before < total, "the kill must land part-way through the run"

    resumed = subprocess.run(eval_cmd(tiny_model_dir, "--resume", str(part)), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert items.read_bytes() == (full / "items.jsonl").read_bytes()
    keys = [json.loads(line)["key"] for line in items.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == total
    manifest = json.loads((part / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["skipped"] >= n_before


def test_torn_last_line_is_cut_on_resume(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out)]) == 0
    good = (out / "items.jsonl").read_bytes()
    lines = good.splitlines(keepends=True)
    (out / "items.jsonl").write_bytes(b"".join(lines[:4]) + lines[4][:25])  # crash mid-write
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--resume", str(out)]) == 0
    assert (out / "items.jsonl").read_bytes() == good


def test_resume_refuses_a_different_configuration(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out)]) == 0
    code = main(["eval", "--model", str(tiny_model_dir), "--bank", "topics", "--topics", "race", "--resume", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and "bank: recorded 'terry9', now 'topics'" in err


def test_existing_run_folder_is_not_overwritten_silently(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out)]) == 0
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out), "--overwrite"]) == 0


def test_same_inputs_give_byte_identical_records(tiny_model_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out)]) == 0
    assert (a / "items.jsonl").read_bytes() == (b / "items.jsonl").read_bytes()
    assert b"time" not in (a / "items.jsonl").read_bytes()


def test_low_digit_mass_is_marked_off_format_and_left_out_of_means(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out), "--min-mass", "1"]) == 0
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert {r["status"] for r in records} == {"off_format"}
    summary = (out / "summary.csv").read_text().splitlines()[1:]
    for row in summary:
        cols = row.split(",")
        assert cols[3] == "0"  # n_ok
        assert cols[7] == ""  # mean_stance is empty (NaN), not a number from off-format answers


def test_files_written_atomically_get_ordinary_permissions(tmp_path):
    """neurons.json, manifests and reports are readable by the group and others as any file the
    user writes (mkstemp alone would leave them owner-only, mode 0600)."""
    import os
    import stat

    from polistance_plugins.engine.runs import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "neurons.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "neurons.json").stat().st_mode) == 0o644
