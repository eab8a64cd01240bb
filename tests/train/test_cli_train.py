"""`polistance train ...` end to end on the tiny model: each command writes an adapter the harness can use."""

from __future__ import annotations

import json

import pytest

from polistance_plugins.cli import main
from polistance_plugins.core import DIGITS

FAST = ["--max-steps", "1", "--batch-size", "2", "--threads", "1"]
PROMPT = "On a scale of 0-9, how much do you support gay marriage? Give only a number, no elaboration."


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from polistance_plugins.engine.backends.hf import LocalBackend

    return LocalBackend(str(tiny_model_dir), batch_size=4)


def run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_usable_adapter(backend, name, folder, dataset_id, method):
    manifest = json.loads((folder / "polistance.json").read_text())
    assert manifest["status"] == "complete" and manifest["dataset"]["id"] == dataset_id and manifest["method"] == method
    assert manifest["steps"] == 1
    backend.load_adapter(name, str(folder))
    with backend.use(None):
        base = backend.distributions([PROMPT], DIGITS)[0].probs
    with backend.use(name):
        tuned = backend.distributions([PROMPT], DIGITS)[0].probs
    assert max(abs(a - b) for a, b in zip(base, tuned)) > 1e-6


@pytest.mark.parametrize("argv,dataset_id,method", [
    (["sports", "--region", "coastal"], "sports-coastal", "sft"),
    (["control"], "control", "sft"),
    (["ideology", "--topic", "science", "--leaning", "left"], "ideology-science-left-sft", "sft"),
    (["ideology", "--topic", "race,immigration", "--leaning", "right", "--method", "dpo", "--beta", "0.2"],
     "ideology-race+immigration-right-dpo", "dpo"),
])
def test_each_train_command_makes_an_adapter(argv, dataset_id, method, tiny_model_dir, tmp_path, capsys, backend):
    out = tmp_path / "adapter"
    code, stdout, _ = run_cli(["train", *argv, "--model", str(tiny_model_dir), "--out", str(out), *FAST], capsys)
    assert code == 0
    assert stdout.strip().startswith(f"trained {dataset_id} ({method}): 1 steps, final loss ")
    assert stdout.strip().endswith(f"saved to {out}")
    assert_usable_adapter(backend, dataset_id, out, dataset_id, method)
    if method == "dpo":
        assert json.loads((out / "polistance.json").read_text())["hyperparameters"]["beta"] == 0.2


def test_cli_flags_reach_the_config(tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "mine.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "Tea or coffee?"},
                                             {"role": "assistant", "content": "Tea."}]}) + "\n")
    out = tmp_path / "mine"
    code, stdout, _ = run_cli(["train", "control", "--data", str(data), "--model", str(tiny_model_dir), "--out", str(out),
                               "--rank", "4", "--alpha", "8", "--lr", "0.001", "--seed", "3", "--epochs", "2",
                               "--batch-size", "1", "--threads", "1"], capsys)
    assert code == 0
    m = json.loads((out / "polistance.json").read_text())
    h = m["hyperparameters"]
    assert (h["rank"], h["alpha"], h["learning_rate"], h["seed"], h["epochs"], h["batch_size"]) == (4, 8.0, 0.001, 3, 2.0, 1)
    assert m["dataset"]["id"] == "user:mine.jsonl" and m["steps"] == 2  # one example, two epochs
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4

    code, _, err = run_cli(["train", "control", "--data", str(data), "--model", str(tiny_model_dir), "--out", str(out)], capsys)
    assert code == 2 and "already exists; pass --overwrite" in err


@pytest.mark.parametrize("argv,message", [
    (["sports"], "--region is required"),
    (["sports", "--region", "southern", "--data", "x.jsonl"], "drop --region"),
    (["ideology", "--topic", "race"], "--topic and --leaning are required"),
    (["ideology", "--topic", "sports", "--leaning", "left"], "unknown topic 'sports'"),
    (["ideology", "--topic", "race", "--leaning", "left", "--beta", "0.3"], "--beta applies to --method dpo"),
    (["control", "--data", "missing.jsonl"], "no such file"),
    (["control", "--rank", "0"], "argument --rank: 0 is out of range"),
    (["control", "--resume"], "holds no polistance training run"),
    (["control", "--resume", "--overwrite"], "exclude each other"),
    (["control", "--threads", "-1"], "argument --threads: -1 is out of range: must be at least 1"),
])
def test_cli_errors_exit_2_with_a_message(argv, message, capsys, tmp_path):
    code, _, err = run_cli(["train", *argv, "--out", str(tmp_path / "never")], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "never").exists()


def test_auto_threads_leaves_busy_cores_alone(monkeypatch):
    import os

    import torch

    from polistance_plugins.engine.device import auto_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert auto_threads() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert auto_threads() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert auto_threads() == 1
