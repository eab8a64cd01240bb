"""Which model a harness run evaluated, told by its weights and its adapter, and a readable label for it.

One model is often seen through several front doors: lm-eval records ``--model_args pretrained=DIR
[,peft=ADAPTER]``, Inspect records ``-M model_path=DIR`` (a base folder, or an adapter folder whose
``adapter_config.json`` names its base) and an optional ``--metadata adapter=NAME``, and a named
model is the folder ``polistance models prepare`` made. The report must count each model once,
under one label, so runs are matched on a ``ModelIdentity`` (canonical weights + adapter), never on
the name a harness happened to print (``hf/smollm2``, ``hf//root/.cache/...``).

Labels: the name a run gave its model (``--metadata adapter=NAME``) when there is one; otherwise a
base model is called by its named model (``smollm2-135m-instruct``) or its folder name, an adapter by
its folder name. ``--metadata adapter=base`` names the base (the reserved label of ``polistance
compare``), not an adapter: a base is never made an adapter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

NAMED_ADAPTER = "name:"
"""Prefix of an adapter known only by the name a run gave it (no folder recorded)."""


@dataclass(frozen=True)
class ModelIdentity:
    """What a run evaluated: canonical base weights, and the adapter on them (None for the base)."""

    weights: str
    adapter: str | None = None

    @property
    def adapter_path(self) -> str | None:
        """The adapter folder, when the run recorded one."""
        return None if self.adapter is None or self.adapter.startswith(NAMED_ADAPTER) else self.adapter


def _named_models() -> dict[str, str]:
    """Prepared folder -> named model (without preparing anything)."""
    from ..engine import models

    return {str(models.prepared_dir(name).resolve()): name for name in models.NAMED_MODELS}


def canonical_weights(name_or_path: str) -> str:
    """The weights a run names, spelled one way: a named model's prepared folder, an existing local folder
    resolved to its absolute path, or the string as given (a hub id, an API model)."""
    from ..engine import models

    text = str(name_or_path).strip()
    if text in models.NAMED_MODELS:
        return str(models.prepared_dir(text).resolve())
    path = Path(text).expanduser()
    return str(path.resolve()) if path.exists() else text.rstrip("/")


def _adapter_base(adapter_dir: str) -> str | None:
    try:
        return json.loads((Path(adapter_dir) / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None


def identity_from_lm_eval(model_args: Mapping[str, str], model_name: str | None = None) -> ModelIdentity:
    """The identity of an lm-eval run from its ``model_args`` (``pretrained``, ``peft``)."""
    adapter = model_args.get("peft")
    pretrained = model_args.get("pretrained") or (adapter and _adapter_base(adapter)) or model_name or "unknown model"
    return ModelIdentity(canonical_weights(pretrained), canonical_weights(adapter) if adapter else None)


def _is_adapter_dir(path: str | None) -> bool:
    return bool(path) and (Path(str(path)) / "adapter_config.json").is_file()


def identity_from_inspect(eval_spec) -> ModelIdentity:
    """The identity of an Inspect run: ``model_path`` (an adapter folder stands on the base its config
    names, else on ``tokenizer_path``), else the model name (``hf/<id>`` loads the hub id ``<id>``);
    an adapter given only as ``--metadata adapter=NAME`` is kept by that name."""
    from ..engine.variants import REFERENCE

    args = eval_spec.model_args or {}
    path = args.get("model_path")
    named = (eval_spec.metadata or {}).get("adapter")
    named = None if named is None or str(named) == REFERENCE else str(named)
    if _is_adapter_dir(path):
        base = _adapter_base(str(path)) or args.get("tokenizer_path") or eval_spec.model
        return ModelIdentity(canonical_weights(str(base)), canonical_weights(str(path)))
    if path:
        weights = canonical_weights(str(path))
    else:
        provider, _, name = str(eval_spec.model).partition("/")
        weights = canonical_weights(name) if provider == "hf" and name else str(eval_spec.model)
    return ModelIdentity(weights, f"{NAMED_ADAPTER}{named}" if named is not None else None)


def base_label(weights: str) -> str:
    """A base model's readable name: its named model, else its folder name, else the id as given."""
    named = _named_models().get(weights)
    if named:
        return named
    path = Path(weights)
    return path.name if path.is_absolute() and path.name else weights


def _qualified(label: str, ident: ModelIdentity, rivals: list[ModelIdentity]) -> str:
    """A shared label made specific: by the base weights when those differ ("tuned (smollm2-135m-instruct)"),
    else by the adapter folder's parent ("runs-a/tuned")."""
    if any(r.weights != ident.weights for r in rivals):
        return f"{label} ({base_label(ident.weights)})"
    where = ident.adapter_path
    parent = Path(where).parent.name if where else ""
    return f"{parent}/{label}" if parent else label


def readable_labels(identities: Iterable[tuple[ModelIdentity, str | None]]) -> dict[ModelIdentity, str]:
    """One label per identity: the name a run gave it (``hint``), else ``base_label`` for a base and the
    folder name for an adapter. Identities that would share a label are told apart (``_qualified``, then a
    number), so labels stay unique."""
    first_hint: dict[ModelIdentity, str | None] = {}
    for ident, hint in identities:
        if ident not in first_hint or (first_hint[ident] is None and hint):
            first_hint[ident] = hint
    proposed: dict[ModelIdentity, str] = {}
    for ident, hint in first_hint.items():
        if hint:
            proposed[ident] = str(hint)
        elif ident.adapter is None:
            proposed[ident] = base_label(ident.weights)
        elif ident.adapter.startswith(NAMED_ADAPTER):
            proposed[ident] = ident.adapter[len(NAMED_ADAPTER):]
        else:
            proposed[ident] = Path(ident.adapter).name or ident.adapter
    out: dict[ModelIdentity, str] = {}
    taken: set[str] = set()
    for ident, label in proposed.items():
        rivals = [other for other, theirs in proposed.items() if theirs == label and other != ident]
        if rivals:
            label = _qualified(label, ident, rivals)
        unique, k = label, 2
        while unique in taken:
            unique, k = f"{label}-{k}", k + 1
        taken.add(unique)
        out[ident] = unique
    return out
