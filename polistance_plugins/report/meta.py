"""What a report needs to know about a run, read from its manifest: the models in order, the
reference and control, the suites and their sources. One reader for compare run folders,
``polistance eval`` run folders and reports built from harness outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..core.records import DEFAULT_MIN_MASS
from ..engine.runs import MANIFEST
from ..engine.variants import REFERENCE
from ..errors import PolistanceError


def meta_from_config(config: dict) -> dict:
    """What the report needs to know about a run: models in order, reference, control, suites, sources."""
    opts = config.get("options", {})
    return {
        "kind": config.get("kind", "compare"),
        "origin": config.get("origin", "polistance compare"),
        "model": (config.get("backend") or {}).get("model"),
        "reference": config.get("reference", REFERENCE),
        "control": config.get("control"),
        "models": [v["label"] for v in config.get("variants", [])],
        "adapters": {v["label"]: v.get("adapter") for v in config.get("variants", [])},
        # models that are another base model rather than an adapter (harness reports only)
        "base_models": [v["label"] for v in config.get("variants", []) if v.get("is_adapter") is False],
        "log_labels": config.get("log_labels") or {},
        "weights": {v["label"]: v["weights"] for v in config.get("variants", []) if v.get("weights")},
        "suites": opts.get("suites", ["questionnaire"]),
        "banks": list((config.get("questionnaire") or {}).keys()),
        "seed": opts.get("seed", 0),
        "min_mass": opts.get("min_mass", DEFAULT_MIN_MASS),
        "compass_source": opts.get("compass_source", "compass") if config.get("compass") else None,
        "pct_file": opts.get("pct_file"),
        "compass_resamples": opts.get("compass_resamples", 2000),
        "grader": config.get("grader"),
        "inspect_logs": config.get("inspect_logs") or [],
    }


def read_manifest(folder: Path) -> dict:
    """A run folder's manifest.json (PolistanceError when it is missing or not JSON)."""
    path = folder / MANIFEST
    if not path.is_file():
        raise PolistanceError(f"{folder}: no {MANIFEST} (not a polistance run folder)")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise PolistanceError(f"{path}: invalid JSON ({e})") from None


def config_from_single_run(config: dict, records: Sequence[dict]) -> dict:
    """A compare-style config for a ``polistance eval`` run folder (one bank, base + adapters)."""
    if "bank" not in config:
        raise PolistanceError("this run folder was not made by `polistance compare` or `polistance eval`")
    variants = config.get("variants") or [{"label": m, "adapter": None} for m in dict.fromkeys(r["model"] for r in records)]
    return {
        "kind": "compare", "origin": "polistance eval", "backend": config.get("backend"),
        "options": {"suites": ["questionnaire"], "seed": config.get("seed", 0), "min_mass": config.get("min_mass", DEFAULT_MIN_MASS)},
        "reference": variants[0]["label"], "control": None, "variants": variants,
        "questionnaire": {config["bank"]: config},
    }

