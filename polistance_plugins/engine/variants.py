"""The models of a run: the base model and each PEFT adapter loaded next to it (one list, one rule)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import PolistanceError

REFERENCE = "base"
"""The label of the model without an adapter."""


@dataclass(frozen=True)
class Variant:
    """One model to evaluate: a label, and the adapter name to activate (None = the base model).

    A local adapter has its folder (``adapter_path``); a served one the model name it has on the
    server (``served_model``, e.g. a vLLM ``--lora-modules`` entry)."""

    label: str
    adapter: str | None = None
    adapter_path: str | None = None
    served_model: str | None = None

    def identity(self) -> dict:
        """What names this model in a run configuration."""
        out = {"label": self.label, "adapter": self.adapter_path, "adapter_sha256": adapter_hash(self.adapter_path)}
        if self.served_model:
            out["served_model"] = self.served_model
        return out


def adapter_hash(path: str | None) -> str | None:
    """sha256 over an adapter folder's weight files (what identifies it in a manifest)."""
    if not path:
        return None
    h = hashlib.sha256()
    for f in sorted(Path(path).glob("adapter_model.*")):
        h.update(f.read_bytes())
    return h.hexdigest()


def load_variants(backend, adapters: Sequence[tuple[str, str]], flag: str = "--adapter") -> list[Variant]:
    """The base and every ``(name, folder)`` adapter, each loaded into ``backend`` under its name.
    For a served backend the second element is the adapter's model name on the server.

    Names must be unique and may not be the reserved ``base``; an adapter already loaded under
    its name is not loaded again."""
    names = [n for n, _ in adapters]
    for name in names:
        if name == REFERENCE:
            raise PolistanceError(f"{flag}: the name {REFERENCE!r} is reserved for the model without an adapter")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PolistanceError(f"{flag}: duplicate adapter name(s) {', '.join(dupes)}; use NAME=DIR")
    variants = [Variant(REFERENCE)]
    for name, path in adapters:
        if name not in getattr(backend, "adapters", {}):
            backend.load_adapter(name, path)
        if getattr(backend, "kind", "local") == "api":
            variants.append(Variant(name, name, None, path))
        else:
            variants.append(Variant(name, name, str(Path(path).resolve())))
    return variants
