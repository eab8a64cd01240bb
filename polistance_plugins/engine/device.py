"""Where local work runs: how many CPU threads torch should use on a shared machine."""

from __future__ import annotations


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
