"""Holding the inhibited activations themselves: a penalty on their change against the base model.

Pinning the rows that write a neuron keeps its *weights*, not its *activation*: the layers before
it still train. The anchor adds to the training loss

    weight * mean over real tokens and inhibited neurons of ((a - a_base) / s_layer)^2

where ``a`` is the neuron's activation in the model being trained, ``a_base`` the same neuron in
the base model (the adapter disabled) on the same batch, and ``s_layer`` the base activation RMS of
its layer on that batch (so layers of different scale weigh alike). Each training step therefore
runs one extra forward pass of the base model, without gradients.

The penalty reaches the parameters through the activations' gradient: an identity function at the
capture site adds ``weight * d(penalty)/da`` to the gradient flowing back. That is exactly the
gradient of (loss + penalty), without touching the trainer. The penalty is added per micro-batch
(with gradient accumulation it is not divided by the number of accumulation steps).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from ..errors import PolistanceError
from .capture import decoder, site_hooks

_REFERENCE_INPUTS = ("input_ids", "attention_mask", "position_ids")


class _AddGradient(torch.autograd.Function):
    """Identity forward; backward adds ``coef * (a - ref)`` on the chosen dims at real tokens."""

    @staticmethod
    def forward(ctx, act, ref, dims, tokens, coef):
        ctx.save_for_backward(act.detach(), ref, dims, tokens)
        ctx.coef = coef
        return act.view_as(act)

    @staticmethod
    def backward(ctx, grad):
        act, ref, dims, tokens = ctx.saved_tensors
        diff = (act.index_select(-1, dims) - ref) * tokens.unsqueeze(-1).to(act.dtype)
        return grad.index_add(-1, dims, (ctx.coef * diff).to(grad.dtype)), None, None, None, None


class ActivationAnchor:
    """The activation penalty of the inhibited neurons (``neurons``: layer -> dims) with ``weight``."""

    def __init__(self, neurons: Mapping[int, np.ndarray], site: str, weight: float):
        if not weight > 0:
            raise PolistanceError(f"--hold-activations {weight}: the penalty weight must be positive")
        self.site = site
        self.weight = float(weight)
        self.dims = {int(l): torch.as_tensor(np.asarray(d), dtype=torch.long) for l, d in neurons.items() if len(d)}
        self.n_neurons = int(sum(d.numel() for d in self.dims.values()))
        self._reference: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._tokens: torch.Tensor | None = None
        self._in_reference = False
        self._handles: list = []
        self._hooks = None
        self.penalties: list[float] = []
        self._step_penalty: float | None = None  # the penalty of the forward under way

    def attach(self, model: torch.nn.Module) -> None:
        """Hook ``model`` (a PEFT model: the base is the model with its adapter disabled)."""
        if not hasattr(model, "disable_adapter"):
            raise PolistanceError("holding activations needs a LoRA (PEFT) model: the base model is the adapter disabled")
        self.model = model
        self.decoder = decoder(model)
        self._handles.append(model.register_forward_pre_hook(self._before_forward, with_kwargs=True))
        self._hooks = site_hooks(model, self.site, self._at_site)
        self._hooks.__enter__()

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._hooks is not None:
            self._hooks.__exit__(None, None, None)
            self._hooks = None

    def _before_forward(self, module, args, kwargs):
        """Before a training forward: the same batch through the base model, keeping the inhibited activations."""
        if self._in_reference or not (module.training and torch.is_grad_enabled()):
            return None
        inputs = {k: kwargs[k] for k in _REFERENCE_INPUTS if kwargs.get(k) is not None}
        if "input_ids" not in inputs:
            raise PolistanceError("holding activations needs input_ids in the training batch")
        mask = inputs.get("attention_mask")
        self._tokens = torch.ones_like(inputs["input_ids"], dtype=torch.bool) if mask is None else mask.bool()
        self._reference = {}
        self._in_reference = True
        try:
            with torch.no_grad(), self.model.disable_adapter():
                self.decoder(**inputs, use_cache=False)
        finally:
            self._in_reference = False
        if self._step_penalty is not None:
            self.penalties.append(self._step_penalty)
        self._step_penalty = 0.0
        return None

    def _at_site(self, layer: int, act: torch.Tensor):
        dims = self.dims.get(layer)
        if dims is None:
            return None
        dims = dims.to(act.device)
        if self._in_reference:
            tokens = self._tokens.to(act.device)
            full = act.detach().float()[tokens]
            scale = full.pow(2).mean().sqrt().clamp_min(1e-12)
            self._reference[layer] = (act.detach().index_select(-1, dims), scale)
            return None
        if layer not in self._reference or not (act.requires_grad and torch.is_grad_enabled()):
            return None
        ref, scale = self._reference[layer]
        tokens = self._tokens.to(act.device)
        n = float(tokens.sum()) * self.n_neurons
        # d/da of weight * sum(((a - ref) / scale)^2) / n  =  2 * weight / (scale^2 * n) * (a - ref)
        coef = 2.0 * self.weight / (float(scale) ** 2 * n)
        with torch.no_grad():
            diff = (act.index_select(-1, dims) - ref)[tokens]
            self._step_penalty += self.weight * float(diff.float().pow(2).sum()) / (float(scale) ** 2 * n)
        return _AddGradient.apply(act, ref, dims, tokens, coef)

    def summary(self) -> dict:
        """The weight and the penalty's value (mean over the steps seen; last step) for the manifest."""
        seen = self.penalties + ([self._step_penalty] if self._step_penalty is not None else [])
        return {"weight": self.weight, "penalty_mean": float(np.mean(seen)) if seen else None,
                "penalty_last": seen[-1] if seen else None, "forwards": len(seen)}
