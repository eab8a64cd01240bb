"""Training on several processes (``accelerate launch`` / ``torchrun``): the process group on GPUs
(NCCL) or, on a machine without CUDA, on CPUs (gloo); which process is the main one (it alone
prepares the output folder, prints and writes the manifest); and gathering what every process saw."""

from __future__ import annotations

import os


def cpu_processes() -> bool:
    """Several processes on a machine without CUDA: data parallel on CPUs over gloo."""
    import torch

    return not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def fsdp_requested() -> bool:
    """Whether the launcher asked for FSDP (``accelerate launch --use_fsdp`` or a config file saying so)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true", "yes")


def process_state():
    """accelerate's ``PartialState`` for this process (the process group is set up on first use)."""
    from accelerate import PartialState

    return PartialState(cpu=cpu_processes())


def is_main_process() -> bool:
    """Whether this is the process that prints and writes (always true without a launcher)."""
    return process_state().is_main_process


def placement(state) -> dict:
    """Where training runs, for the manifest: device, number of processes, how they are joined."""
    return {"device": str(state.device), "world_size": int(state.num_processes),
            "distributed_type": str(state.distributed_type).split(".")[-1], "backend": state.backend}


def gather(value) -> list:
    """``value`` from every process, in process order (a one-item list without a launcher)."""
    state = process_state()
    if state.num_processes == 1:
        return [value]
    from accelerate.utils import gather_object

    return gather_object([value])
