"""Forward hooks on the MLP blocks: record, contrast or replace neuron activations inside the
ordinary batched forward passes (no extra pass per neuron).

Two capture sites, per decoder layer:
- ``mlp_out``: the MLP block's output (after ``down_proj``), ``hidden_size`` neurons per layer;
- ``mlp_hidden``: the intermediate activation that ``down_proj`` reads (after the activation
  function, times the up projection in gated MLPs), ``intermediate_size`` neurons per layer.

Every forward of the decoder is one "batch": a pre-hook on the decoder records its attention mask
(so padding can be excluded) and advances a batch counter that recorded and replayed activations
are matched by. Hooks work on a plain Hugging Face model and on a PEFT-wrapped one alike.
"""

from __future__ import annotations

import contextlib
import re
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from ..errors import PolistanceError
from .contrast import SITES

_LAYER_MLP = re.compile(r"(?:^|\.)layers\.(\d+)\.mlp$")


def mlp_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The MLP module of every decoder layer, in layer order (``...layers.<i>.mlp``)."""
    found: dict[int, torch.nn.Module] = {}
    for name, mod in model.named_modules():
        m = _LAYER_MLP.search(name)
        if m:
            found[int(m.group(1))] = mod
    if not found or sorted(found) != list(range(len(found))):
        raise PolistanceError(
            f"{type(model).__name__}: no decoder layers with an '.mlp' block found; PNLAC supports "
            "Llama-style models (model.layers.<i>.mlp with gate_proj/up_proj/down_proj)"
        )
    for i, mod in found.items():
        if not hasattr(mod, "down_proj"):
            raise PolistanceError(f"layer {i} MLP ({type(mod).__name__}) has no down_proj: unsupported architecture")
    return [found[i] for i in range(len(found))]


def decoder(model: torch.nn.Module) -> torch.nn.Module:
    """The module that holds the decoder layers (called once per forward pass with the attention mask)."""
    for _, mod in model.named_modules():
        if isinstance(getattr(mod, "layers", None), torch.nn.ModuleList):
            return mod
    raise PolistanceError(f"{type(model).__name__}: no module with decoder 'layers' found")


def site_shape(model: torch.nn.Module, site: str) -> tuple[int, int]:
    """(layers, neurons per layer) of a capture site."""
    check_site(site)
    blocks = mlp_blocks(model)
    down = blocks[0].down_proj
    base = getattr(down, "base_layer", down)
    width = int(base.out_features) if site == "mlp_out" else int(base.in_features)
    return len(blocks), width


def check_site(site: str) -> None:
    if site not in SITES:
        raise PolistanceError(f"--site {site!r}: expected one of {', '.join(SITES)}")


# ---- the hook machinery ------------------------------------------------------------------------
Handler = Callable[[int, torch.Tensor], "torch.Tensor | None"]


class BatchTap:
    """Counts decoder forwards and keeps each one's attention mask (``[batch, tokens]`` bool)."""

    def __init__(self):
        self.index = -1
        self.masks: list[torch.Tensor | None] = []

    def __call__(self, module, args, kwargs):
        self.index += 1
        mask = kwargs.get("attention_mask")
        if mask is None and len(args) > 1:
            mask = args[1]
        self.masks.append(None if mask is None or mask.dim() != 2 else mask.detach().bool().clone())

    @property
    def mask(self) -> torch.Tensor | None:
        return self.masks[self.index] if self.masks else None


@contextlib.contextmanager
def site_hooks(model: torch.nn.Module, site: str, handler: Handler) -> Iterator[BatchTap]:
    """Call ``handler(layer, activation)`` at every layer's site during forwards inside the block.

    ``activation`` is ``[batch, tokens, neurons]``; if the handler returns a tensor, it replaces
    the activation for the rest of the forward pass.
    """
    check_site(site)
    blocks = mlp_blocks(model)
    tap = BatchTap()
    handles = [decoder(model).register_forward_pre_hook(tap, with_kwargs=True)]

    def out_hook(layer):
        def hook(module, args, output):
            return handler(layer, output)

        return hook

    def hidden_hook(layer):
        def hook(module, args):
            new = handler(layer, args[0])
            return None if new is None else (new, *args[1:])

        return hook

    try:
        for layer, mlp in enumerate(blocks):
            if site == "mlp_out":
                handles.append(mlp.register_forward_hook(out_hook(layer)))
            else:
                handles.append(mlp.down_proj.register_forward_pre_hook(hidden_hook(layer)))
        yield tap
    finally:
        for h in handles:
            h.remove()


def _dims_tensors(dims_by_layer: Mapping[int, np.ndarray] | None) -> dict[int, torch.Tensor] | None:
    if dims_by_layer is None:
        return None
    return {int(l): torch.as_tensor(np.asarray(d), dtype=torch.long) for l, d in dims_by_layer.items()}


class Recorder:
    """Keeps the activations of every forward: ``batches[b][layer]`` is ``[batch, tokens, dims]``.

    With ``dims_by_layer`` only those neurons are kept (and only those layers), which is what
    patching needs; without it every neuron of every layer is kept.
    """

    def __init__(self, dims_by_layer: Mapping[int, np.ndarray] | None = None):
        self.dims = _dims_tensors(dims_by_layer)
        self.batches: list[dict[int, torch.Tensor]] = []
        self.masks: list[torch.Tensor | None] = []
        self.tap: BatchTap | None = None

    def handler(self, layer: int, act: torch.Tensor):
        b = self.tap.index
        while len(self.batches) <= b:
            self.batches.append({})
        if self.dims is None:
            self.batches[b][layer] = act.detach().clone()
        elif layer in self.dims:
            self.batches[b][layer] = act.detach().index_select(-1, self.dims[layer].to(act.device))
        return None

    @contextlib.contextmanager
    def attach(self, model: torch.nn.Module, site: str):
        """Record during the forwards run inside this block."""
        with site_hooks(model, site, self.handler) as tap:
            self.tap = tap
            yield self
        self.masks = list(tap.masks)
        self.tap = None


class Patcher:
    """Replaces the chosen neurons' activations with those recorded in the same-numbered forward."""

    def __init__(self, recorded: Recorder, dims_by_layer: Mapping[int, np.ndarray]):
        if recorded.dims is None:
            raise ValueError("patching needs a Recorder restricted to the patched neurons")
        self.recorded = recorded
        self.dims = _dims_tensors(dims_by_layer)
        # Where each patched dim sits inside the recorded (possibly larger) selection.
        self.slots: dict[int, torch.Tensor] = {}
        for layer, dims in self.dims.items():
            have = recorded.dims.get(layer)
            if dims.numel() == 0:
                continue
            if have is None:
                raise ValueError(f"layer {layer} was not recorded")
            lookup = {int(d): i for i, d in enumerate(have.tolist())}
            missing = [int(d) for d in dims.tolist() if int(d) not in lookup]
            if missing:
                raise ValueError(f"layer {layer}: dims {missing[:5]} were not recorded")
            self.slots[layer] = torch.tensor([lookup[int(d)] for d in dims.tolist()], dtype=torch.long)
        self.tap: BatchTap | None = None

    def handler(self, layer: int, act: torch.Tensor):
        if layer not in self.slots:
            return None
        b = self.tap.index
        if b >= len(self.recorded.batches):
            raise RuntimeError(f"patched forward {b} has no recorded counterpart")
        source = self.recorded.batches[b][layer]
        if source.shape[:2] != act.shape[:2]:
            raise RuntimeError(f"patched forward {b} has shape {tuple(act.shape[:2])}, recorded {tuple(source.shape[:2])}")
        dims, slots = self.dims[layer].to(act.device), self.slots[layer].to(source.device)
        return act.index_copy(-1, dims, source.index_select(-1, slots).to(act.device, act.dtype))

    @contextlib.contextmanager
    def attach(self, model: torch.nn.Module, site: str):
        """Patch during the forwards run inside this block (in the recorded order)."""
        with site_hooks(model, site, self.handler) as tap:
            self.tap = tap
            yield self
        self.tap = None


class ContrastAccumulator:
    """Per-neuron sum of squared differences between a live forward and a recorded one, over real tokens.

    Record the base model's forwards with a full :class:`Recorder`, then run the fine-tuned model
    over the same batches inside :meth:`attach`; :meth:`scores` gives the RMS difference of every
    neuron (``[layers * width]``, layer-major), padding excluded by the attention mask.
    """

    def __init__(self, reference: Recorder, layers: int, width: int):
        if reference.dims is not None:
            raise ValueError("contrasting needs a Recorder that kept every neuron")
        self.reference = reference
        self.sum_squares = torch.zeros(layers, width, dtype=torch.float64)
        self.count = 0
        self.tap: BatchTap | None = None
        self._counted = -1

    def handler(self, layer: int, act: torch.Tensor):
        b = self.tap.index
        ref = self.reference.batches[b][layer]
        if ref.shape != act.shape:
            raise RuntimeError(f"forward {b} layer {layer}: shape {tuple(act.shape)} differs from the reference {tuple(ref.shape)}")
        mask = self.tap.mask
        if mask is None:
            mask = torch.ones(act.shape[:2], dtype=torch.bool, device=act.device)
        ref_mask = self.reference.masks[b]
        if ref_mask is not None and not torch.equal(ref_mask, mask):
            raise RuntimeError(f"forward {b}: the padding differs from the reference forward")
        diff = (act.detach().double() - ref.double())[mask]
        self.sum_squares[layer] += (diff * diff).sum(0).cpu()
        if self._counted != b:
            self._counted = b
            self.count += int(mask.sum())
        return None

    @contextlib.contextmanager
    def attach(self, model: torch.nn.Module, site: str):
        with site_hooks(model, site, self.handler) as tap:
            self.tap = tap
            yield self
        self.tap = None

    def scores(self) -> np.ndarray:
        from .contrast import rms_from_sums

        return rms_from_sums(self.sum_squares.numpy(), self.count).ravel()


# ---- forwards ----------------------------------------------------------------------------------
def encode_prompts(backend, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of user prompts in the model's chat template (what the model sees when asked)."""
    return [backend.encode(backend.chat_prompt(t)) for t in texts]


def forward_batches(backend, seqs: Sequence[Sequence[int]], progress=None) -> None:
    """Run token sequences through ``backend.net`` in the backend's left-padded batches.

    The batches (length-sorted, ``backend.batch_size`` each) depend only on ``seqs``, so two
    calls with the same sequences make identical forwards: what recording and contrasting need.
    """
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), i))
    size = backend.settle_batch_size(seqs)
    for start in range(0, len(order), size):
        batch = [list(seqs[i]) for i in order[start : start + size]]
        backend.forward_last(batch, keep=1)
        if progress:
            progress(len(batch))
