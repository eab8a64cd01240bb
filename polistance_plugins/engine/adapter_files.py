"""What makes a folder a usable PEFT adapter, checked before any model is loaded: a JSON object
with a ``peft_type`` in ``adapter_config.json`` and a weights file whose safetensors header reads
and covers the whole file (random, truncated and empty files are caught here, not deep in PEFT)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import PolistanceError

WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def check_adapter_dir(path: str | Path) -> Path:
    """The adapter folder, or ``PolistanceError`` naming the folder and what is wrong with it."""
    p = Path(path)
    if not p.is_dir():
        raise PolistanceError(f"adapter {path}: not a folder")
    cfg = p / "adapter_config.json"
    if not cfg.is_file():
        raise PolistanceError(f"adapter {path}: missing adapter_config.json (not a PEFT adapter folder)")
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise PolistanceError(f"adapter {path}/adapter_config.json: invalid JSON ({str(e)[:120]})") from None
    if not isinstance(config, dict) or not isinstance(config.get("peft_type"), str):
        raise PolistanceError(f"adapter {path}/adapter_config.json: not a PEFT adapter configuration (a JSON object with peft_type)")
    weights = p / WEIGHTS[0]
    if weights.is_file():
        _check_safetensors(path, weights)
    elif not (p / WEIGHTS[1]).is_file():
        raise PolistanceError(f"adapter {path}: missing adapter_model.safetensors")
    return p


def _check_safetensors(folder: str | Path, weights: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="np") as f:
            if not list(f.keys()):
                raise PolistanceError(f"adapter {folder}: {weights.name} holds no tensors")
    except (SafetensorError, OSError) as e:
        raise PolistanceError(f"adapter {folder}: {weights.name} is damaged ({str(e)[:160]})") from None
