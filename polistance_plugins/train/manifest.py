"""``polistance.json``: what an adapter folder was trained from, with what, and how it went.

Written at the start of a run (``status: running``, used to check that ``--resume`` continues the
same run) and rewritten at the end (``status: complete`` with the loss curve and timings).
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from importlib import metadata
from pathlib import Path

from ..engine.runs import atomic_write, config_differences

MANIFEST = "polistance.json"
FORMAT_VERSION = 1
PACKAGES = ("polistance", "torch", "transformers", "peft", "trl", "accelerate", "datasets")
# Per-step values kept from the trainer's log (the DPO trainer adds its reward statistics).
STEP_KEYS = ("loss", "learning_rate", "grad_norm", "rewards/margins", "rewards/accuracies")


def package_versions() -> dict:
    """Installed versions of the packages that determine a training result."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def runtime(processes: dict | None = None) -> dict:
    """Where the run executes (explains its wall time; not part of the run's identity): the device,
    the number of processes and how they are joined (``distributed.placement``), threads, load."""
    import os

    import torch

    return {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "world_size": 1,
        **(processes or {}),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def identity(manifest: dict) -> dict:
    """The fields that must match for ``--resume`` to continue a run."""
    out = {
        "method": manifest["method"],
        "base_model_weights": manifest["base_model"]["weights_sha256"],
        "dataset_sha256": manifest["dataset"]["sha256"],
        "gradient_mask": manifest.get("gradient_mask"),
    }
    out.update({f"hyperparameters.{k}": v for k, v in manifest["hyperparameters"].items()})
    out.update({f"lora.{k}": v for k, v in manifest["lora"].items()})
    return out


def start_manifest(method: str, base_model: dict, dataset: dict, hyperparameters: dict, lora: dict,
                   gradient_mask: dict | None, plan: dict, processes: dict | None = None) -> dict:
    """The manifest of a run that is about to train."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": "polistance-lora-adapter",
        "status": "running",
        "method": method,
        "base_model": base_model,
        "dataset": dataset,
        "hyperparameters": hyperparameters,
        "seed": hyperparameters["seed"],
        "lora": lora,
        "gradient_mask": gradient_mask,
        "plan": plan,
        "packages": package_versions(),
        "runtime": runtime(processes),
        "started": now(),
        "wall_time_seconds": 0.0,
    }


def step_log(log_history: list[dict]) -> list[dict]:
    """One entry per optimisation step that logged a loss: step, epoch, loss and friends."""
    rows = []
    for entry in log_history:
        if "loss" not in entry or "step" not in entry:
            continue
        row = {"step": entry["step"], "epoch": entry.get("epoch")}
        row.update({k: entry[k] for k in STEP_KEYS if k in entry})
        rows.append(row)
    return rows


def finish_manifest(manifest: dict, log_history: list[dict], global_step: int, tokens_seen: int,
                    session_seconds: float, train_seconds: float) -> dict:
    """The manifest of a finished run: loss per step, totals and timings (summed over resumed sessions)."""
    steps = step_log(log_history)
    wall = float(manifest.get("wall_time_seconds") or 0.0) + session_seconds
    out = dict(manifest)
    out.update(
        status="complete",
        finished=now(),
        steps=global_step,
        final_loss=steps[-1]["loss"] if steps else None,
        train_loss=steps,
        tokens_seen=tokens_seen,
        wall_time_seconds=round(wall, 3),
        last_session={"wall_seconds": round(session_seconds, 3), "train_seconds": round(train_seconds, 3)},
    )
    return out


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write ``polistance.json`` atomically."""
    path = Path(folder) / MANIFEST
    atomic_write(path, json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def resume_differences(recorded: dict, new: dict) -> list[str]:
    """How the run about to resume differs from the recorded one (empty = same run)."""
    return config_differences(identity(recorded), identity(new))
