"""Stance tracked during training: a ``TrainerCallback`` that scores questionnaire banks on the model
being trained every N optimiser steps and at the end, and writes the trajectory (``trajectory.py``).

Scoring is the engine's: ``LocalBackend.around`` wraps the model in training, ``distributions`` gives
the exact digit distributions with the prompts' shared prefix computed once per batch, and the base
model's answers (adapters disabled) are the reference every step is compared with.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from ..banks import load_bank
from ..core import DIGITS
from ..core.records import DEFAULT_MIN_MASS
from ..errors import PolistanceError
from ..instruments.questionnaire import bank_forms, directions_for
from .trajectory import (
    PLOT,
    TRAJECTORY,
    losses_by_step,
    plot_trajectory,
    read_trajectory,
    stance_rows,
    with_losses,
    write_trajectory,
)

DEFAULT_EVERY = 4
"""Score every 4 optimiser steps by default: about three points per epoch of the sports adapters."""


def parse_banks(value: str | Sequence[str]) -> tuple[str, ...]:
    """``--track terry9,topics``: bank names, each checked to load and to hold rated items."""
    names = [b.strip() for b in (value.split(",") if isinstance(value, str) else value) if b.strip()]
    if not names:
        raise PolistanceError("--track: give at least one bank (e.g. terry9)")
    for name in names:
        if not bank_forms(load_bank(name)):
            raise PolistanceError(f"--track {name}: the bank has no rated items to score")
    return tuple(dict.fromkeys(names))


def tracker(banks: Sequence[str], every: int = DEFAULT_EVERY, batch_size: int = 16, min_mass: float = DEFAULT_MIN_MASS,
            log: Callable[[str], None] | None = None):
    """A ``StanceTracker`` callback (built here so that importing this module needs no transformers)."""
    from transformers import TrainerCallback

    if not isinstance(every, int) or every < 1:
        raise PolistanceError(f"--track-every {every!r}: must be a positive number of steps")

    class StanceTracker(TrainerCallback):
        """Scores the banks at step 0 (the base), every ``every`` steps and at the last step."""

        def __init__(self):
            self.banks = tuple(banks)
            self.every = every
            self.forms = {}
            for name in self.banks:
                bank = load_bank(name)
                self.forms[bank.name] = bank_forms(bank, "all", directions_for(bank, "auto"))
            self.rows: list[dict] = []
            self.base: dict[str, list] = {}
            self.scored: set[int] = set()
            self.seconds = 0.0
            self.out: Path | None = None

        def _backend(self, model, tokenizer):
            from ..engine.backends.hf import LocalBackend

            return LocalBackend.around(model, tokenizer, "model in training", batch_size=batch_size)

        def _score(self, model, tokenizer, step: int) -> None:
            import contextlib

            t = time.perf_counter()
            backend = self._backend(model, tokenizer)
            was_training = model.training
            model.eval()
            try:
                if not self.base:
                    off = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
                    with off:
                        self.base = {b: backend.distributions([f.prompt() for f in fs], DIGITS, share_prefix=True)
                                     for b, fs in self.forms.items()}
                for b, fs in self.forms.items():
                    dists = backend.distributions([f.prompt() for f in fs], DIGITS, share_prefix=True)
                    self.rows += stance_rows(step, b, fs, dists, self.base[b], min_mass)
            finally:
                if was_training:
                    model.train()
            self.scored.add(step)
            write_trajectory(self.out, self.rows)  # so far (an interrupted run keeps its points)
            self.seconds += time.perf_counter() - t

        def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
            if not state.is_world_process_zero:
                return
            self.out = Path(args.output_dir).parent
            if state.global_step > 0:  # resumed: keep the points scored before the interruption
                earlier = [r for r in read_trajectory(self.out) or [] if r["step"] <= state.global_step]
                self.rows, self.scored = earlier, {r["step"] for r in earlier}
            if state.global_step not in self.scored:
                self._score(model, processing_class, state.global_step)

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            if state.is_world_process_zero and state.global_step % self.every == 0 and state.global_step not in self.scored:
                self._score(model, processing_class, state.global_step)

        def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            if not state.is_world_process_zero:
                return
            if state.global_step not in self.scored:
                self._score(model, processing_class, state.global_step)
            self.rows = with_losses(self.rows, losses_by_step(state.log_history))
            write_trajectory(self.out, self.rows)
            plot_trajectory(self.rows, self.out / PLOT, title=f"Stance during training: {self.out.name}")
            if log:
                log(f"tracked {', '.join(self.banks)} at {len(self.scored)} steps in {self.seconds:.1f} s -> {self.out / TRAJECTORY}")

        def manifest_entry(self) -> dict:
            """What the adapter's ``polistance.json`` records about the tracking."""
            return {"banks": list(self.banks), "every": self.every, "steps": sorted(self.scored),
                    "forms": {b: len(fs) for b, fs in self.forms.items()}, "min_mass": min_mass,
                    "files": [TRAJECTORY, PLOT], "seconds": round(self.seconds, 3)}

    return StanceTracker()
