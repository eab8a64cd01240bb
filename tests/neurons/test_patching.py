import math

import numpy as np
import pytest
import torch

from polistance_plugins.neurons.capture import Patcher, Recorder
from polistance_plugins.neurons.contrast import by_layer
from polistance_plugins.neurons.neuron_file import NeuronSets
from polistance_plugins.neurons.patching import patched_logprobs, patching_table, shift_fraction
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


def test_patching_table_rows(backend, mlp_adapter_dir):
    backend.load_adapter("T", str(mlp_adapter_dir))
    bank = load_bank("topics")
    forms = bank_forms([it for it in bank if it.id in ("crm-01", "crm-02", "sci-01", "sci-02")], "first")
    everything = np.arange(64)
    sets = NeuronSets("T", 5.0, {}, general=everything, specific={"crime_and_guns": np.zeros(0, np.int64), "science": np.arange(3)})
    table = patching_table(backend, "T", forms, sets, "mlp_out", seed=0)
    assert set(table["set"]) == {"general", "specific", "random_general", "random_specific"}
    gen = table[table["set"] == "general"]
    assert np.allclose(gen["fraction"].dropna(), 1.0, atol=1e-3)  # all neurons = the whole shift
    spec_crime = table[(table["set"] == "specific") & (table["topic"] == "crime_and_guns")].iloc[0]
    assert spec_crime["n_neurons"] == 0 and spec_crime["patched_shift"] == 0.0
    agree = patching_table(backend, "T", forms, sets, "mlp_out", seed=0, value="expected")
    gen = agree[agree["set"] == "general"]
    assert (gen["measure"] == "expected").all() and np.allclose(gen["fraction"], 1.0, atol=1e-3)
    assert not np.allclose(gen["adapter_shift"], table[table["set"] == "general"]["adapter_shift"])
