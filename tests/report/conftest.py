"""Fixtures of the report tests: PEFT adapters made on the tiny model."""

from pathlib import Path

import pytest


def make_adapter(base_dir: Path, out: Path, seed: int, scale: float = 0.5) -> Path:
    """A LoRA adapter on the tiny model with lora_A and lora_B drawn at random (seeded), so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    torch.manual_seed(seed)  # lora_A is initialised from the global generator: same adapter whatever ran before
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {name: make_adapter(tiny_model_dir, root / name, seed) for name, seed in (("tuned", 1), ("control", 2))}
