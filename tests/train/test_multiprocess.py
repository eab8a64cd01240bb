"""Two training processes on this CPU (``accelerate launch``, DDP over gloo): the same adapter folder
as one process gives, one manifest, the loss logged once, and the InhibitFT mask holding in every
process (the pinned rows of the saved adapter unchanged)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from polistance_plugins.neurons.contrast import by_layer
from polistance_plugins.neurons.neuron_file import NeuronFile
from tests.train.test_cli_train_inhibit import TOP, lora_b_down, neuron_file  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
STEPS = 3
LAYOUT = {"adapter_config.json", "adapter_model.safetensors", "polistance.json", "tokenizer.json", "tokenizer_config.json",
          "chat_template.jinja", "README.md", "training_args.bin"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_one_adapter_with_the_mask_holding_in_each(neuron_file, tiny_model_dir, tmp_path):
    out = tmp_path / "ddp"
    launcher = Path(sys.executable).parent / "accelerate"
    # --multi_gpu only picks accelerate's torchrun launcher; without CUDA the processes join over gloo.
    cmd = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(free_port()),
           "-m", "polistance_plugins.cli", "train", "ideology", "--topic", "science", "--leaning", "left",
           "--model", str(tiny_model_dir), "--max-steps", str(STEPS), "--batch-size", "2", "--threads", "1",
           "--inhibit", str(neuron_file), "--inhibit-top", f"{TOP:g}", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # one process prints: the start line, the summary and the InhibitFT check once each
    assert proc.stderr.count("training ideology-science-left-sft") == 1
    assert proc.stdout.count("trained ideology-science-left-sft (sft): 3 steps") == 1
    assert proc.stdout.count(f"verified unchanged after {STEPS} optimizer steps") == 1

    assert {p.name for p in out.iterdir()} == LAYOUT  # the single-process layout, checkpoints removed
    manifest = json.loads((out / "polistance.json").read_text())
    assert manifest["status"] == "complete" and manifest["steps"] == STEPS
    runtime = manifest["runtime"]
    assert runtime["world_size"] == 2 and runtime["distributed_type"] == "MULTI_CPU" and runtime["backend"] == "gloo"
    assert manifest["plan"]["world_size"] == 2 and manifest["plan"]["steps_per_epoch"] == 10  # 40 examples / (2 x 2)
    assert [row["step"] for row in manifest["train_loss"]] == list(range(1, STEPS + 1))  # the loss logged once a step
    check = manifest["gradient_mask_verification"]
    assert len(check["per_process"]) == 2 and check["rows_verified_unchanged"] is True
    assert all(p["rows_verified_unchanged"] and p["optimizer_steps_checked"] == STEPS for p in check["per_process"])

    nf = NeuronFile.load(neuron_file)
    pinned = by_layer(nf.sets("southern", TOP).general, nf.width)
    assert pinned
    for layer in range(nf.layers):
        rows = torch.as_tensor(pinned.get(layer, np.array([], dtype=np.int64)))
        free = torch.ones(nf.width, dtype=torch.bool)
        free[rows] = False
        b = lora_b_down(out, layer)
        assert b[free].abs().sum() > 0  # trained
        if rows.numel():
            assert torch.equal(b[rows], torch.zeros_like(b[rows]))  # pinned rows still at LoRA's zero start


def test_inhibitft_under_fsdp_is_refused_before_anything_is_written(neuron_file, tiny_model_dir, tmp_path, monkeypatch, capsys):
    from polistance_plugins.cli import main

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what accelerate launch --use_fsdp sets in each process
    out = tmp_path / "never"
    code = main(["train", "ideology", "--topic", "science", "--leaning", "left", "--model", str(tiny_model_dir),
                 "--max-steps", "1", "--inhibit", str(neuron_file), "--out", str(out)])
    assert code == 2 and "FSDP shards" in capsys.readouterr().err and not out.exists()
