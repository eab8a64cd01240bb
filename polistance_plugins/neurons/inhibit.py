"""InhibitFT: fine-tune while the parameters that write the inhibited neurons receive no gradient.

For site ``mlp_out`` neuron (l, p) is written by row p of layer l's ``down_proj``; for
``mlp_hidden`` by row p of ``gate_proj`` and ``up_proj``. With LoRA those rows are the rows of
``lora_B``; with full fine-tuning, the rows of the projection's weight (and its bias entries).

How the rows are kept exactly unchanged:
- a tensor gradient hook writes exact zeros into the masked rows of every gradient, from the first
  step, so Adam's moment estimates for those rows stay zero and the optimizer's update is zero;
- after every optimizer step a callback copies the saved rows back (guarding against weight decay
  or any optimizer that moves parameters without a gradient), and at the end of training it checks
  that the rows are bit-identical to the start and raises if they are not.
LoRA's ``lora_A`` is shared by all output rows, so a masked row of ``lora_B`` only pins the layer's
output when that row is zero (standard LoRA initialisation) or ``lora_A`` is frozen: ``attach``
refuses anything else, and refuses to run at all when no trainable parameter writes the neurons
(e.g. LoRA on attention projections only), so the inhibition cannot silently do nothing.

Neuron indices only mean something on the model they were localised on. ``load_inhibit_mask(...,
model=M)`` refuses a neuron file from another base model before anything is trained (layer count
and width from M's config, and M's weights hash against the one the file records), and ``attach``
checks the layer count and width again on the model it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ..errors import PolistanceError
from .capture import check_site, mlp_blocks, site_shape
from .contrast import by_layer, per_layer_counts
from .neuron_file import NeuronFile, file_sha256

WRITERS = {"mlp_out": ("down_proj",), "mlp_hidden": ("gate_proj", "up_proj")}


@dataclass
class _Masked:
    """One parameter with rows pinned: the rows, and their values when training began."""

    name: str
    param: torch.nn.Parameter
    rows: torch.Tensor
    saved: torch.Tensor


def _trainable_row_params(module: torch.nn.Module, name: str) -> list[tuple[str, torch.nn.Parameter, bool]]:
    """Trainable parameters of a (possibly LoRA-wrapped) linear layer whose dim 0 indexes its outputs.

    Each comes with a flag: True for a ``lora_B`` weight whose ``lora_A`` is trainable too (then
    pinning the row pins the output only if the row is zero).
    """
    out: list[tuple[str, torch.nn.Parameter, bool]] = []
    lora_b = getattr(module, "lora_B", None)
    if lora_b is not None:
        variants = getattr(module, "lora_variant", {}) or {}
        for adapter, b in lora_b.items():
            if not any(p.requires_grad for p in b.parameters()):
                continue
            if adapter in variants:
                raise PolistanceError(
                    f"{name}: adapter {adapter!r} uses a LoRA variant ({type(variants[adapter]).__name__}, e.g. DoRA) "
                    "whose output rows are not pinned by lora_B alone; InhibitFT supports plain LoRA"
                )
            a_trainable = bool(module.lora_A[adapter].weight.requires_grad)
            if b.weight.requires_grad:
                out.append((f"{name}.lora_B.{adapter}.weight", b.weight, a_trainable))
            if getattr(b, "bias", None) is not None and b.bias.requires_grad:
                out.append((f"{name}.lora_B.{adapter}.bias", b.bias, False))
    base = getattr(module, "base_layer", module)
    if type(base).__name__ == "Conv1D":
        raise PolistanceError(f"{name}: transposed (Conv1D) weights are not supported")
    for pname in ("weight", "bias"):
        p = getattr(base, pname, None)
        if isinstance(p, torch.nn.Parameter) and p.requires_grad:
            out.append((f"{name}.{pname}", p, False))
    return out


class InhibitMask:
    """The InhibitFT gradient mask for the training module: ``attach``, ``callbacks``, ``describe``."""

    def __init__(self, neurons: Mapping[int, np.ndarray], site: str, provenance: dict | None = None,
                 shape: tuple[int, int] | None = None):
        check_site(site)
        self.site = site
        self.shape = None if shape is None else (int(shape[0]), int(shape[1]))  # (layers, width) localised on
        self.neurons = {int(l): np.unique(np.asarray(d, dtype=np.int64)) for l, d in neurons.items() if len(d)}
        self.provenance = dict(provenance or {})
        self.masked: list[_Masked] = []
        self._handles: list = []
        self.steps_checked = 0
        self.restored_drift = 0.0
        self.verified: bool | None = None

    @property
    def n_neurons(self) -> int:
        return int(sum(d.size for d in self.neurons.values()))

    # ---- attach ---------------------------------------------------------------------------
    def attach(self, model: torch.nn.Module) -> None:
        """Register gradient hooks on every trainable parameter that writes an inhibited neuron."""
        if self._handles:
            raise RuntimeError("InhibitMask is already attached")
        if not self.neurons:
            raise PolistanceError("InhibitFT got an empty neuron set: nothing to inhibit (try a larger --inhibit-top)")
        blocks = mlp_blocks(model)
        if self.shape is not None:
            found = site_shape(model, self.site)
            if found != self.shape:
                source = self.provenance.get("neurons_file", "the neuron set")
                raise PolistanceError(
                    f"{source} was localised on a model with {self.shape[0]} layers x {self.shape[1]} {self.site} "
                    f"neurons, but the model being trained has {found[0]} x {found[1]}: localise on the training model"
                )
        for layer in self.neurons:
            if layer >= len(blocks):
                raise PolistanceError(f"inhibited neurons name layer {layer}, but the model has {len(blocks)} layers")
        for layer, dims in sorted(self.neurons.items()):
            for proj in WRITERS[self.site]:
                module = getattr(blocks[layer], proj, None)
                if module is None:
                    raise PolistanceError(f"layer {layer} MLP has no {proj}: cannot inhibit site {self.site}")
                name = f"layers.{layer}.mlp.{proj}"
                width = int(getattr(module, "base_layer", module).out_features)
                if dims.max() >= width:
                    raise PolistanceError(f"{name}: inhibited dim {int(dims.max())} >= its {width} outputs (wrong site or model?)")
                rows = torch.as_tensor(dims, dtype=torch.long)
                for pname, p, a_trainable in _trainable_row_params(module, name):
                    r = rows.to(p.device)
                    saved = p.detach().index_select(0, r).clone()
                    if a_trainable and bool(saved.ne(0).any()):
                        raise PolistanceError(
                            f"{pname}: the inhibited rows are not zero and lora_A is trainable, so training lora_A "
                            "would still change those outputs; start from a fresh adapter (lora_B initialised to zero)"
                        )
                    self.masked.append(_Masked(pname, p, r, saved))
        if not self.masked:
            raise PolistanceError(
                f"InhibitFT has nothing to act on: no trainable parameter writes the inhibited neurons "
                f"({', '.join(WRITERS[self.site])} of layers {sorted(self.neurons)}). With LoRA, target "
                f"{' and '.join(WRITERS[self.site])} (target_modules='all-linear' does)."
            )
        for m in self.masked:
            self._handles.append(m.param.register_hook(_zero_rows(m.rows)))

    def detach(self) -> None:
        """Remove the gradient hooks (the saved rows stay for :meth:`check`)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    # ---- guards ---------------------------------------------------------------------------
    @torch.no_grad()
    def restore(self) -> float:
        """Copy the saved rows back; returns the largest drift found (0.0 when nothing moved them)."""
        drift = 0.0
        for m in self.masked:
            now = m.param.index_select(0, m.rows)
            if not torch.equal(now, m.saved):
                drift = max(drift, float((now - m.saved).abs().max()))
                m.param.index_copy_(0, m.rows, m.saved)
        self.steps_checked += 1
        self.restored_drift = max(self.restored_drift, drift)
        return drift

    @torch.no_grad()
    def check(self) -> bool:
        """True when every masked row is bit-identical to its value when training began."""
        ok = all(torch.equal(m.param.index_select(0, m.rows), m.saved) for m in self.masked)
        self.verified = ok
        return ok

    def callbacks(self) -> list:
        """Trainer callbacks: restore the rows after each optimizer step; verify them at the end."""
        from transformers import TrainerCallback

        mask = self

        class InhibitFTCallback(TrainerCallback):
            def on_optimizer_step(self, args, state, control, **kwargs):
                mask.restore()

            def on_train_end(self, args, state, control, **kwargs):
                if not mask.check():
                    raise RuntimeError("InhibitFT: inhibited rows changed during training")

        return [InhibitFTCallback()]

    def describe(self) -> dict:
        """What the adapter manifest records about the inhibition (fixed before training starts)."""
        return {
            "method": "InhibitFT",
            "site": self.site,
            "writers": list(WRITERS[self.site]),
            "n_neurons": self.n_neurons,
            "neurons_per_layer": {str(l): int(d.size) for l, d in sorted(self.neurons.items())},
            **self.provenance,
        }

    def verification(self) -> dict:
        """What the mask did: the parameters it pinned, steps checked, and whether the rows stayed put."""
        return {
            "parameters_masked": [m.name for m in self.masked],
            "rows_masked": int(sum(m.rows.numel() for m in self.masked)),
            "optimizer_steps_checked": self.steps_checked,
            "max_drift_restored": self.restored_drift,
            "rows_verified_unchanged": self.verified,
        }


def _zero_rows(rows: torch.Tensor):
    def hook(grad: torch.Tensor) -> torch.Tensor:
        return grad.index_fill(0, rows, 0.0)

    return hook


def mask_from_neuron_file(nf: NeuronFile, top_percent: float, adapter: str | None = None, provenance: dict | None = None) -> InhibitMask:
    """An InhibitMask over the general neurons of a neuron file at ``top_percent``.

    With ``adapter`` the general set of that fine-tuned model; otherwise the file's only adapter,
    or (several adapters) the neurons general for every one of them.
    """
    names = list(nf.scores)
    if adapter is not None:
        general = nf.sets(adapter, top_percent).general
    elif len(names) == 1:
        adapter = names[0]
        general = nf.sets(adapter, top_percent).general
    else:
        general = nf.general_over_adapters(top_percent)
    info = {
        "top_percent": top_percent,
        "neuron_adapter": adapter or "intersection:" + ",".join(names),
        "neurons_general_per_layer": per_layer_counts(general, nf.layers, nf.width).tolist(),
        **(provenance or {}),
    }
    return InhibitMask(by_layer(general, nf.width), nf.site, info, shape=(nf.layers, nf.width))


def _config_shape(model_path: str, site: str) -> tuple[int, int] | None:
    """(layers, neurons per layer) of ``site`` from a model's config, or None when it cannot be read."""
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError):
        return None  # loading the model itself will report this properly
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    layers = getattr(config, "num_hidden_layers", None)
    width = getattr(config, "hidden_size" if site == "mlp_out" else "intermediate_size", None)
    if not isinstance(layers, int) or not isinstance(width, int):
        return None
    return layers, width


def check_neuron_model(nf: NeuronFile, model: str, source: str | Path = "neuron file") -> None:
    """Refuse a neuron file localised on another base model than ``model`` (the model about to be trained).

    Compared: the layer count and width of the file's site against the model's config, and the
    weights hash recorded by ``polistance localize`` against the model's. When either side has no
    weights hash (e.g. a hub id that is not a local folder), the model names are compared instead.
    """
    from ..engine import models

    path = models.resolve(model)
    recorded = nf.model if isinstance(nf.model, dict) else {}
    shape = _config_shape(path, nf.site)
    if shape is not None and shape != (nf.layers, nf.width):
        raise PolistanceError(
            f"--inhibit {source}: localised on {recorded.get('model') or 'a model'} with {nf.layers} layers x {nf.width} "
            f"{nf.site} neurons, but --model {model} has {shape[0]} x {shape[1]}; localise on the model you train"
        )
    theirs, ours = recorded.get("weights_sha256"), models.weights_hash(path)
    if theirs and ours:
        same, what = theirs == ours, f"weights sha256 {theirs[:12]}... vs {ours[:12]}..."
    else:
        named = recorded.get("model")
        same, what = (named is None or str(named) == str(path)), f"model {named} vs {path}; no weights hash to compare"
    if not same:
        raise PolistanceError(
            f"--inhibit {source}: localised on {recorded.get('model') or 'another model'}, not on --model {model} "
            f"({path}): {what}. Neuron indices only carry over to the model they were found in; "
            f"run `polistance localize --model {model}` first"
        )


def load_inhibit_mask(file: str | Path, top_percent: float, site: str | None = None, adapter: str | None = None,
                      model: str | None = None) -> InhibitMask:
    """Read a neuron file and build the InhibitFT mask for its top ``top_percent``% general neurons.

    This is what ``polistance train ideology --inhibit FILE --inhibit-top N`` calls; the mask's
    ``describe()`` carries the file's path and sha256 and ``N`` into the adapter manifest. With
    ``model`` (the base model about to be trained) a file localised on another model is refused.
    """
    path = Path(file)
    nf = NeuronFile.load(path)
    if site is not None and site != nf.site:
        raise PolistanceError(f"--inhibit {path}: the file holds site {nf.site!r} neurons, not {site!r}")
    if not 0 < float(top_percent) <= 100:
        raise PolistanceError(f"--inhibit-top {top_percent}: expected a percentage in (0, 100]")
    if model is not None:
        check_neuron_model(nf, model, path)
    mask = mask_from_neuron_file(
        nf,
        float(top_percent),
        adapter,
        {"neurons_file": str(path), "neurons_sha256": file_sha256(path), "neurons_model": nf.model},
    )
    if not mask.neurons:  # refuse now, before a training run starts and prepares its output folder
        raise PolistanceError(
            f"--inhibit {path}: no general neurons at top {float(top_percent):g}% (the topics' top sets do not "
            "intersect); nothing to inhibit, try a larger --inhibit-top"
        )
    return mask
