"""Activation patching: the base model with chosen neurons' activations replaced by the fine-tuned
model's activations on the same tokens, scored on its *own* output distribution over digits.

For each chunk of prompts (one backend batch) the fine-tuned model runs once with a recorder on
the union of the neurons to patch; then the base model runs once per neuron set with those
activations written in. Both runs go through ``backend.option_logprobs``, which batches and pads a
given list of prompts identically every time, so recorded and patched forwards line up token by token.

The controls are random sets with the same number of neurons in each layer as the set they stand
for (``contrast.matched_random_set``), several draws each. Every fraction comes with a bootstrap
interval over forms, and a topic where the adapter's own shift is too small to divide by is flagged.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from ..core import DIGITS, distribution_from_option_logprobs
from ..core.records import DEFAULT_MIN_MASS
from ..instruments.questionnaire import Form, score_record
from .capture import Patcher, Recorder, site_shape
from .contrast import by_layer, matched_random_set, per_layer_counts
from .metrics import agreement_rating
from .neuron_file import NeuronSets

SCALE_RANGE = {"stance": 2.0, "expected": 9.0}  # width of each measure's scale
MIN_SHIFT_SHARE = 0.005  # an adapter shift under 0.5% of the scale is too small to divide by


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
    step = max(1, backend.settle_batch_size([backend.encode(c) for c in contexts]))
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


def form_stances(forms: Sequence[Form], logprobs: Sequence[Sequence[float]], value: str = "stance",
                 min_mass: float = DEFAULT_MIN_MASS) -> list[float]:
    """Keyed stance (or ``"expected"``: the rating read on the normal scale) of each form from its
    digit log-probabilities; NaN where the answer is off-format (digit mass under ``min_mass``)."""
    out = []
    for form, lps in zip(forms, logprobs):
        rec = score_record(form, distribution_from_option_logprobs(lps, DIGITS), min_mass)
        v = rec["stance"] if value == "stance" else rec["expected"]
        if rec["status"] != "ok" or v is None:
            out.append(math.nan)
        else:
            out.append(float(v) if value == "stance" else agreement_rating(v, form.direction))
    return out


def shift_fraction(base: float, tuned: float, patched: float) -> float:
    """Fraction of the adapter's own stance shift that the patched base reproduces (NaN if no shift)."""
    own = tuned - base
    return (patched - base) / own if own != 0 else math.nan


def _fractions(base: np.ndarray, tuned: np.ndarray, patched: np.ndarray) -> np.ndarray:
    """Fractions along the last axis: ``patched`` is ``[draws, ..., forms]``; NaN where the shift is 0."""
    own = tuned.mean(axis=-1) - base.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(own != 0, (patched.mean(axis=-1) - base.mean(axis=-1)) / own, np.nan)


def fraction_interval(base, tuned, patched, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0):
    """``(fraction, lo, hi)``: the mean over draws of the fraction each patched set reproduces, with a
    percentile bootstrap interval over forms (the same forms resampled for base, adapter and patched).

    ``patched`` is ``[draws, forms]`` (one row per patched set). Fewer than 2 forms: no interval.
    """
    from scipy.stats import bootstrap

    b, t, p = np.asarray(base, float), np.asarray(tuned, float), np.atleast_2d(np.asarray(patched, float))
    point = float(np.mean(_fractions(b, t, p)))
    if b.size < 2 or math.isnan(point):
        return point, math.nan, math.nan

    def stat(b, t, *p, axis=-1):
        return np.mean(_fractions(b, t, np.stack(p)), axis=0)

    with np.errstate(divide="ignore", invalid="ignore"):
        res = bootstrap((b, t, *p), stat, paired=True, vectorized=True, n_resamples=n_resamples,
                        confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return point, float(lo), float(hi)


def shift_interval(base, tuned, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0):
    """``(shift, lo, hi)``: the adapter's mean shift over forms with its paired bootstrap interval."""
    from scipy.stats import bootstrap

    d = np.asarray(tuned, float) - np.asarray(base, float)
    if d.size < 2:
        return (float(d.mean()) if d.size else math.nan), math.nan, math.nan
    res = bootstrap((d,), np.mean, vectorized=True, n_resamples=n_resamples, confidence_level=confidence,
                    method="percentile", rng=np.random.default_rng(seed))
    return float(d.mean()), float(res.confidence_interval.low), float(res.confidence_interval.high)


def shift_warning(shift: float, lo: float, hi: float, value: str) -> str:
    """Why a fraction of this adapter shift means nothing ("" when it can be read)."""
    floor = MIN_SHIFT_SHARE * SCALE_RANGE[value]
    if math.isnan(shift) or abs(shift) < floor:
        return f"adapter shift {shift:+.4f} is under {floor:g} (0.5% of the scale): fractions are noise"
    if not math.isnan(lo) and lo <= 0 <= hi:
        return f"adapter shift {shift:+.4f} is not distinguishable from 0 (95% CI [{lo:+.4f}, {hi:+.4f}]): fractions are noise"
    return ""


def control_sets(name: str, chosen: np.ndarray, layers: int, width: int, seed: int, n_random: int) -> dict[str, np.ndarray]:
    """``n_random`` layer-matched random draws standing in for ``chosen`` (keys ``random_<name>/<i>``)."""
    if chosen.size == 0:
        return {f"random_{name}/{i}": chosen for i in range(n_random)}
    return {f"random_{name}/{i}": matched_random_set(chosen, layers, width, seed + i) for i in range(n_random)}


def patching_table(
    backend,
    adapter: str,
    forms: Sequence[Form],
    neuron_sets: NeuronSets,
    site: str,
    seed: int = 0,
    progress=None,
    value: str = "stance",
    min_mass: float = DEFAULT_MIN_MASS,
    n_random: int = 5,
    n_resamples: int = 2000,
):
    """Per evaluation topic: the share of the adapter's shift that general, topic-specific and random neurons carry.

    Each row gives the mean of base, adapter and patched base over the topic's forms answered in
    format (digit mass >= ``min_mass``) by every variant, the fraction with its 95% interval, and a
    ``warning`` where the adapter's own shift is too small for a fraction to mean anything. The
    ``random_general`` and ``random_specific`` rows average ``n_random`` layer-matched draws
    (``draws_min``/``draws_max``: their spread). ``value="expected"`` measures the expected rating
    (agreement, 0-9) instead of the keyed stance.
    """
    import pandas as pd

    if value not in SCALE_RANGE:
        raise ValueError(f"value must be one of {sorted(SCALE_RANGE)}")
    layers, width = site_shape(backend.net, site)
    rows = []
    topics = list(dict.fromkeys(f.topic for f in forms))
    for k, topic in enumerate(topics):
        tf = [f for f in forms if f.topic == topic]
        chosen = {"general": neuron_sets.general, "specific": neuron_sets.specific.get(topic, np.zeros(0, np.int64))}
        sets = dict(chosen)
        for name, idx in chosen.items():
            sets.update(control_sets(name, idx, layers, width, seed * 100_003 + 1_000 * k + (500 if name == "specific" else 0),
                                     n_random))
        lps = patched_logprobs(backend, adapter, [backend.chat_prompt(f.prompt()) for f in tf], sets, site, progress)
        vals = {name: np.asarray(form_stances(tf, v, value, min_mass)) for name, v in lps.items()}
        ok = np.all([np.isfinite(v) for v in vals.values()], axis=0)
        base, tuned = vals["base"][ok], vals["tuned"][ok]
        shift, s_lo, s_hi = shift_interval(base, tuned, n_resamples, seed=seed)
        warning = shift_warning(shift, s_lo, s_hi, value) if ok.any() else "no form answered in format by every variant"
        for name in chosen:
            for label, keys in ((name, [name]), (f"random_{name}", [f"random_{name}/{i}" for i in range(n_random)])):
                patched = np.stack([vals[key][ok] for key in keys])
                draws = _fractions(base, tuned, patched) if ok.any() else np.full(len(keys), np.nan)
                frac, lo, hi = fraction_interval(base, tuned, patched, n_resamples, seed=seed) if ok.any() else (math.nan,) * 3
                rows.append({
                    "topic": topic, "set": label, "measure": value, "n_neurons": int(sets[keys[0]].size),
                    "per_layer": per_layer_counts(sets[keys[0]], layers, width).tolist(), "draws": len(keys),
                    "n_forms": int(ok.sum()), "base_stance": _mean(base), "adapter_stance": _mean(tuned),
                    "patched_stance": float(np.mean([_mean(p) for p in patched])), "adapter_shift": shift,
                    "adapter_shift_lo": s_lo, "adapter_shift_hi": s_hi,
                    "patched_shift": float(np.mean([_mean(p) for p in patched])) - _mean(base),
                    "fraction": frac, "fraction_lo": lo, "fraction_hi": hi,
                    "draws_min": float(np.nanmin(draws)) if np.isfinite(draws).any() else math.nan,
                    "draws_max": float(np.nanmax(draws)) if np.isfinite(draws).any() else math.nan,
                    "warning": warning,
                })
    return pd.DataFrame(rows)


def _mean(values) -> float:
    values = np.asarray(values, float)
    return float(values.mean()) if values.size else math.nan
