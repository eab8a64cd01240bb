"""Training --resume after a kill during a checkpoint save: the newest *complete* checkpoint is
used (a partial one, e.g. only README.md, or a trainer_state.json cut short, is passed over), and
the result equals an uninterrupted run."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from polistance_plugins.train import sports_dataset, train_sft

from .conftest import quiet, tiny_config
from .test_training import Crash


def test_resume_skips_partial_checkpoints_and_equals_the_uninterrupted_run(tiny_model_dir, tmp_path):
    config = tiny_config(max_steps=4, save_steps=1)
    data = sports_dataset("coastal")
    full = train_sft(str(tiny_model_dir), data, tmp_path / "full", config, log=quiet)

    out = tmp_path / "killed"
    try:
        train_sft(str(tiny_model_dir), data, out, config, callbacks=[Crash(2)], log=quiet)
    except RuntimeError:
        pass
    ckpts = out / "checkpoints"
    assert (ckpts / "checkpoint-2" / "trainer_state.json").is_file()
    # killed while saving step 3 (trainer_state.json half written) and step 4 (only the README so far)
    (ckpts / "checkpoint-3").mkdir()
    for f in (ckpts / "checkpoint-2").iterdir():
        (ckpts / "checkpoint-3" / f.name).write_bytes(f.read_bytes())
    state = (ckpts / "checkpoint-3" / "trainer_state.json").read_text()
    (ckpts / "checkpoint-3" / "trainer_state.json").write_text(state[: len(state) // 2])
    (ckpts / "checkpoint-4").mkdir()
    (ckpts / "checkpoint-4" / "README.md").write_text("model card")

    messages = []
    resumed = train_sft(str(tiny_model_dir), data, out, config, resume=True, log=messages.append)
    assert any("resuming from" in m and m.rstrip().endswith("checkpoint-2") for m in messages), messages
    assert any("checkpoint-3" in m and "incomplete" in m for m in messages), messages
    assert resumed.steps == 4 and [s["step"] for s in resumed.manifest["train_loss"]] == [1, 2, 3, 4]
    a, b = load_file(str(full.out / "adapter_model.safetensors")), load_file(str(out / "adapter_model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-7) for k in a)
    assert json.loads((out / "polistance.json").read_text())["status"] == "complete"
