"""Fixtures for the neuron tests: LoRA adapters with randomised lora_B on the tiny Llama."""

from __future__ import annotations

from pathlib import Path

import pytest

MLP_ONLY = ["gate_proj", "up_proj", "down_proj"]


def make_adapter(model_dir: Path, out: Path, target_modules, seed: int = 0, scale: float = 0.5) -> Path:
    """Save a LoRA adapter whose lora_B is random (a fresh one would be a no-op)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=target_modules, lora_dropout=0.0))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    peft.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def mlp_adapter_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """An adapter that changes only the MLP blocks (LoRA on gate/up/down projections)."""
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("mlp-adapter"), MLP_ONLY, seed=1)


@pytest.fixture(scope="session")
def hidden_adapter_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """An adapter on gate/up only: it changes the MLP's intermediate activation, not down_proj."""
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("hidden-adapter"), ["gate_proj", "up_proj"], seed=2)


@pytest.fixture(scope="session")
def attn_adapter_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """An adapter on attention and MLP (all-linear): changes activations everywhere."""
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("all-adapter"), "all-linear", seed=3, scale=0.3)


@pytest.fixture()
def backend(tiny_model_dir):
    """A fresh backend per test (adapters get loaded into it)."""
    from polistance_plugins.engine.backends.hf import LocalBackend

    return LocalBackend(str(tiny_model_dir), batch_size=4)
