"""Shared fixtures: the embedded model's tokenizer on a tiny randomly initialised Llama.

The tiny model has the real vocabulary, digit tokens and chat template, so every code path
(template, option tokens, padding) is the real one; only the weights are small and random.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    """The real embedded model, prepared once into the cache (about 25 s the first time)."""
    from polistance_plugins import models

    return models.prepare(models.DEFAULT_MODEL, log=lambda m: None)


def build_tiny_model(out: Path, tokenizer_dir: Path, seed: int = 0, layers: int = 2) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    # Spread the output scores so distributions are far from uniform (random init is near-flat).
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(40.0)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer random Llama with the embedded model's tokenizer and chat template."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), embedded_dir)


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir):
    from polistance_plugins.backends.hf import LocalBackend

    return LocalBackend(str(tiny_model_dir), batch_size=4)
