"""Activation patching: the base model with chosen neurons' activations replaced by the fine-tuned
model's activations on the same tokens, scored on its *own* output distribution over digits.

For each chunk of prompts (one backend batch) the fine-tuned model runs once with a recorder on
the union of the neurons to patch; then the base model runs once per neuron set with those
activations written in. Both runs go through ``backend.option_logprobs``, which batches and pads a
given list of prompts identically every time, so recorded and patched forwards line up token by token.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from ..instruments.questionnaire import Form, score_record
from ..core import DIGITS, distribution_from_option_logprobs
from .capture import Patcher, Recorder, site_shape
from .contrast import by_layer, random_set
from .neuron_file import NeuronSets


def patched_logprobs(
    backend, adapter: str, contexts: Sequence[str], sets: Mapping[str, np.ndarray], site: str, progress=None
) -> dict[str, list[list[float]]]:
    """Digit log-probabilities of ``contexts`` under the base, the adapter, and the base patched with each set.

    Keys of the result: ``"base"``, ``"tuned"`` and every key of ``sets`` (flat neuron indices).
    """
    _, width = site_shape(backend.net, site)
    union = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in sets.values()] or [np.zeros(0, np.int64)]))
    record_dims = by_layer(union, width)
    patch_dims = {name: by_layer(idx, width) for name, idx in sets.items()}
    out: dict[str, list[list[float]]] = {"base": [], "tuned": [], **{name: [] for name in sets}}
    step = max(1, backend.batch_size)
    for start in range(0, len(contexts), step):
        chunk = list(contexts[start : start + step])
        with backend.use(None):
            out["base"] += backend.option_logprobs(chunk, DIGITS)
        recorder = Recorder(record_dims)
        with backend.use(adapter), recorder.attach(backend.net, site):
            out["tuned"] += backend.option_logprobs(chunk, DIGITS)
        for name in sets:
            with backend.use(None), Patcher(recorder, patch_dims[name]).attach(backend.net, site):
                out[name] += backend.option_logprobs(chunk, DIGITS)
        if progress:
            progress(len(chunk))
    return out


def form_stances(forms: Sequence[Form], logprobs: Sequence[Sequence[float]], value: str = "stance") -> list[float]:
    """Keyed stance (or another per-form score, e.g. "expected") of each form from its digit
    log-probabilities; NaN where no digit had mass."""
    out = []
    for form, lps in zip(forms, logprobs):
        s = score_record(form, distribution_from_option_logprobs(lps, DIGITS))[value]
        out.append(math.nan if s is None else float(s))
    return out


def shift_fraction(base: float, tuned: float, patched: float) -> float:
    """Fraction of the adapter's own stance shift that the patched base reproduces (NaN if no shift)."""
    own = tuned - base
    return (patched - base) / own if own != 0 else math.nan


def patching_table(
    backend,
    adapter: str,
    forms: Sequence[Form],
    neuron_sets: NeuronSets,
    site: str,
    seed: int = 0,
    progress=None,
    value: str = "stance",
):
    """Per evaluation topic: stance shift reproduced by general, topic-specific and random neurons.

    Random controls are seeded uniform draws over all neurons of the same size as the general set
    and as the topic's specific set. Each row gives the mean keyed stance of base, adapter and
    patched base over the topic's forms (those with a valid stance in every variant) and the fraction.
    ``value="expected"`` measures the unkeyed expected rating (agreement, 0-9) instead.
    """
    import pandas as pd

    layers, width = site_shape(backend.net, site)
    total = layers * width
    rows = []
    topics = list(dict.fromkeys(f.topic for f in forms))
    for k, topic in enumerate(topics):
        tf = [f for f in forms if f.topic == topic]
        general = neuron_sets.general
        specific = neuron_sets.specific.get(topic, np.zeros(0, np.int64))
        sets = {
            "general": general,
            "specific": specific,
            "random_general": random_set(total, general.size, seed * 1000 + 2 * k),
            "random_specific": random_set(total, specific.size, seed * 1000 + 2 * k + 1),
        }
        lps = patched_logprobs(backend, adapter, [backend.chat_prompt(f.prompt()) for f in tf], sets, site, progress)
        stances = {name: np.asarray(form_stances(tf, v, value)) for name, v in lps.items()}
        ok = np.all([np.isfinite(v) for v in stances.values()], axis=0)

        def mean(name):
            return float(stances[name][ok].mean()) if ok.any() else math.nan

        base, tuned = mean("base"), mean("tuned")
        for name in sets:
            patched = mean(name)
            rows.append(
                {
                    "topic": topic,
                    "set": name,
                    "measure": value,
                    "n_neurons": int(sets[name].size),
                    "n_forms": int(ok.sum()),
                    "base_stance": base,
                    "adapter_stance": tuned,
                    "patched_stance": patched,
                    "adapter_shift": tuned - base,
                    "patched_shift": patched - base,
                    "fraction": shift_fraction(base, tuned, patched),
                }
            )
    return pd.DataFrame(rows)
