"""Hyperparameters of one LoRA training run, with the defaults the project documents.

Defaults follow the sports-team paper (Terry 2025, sec. 4.1: LoRA rank 32, learning rate 2e-4,
4 epochs, "the Together AI API's defaults for all other hyperparameters"). The Together fine-tuning
client's defaults fill the rest: ``lora_alpha = 2 * rank``, LoRA dropout 0, trainable modules
``all-linear``, linear schedule without warmup, gradient clipping at 1.0 and no weight decay.
``all-linear`` also puts LoRA on every MLP ``down_proj``, which the InhibitFT gradient mask needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

from ..errors import PolistanceError

METHODS = ("sft", "dpo")


@dataclass
class TrainConfig:
    """Every knob of a run; ``alpha=None`` means twice the rank, ``max_steps=None`` means whole epochs."""

    epochs: float = 4.0
    learning_rate: float = 2e-4
    rank: int = 32
    alpha: float | None = None
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    batch_size: int = 8
    grad_accum: int = 1
    max_steps: int | None = None
    seed: int = 0
    weight_decay: float = 0.0
    lr_scheduler: str = "linear"
    warmup: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 1024
    save_steps: int | None = None
    beta: float = 0.1
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.alpha is None:
            self.alpha = 2.0 * self.rank
        self.validate()

    def validate(self) -> None:
        """Reject values no trainer can use, naming the setting (CLI flags share these names)."""
        positive = {"epochs": self.epochs, "learning_rate": self.learning_rate, "rank": self.rank,
                    "alpha": self.alpha, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "max_length": self.max_length, "beta": self.beta}
        for name, value in positive.items():
            if not value > 0:
                raise PolistanceError(f"training setting {name}={value!r}: must be positive")
        for name in ("max_steps", "save_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise PolistanceError(f"training setting {name}={value!r}: must be a positive integer or unset")
        if not 0.0 <= self.dropout < 1.0:
            raise PolistanceError(f"training setting dropout={self.dropout!r}: must be in [0, 1)")
        if self.weight_decay < 0 or self.warmup < 0 or self.max_grad_norm < 0:
            raise PolistanceError("training settings weight_decay, warmup and max_grad_norm must not be negative")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise PolistanceError(f"training setting precision={self.precision!r}: auto, fp32 or bf16")

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of every setting (the manifest records it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Inverse of ``to_dict``; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise PolistanceError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**values)

    def differences(self, other: "TrainConfig") -> list[str]:
        """Settings that differ between two configs, as ``name: a != b`` strings."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if a[k] != b[k]]
