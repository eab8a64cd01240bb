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
from typing import Mapping, Sequence

import numpy as np
import torch

from ..errors import PolistanceError
from .capture import check_site, mlp_blocks, site_shape
from .positions import DEFAULT_POSITIONS, check_positions

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
    """The InhibitFT gradient mask for the training module: ``attach``, ``callbacks``, ``describe``.

    ``hold_activations`` > 0 also adds the activation penalty of ``anchor.ActivationAnchor`` (LoRA
    only). With ``probes`` (prompt texts) the mask measures, when training ends, how far the
    inhibited activations moved against the other neurons of their layers (``drift``) and reports
    it in :meth:`verification`, which the adapter manifest records.
    """

    def __init__(self, neurons: Mapping[int, np.ndarray], site: str, provenance: dict | None = None,
                 shape: tuple[int, int] | None = None, hold_activations: float = 0.0,
                 probes: Sequence[str] | None = None, probe_positions: str = DEFAULT_POSITIONS):
        check_site(site)
        if hold_activations < 0:
            raise PolistanceError(f"--hold-activations {hold_activations}: must not be negative")
        self.site = site
        self.hold_activations = float(hold_activations)
        self.probes = list(probes or [])
        self.probe_positions = check_positions(probe_positions)
        self.anchor = None
        self.drift: dict | None = None
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
        if self.hold_activations > 0:
            from .anchor import ActivationAnchor

            self.anchor = ActivationAnchor(self.neurons, self.site, self.hold_activations)
            self.anchor.attach(model)

    def detach(self) -> None:
        """Remove the gradient hooks and the activation penalty (the saved rows stay for :meth:`check`)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        if self.anchor is not None:
            self.anchor.detach()

    def measure_drift(self, model, tokenizer) -> dict | None:
        """How far the inhibited activations moved on the probes (None without probes or a PEFT model)."""
        if not self.probes or tokenizer is None or not hasattr(model, "disable_adapter"):
            return None
        from .drift import measure_model_drift

        layers, width = site_shape(model, self.site)
        flat = np.concatenate([layer * width + dims for layer, dims in sorted(self.neurons.items())])
        self.drift = measure_model_drift(model, tokenizer, flat, self.site, width, self.probes, self.probe_positions)
        return self.drift

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

            def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
                if not mask.check():
                    raise RuntimeError("InhibitFT: inhibited rows changed during training")
                if model is not None:
                    mask.measure_drift(model, processing_class)

        return [InhibitFTCallback()]

    def describe(self) -> dict:
        """What the adapter manifest records about the inhibition (fixed before training starts)."""
        return {
            "method": "InhibitFT",
            "site": self.site,
            "writers": list(WRITERS[self.site]),
            "n_neurons": self.n_neurons,
            "neurons_per_layer": {str(l): int(d.size) for l, d in sorted(self.neurons.items())},
            "hold_activations": self.hold_activations,
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
            "activation_drift": self.drift,
            "hold_activations": self.anchor.summary() if self.anchor is not None else None,
        }


def _zero_rows(rows: torch.Tensor):
    def hook(grad: torch.Tensor) -> torch.Tensor:
        return grad.index_fill(0, rows, 0.0)

    return hook
