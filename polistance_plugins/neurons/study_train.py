"""The InhibitFT study's adapters: one per (arm, fine-tuning topic T, seed), trained or reused.

Arms (``ARMS``) at inhibition level n%:

- ``plain``: LoRA SFT on T's training split toward the leaning, nothing pinned;
- ``inhibit``: InhibitFT, the rows that write the general neurons of ``plain-T`` (first seed) pinned;
- ``control``: the same number of randomly chosen rows pinned, with the same count in every layer
  as the inhibited set (a fresh draw per unit), to tell "these neurons" from "any rows this many";
- ``hold``: InhibitFT plus the activation penalty (``anchor``) on the general neurons.

Every arm of a unit uses the unit's seed, so LoRA initialisation and data order are the same and
the arms differ only in what they pin.
"""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path

import numpy as np

ARMS = ("plain", "inhibit", "control", "hold")
MASKED_ARMS = ARMS[1:]


def adapter_name(arm: str, topic: str, seed: int, n: float | None = None) -> str:
    """``plain-<T>-s<seed>`` or ``<arm><n>-<T>-s<seed>`` (PEFT names may not contain dots: 0.5 -> 0p5)."""
    if arm == "plain":
        return f"plain-{topic}-s{seed}"
    return f"{arm}{n:g}-{topic}-s{seed}".replace(".", "p")


def arm_label(arm: str, n: float | None = None) -> str:
    """The arm's name in the tables (``plain``, ``inhibit5`` ...)."""
    return arm if arm == "plain" else f"{arm}{n:g}"


def control_seed(topic: str, seed: int, n: float) -> int:
    """A stable seed for a unit's random control draw."""
    return zlib.crc32(f"control/{topic}/{seed}/{n:g}".encode())


def build_mask(arm: str, nf, general: np.ndarray, n: float, topic: str, seed: int, provenance: dict, hold_weight: float):
    """The gradient mask of a masked arm for one unit (``general``: the unit's general set at n%)."""
    from .contrast import by_layer, matched_random_set
    from .inhibit import InhibitMask

    info = {"top_percent": n, "arm": arm, "neuron_adapter": adapter_name("plain", topic, provenance["localised_seed"]),
            **provenance}
    chosen = general
    if arm == "control":
        cseed = control_seed(topic, seed, n)
        chosen = matched_random_set(general, nf.layers, nf.width, cseed)
        info.update(control_for="general", random_seed=cseed)
    hold = hold_weight if arm == "hold" else 0.0
    return InhibitMask(by_layer(chosen, nf.width), nf.site, info, shape=(nf.layers, nf.width), hold_activations=hold)


def _complete(folder: Path, hyperparameters: dict, gradient_mask: dict | None) -> bool:
    from ..train.manifest import read_manifest

    m = read_manifest(folder)
    return bool(
        m and m.get("status") == "complete" and m.get("hyperparameters") == hyperparameters
        and m.get("gradient_mask") == gradient_mask
    )


def train_adapter(cfg, topic: str, seed: int, out: Path, mask=None, log=print) -> dict:
    """Train (or reuse a finished) ideology adapter on ``topic`` with ``seed``; returns what happened."""
    from ..train import train_ideology

    tc = cfg.train_config(seed)
    described = json.loads(json.dumps(mask.describe())) if mask is not None else None
    if _complete(out, tc.to_dict(), described):
        log(f"  reusing {out}")
        return {"adapter": str(out), "reused": True}
    t = time.monotonic()
    result = train_ideology(topic, cfg.leaning, out, "sft", cfg.model, tc, gradient_mask=mask, overwrite=True, log=log)
    info = {"adapter": str(out), "reused": False, "seconds": round(time.monotonic() - t, 1), "steps": result.steps,
            "final_loss": result.final_loss}
    if mask is not None:
        info["verification"] = mask.verification()
        if info["verification"]["rows_verified_unchanged"] is not True:
            raise RuntimeError(f"{out}: InhibitFT rows were not verified unchanged")
    return info
