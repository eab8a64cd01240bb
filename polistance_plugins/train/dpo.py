"""LoRA preference training with TRL's ``DPOTrainer`` (PoliTune's approach).

The reference policy is the base model itself: TRL computes it by disabling the adapter, so no
second copy of the model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .config import TrainConfig
from .datasets import TrainData, user_dataset
from .runner import GradientMask, TrainResult, run


def build_dpo_trainer(model, tokenizer, dataset, peft_config, arguments: dict, config: TrainConfig):
    """A ``DPOTrainer`` with the sigmoid DPO loss at ``config.beta``."""
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**arguments, beta=config.beta, loss_type=["sigmoid"])
    return DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config)


def train_dpo(model: str, dataset: TrainData | str | Path, out: str | Path, config: TrainConfig | None = None,
              gradient_mask: GradientMask | None = None, *, overwrite: bool = False, resume: bool = False,
              callbacks: Sequence | None = None, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train a LoRA DPO adapter on ``dataset`` (a ``TrainData`` or a prompt/chosen/rejected JSONL) into ``out``."""
    data = dataset if isinstance(dataset, TrainData) else user_dataset(dataset, "dpo")
    return run("dpo", model, data, out, config, build_dpo_trainer, gradient_mask,
               overwrite=overwrite, resume=resume, callbacks=callbacks, log=log)
