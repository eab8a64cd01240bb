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
    """Per-neuron sum of squared differences between a live forward and a recorded one, over chosen tokens.

    Record the base model's forwards with a full :class:`Recorder`, then run the fine-tuned model
    over the same batches inside :meth:`attach`. :meth:`scores` gives the RMS difference of every
    neuron (``[layers * width]``, layer-major) and :meth:`layer_scale` the RMS of the base
    activations of each layer over the same tokens. ``select`` (one ``[batch, tokens]`` bool mask
    per forward, from :func:`selection_masks`) says which tokens count; without it every real
    (non-padding) token does.
    """

    def __init__(self, reference: Recorder, layers: int, width: int, select: Sequence[torch.Tensor] | None = None):
        if reference.dims is not None:
            raise ValueError("contrasting needs a Recorder that kept every neuron")
        self.reference = reference
        self.select = None if select is None else list(select)
        self.sum_squares = torch.zeros(layers, width, dtype=torch.float64)
        self.base_squares = torch.zeros(layers, dtype=torch.float64)
        self.count = 0
        self.tap: BatchTap | None = None
        self._counted = -1

    def _tokens(self, b: int, act: torch.Tensor) -> torch.Tensor:
        mask = self.tap.mask
        if mask is None:
            mask = torch.ones(act.shape[:2], dtype=torch.bool, device=act.device)
        ref_mask = self.reference.masks[b]
        if ref_mask is not None and not torch.equal(ref_mask, mask):
            raise RuntimeError(f"forward {b}: the padding differs from the reference forward")
        if self.select is None:
            return mask
        chosen = self.select[b]
        if chosen.shape != mask.shape or bool((chosen & ~mask.to(chosen.device)).any()):
            raise RuntimeError(f"forward {b}: the selected positions are not real tokens of this batch")
        return chosen

    def handler(self, layer: int, act: torch.Tensor):
        b = self.tap.index
        ref = self.reference.batches[b][layer]
        if ref.shape != act.shape:
            raise RuntimeError(f"forward {b} layer {layer}: shape {tuple(act.shape)} differs from the reference {tuple(ref.shape)}")
        tokens = self._tokens(b, act).to(act.device)
        base = ref.double()[tokens]
        diff = act.detach().double()[tokens] - base
        self.sum_squares[layer] += (diff * diff).sum(0).cpu()
        self.base_squares[layer] += float((base * base).sum())
        if self._counted != b:
            self._counted = b
            self.count += int(tokens.sum())
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

    def layer_scale(self) -> np.ndarray:
        """RMS of the reference (base) activations of each layer, over the same tokens and every neuron."""
        from .contrast import rms_from_sums

        return rms_from_sums(self.base_squares.numpy() / self.sum_squares.shape[1], self.count)


# ---- forwards ----------------------------------------------------------------------------------
def encode_prompts(backend, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of user prompts in the model's chat template (what the model sees when asked)."""
    return [backend.encode(backend.chat_prompt(t)) for t in texts]


def batch_plan(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Sequence indices per forward: sorted by length (less padding), ``batch_size`` each; deterministic."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[s : s + max(1, batch_size)] for s in range(0, len(order), max(1, batch_size))]


def selection_masks(seqs: Sequence[Sequence[int]], selected: Sequence[Sequence[int]], batch_size: int) -> list[torch.Tensor]:
    """For each forward of :func:`run_forwards`, a ``[batch, tokens]`` bool mask of the selected
    token indices (``selected[i]`` indexes ``seqs[i]``), placed as the left padding places them."""
    out = []
    for batch in batch_plan([len(s) for s in seqs], batch_size):
        width = max(len(seqs[i]) for i in batch)
        mask = torch.zeros(len(batch), width, dtype=torch.bool)
        for r, i in enumerate(batch):
            offset = width - len(seqs[i])
            for j in selected[i]:
                if not 0 <= j < len(seqs[i]):
                    raise ValueError(f"position {j} outside sequence {i} of {len(seqs[i])} tokens")
                mask[r, offset + j] = True
        out.append(mask)
    return out


def run_forwards(net: torch.nn.Module, seqs: Sequence[Sequence[int]], batch_size: int, pad_id: int, progress=None) -> None:
    """Run token sequences through ``net`` in left-padded batches (:func:`batch_plan`), for the hooks.

    The batches depend only on ``seqs`` and ``batch_size``, so two calls with the same sequences
    make identical forwards: what recording and contrasting need. Only the last position's logits
    are computed.
    """
    device = next(net.parameters()).device
    for batch in batch_plan([len(s) for s in seqs], batch_size):
        width = max(len(seqs[i]) for i in batch)
        ids = torch.full((len(batch), width), int(pad_id), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):
            ids[r, width - len(seqs[i]) :] = torch.tensor(list(seqs[i]), dtype=torch.long)
            mask[r, width - len(seqs[i]) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            net(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                logits_to_keep=1, use_cache=False)
        if progress:
            progress(len(batch))


def forward_batches(backend, seqs: Sequence[Sequence[int]], progress=None) -> None:
    """:func:`run_forwards` on a backend's model, in its batch size (``auto`` settled on ``seqs``) and
    with its padding token."""
    run_forwards(backend.net, seqs, backend.settle_batch_size(seqs), backend.tokenizer.pad_token_id, progress)
