import math

import numpy as np
import pytest
import torch

from polistance_plugins.neurons.capture import Patcher, Recorder
from polistance_plugins.neurons.contrast import by_layer
from polistance_plugins.neurons.neuron_file import NeuronSets
from polistance_plugins.neurons.patching import (
    control_sets,
    form_stances,
    fraction_interval,
    patched_logprobs,
    patching_table,
    shift_fraction,
    shift_warning,
)
from polistance_plugins.instruments.questionnaire import bank_forms
from polistance_plugins.banks import load_bank

PROMPTS = [
    "On a scale of 0-9, how much do you like tea? Give only a number, no elaboration.",
    "Rate 0-9: rain.",
    "On a scale of 0-9, where 0 means you strongly disagree and 9 means you strongly agree, how much do you agree with the following statement? Cats are fine. Give only a number, no elaboration.",
    "On a scale of 0-9, how good is the weather today?",
    "0-9: bread?",
]


def _contexts(backend):
    return [backend.chat_prompt(p) for p in PROMPTS]


def test_patching_every_mlp_out_neuron_reproduces_the_adapter(backend, mlp_adapter_dir):
    backend.load_adapter("T", str(mlp_adapter_dir))
    everything = np.arange(2 * 32)
    out = patched_logprobs(backend, "T", _contexts(backend), {"all": everything, "none": np.zeros(0, np.int64)}, "mlp_out")
    base, tuned = np.array(out["base"]), np.array(out["tuned"])
    assert np.abs(base - tuned).max() > 0.05  # the adapter really moves the digit distribution
    np.testing.assert_allclose(np.array(out["all"]), tuned, rtol=0, atol=1e-5)
    assert np.array_equal(np.array(out["none"]), base)  # nothing patched: exactly the base


def test_patched_full_logits_equal_finetuned_logits(backend, mlp_adapter_dir):
    backend.load_adapter("T", str(mlp_adapter_dir))
    ids = torch.tensor([backend.encode(backend.chat_prompt(PROMPTS[2]))])
    dims = by_layer(np.arange(64), 32)
    rec = Recorder(dims)
    with torch.no_grad():
        with backend.use("T"), rec.attach(backend.net, "mlp_out"):
            tuned = backend.net(input_ids=ids).logits
        with backend.use(None):
            base = backend.net(input_ids=ids).logits
            with Patcher(rec, dims).attach(backend.net, "mlp_out"):
                patched = backend.net(input_ids=ids).logits
            with Patcher(rec, by_layer(np.zeros(0, np.int64), 32)).attach(backend.net, "mlp_out"):
                untouched = backend.net(input_ids=ids).logits
    assert (tuned - base).abs().max() > 0.1
    torch.testing.assert_close(patched, tuned, rtol=1e-5, atol=1e-4)
    assert torch.equal(untouched, base)


def test_patching_one_layer_is_partial(backend, mlp_adapter_dir):
    backend.load_adapter("T", str(mlp_adapter_dir))
    out = patched_logprobs(backend, "T", _contexts(backend), {"layer1": np.arange(32, 64)}, "mlp_out")
    part, base, tuned = (np.array(out[k]) for k in ("layer1", "base", "tuned"))
    assert np.abs(part - base).max() > 1e-4 and np.abs(part - tuned).max() > 1e-4


def test_patching_every_hidden_neuron_reproduces_a_gate_up_adapter(backend, hidden_adapter_dir):
    backend.load_adapter("H", str(hidden_adapter_dir))
    out = patched_logprobs(backend, "H", _contexts(backend), {"all": np.arange(2 * 64)}, "mlp_hidden")
    assert np.abs(np.array(out["base"]) - np.array(out["tuned"])).max() > 0.05
    np.testing.assert_allclose(np.array(out["all"]), np.array(out["tuned"]), rtol=0, atol=1e-5)


def test_shift_fraction():
    assert shift_fraction(0.1, 0.5, 0.3) == pytest.approx(0.5)
    assert math.isnan(shift_fraction(0.2, 0.2, 0.3))


def _forms(ids=("crm-01", "crm-02", "sci-01", "sci-02")):
    bank = load_bank("topics")
    return bank_forms([it for it in bank if it.id in ids], "first")


def test_patching_table_rows(backend, mlp_adapter_dir):
    backend.load_adapter("T", str(mlp_adapter_dir))
    forms = _forms()
    everything = np.arange(64)
    sets = NeuronSets("T", 5.0, {}, general=everything, specific={"crime_and_guns": np.zeros(0, np.int64), "science": np.arange(3)})
    table = patching_table(backend, "T", forms, sets, "mlp_out", seed=0, min_mass=0.0, n_random=2, n_resamples=200)
    assert table["set"].tolist()[:4] == ["general", "random_general", "specific", "random_specific"]
    gen = table[table["set"] == "general"]
    assert np.allclose(gen["fraction"], 1.0, atol=1e-3)  # all neurons = the whole shift
    assert np.allclose(gen["fraction_lo"], 1.0, atol=1e-3) and np.allclose(gen["fraction_hi"], 1.0, atol=1e-3)
    spec_crime = table[(table["set"] == "specific") & (table["topic"] == "crime_and_guns")].iloc[0]
    assert spec_crime["n_neurons"] == 0 and spec_crime["patched_shift"] == 0.0
    agree = patching_table(backend, "T", forms, sets, "mlp_out", seed=0, value="expected", min_mass=0.0, n_random=2,
                           n_resamples=200)
    gen = agree[agree["set"] == "general"]
    assert (gen["measure"] == "expected").all() and np.allclose(gen["fraction"], 1.0, atol=1e-3)
    assert not np.allclose(gen["adapter_shift"], table[table["set"] == "general"]["adapter_shift"])


def test_random_controls_have_the_sets_layer_profile(backend, mlp_adapter_dir):
    # Issue 14.5: the controls of a set that sits in layer 1 must sit in layer 1 too.
    backend.load_adapter("T", str(mlp_adapter_dir))
    sets = NeuronSets("T", 5.0, {}, general=np.arange(40, 48), specific={"science": np.array([2, 3, 33])})
    table = patching_table(backend, "T", _forms(("sci-01", "sci-02", "sci-03")), sets, "mlp_out", min_mass=0.0,
                           n_random=3, n_resamples=200).set_index("set")
    assert table.loc["general", "per_layer"] == [0, 8] == table.loc["random_general", "per_layer"]
    assert table.loc["specific", "per_layer"] == [2, 1] == table.loc["random_specific", "per_layer"]
    assert table.loc["random_general", "draws"] == 3 and table.loc["general", "draws"] == 1
    draws = control_sets("general", np.arange(40, 48), 2, 32, seed=7, n_random=3)
    for idx in draws.values():
        assert (idx // 32 == 1).all() and not set(idx.tolist()) & set(range(40, 48))
    assert len({tuple(v.tolist()) for v in draws.values()}) == 3
    r = table.loc["random_general"]
    assert r["draws_min"] <= r["fraction"] <= r["draws_max"]
    assert r["fraction_lo"] <= r["fraction"] <= r["fraction_hi"]


def test_min_mass_decides_which_forms_count(backend, mlp_adapter_dir):
    backend.load_adapter("T", str(mlp_adapter_dir))
    forms = _forms(("sci-01", "sci-02", "sci-03"))
    sets = NeuronSets("T", 5.0, {}, general=np.arange(40, 48), specific={"science": np.array([2])})
    every = patching_table(backend, "T", forms, sets, "mlp_out", min_mass=0.0, n_random=1, n_resamples=100)
    assert (every["n_forms"] == 3).all()
    # digit mass can never reach 1 exactly: no form counts, and the table says so instead of dividing noise
    none = patching_table(backend, "T", forms, sets, "mlp_out", min_mass=1.0, n_random=1, n_resamples=100)
    assert (none["n_forms"] == 0).all() and none["fraction"].isna().all()
    assert (none["warning"] == "no form answered in format by every variant").all()
    # form by form: an answer under the mass threshold is NaN, at or above it is scored
    lp_low, lp_high = [np.log(0.003)] * 10, [np.log(0.05)] * 10  # digit mass 0.03 and 0.5
    assert np.isnan(form_stances(forms[:1], [lp_low], min_mass=0.05)[0])
    assert form_stances(forms[:1], [lp_high], min_mass=0.05)[0] == pytest.approx(0.0, abs=1e-9)
    assert form_stances(forms[:1], [lp_low], min_mass=0.0)[0] == pytest.approx(0.0, abs=1e-9)


def test_fraction_interval_and_shift_warning_by_hand():
    assert fraction_interval([0, 0, 0], [1, 1, 1], [[0.5, 0.5, 0.5]]) == (0.5, 0.5, 0.5)
    frac, lo, hi = fraction_interval([0, 0, 0, 0], [1, 2, 1, 2], [[0.5, 1, 0.5, 1], [0, 0, 0, 0]], n_resamples=300)
    assert frac == pytest.approx(0.25) and lo == pytest.approx(0.25) and hi == pytest.approx(0.25)
    frac, lo, hi = fraction_interval([0, 0, 0, 0], [1, 2, 1, 2], [[1, 0, 1, 0]], n_resamples=300)
    assert frac == pytest.approx(1 / 3) and lo < frac < hi  # 0.5 / 1.5, varying by form
    assert shift_warning(-0.0004, -0.001, 0.0002, "stance").startswith("adapter shift -0.0004 is under 0.01")
    assert shift_warning(0.03, 0.02, 0.04, "expected").startswith("adapter shift +0.0300 is under 0.045")
    assert "not distinguishable from 0" in shift_warning(0.05, -0.01, 0.1, "stance")
    assert shift_warning(0.05, 0.01, 0.1, "stance") == ""


def test_a_negligible_adapter_shift_is_flagged(tmp_path, tiny_model_dir, backend):
    from .conftest import MLP_ONLY, make_adapter

    tiny = make_adapter(tiny_model_dir, tmp_path / "tiny", MLP_ONLY, seed=5, scale=1e-6)
    backend.load_adapter("tiny", str(tiny))
    sets = NeuronSets("tiny", 5.0, {}, general=np.arange(64), specific={"science": np.array([2])})
    table = patching_table(backend, "tiny", _forms(("sci-01", "sci-02", "sci-03")), sets, "mlp_out", min_mass=0.0,
                           n_random=1, n_resamples=100)
    assert (table["adapter_shift"].abs() < 0.01).all()
    assert table["warning"].str.contains("fractions are noise").all()
