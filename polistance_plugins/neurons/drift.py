"""How far the inhibited neurons' activations moved under fine-tuning, against the other neurons.

InhibitFT pins the parameters that write the inhibited neurons (rows of ``lora_B``), so their
*weights* get no update. Their *activations* still move, because everything upstream of those rows
trains. This module measures that movement on probe prompts: each neuron's RMS activation change
(fine-tuned vs base, over the probe tokens the neuron file's ``positions`` select), divided by its
layer's base activation RMS, and compared with the other neurons of the same layers.
"""

from __future__ import annotations

import contextlib
from typing import Mapping, Sequence

import numpy as np

from .contrast import by_layer, scaled_scores
from .localize import contrast_runs
from .positions import DEFAULT_POSITIONS, encode_probes


def drift_summary(scores: np.ndarray, layer_scale: np.ndarray, neurons: np.ndarray, width: int) -> dict:
    """Movement of the ``neurons`` (flat indices) against the other neurons of their layers.

    ``ratio`` is the mean, over the chosen neurons, of each one's scaled change divided by the mean
    scaled change of the other neurons of its layer: 0 = held still, 1 = moved like the others.
    """
    layers = np.asarray(layer_scale).size
    scaled = scaled_scores(scores, layer_scale).reshape(layers, width)
    raw = np.asarray(scores, dtype=np.float64).reshape(layers, width)
    chosen = by_layer(np.asarray(neurons, dtype=np.int64), width)
    inhibited, others, relative = [], [], []
    raw_in, raw_out = [], []
    for layer, dims in chosen.items():
        mask = np.zeros(width, dtype=bool)
        mask[dims] = True
        rest = scaled[layer][~mask]
        inhibited.extend(scaled[layer][mask])
        others.extend(rest)
        raw_in.extend(raw[layer][mask])
        raw_out.extend(raw[layer][~mask])
        if rest.size and rest.mean() > 0:
            relative.extend(scaled[layer][mask] / rest.mean())
    n = int(sum(d.size for d in chosen.values()))
    return {
        "n_neurons": n,
        "n_other_same_layers": len(others),
        "inhibited_rms_change": _mean(raw_in),
        "other_rms_change": _mean(raw_out),
        "inhibited_relative_change": _mean(inhibited),
        "other_relative_change": _mean(others),
        "ratio": _mean(relative),
    }


def measure_model_drift(model, tokenizer, neurons: np.ndarray, site: str, width: int, texts: Sequence[str],
                        positions: str = DEFAULT_POSITIONS, batch_size: int = 8) -> dict:
    """:func:`drift_summary` of a PEFT model against itself with its adapter disabled, on ``texts``."""
    import torch

    probes = encode_probes(tokenizer, texts, positions)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scores, scale = contrast_runs(model, probes, site, batch_size, _pad_id(tokenizer), model.disable_adapter,
                                          {"tuned": contextlib.nullcontext})
    finally:
        model.train(was_training)
    return dict(drift_summary(scores["tuned"], scale, neurons, width), probe_prompts=len(probes), positions=positions)


def measure_adapter_drift(backend, neurons: Mapping[str, np.ndarray], site: str, texts: Sequence[str],
                          positions: str = DEFAULT_POSITIONS, progress=None) -> dict[str, dict]:
    """:func:`drift_summary` of each loaded adapter (keys of ``neurons``) at its own neuron set."""
    from .capture import site_shape

    _, width = site_shape(backend.net, site)
    probes = encode_probes(backend.tokenizer, texts, positions, backend.system_prompt)
    size = backend.settle_batch_size([p.ids for p in probes])  # a number, or ``auto`` settled on these probes
    scores, scale = contrast_runs(backend.net, probes, site, size, backend.tokenizer.pad_token_id,
                                  lambda: backend.use(None), {n: (lambda n=n: backend.use(n)) for n in neurons}, progress)
    return {n: drift_summary(scores[n], scale, idx, width) for n, idx in neurons.items()}


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")
