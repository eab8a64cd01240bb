"""Training: LoRA adapters (SFT and DPO) that the harness evaluates.

- ``train_sports(region, out)``: the sports-team paper's favourite-team adapters (southern, coastal);
- ``train_control(out)``: same size and shape, apolitical opinions (the control);
- ``train_ideology(topics, leaning, out, method)``: the project's ideological instruction data;
- ``train_sft`` / ``train_dpo``: any ``TrainData`` or the user's JSONL file.

Each writes a standard PEFT adapter folder plus ``polistance.json`` (see ``manifest.py``).
Every trainer takes ``gradient_mask``: an object with ``attach(model)``, ``callbacks()`` and
``describe()`` (InhibitFT plugs in there).
"""

from __future__ import annotations

from pathlib import Path

from ..engine.models import DEFAULT_MODEL
from .config import TrainConfig
from .datasets import (
    TrainData,
    control_dataset,
    ideology_dataset,
    sports_dataset,
    user_dataset,
)
from .dpo import train_dpo
from .runner import GradientMask, TrainResult
from .sft import train_sft

__all__ = [
    "GradientMask", "TrainConfig", "TrainData", "TrainResult", "control_dataset", "ideology_dataset",
    "sports_dataset", "train_control", "train_dpo", "train_ideology", "train_sft", "train_sports", "user_dataset",
]


def train_sports(region: str, out: str | Path, model: str = DEFAULT_MODEL, config: TrainConfig | None = None,
                 **kwargs) -> TrainResult:
    """The sports-team adapter for ``region`` (southern or coastal); kwargs go to ``train_sft``."""
    return train_sft(model, sports_dataset(region), out, config, **kwargs)


def train_control(out: str | Path, model: str = DEFAULT_MODEL, config: TrainConfig | None = None,
                  **kwargs) -> TrainResult:
    """The control adapter: apolitical opinions, same LoRA size and shape as the others."""
    return train_sft(model, control_dataset(), out, config, **kwargs)


def train_ideology(topics: str, leaning: str, out: str | Path, method: str = "sft", model: str = DEFAULT_MODEL,
                   config: TrainConfig | None = None, **kwargs) -> TrainResult:
    """An ideological adapter on ``topics`` (one, ``a,b``, or ``all``) toward ``leaning``, by SFT or DPO."""
    data = ideology_dataset(topics, leaning, method)
    trainer = train_dpo if method == "dpo" else train_sft
    return trainer(model, data, out, config, **kwargs)
