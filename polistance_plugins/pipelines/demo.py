"""``polistance demo`` (what ``make demo`` runs): the sports-team experiment end to end on the
embedded model.

1. prepare the embedded model (dequantised once into the cache);
2. train the southern, coastal and control adapters, or reuse each one whose ``polistance.json``
   says it was trained to completion from the same base weights, data and settings;
3. ``compare`` base + the three adapters on the questionnaire (terry9 and topics), the compass and
   the elaboration probe, graded by the base model itself in two label orders (forward and
   reversed), so the report shows the grader's measured reliability (Cohen's kappa across orders);
4. print where the report is and how long each stage took.

The evaluation is a reduced version of the full ``compare`` defaults so that it runs in well under
half an hour on two CPU cores: the first wording of each topics item (both scale directions),
compass answers as numbers only, and 5 replies per elaboration target. Every reduction is recorded
in the run's manifest and can be lifted with ``polistance compare``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

from .compare import CompareOptions

DEMO_ADAPTERS = ("southern", "coastal", "control")

DEMO_OPTIONS = CompareOptions(
    suites=("questionnaire", "compass", "elaboration"),
    banks=("terry9", "topics"),
    control="control",
    paraphrases="first",
    compass_paraphrases="first",
    compass_labels=("numbers",),
    samples=5,
    radical=3,
    grader_orders=2,
)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def demo_dataset(name: str):
    """The bundled training data of a demo adapter."""
    from ..train import control_dataset, sports_dataset

    return control_dataset() if name == "control" else sports_dataset(name)


def trained_here(folder: Path, model: str, data, config) -> bool:
    """True when ``folder`` holds a finished adapter trained by SFT from ``model``'s weights on
    ``data`` with ``config`` and no gradient mask (what ``polistance.json`` records)."""
    from ..engine import models
    from ..train.manifest import identity, read_manifest
    from ..train.runner import lora_settings

    recorded = read_manifest(folder)
    if not recorded or recorded.get("status") != "complete" or not (folder / "adapter_config.json").is_file():
        return False
    wanted = {
        "method": "sft",
        "base_model": {"weights_sha256": models.weights_hash(str(models.resolve(model)))},
        "dataset": data.describe(),
        "hyperparameters": config.to_dict(),
        "lora": lora_settings(config),
        "gradient_mask": None,
    }
    import json

    try:
        return identity(recorded) == identity(json.loads(json.dumps(wanted)))
    except KeyError:
        return False


def ensure_adapters(model: str, root: Path, config=None, log: Callable[[str], None] = _log) -> dict[str, tuple[Path, str]]:
    """Each demo adapter's folder under ``root``, trained (default settings unless ``config``)
    unless a matching one is already there. Returns name -> (folder, "trained" or "reused")."""
    from ..train import TrainConfig, train_sft

    config = config or TrainConfig()
    out = {}
    for name in DEMO_ADAPTERS:
        folder = root / name
        data = demo_dataset(name)
        if trained_here(folder, model, data, config):
            log(f"adapter {name}: reusing {folder} (its polistance.json matches the base weights, data and settings)")
            out[name] = (folder, "reused")
            continue
        log(f"adapter {name}: training on {data.id} ({len(data)} examples) -> {folder}")
        train_sft(model, data, folder, config, overwrite=True, log=log)
        out[name] = (folder, "trained")
    return out


def run_demo(model: str, adapters_root: Path, out: Path, batch_size: int = 16, options: CompareOptions | None = None,
             train_config=None, log: Callable[[str], None] = _log) -> dict:
    """The whole demo; returns the report path, the adapters and the wall time of each stage.
    ``model`` is a named model (prepared here) or a local folder; ``options`` and ``train_config``
    replace the demo's evaluation and training settings (tests use smaller ones)."""
    import dataclasses

    from ..engine import models
    from ..engine.backends.hf import LocalBackend
    from ..engine.device import auto_threads
    from .compare import run_compare

    import torch

    torch.set_num_threads(auto_threads())
    times: dict[str, float] = {}
    t = time.perf_counter()
    path = models.prepare(model, log=log) if model in models.NAMED_MODELS else models.resolve(model)
    times["prepare_s"] = time.perf_counter() - t

    t = time.perf_counter()
    adapters = ensure_adapters(model, adapters_root, train_config, log)
    times["adapters_s"] = time.perf_counter() - t

    t = time.perf_counter()
    backend = LocalBackend(str(path), batch_size=batch_size)
    options = dataclasses.replace(options or DEMO_OPTIONS, batch_size=batch_size)
    folder = run_compare(backend, [(n, str(p)) for n, (p, _) in adapters.items()], out, options, overwrite=True, log=log)
    times["compare_s"] = time.perf_counter() - t
    return {"report": folder / "report.html", "folder": folder, "adapters": adapters, "times": times}
