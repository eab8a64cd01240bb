"""One LoRA training run, shared by SFT and DPO: output folder, base model, TRL trainer, manifest, summary.

The method modules (``sft.py``, ``dpo.py``) only say how to build their TRL trainer; everything
else (refusing or resuming an output folder, the LoRA configuration, seeds, checkpoints, the
gradient-mask plug point, progress, ``polistance.json``) happens here, once.

Folder layout of a finished run: the standard PEFT files (``adapter_config.json``,
``adapter_model.safetensors``) with the tokenizer, plus ``polistance.json``. While training,
``checkpoints/`` holds the last checkpoint (for ``--resume``); it is removed when the run completes.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

from ..errors import PolistanceError
from .checkpoints import last_complete_checkpoint
from .config import TrainConfig
from .datasets import TrainData
from .distributed import cpu_processes, fsdp_requested, gather, placement, process_state
from .manifest import (
    MANIFEST,
    finish_manifest,
    read_manifest,
    resume_differences,
    start_manifest,
    write_manifest,
)

CHECKPOINTS = "checkpoints"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


@runtime_checkable
class GradientMask(Protocol):
    """What the trainers need from a gradient mask (InhibitFT): hooks on the PEFT model, callbacks, a description."""

    def attach(self, model) -> None: ...

    def callbacks(self) -> list: ...

    def describe(self) -> dict: ...


@dataclass(frozen=True)
class TrainResult:
    """Where the adapter went and how training went."""

    out: Path
    method: str
    steps: int
    final_loss: float | None
    wall_seconds: float
    tokens_seen: int
    manifest: dict

    def summary(self) -> str:
        """The one line printed at the end of a run."""
        loss = "n/a" if self.final_loss is None else f"{self.final_loss:.4f}"
        mins, secs = divmod(int(round(self.wall_seconds)), 60)
        return (f"trained {self.manifest['dataset']['id']} ({self.method}): {self.steps} steps, final loss {loss}, "
                f"{mins}m{secs:02d}s, saved to {self.out}")


# ---- output folder ----------------------------------------------------------------------------
def _is_training_folder(folder: Path) -> bool:
    return (folder / MANIFEST).is_file() or (folder / CHECKPOINTS).is_dir() or any(
        (folder / f).is_file() for f in ADAPTER_FILES)


def prepare_output(out: Path, overwrite: bool, resume: bool, log: Callable[[str], None] = lambda m: None) -> str | None:
    """Make ``out`` ready; returns the checkpoint to resume from (None = start at step 0).

    A non-empty folder is refused unless ``overwrite`` (and then only if it is a training folder,
    so a typo cannot wipe unrelated files) or ``resume`` (which needs an unfinished run, and resumes
    from its newest complete checkpoint).
    """
    if overwrite and resume:
        raise PolistanceError("--overwrite and --resume exclude each other")
    if resume:
        recorded = read_manifest(out)
        if not out.is_dir() or recorded is None:
            raise PolistanceError(f"--resume: {out} holds no polistance training run ({MANIFEST} missing)")
        if recorded.get("status") == "complete":
            raise PolistanceError(f"--resume: the run in {out} already finished; use --overwrite to train it again")
        ckpts = out / CHECKPOINTS
        return last_complete_checkpoint(ckpts, log) if ckpts.is_dir() else None
    if out.exists() and not out.is_dir():
        raise PolistanceError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise PolistanceError(f"--out {out}: already exists; pass --overwrite to replace it "
                                  "(or --resume to continue an interrupted run)")
        if not _is_training_folder(out):
            raise PolistanceError(f"--overwrite: refusing to delete {out}, which is not an adapter folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return None


# ---- model and trainer settings ---------------------------------------------------------------
def lora_settings(config: TrainConfig) -> dict:
    """The LoRA part of the configuration, JSON-ready (the manifest records it)."""
    return {"r": config.rank, "lora_alpha": float(config.alpha), "lora_dropout": config.dropout,
            "target_modules": config.target_modules, "bias": "none", "task_type": "CAUSAL_LM"}


def lora_config(config: TrainConfig):
    """PEFT ``LoraConfig`` for a run."""
    from peft import LoraConfig

    return LoraConfig(**lora_settings(config))


def use_bf16(config: TrainConfig) -> bool:
    """bf16 mixed precision on GPUs that support it (``auto``), fp32 on CPU for exact reproducibility."""
    import torch

    if config.precision == "bf16":
        return True
    if config.precision == "fp32":
        return False
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def trainer_arguments(config: TrainConfig, out: Path) -> dict:
    """Arguments shared by ``SFTConfig`` and ``DPOConfig`` (both ``TrainingArguments``)."""
    import dataclasses

    import torch
    from transformers import TrainingArguments

    bf16 = use_bf16(config)
    # transformers 5 renamed gradient checkpointing to activation checkpointing (old name deprecated)
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return dict(
        output_dir=str(out / CHECKPOINTS),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        data_seed=config.seed,
        max_length=config.max_length,
        logging_steps=1,
        save_strategy="steps" if config.save_steps else "epoch",
        save_steps=config.save_steps or 500,
        save_total_limit=1,
        report_to="none",
        bf16=bf16,
        fp16=False,
        **{checkpointing: config.gradient_checkpointing},
        include_num_input_tokens_seen="non_padding",
        use_cpu=cpu_processes(),  # several processes without CUDA: DDP over gloo
        ddp_backend="gloo" if cpu_processes() else None,
        ddp_find_unused_parameters=False,  # LoRA: every trainable parameter takes part in every step
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,
    )


def load_base(path: str):
    """Tokenizer and fp32 model of the base; a missing or broken model is a user error."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise PolistanceError(f"--model {path}: cannot load ({str(e).splitlines()[0][:300]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise PolistanceError(f"--model {path}: the tokenizer has no chat template; chat training data needs one")
    return model, tokenizer


def _loss_bar_callback():
    from transformers.trainer_callback import ProgressCallback

    class LossBar(ProgressCallback):
        """The trainer's progress bar, with the latest loss in the bar instead of a printed dict per step."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and self.training_bar is not None and logs and "loss" in logs:
                self.training_bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    return LossBar


@contextlib.contextmanager
def _quiet_dataset_bars():
    """Dataset preprocessing bars add nothing next to the training bar: hide them for the run."""
    import datasets

    was = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()


@contextlib.contextmanager
def _no_checkpointing_notice():
    """Hide transformers' deprecation notice for ``is_gradient_checkpointing``, which PEFT's own
    check raises on every run (nothing the user can act on)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def plan(n_examples: int, config: TrainConfig, world_size: int = 1) -> dict:
    """Steps the run will take (the trainer's own arithmetic: whole batches, last one partial)."""
    per_epoch = math.ceil(n_examples / (config.batch_size * world_size)) // config.grad_accum or 1
    total = config.max_steps or math.ceil(config.epochs * per_epoch)
    return {"n_examples": n_examples, "world_size": world_size, "steps_per_epoch": per_epoch, "total_steps": total}


def prepare_fsdp(trainer) -> None:
    """FSDP with PEFT (as PEFT documents it): trainable and frozen parameters wrapped apart."""
    from peft.utils.other import fsdp_auto_wrap_policy

    plugin = trainer.accelerator.state.fsdp_plugin
    if not getattr(plugin, "use_orig_params", False):
        plugin.auto_wrap_policy = fsdp_auto_wrap_policy(trainer.model)


def merge_verifications(per_process: list[dict]) -> dict:
    """The main process's mask verification, unchanged only when every process's rows stayed put."""
    merged = dict(per_process[0])
    if len(per_process) > 1:
        merged["rows_verified_unchanged"] = all(v.get("rows_verified_unchanged") for v in per_process)
        merged["per_process"] = per_process
    return merged


# ---- the run ----------------------------------------------------------------------------------
BuildTrainer = Callable[..., object]


def run(method: str, model: str, data: TrainData, out: str | Path, config: TrainConfig | None,
        build_trainer: BuildTrainer, gradient_mask: GradientMask | None = None, *, overwrite: bool = False,
        resume: bool = False, callbacks: Sequence | None = None, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train a LoRA adapter on ``data`` into ``out`` with the trainer ``build_trainer`` makes."""
    from ..engine import models

    session_start = time.monotonic()
    log = log or (lambda m: print(m, file=sys.stderr))
    config = config or TrainConfig()
    config.validate()
    if data.method != method:
        raise PolistanceError(f"dataset {data.id} is {data.method} data; it cannot train a {method} adapter")
    if len(data) == 0:
        raise PolistanceError(f"dataset {data.id} has no examples")
    if gradient_mask is not None and not isinstance(gradient_mask, GradientMask):
        raise TypeError("gradient_mask must provide attach(model), callbacks() and describe()")
    if gradient_mask is not None and fsdp_requested():
        raise PolistanceError("a gradient mask (InhibitFT) pins rows of whole parameters, which FSDP shards: "
                              "train it with DDP (accelerate launch without --use_fsdp)")
    out = Path(out)
    state = process_state()
    path = models.resolve(model)
    base = {"id": model, "path": str(path), "weights_sha256": models.weights_hash(str(path))}
    manifest = start_manifest(method, base, data.describe(), config.to_dict(), lora_settings(config),
                              gradient_mask.describe() if gradient_mask is not None else None,
                              plan(len(data), config, state.num_processes), placement(state))
    checkpoint = None
    if state.is_main_process:
        checkpoint = prepare_output(out, overwrite, resume, log)
        if resume:
            recorded = read_manifest(out)
            diffs = resume_differences(recorded, manifest)
            if diffs:
                raise PolistanceError(f"--resume {out}: the run was started with different settings: " + "; ".join(diffs))
            manifest["started"] = recorded.get("started", manifest["started"])
            manifest["wall_time_seconds"] = recorded.get("wall_time_seconds", 0.0)
        write_manifest(out, manifest)
    state.wait_for_everyone()
    if resume and not state.is_main_process:
        checkpoint = prepare_output(out, False, True)
    if resume:
        log(f"resuming from {checkpoint}" if checkpoint else f"no checkpoint in {out / CHECKPOINTS} yet: starting over")

    model_obj, tokenizer = load_base(str(path))
    with _quiet_dataset_bars(), _no_checkpointing_notice():
        trainer = build_trainer(model=model_obj, tokenizer=tokenizer, dataset=data.to_hf(), peft_config=lora_config(config),
                                arguments=trainer_arguments(config, out), config=config)
    fsdp = bool(getattr(trainer, "is_fsdp_enabled", False))
    if fsdp:
        prepare_fsdp(trainer)
    if gradient_mask is not None:
        gradient_mask.attach(trainer.model)
        for cb in gradient_mask.callbacks():
            trainer.add_callback(cb)
    for cb in callbacks or ():
        trainer.add_callback(cb)
    from transformers.trainer_callback import ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_loss_bar_callback())

    with _no_checkpointing_notice():
        output = trainer.train(resume_from_checkpoint=checkpoint)
    if fsdp:  # gather the sharded LoRA weights so the folder is a plain PEFT adapter
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(out))
    result_manifest = finish_manifest(
        manifest, trainer.state.log_history, trainer.state.global_step, int(trainer.state.num_input_tokens_seen or 0),
        session_seconds=time.monotonic() - session_start, train_seconds=float(output.metrics.get("train_runtime", 0.0)))
    for cb in callbacks or ():  # what a callback did, in its own words (stance tracking: its steps and files)
        entry = getattr(cb, "manifest_entry", None)
        if callable(entry):
            result_manifest["tracking"] = entry()
    verification = getattr(gradient_mask, "verification", None)
    if callable(verification):  # what the mask did (InhibitFT: rows pinned, steps checked, rows unchanged), per process
        result_manifest["gradient_mask_verification"] = merge_verifications(gather(verification()))
    if state.is_main_process:
        write_manifest(out, result_manifest)
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    state.wait_for_everyone()
    return TrainResult(out=out, method=method, steps=result_manifest["steps"], final_loss=result_manifest["final_loss"],
                       wall_seconds=result_manifest["wall_time_seconds"], tokens_seen=result_manifest["tokens_seen"],
                       manifest=result_manifest)
