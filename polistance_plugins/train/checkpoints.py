"""Which checkpoint a training ``--resume`` continues from: the newest *complete* one. A kill
during a save leaves a ``checkpoint-N`` folder with only some of its files (a README, weights
without the trainer state); resuming from it would fail or silently start a fresh optimizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

CHECKPOINT_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin")
CHECKPOINT_STATE = ("optimizer.pt", "scheduler.pt")


def checkpoint_problem(folder: Path) -> str | None:
    """Why a ``checkpoint-N`` folder cannot be resumed from, or None when it is complete.

    The trainer writes the weights, then the optimizer and scheduler, then ``trainer_state.json``
    last: a complete checkpoint has all of them, and a state file that reads and names step N."""
    state_file = folder / "trainer_state.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return f"no readable trainer_state.json ({type(e).__name__})"
    step = folder.name.rpartition("-")[2]
    if not isinstance(state, dict) or str(state.get("global_step")) != step:
        return f"trainer_state.json does not describe step {step}"
    if not any((folder / f).is_file() and (folder / f).stat().st_size > 0 for f in CHECKPOINT_WEIGHTS):
        return "no weights file"
    missing = [f for f in CHECKPOINT_STATE if not (folder / f).is_file()]
    return f"missing {', '.join(missing)}" if missing else None


def last_complete_checkpoint(ckpts: Path, log: Callable[[str], None]) -> str | None:
    """The newest complete ``checkpoint-N`` in ``ckpts``; newer incomplete ones (a kill during a
    save) are named in the log and removed, so the trainer's later saves start clean."""
    numbered = sorted((int(p.name.rpartition("-")[2]), p) for p in ckpts.glob("checkpoint-*")
                      if p.is_dir() and p.name.rpartition("-")[2].isdigit())
    for _, folder in reversed(numbered):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        log(f"{folder.name} is incomplete ({problem}; killed during a save?): removed, resuming from an earlier one")
        shutil.rmtree(folder, ignore_errors=True)
    return None
