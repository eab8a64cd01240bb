"""Tiny-model training runs: adapters load back (PEFT, the harness, lm-eval) and change the model;
runs are deterministic, refuse existing folders, resume after a crash, and honour a gradient mask."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from polistance_plugins.errors import PolistanceError
from polistance_plugins.engine.models import weights_hash
from polistance_plugins.core import DIGITS
from polistance_plugins.train import (
    TrainConfig,
    ideology_dataset,
    sports_dataset,
    train_dpo,
    train_ideology,
    train_sft,
    train_sports,
)

from .conftest import quiet, tiny_config

PROMPT = "On a scale of 0-9, how much do you support ICE? Give only a number, no elaboration."


def adapter_tensors(folder) -> dict:
    return load_file(str(folder / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from polistance_plugins.engine.backends.hf import LocalBackend

    return LocalBackend(str(tiny_model_dir), batch_size=4)


def shift(backend, name, folder) -> float:
    """Largest change in the digit distribution of one prompt between the base and the adapter."""
    backend.load_adapter(name, str(folder))
    with backend.use(None):
        base = backend.distributions([PROMPT], DIGITS)[0].probs
    with backend.use(name):
        tuned = backend.distributions([PROMPT], DIGITS)[0].probs
    return max(abs(a - b) for a, b in zip(base, tuned))


# ---- the adapter folder -----------------------------------------------------------------------
def test_adapter_folder_is_standard_peft(sports_adapter, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = sports_adapter.out
    assert {"adapter_config.json", "adapter_model.safetensors", "polistance.json"} <= {p.name for p in out.iterdir()}
    assert not (out / "checkpoints").exists()
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 32 and cfg["lora_alpha"] == 64
    assert any(m.endswith("down_proj") for m in cfg["target_modules"])  # InhibitFT masks rows of its lora_B
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, str(out))
        after = tuned(ids).logits
    assert (after - before).abs().max() > 1e-3


def test_adapter_changes_the_harness_distribution(sports_adapter, backend):
    assert shift(backend, "southern", sports_adapter.out) > 1e-4


def test_lm_eval_loads_the_adapter_with_peft(sports_adapter, tiny_model_dir, backend):
    """lm-eval's ``peft=`` gives the same answer log-probabilities as the harness with the adapter active."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    backend.load_adapter("southern-lm", str(sports_adapter.out))
    # lm-eval moves a context's trailing whitespace into the continuation; score the same split here
    context = backend.chat_prompt(PROMPT).rstrip("\n")
    answers = ["\n3", "\n7"]
    with backend.use("southern-lm"):
        ours = backend.option_logprobs([context], answers)[0]
    with backend.use(None):
        base = backend.option_logprobs([context], answers)[0]
    lm = HFLM(pretrained=str(tiny_model_dir), peft=str(sports_adapter.out), dtype="float32", device="cpu", batch_size=1)
    reqs = [Instance("loglikelihood", {}, (context, a), i) for i, a in enumerate(answers)]
    theirs = [ll for ll, _ in lm.loglikelihood(reqs, disable_tqdm=True)]
    assert theirs == pytest.approx(ours, abs=1e-4)
    assert max(abs(a - b) for a, b in zip(ours, base)) > 1e-5


def test_inspect_hf_provider_loads_the_adapter_folder(sports_adapter, tiny_model_dir):
    """Inspect's ``hf`` provider with ``model_path=<adapter folder>`` runs base + adapter (transformers' PEFT loading)."""
    from inspect_ai.model import get_model
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    api = get_model("hf/southern", model_path=str(sports_adapter.out), device="cpu").api
    ids = api.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    with torch.no_grad():
        before = base(ids).logits
        inspect_logits = api.model(ids).logits.float()
        peft_logits = PeftModel.from_pretrained(base, str(sports_adapter.out))(ids).logits
    assert torch.allclose(inspect_logits, peft_logits, atol=1e-4)
    assert (inspect_logits - before).abs().max() > 1e-3


def test_manifest_records_the_run(sports_adapter, tiny_model_dir):
    m = json.loads((sports_adapter.out / "polistance.json").read_text())
    assert m["status"] == "complete" and m["method"] == "sft"
    assert m["base_model"] == {"id": str(tiny_model_dir), "path": str(tiny_model_dir),
                               "weights_sha256": weights_hash(str(tiny_model_dir))}
    data = sports_dataset("southern")
    assert m["dataset"]["id"] == "sports-southern" and m["dataset"]["sha256"] == data.sha256
    assert m["dataset"]["n_examples"] == 99 and m["dataset"]["sources"][0]["sha256"]
    assert m["hyperparameters"] == tiny_config().to_dict() and m["seed"] == 0
    assert m["lora"]["r"] == 32 and m["lora"]["target_modules"] == "all-linear"
    assert m["packages"]["trl"] and m["packages"]["peft"] and m["packages"]["transformers"]
    assert [s["step"] for s in m["train_loss"]] == [1, 2] and m["steps"] == 2
    assert all(s["loss"] > 0 for s in m["train_loss"]) and m["final_loss"] == m["train_loss"][-1]["loss"]
    # two batches of two sports chats: 4 x (43 to 50 tokens)
    assert 4 * 40 <= m["tokens_seen"] <= 4 * 60
    assert m["wall_time_seconds"] > 0 and m["gradient_mask"] is None
    assert sports_adapter.summary().startswith("trained sports-southern (sft): 2 steps, final loss ")


# ---- determinism ------------------------------------------------------------------------------
def test_same_seed_gives_identical_weights(sports_adapter, tiny_model_dir, tmp_path):
    again = train_sports("southern", tmp_path / "again", model=str(tiny_model_dir), config=tiny_config(), log=quiet)
    a, b = adapter_tensors(sports_adapter.out), adapter_tensors(again.out)
    assert a.keys() == b.keys() and len(a) > 0
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = train_sports("southern", tmp_path / "seed1", model=str(tiny_model_dir), config=tiny_config(seed=1), log=quiet)
    c = adapter_tensors(other.out)
    assert any(not torch.equal(a[k], c[k]) for k in a)


# ---- output folders and resuming --------------------------------------------------------------
def test_existing_output_is_refused_unless_overwrite(sports_adapter, tiny_model_dir, tmp_path):
    with pytest.raises(PolistanceError, match="already exists; pass --overwrite"):
        train_sports("southern", sports_adapter.out, model=str(tiny_model_dir), config=tiny_config(), log=quiet)
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("precious")
    with pytest.raises(PolistanceError, match="not an adapter folder"):
        train_sports("southern", stranger, model=str(tiny_model_dir), config=tiny_config(), overwrite=True, log=quiet)
    assert (stranger / "thesis.tex").read_text() == "precious"
    with pytest.raises(PolistanceError, match="already finished"):
        train_sports("southern", sports_adapter.out, model=str(tiny_model_dir), config=tiny_config(), resume=True, log=quiet)


class Crash(TrainerCallback):
    """Simulates a crash right after the checkpoint at ``step`` is written."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError("simulated crash")


def test_resume_continues_an_interrupted_run_exactly(tiny_model_dir, tmp_path):
    config = tiny_config(max_steps=4, save_steps=2)
    data = sports_dataset("coastal")
    full = train_sft(str(tiny_model_dir), data, tmp_path / "full", config, log=quiet)

    out = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_sft(str(tiny_model_dir), data, out, config, callbacks=[Crash(2)], log=quiet)
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    assert not (out / "adapter_model.safetensors").exists()
    assert json.loads((out / "polistance.json").read_text())["status"] == "running"
    with pytest.raises(PolistanceError, match="already exists"):
        train_sft(str(tiny_model_dir), data, out, config, log=quiet)
    with pytest.raises(PolistanceError, match="different settings: hyperparameters.learning_rate"):
        train_sft(str(tiny_model_dir), data, out, tiny_config(max_steps=4, save_steps=2, learning_rate=1e-3),
                  resume=True, log=quiet)

    messages = []
    resumed = train_sft(str(tiny_model_dir), data, out, config, resume=True, log=messages.append)
    assert any("resuming from" in m and "checkpoint-2" in m for m in messages)
    assert resumed.steps == 4 and [s["step"] for s in resumed.manifest["train_loss"]] == [1, 2, 3, 4]
    assert not (out / "checkpoints").exists()
    a, b = adapter_tensors(full.out), adapter_tensors(out)
    assert all(torch.allclose(a[k], b[k], atol=1e-7) for k in a)
    losses = [s["loss"] for s in resumed.manifest["train_loss"]]
    assert losses == pytest.approx([s["loss"] for s in full.manifest["train_loss"]], rel=1e-6)


# ---- DPO --------------------------------------------------------------------------------------
def test_dpo_trains_an_adapter(tiny_model_dir, tmp_path, backend):
    result = train_ideology("immigration", "right", tmp_path / "dpo", method="dpo", model=str(tiny_model_dir),
                            config=tiny_config(), log=quiet)
    m = result.manifest
    assert m["method"] == "dpo" and m["dataset"]["id"] == "ideology-immigration-right-dpo" and m["dataset"]["n_examples"] == 40
    assert len(m["train_loss"]) == 2 and all("rewards/margins" in s for s in m["train_loss"])
    assert m["train_loss"][0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference at step 1
    assert shift(backend, "dpo", result.out) > 1e-5


def test_methods_refuse_the_other_kind_of_data(tiny_model_dir, tmp_path):
    with pytest.raises(PolistanceError, match="is dpo data"):
        train_sft(str(tiny_model_dir), ideology_dataset("race", "left", "dpo"), tmp_path / "x", tiny_config(), log=quiet)
    with pytest.raises(PolistanceError, match="is sft data"):
        train_dpo(str(tiny_model_dir), sports_dataset("coastal"), tmp_path / "y", tiny_config(), log=quiet)


# ---- the gradient-mask plug point -------------------------------------------------------------
class RowMask:
    """A stand-in for InhibitFT: zero the gradient of lora_B row 0 of every down_proj."""

    def __init__(self):
        self.attached = []
        self.steps = 0

    def attach(self, model) -> None:
        self.attached.append(type(model).__name__)
        for name, param in model.named_parameters():
            if "down_proj.lora_B" in name:
                param.register_hook(self._zero_row)

    @staticmethod
    def _zero_row(grad):
        grad = grad.clone()
        grad[0] = 0
        return grad

    def callbacks(self):
        mask = self

        class Count(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                mask.steps += 1

        return [Count()]

    def describe(self) -> dict:
        return {"kind": "row-mask", "rows": [0]}


def test_gradient_mask_is_attached_and_acts(tiny_model_dir, tmp_path):
    mask = RowMask()
    result = train_sports("coastal", tmp_path / "masked", model=str(tiny_model_dir),
                          config=tiny_config(learning_rate=1e-2), gradient_mask=mask, log=quiet)
    assert mask.attached == ["PeftModelForCausalLM"] and mask.steps == 2
    assert result.manifest["gradient_mask"] == {"kind": "row-mask", "rows": [0]}
    weights = adapter_tensors(result.out)
    down_b = [k for k in weights if "down_proj.lora_B" in k]
    assert len(down_b) == 2  # one per layer of the tiny model
    for k in down_b:
        assert torch.count_nonzero(weights[k][0]) == 0  # the masked row never moved from its zero init
        assert torch.count_nonzero(weights[k][1:]) > 0  # the rest trained
    with pytest.raises(TypeError, match="attach"):
        train_sports("coastal", tmp_path / "bad", model=str(tiny_model_dir), config=tiny_config(),
                     gradient_mask=object(), log=quiet)


def test_config_defaults_follow_the_paper():
    c = TrainConfig()
    assert (c.rank, c.learning_rate, c.epochs, c.alpha, c.weight_decay) == (32, 2e-4, 4.0, 64.0, 0.0)
    assert c.target_modules == "all-linear"
    assert TrainConfig(rank=8).alpha == 16.0
    with pytest.raises(PolistanceError, match="rank=0"):
        TrainConfig(rank=0)
    with pytest.raises(PolistanceError, match="max_steps"):
        TrainConfig(max_steps=0)
