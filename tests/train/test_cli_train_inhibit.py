"""`polistance train ideology --inhibit FILE --inhibit-top N`: InhibitFT from the command line.

The neuron file is written by `polistance localize` on the tiny model (contrasting a 2-step sports
adapter), so the file format and the model identity it records are the real ones. Every InhibitFT
property is checked against the same run without `--inhibit`, so a flag that did nothing would fail.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from polistance_plugins.cli import main
from polistance_plugins.neurons.contrast import NeuronFile, by_layer, file_sha256

TOP = 20.0  # not the default 5, so the test sees that N reaches the mask
TRAIN = ["train", "ideology", "--topic", "science", "--leaning", "left",
         "--max-steps", "2", "--batch-size", "2", "--threads", "1"]


def run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def neuron_file(tmp_path_factory, tiny_model_dir, sports_adapter):
    """A neuron file from `polistance localize` on the tiny model (two topics, mlp_out)."""
    out = tmp_path_factory.mktemp("neurons") / "neurons.json"
    code = main(["localize", "--model", str(tiny_model_dir), "--adapter", f"southern={sports_adapter.out}",
                 "--topics", "race,immigration", "--threads", "1", "--batch-size", "8", "--out", str(out)])
    assert code == 0 and out.is_file()
    return out


def lora_b_down(folder, layer: int) -> torch.Tensor:
    from safetensors.torch import load_file

    weights = load_file(str(folder / "adapter_model.safetensors"))
    [key] = [k for k in weights if f"layers.{layer}.mlp.down_proj.lora_B" in k]
    return weights[key]


def test_inhibit_pins_the_general_neurons_and_records_the_file(neuron_file, tiny_model_dir, tmp_path, capsys):
    nf = NeuronFile.load(neuron_file)
    general = nf.sets("southern", TOP).general
    assert general.size > 0  # precondition: something to pin at this N
    pinned = by_layer(general, nf.width)

    masked, plain = tmp_path / "inhibit", tmp_path / "plain"
    code, out, err = run_cli([*TRAIN, "--model", str(tiny_model_dir), "--out", str(masked),
                              "--inhibit", str(neuron_file), "--inhibit-top", f"{TOP:g}"], capsys)
    assert code == 0, err
    assert f"InhibitFT: {general.size} general mlp_out neurons (top {TOP:g}% of {neuron_file})" in err
    assert f"InhibitFT: {general.size} rows of {len(pinned)} parameters pinned, verified unchanged after 2 optimizer steps" in out
    code, _, err = run_cli([*TRAIN, "--model", str(tiny_model_dir), "--out", str(plain)], capsys)
    assert code == 0, err

    manifest = json.loads((masked / "polistance.json").read_text())
    mask = manifest["gradient_mask"]
    assert mask["method"] == "InhibitFT" and mask["site"] == "mlp_out"
    assert mask["neurons_file"] == str(neuron_file) and mask["neurons_sha256"] == file_sha256(neuron_file)
    assert mask["top_percent"] == TOP and mask["n_neurons"] == general.size and mask["neuron_adapter"] == "southern"
    assert mask["neurons_model"]["weights_sha256"] == manifest["base_model"]["weights_sha256"]
    check = manifest["gradient_mask_verification"]
    assert check["rows_verified_unchanged"] is True and check["optimizer_steps_checked"] == 2
    assert check["rows_masked"] == general.size
    assert json.loads((plain / "polistance.json").read_text())["gradient_mask"] is None

    for layer in range(nf.layers):
        rows = torch.as_tensor(pinned.get(layer, np.array([], dtype=np.int64)))
        free = torch.ones(nf.width, dtype=torch.bool)
        free[rows] = False
        b_masked, b_plain = lora_b_down(masked, layer), lora_b_down(plain, layer)
        assert b_masked[free].abs().sum() > 0  # the masked run did train this layer
        if rows.numel():
            assert torch.equal(b_masked[rows], torch.zeros_like(b_masked[rows]))  # LoRA starts lora_B at zero
            assert bool((b_plain[rows] != 0).any(dim=1).all())  # without --inhibit every one of those rows moved


def test_inhibit_top_defaults_to_5_percent(neuron_file, tiny_model_dir, tmp_path, capsys, monkeypatch):
    from polistance_plugins.errors import PolistanceError
    from polistance_plugins.neurons import inhibit

    calls = []

    def fake(file, top_percent, site=None, adapter=None, model=None):
        calls.append((str(file), top_percent, model))
        raise PolistanceError("stop before training")

    monkeypatch.setattr(inhibit, "load_inhibit_mask", fake)
    code, _, err = run_cli([*TRAIN, "--model", str(tiny_model_dir), "--out", str(tmp_path / "never"),
                            "--inhibit", str(neuron_file)], capsys)
    assert code == 2 and "stop before training" in err
    assert calls == [(str(neuron_file), 5.0, str(tiny_model_dir))]


def write_neurons(path, layers=2, width=32, model=None, scores=None):
    """A neuron file written directly; by default neurons 0-3 rank top for both topics (general at 5%)."""
    rng = np.random.default_rng(0)
    topics = ("race", "immigration")
    scores = scores or {t: np.r_[np.full(4, 9.0), rng.random(layers * width - 4)] for t in topics}
    nf = NeuronFile(site="mlp_out", layers=layers, width=width, topics=list(topics), top_k=5.0, model=model or {},
                    adapters={"T": {}}, prompt_source={}, scores={"T": scores})
    return nf.save(path)


@pytest.mark.parametrize("extra,message", [
    (["--inhibit-top", "5"], "--inhibit-top needs --inhibit FILE"),
    (["--inhibit", "{tmp}/missing.json"], "missing.json: cannot read"),
    (["--inhibit", "{bad_json}"], "invalid JSON"),
    (["--inhibit", "{not_neurons}"], "not a polistance neuron file"),
    (["--inhibit", "{good}", "--inhibit-top", "0"], "argument --inhibit-top: 0 is out of range: must be above 0 and at most 100"),
    (["--inhibit", "{good}", "--inhibit-top", "150"], "argument --inhibit-top: 150 is out of range: must be above 0 and at most 100"),
    (["--inhibit", "{three_layers}"], "localised on /models/three-layer with 3 layers x 32 mlp_out neurons, "
                                      "but --model {tiny} has 2 x 32"),
    (["--inhibit", "{other_weights}"], "localised on /models/other, not on --model {tiny}"),
    (["--inhibit", "{disjoint}", "--inhibit-top", "1"], "no general neurons at top 1%"),
])
def test_inhibit_errors_exit_2_without_traceback(extra, message, tiny_model_dir, tmp_path, capsys):
    from polistance_plugins.engine.models import weights_hash

    tiny = {"kind": "local", "model": str(tiny_model_dir), "weights_sha256": weights_hash(str(tiny_model_dir))}
    bad_json, not_neurons = tmp_path / "bad.json", tmp_path / "other.json"
    bad_json.write_text("{not json")
    not_neurons.write_text(json.dumps({"format": "something-else"}))
    files = {
        "tmp": tmp_path, "tiny": tiny_model_dir, "bad_json": bad_json, "not_neurons": not_neurons,
        "good": write_neurons(tmp_path / "good.json", model=tiny),
        "three_layers": write_neurons(tmp_path / "three.json", layers=3, model={"model": "/models/three-layer"}),
        "other_weights": write_neurons(tmp_path / "weights.json", model={**tiny, "model": "/models/other",
                                                                          "weights_sha256": "0" * 64}),
        # each topic's top set is one different neuron: no general neurons at 1%
        "disjoint": write_neurons(tmp_path / "disjoint.json", model=tiny,
                                  scores={"race": np.eye(64)[0], "immigration": np.eye(64)[1]}),
    }
    argv = [a.format(**files) for a in extra]
    out = tmp_path / "never"
    code, _, err = run_cli([*TRAIN, "--model", str(tiny_model_dir), "--out", str(out), *argv], capsys)
    assert code == 2 and message.format(**files) in err, err
    assert "Traceback" not in err and err.startswith(("polistance: error: ", "polistance train ideology: error: "))
    assert not out.exists()


def test_file_from_another_model_of_the_same_shape_is_refused(tiny_model_dir, embedded_dir, tmp_path, capsys):
    # Same architecture and size, other weights: only the recorded weights hash can tell them apart.
    from polistance_plugins.engine.backends.hf import LocalBackend
    from tests.conftest import build_tiny_model

    other = build_tiny_model(tmp_path / "other-model", embedded_dir, seed=1)
    path = write_neurons(tmp_path / "neurons.json", model=LocalBackend(str(other)).describe())
    out = tmp_path / "never"
    code, _, err = run_cli([*TRAIN, "--model", str(tiny_model_dir), "--out", str(out), "--inhibit", str(path)], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"localised on {other}, not on --model {tiny_model_dir}" in err and "weights sha256" in err
    assert not out.exists()
    # the same file is accepted for training the model it was localised on (refused only later, by --out)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    code, _, err = run_cli([*TRAIN, "--model", str(other), "--out", str(tmp_path / "taken"), "--inhibit", str(path)], capsys)
    assert code == 2 and "already exists" in err and "InhibitFT: 3 general mlp_out neurons (top 5%" in err


def test_other_commands_do_not_take_inhibit(tmp_path, capsys):
    for command in (["sports", "--region", "southern"], ["control"]):
        assert main(["train", *command, "--inhibit", "x.json", "--out", str(tmp_path / "never")]) == 2
        assert "unrecognized arguments: --inhibit" in capsys.readouterr().err
