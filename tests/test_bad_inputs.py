"""Bad input is one line and exit code 2, never a traceback (J), and it is reported before any model
loads (K): banks, PCT files, adapter folders, model names, run folders."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from polistance_plugins.cli import main

from .backends.test_adapters import make_adapter

ITEM = {"id": "x-1", "topic": "science", "kind": "question", "scale": "0-9", "keying": "left", "source": "test"}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[0]


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if any model is loaded: inputs must be checked first."""
    from polistance_plugins.engine.backends import hf

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(hf.LocalBackend, "__init__", refuse)


# ---- banks and PCT files (J) ---------------------------------------------------------------------
def bank_lines(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bank.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


BANKS = {
    "5000-digit integer": (json.dumps({**ITEM, "text": "how much?"})[:-1] + ', "n": ' + "9" * 5000 + "}\n", "bank.jsonl:1"),
    "100k nested brackets": ("[" * 100_000 + "\n", "bank.jsonl:1"),
    "lone surrogate": ('{"id": "x-1", "topic": "science", "kind": "question", "text": "tea \\ud800?", "scale": "0-9", '
                       '"keying": "left", "source": "test"}\n', "bank.jsonl:1: field 'text'"),
}


@pytest.mark.parametrize("case", sorted(BANKS))
def test_bad_bank_is_one_line(case, tmp_path, capsys, no_model_loads):
    text, where = BANKS[case]
    bank = bank_lines(tmp_path, text)
    assert main(["eval", "--bank", str(bank), "--model", "/nonexistent", "--out", str(tmp_path / "run")]) == 2
    assert where in one_error_line(capsys)


def test_lone_surrogate_is_refused_before_the_api_sees_it(tmp_path, capsys):
    bank = bank_lines(tmp_path, BANKS["lone surrogate"][0])
    code = main(["eval", "--bank", str(bank), "--api-base", "http://127.0.0.1:9/v1", "--api-model", "m", "--out", str(tmp_path / "r")])
    assert code == 2 and "lone surrogate" in one_error_line(capsys)


def test_pct_file_with_a_huge_field_is_one_line(tmp_path, capsys, no_model_loads):
    pct = tmp_path / "pct.csv"
    pct.write_text("pct_id,pct_prompt,pct_note\n1," + "x" * 200_000 + ",\n")
    assert main(["compass", "--source", "pct", "--pct-file", str(pct), "--model", "/nonexistent"]) == 2
    assert "pct.csv, line 2" in one_error_line(capsys)


# ---- adapter folders (J, K) ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "a")


DAMAGE = {
    "random weights file": lambda d: (d / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 40),
    "truncated weights file": lambda d: (d / "adapter_model.safetensors").write_bytes(
        (d / "adapter_model.safetensors").read_bytes()[:300]),
    "empty weights file": lambda d: (d / "adapter_model.safetensors").write_bytes(b""),
    "config is a list": lambda d: (d / "adapter_config.json").write_text("[]"),
    "config is not JSON": lambda d: (d / "adapter_config.json").write_text("{"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_adapter_is_one_line_before_the_model_loads(case, adapter, tmp_path, capsys, no_model_loads):
    import shutil

    broken = Path(shutil.copytree(adapter, tmp_path / "broken"))
    DAMAGE[case](broken)
    assert main(["eval", "--adapter", str(broken), "--out", str(tmp_path / "run")]) == 2
    assert f"adapter {broken}" in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv", [
    ["eval", "--adapter", "/nowhere/adapter"],
    ["compass", "--adapter", "/nowhere/adapter"],
    ["compare", "--adapters", "a=/nowhere/adapter"],
    ["compare", "--bank", "terry9,/nowhere/bank.jsonl"],
    ["compare", "--suite", "compass", "--compass-source", "pct", "--pct-file", "/nowhere/pct.csv"],
])
def test_missing_inputs_are_reported_before_the_model_loads(argv, tmp_path, capsys, no_model_loads):
    assert main(argv + ["--out", str(tmp_path / "run")]) == 2
    assert "/nowhere/" in one_error_line(capsys)


# ---- models (J, K) -------------------------------------------------------------------------------
def test_a_folder_without_a_model_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no model here")
    assert main(["eval", "--model", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert "holds no model" in one_error_line(capsys)


@pytest.mark.parametrize("name,needle", [
    ("smollm3-nope", "neither a named model (smollm2-135m-instruct) nor a folder"),
    ("HuggingFaceTB/no-such-model-here", "not in the local Hugging Face cache"),
])
def test_an_unknown_model_name_says_what_it_is_not_at_once(name, needle, tmp_path, capsys):
    t0 = time.monotonic()
    assert main(["eval", "--model", name, "--out", str(tmp_path / "run")]) == 2
    assert time.monotonic() - t0 < 10
    assert needle in one_error_line(capsys)


# ---- run folders (J) -----------------------------------------------------------------------------
def test_out_that_is_a_file_or_cannot_be_made_is_one_line(tmp_path, capsys, no_model_loads):
    (tmp_path / "taken").write_text("a file")
    assert main(["eval", "--out", str(tmp_path / "taken")]) == 2
    assert "exists and is not a folder" in one_error_line(capsys)
    assert main(["eval", "--out", str(tmp_path / "taken" / "run")]) == 2
    assert "cannot create the run folder" in one_error_line(capsys)


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "done"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out)]) == 0
    return out


RUN_DAMAGE = {
    "record without a key": ("items.jsonl", lambda t: t.replace('"key": ', '"kee": ', 1), "items.jsonl:1: not a run record"),
    "record that is a list": ("items.jsonl", lambda t: "[1, 2]\n" + t, "items.jsonl:1: not a run record"),
    "record that is not JSON": ("items.jsonl", lambda t: t + "{oops\n", "items.jsonl:10: not a JSON record"),
    "truncated manifest": ("manifest.json", lambda t: t[: len(t) // 2], "manifest.json is damaged"),
    "manifest that is a list": ("manifest.json", lambda t: "[]", "manifest.json is not a run manifest"),
}


@pytest.mark.parametrize("case", sorted(RUN_DAMAGE))
def test_damaged_run_folder_is_one_line_on_resume(case, finished_run, tiny_model_dir, tmp_path, capsys):
    import shutil

    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    name, damage, needle = RUN_DAMAGE[case]
    (run / name).write_text(damage((run / name).read_text()))
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--resume", str(run)]) == 2
    assert needle in one_error_line(capsys)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # refused before touching anything
