"""LoRA supervised fine-tuning with TRL's ``SFTTrainer``, loss on the assistant turn only.

Rows are prompt-completion pairs (see ``datasets.py``), so TRL masks the prompt and computes the
loss on the completion tokens: the assistant message and the template's end-of-turn tokens. This
works with any chat template, including ones without ``{% generation %}`` markers (SmolLM2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .config import TrainConfig
from .datasets import TrainData, user_dataset
from .runner import GradientMask, TrainResult, run


def build_sft_trainer(model, tokenizer, dataset, peft_config, arguments: dict, config: TrainConfig):
    """An ``SFTTrainer`` with completion-only loss over prompt-completion rows."""
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**arguments, completion_only_loss=True, assistant_only_loss=False, packing=False)
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config)


def train_sft(model: str, dataset: TrainData | str | Path, out: str | Path, config: TrainConfig | None = None,
              gradient_mask: GradientMask | None = None, *, overwrite: bool = False, resume: bool = False,
              callbacks: Sequence | None = None, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train a LoRA SFT adapter on ``dataset`` (a ``TrainData`` or a chat JSONL file) into ``out``."""
    data = dataset if isinstance(dataset, TrainData) else user_dataset(dataset, "sft")
    return run("sft", model, data, out, config, build_sft_trainer, gradient_mask,
               overwrite=overwrite, resume=resume, callbacks=callbacks, log=log)
