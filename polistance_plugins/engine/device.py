"""Where local work runs: the device and precision a model loads in, the largest batch that fits
(backing off on out-of-memory), and how many CPU threads torch should use on a shared machine.

``auto`` means: CUDA, else Apple's MPS, else the CPU; bf16 on a GPU that supports it (fp16 on one
that does not, and on MPS), fp32 on the CPU, where results are reproducible to the last bit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..errors import PolistanceError

DTYPES = ("auto", "bfloat16", "float16", "float32")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
AUTO = "auto"
AUTO_BATCH_START = {"cuda": 256, "mps": 64, "cpu": 32}
"""Where ``--batch-size auto`` starts before halving on out-of-memory (a CPU never runs out, so the
start is the batch size there)."""
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Placement:
    """Where a model's weights live and in what precision, as asked (``auto`` allowed).

    ``device_map="auto"`` spreads a model larger than one GPU over every GPU (and the CPU) through
    accelerate; inputs then go to the device of its first layer."""

    device: str = AUTO
    dtype: str = AUTO
    device_map: str | None = None

    def __post_init__(self):
        check_device(self.device)
        if self.dtype not in DTYPES:
            raise PolistanceError(f"--dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}")
        if self.device_map is not None and self.device_map not in DEVICE_MAPS:
            raise PolistanceError(f"--device-map {self.device_map!r}: expected one of {', '.join(DEVICE_MAPS)}")


def check_device(spec: str) -> str:
    """``spec`` if it names a device (auto, cpu, cuda, cuda:N, mps), else a user error."""
    if not isinstance(spec, str) or not _DEVICE.match(spec):
        raise PolistanceError(f"--device {spec!r}: expected auto, cpu, cuda, cuda:N or mps")
    return spec


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str = AUTO) -> str:
    """The device to load on: ``auto`` picks CUDA, then MPS, then the CPU; a device that is not
    there is a user error (never a silent fall-back to the CPU)."""
    import torch

    check_device(spec)
    if spec == AUTO:
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if _mps_available(torch) else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PolistanceError(f"--device {spec}: no CUDA device on this machine (torch {torch.__version__}); use --device cpu")
        index = int(spec.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise PolistanceError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return f"cuda:{index}"
    if spec == "mps" and not _mps_available(torch):
        raise PolistanceError("--device mps: MPS is not available on this machine; use --device cpu")
    return spec


def resolve_dtype(spec: str, device: str) -> str:
    """The precision to load in: ``auto`` is bf16 on a GPU that supports it, fp16 on other GPUs
    and MPS, fp32 on the CPU."""
    import torch

    if spec not in DTYPES:
        raise PolistanceError(f"--dtype {spec!r}: expected one of {', '.join(DTYPES)}")
    if spec != AUTO:
        return spec
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float16" if device == "mps" else "float32"


def resolve(placement: Placement) -> tuple[str, str]:
    """(device, dtype) with ``auto`` settled. Under ``device_map`` the device is where inputs start."""
    device = resolve_device(placement.device)
    return device, resolve_dtype(placement.dtype, device)


def device_kind(device) -> str:
    """``cuda``, ``mps`` or ``cpu`` for a device name or ``torch.device``."""
    return str(device).split(":")[0]


# ---- batch sizes ---------------------------------------------------------------------------------
def parse_batch_size(value) -> int | str:
    """``--batch-size``: a whole number of at least 1, or ``auto``."""
    if value == AUTO or value is None:
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PolistanceError(f"--batch-size {value!r}: expected a whole number or auto") from None
    if number < 1:
        raise PolistanceError(f"--batch-size {value}: must be at least 1")
    return number


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a device running out of memory (CUDA, MPS or the CPU allocator)."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(error, oom):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_memory() -> None:
    """Give cached device memory back after an out-of-memory error, so the next try starts clean."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and _mps_available(torch):
        mps.empty_cache()


def largest_fitting_batch(try_batch: Callable[[int], None], start: int, log: Callable[[str], None] | None = None) -> int:
    """The first of ``start``, ``start/2``, ... , 1 for which ``try_batch(size)`` runs without running
    out of memory (lm-eval's ``batch_size=auto`` rule). Other errors pass through."""
    size = max(1, int(start))
    while True:
        try:
            try_batch(size)
            return size
        except Exception as e:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_out_of_memory(e):
                raise
            release_memory()
            if size == 1:
                raise PolistanceError("out of memory even at batch size 1: use --dtype bfloat16, --device-map auto "
                                      "or a device with more memory") from None
            if log:
                log(f"batch size {size}: out of memory, trying {size // 2}")
            size //= 2


# ---- CPU threads ---------------------------------------------------------------------------------
def auto_threads() -> int:
    """One torch thread per idle core. Using every core (torch's default) stalls when other processes
    hold some of them: on this 2-core machine at load 9, a step took 6x longer with 2 threads than with 1."""
    import os

    import torch

    cores = torch.get_num_threads()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return max(1, min(cores, int((os.cpu_count() or cores) - busy + 0.5)))
