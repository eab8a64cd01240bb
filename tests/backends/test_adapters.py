"""Adapters: switched in place against one loaded base, and bad adapter folders give clear errors."""

import json

import pytest
import torch

from polistance_plugins.engine.backends.hf import LocalBackend
from polistance_plugins.errors import PolistanceError
from polistance_plugins.core import DIGITS
from tests.conftest import build_tiny_model

PROMPTS = ["On a scale of 0-9, how much do you like tea? Give only a number, no elaboration."]


def make_adapter(model_dir, out, seed=0, targets="all-linear"):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=targets, init_lora_weights=False))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft.save_pretrained(out)
    return out


def test_adapters_switch_without_reloading_the_base(tiny_model_dir, tmp_path):
    backend = LocalBackend(str(tiny_model_dir))
    base_before = backend.distributions(PROMPTS, DIGITS)[0].probs
    model_obj = backend.model
    backend.load_adapter("a", str(make_adapter(tiny_model_dir, tmp_path / "a", seed=1)))
    backend.load_adapter("b", str(make_adapter(tiny_model_dir, tmp_path / "b", seed=2)))
    with backend.use("a"):
        pa = backend.distributions(PROMPTS, DIGITS)[0].probs
    with backend.use("b"):
        pb = backend.distributions(PROMPTS, DIGITS)[0].probs
    with backend.use(None):
        p0 = backend.distributions(PROMPTS, DIGITS)[0].probs
    assert backend.model is model_obj
    assert p0 == pytest.approx(base_before, abs=1e-7)
    assert pa != pytest.approx(p0, abs=1e-3) and pb != pytest.approx(pa, abs=1e-3)
    with backend.use("a"):
        assert backend.distributions(PROMPTS, DIGITS)[0].probs == pytest.approx(pa, abs=1e-7)


def test_missing_adapter_files_are_named(tiny_model_dir, tmp_path):
    backend = LocalBackend(str(tiny_model_dir))
    with pytest.raises(PolistanceError, match="not a folder"):
        backend.load_adapter("x", str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolistanceError, match="missing adapter_config.json"):
        backend.load_adapter("x", str(tmp_path / "empty"))
    good = make_adapter(tiny_model_dir, tmp_path / "good")
    (good / "adapter_model.safetensors").unlink()
    with pytest.raises(PolistanceError, match="missing adapter_model.safetensors"):
        backend.load_adapter("x", str(good))


def test_adapter_of_another_architecture_is_refused(tiny_model_dir, embedded_dir, tmp_path):
    other = build_tiny_model(tmp_path / "other", embedded_dir, seed=3, layers=3)
    cfg = json.loads((other / "config.json").read_text())
    cfg["hidden_size"] = 48
    cfg["intermediate_size"] = 96
    (other / "config.json").write_text(json.dumps(cfg))
    from transformers import AutoModelForCausalLM, LlamaConfig

    model = AutoModelForCausalLM.from_config(LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version", "dtype")}))
    model.save_pretrained(other)
    adapter = make_adapter(other, tmp_path / "wide")
    backend = LocalBackend(str(tiny_model_dir))
    with pytest.raises(PolistanceError, match="does not fit"):
        backend.load_adapter("wide", str(adapter))


def test_adapter_trained_on_other_base_weights_is_refused(tiny_model_dir, tmp_path):
    adapter = make_adapter(tiny_model_dir, tmp_path / "a")
    (adapter / "polistance.json").write_text(json.dumps({"base_model": {"weights_sha256": "0" * 64}}))
    backend = LocalBackend(str(tiny_model_dir))
    with pytest.raises(PolistanceError, match="trained on other base weights"):
        backend.load_adapter("a", str(adapter))
    from polistance_plugins.engine.models import weights_hash

    (adapter / "polistance.json").write_text(json.dumps({"base_model": {"weights_sha256": weights_hash(str(tiny_model_dir))}}))
    backend.load_adapter("a", str(adapter))
    assert "a" in backend.adapters


def test_shared_prefix_scoring_equals_plain_scoring_with_and_without_an_adapter(tiny_model_dir, tmp_path):
    """Judge prompts share long instructions: computing that prefix once per batch gives the same
    log-probabilities as computing every prompt in full, on the base and with an adapter active."""
    from polistance_plugins.instruments.elaboration import CODES, judge_prompt

    backend = LocalBackend(str(tiny_model_dir), batch_size=4)
    backend.load_adapter("a", str(make_adapter(tiny_model_dir, tmp_path / "a", seed=3)))
    replies = ["Because I like it.", "I meant 9.", "xx", "It is complicated, there are views on both sides.", "No."]
    contexts = [backend.chat_prompt(judge_prompt("On a scale of 0-9, how much do you like tea?", k, r, "logprob"))
                for k, r in enumerate(replies)]
    for adapter in (None, "a"):
        with backend.use(adapter):
            plain = backend.option_logprobs(contexts, CODES, share_prefix=False)
            saved = backend.shared_prefix_tokens
            shared = backend.option_logprobs(contexts, CODES, share_prefix=True)
        assert backend.shared_prefix_tokens - saved > 300 * 3  # batches of 4 and 1: the prefix computed once for 4
        assert sum(shared, []) == pytest.approx(sum(plain, []), abs=1e-4)
    with backend.use("a"):
        moved = backend.option_logprobs(contexts, CODES, share_prefix=True)
    assert max(abs(x - y) for ra, rb in zip(moved, plain) for x, y in zip(ra, rb)) < 1e-4
    with backend.use(None):
        base = backend.option_logprobs(contexts, CODES, share_prefix=True)
    assert max(abs(x - y) for ra, rb in zip(base, plain) for x, y in zip(ra, rb)) > 1e-3  # the adapter matters


def test_common_prefix_length_leaves_each_sequence_a_token():
    from polistance_plugins.engine.backends.prefix import common_prefix_length

    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the shorter one keeps its last token
    assert common_prefix_length([[7], [7]]) == 0
    assert common_prefix_length([[1, 2], [3, 4]]) == 0
