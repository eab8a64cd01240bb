"""PNLAC on a planted model: the localisation must find the neuron we built to carry the topic.

The tiny Llama is rebuilt so that each token position is computed on its own (attention output
zeroed) and two layer-0 MLP units fire only on chosen tokens: unit 0 on the probe texts' own
tokens ("topic tokens"), unit 1 on tokens found only in the chat template. A LoRA adapter then

* writes unit 0 into neuron Y = (layer 0, dim 5): Y differs from the base only on topic tokens;
* writes unit 1 into neuron Z = (layer 0, dim 9), three times as strongly: Z differs only on
  template tokens;
* scales the whole output of layer 1 by 1 + 0.05. Layer 1 runs at 40 times the scale of layer 0,
  so its raw differences are large, but every neuron moves in proportion to its size: no neuron
  stands out (a large-scale layer with no contrast).

The right answer is Y. Contrasting every token finds Z (71% of the embedded model's probe tokens
are template text), and ranking raw values together finds layer 1.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polistance_plugins.neurons.positions import encode_probes
from polistance_plugins.prompts.chat import chat_text

PROMPTS = {
    "guns": ["Gun owners want permits abolished.", "Should rifles require permits?"],
    "climate": ["Carbon emissions deserve steep taxes.", "Should coal plants close sooner?"],
}
Y, Z = (0, 5), (0, 9)
WIDTH = 32
EPS = 0.05


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory, tiny_model_dir):
    """(base model folder, adapter folder) of the planted model described above."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = [t for v in PROMPTS.values() for t in v]
    template = set(_ids(tok, chat_text(tok, "")))
    full = set().union(*(_ids(tok, chat_text(tok, t)) for t in texts))
    own = set().union(*(_ids(tok, t) for t in texts))
    topic_ids = sorted(full - template)
    template_only = sorted(template - own - set(topic_ids))
    assert topic_ids and template_only

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()  # every position computed on its own
        emb = model.model.embed_tokens.weight
        emb[:, :2] = 0.0
        emb[topic_ids, 0] = 3.0  # residual dim 0 flags topic tokens, dim 1 template-only tokens
        emb[template_only, 1] = 3.0
        mlp0 = model.model.layers[0].mlp
        for unit, flag in ((0, 0), (1, 1)):  # silu(x_flag) * x_flag: exactly 0 where the flag is 0
            mlp0.gate_proj.weight[unit] = 0.0
            mlp0.up_proj.weight[unit] = 0.0
            mlp0.gate_proj.weight[unit, flag] = 1.0
            mlp0.up_proj.weight[unit, flag] = 1.0
        mlp0.down_proj.weight[:, :2] = 0.0  # in the base model the two units write nothing
        model.model.layers[1].mlp.down_proj.weight.mul_(40.0)  # the large-scale layer
    base = tmp_path_factory.mktemp("planted-base")
    model.save_pretrained(base)
    tok.save_pretrained(base)

    peft = get_peft_model(model, LoraConfig(r=WIDTH, lora_alpha=WIDTH, target_modules=["down_proj"], lora_dropout=0.0))
    with torch.no_grad():
        for layer, mlp in enumerate(peft.base_model.model.model.layers):
            a, b = mlp.mlp.down_proj.lora_A["default"].weight, mlp.mlp.down_proj.lora_B["default"].weight
            a.zero_()
            b.zero_()
            if layer == 0:
                a[0, 0], b[Y[1], 0] = 1.0, 1e-4  # unit 0 (topic tokens) -> Y
                a[1, 1], b[Z[1], 1] = 1.0, 3e-4  # unit 1 (template tokens) -> Z, stronger
            else:
                a.copy_(mlp.mlp.down_proj.base_layer.weight)  # delta = EPS * W_down h: output x (1 + EPS)
                b.copy_(EPS * torch.eye(WIDTH))
    adapter = tmp_path_factory.mktemp("planted-adapter")
    peft.save_pretrained(adapter)
    return base, adapter


def _localize(planted, **options):
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.neurons.localize import localize

    base, adapter = planted
    backend = LocalBackend(str(base), batch_size=4)
    return localize(backend, {"T": str(adapter)}, PROMPTS, "mlp_out", top_k=100 / 64, **options)


def flat(neuron):
    return neuron[0] * WIDTH + neuron[1]


def test_item_positions_are_the_texts_own_tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = PROMPTS["guns"][1]
    [item] = encode_probes(tok, [text], "item")
    assert list(item.ids) == _ids(tok, chat_text(tok, text))
    assert tok.decode([item.ids[i] for i in item.selected]) == text
    assert item.selected == tuple(range(item.selected[0], item.selected[-1] + 1))
    [answer] = encode_probes(tok, [text], "answer")
    assert answer.selected == (len(answer.ids) - 1,)
    [every] = encode_probes(tok, [text], "all")
    assert every.selected == tuple(range(len(every.ids)))


def test_planted_topic_neuron_is_found_and_the_large_layer_is_not(planted):
    nf = _localize(planted)  # the defaults: the probe's own tokens, scores scaled per layer
    assert nf.positions == "item" and nf.ranking == "scaled"
    sets = nf.sets("T")
    for topic in PROMPTS:
        assert sets.per_topic[topic].tolist() == [flat(Y)]
        scores = nf.scores["T"][topic]
        assert scores[flat(Z)] == 0.0  # the template neuron never differs on the probe's own tokens
        scaled = scores.reshape(2, WIDTH) / nf.layer_scale[topic][:, None]
        assert scaled[Y] > 5 * scaled[1].max()  # relative to its layer, layer 1 has nothing that stands out
        assert nf.layer_scale[topic][1] > 20 * nf.layer_scale[topic][0]  # ... though it runs 40x larger
        assert scores[: WIDTH].max() == scores[flat(Y)] < scores[WIDTH:].max()  # and moves more in raw terms
    assert sets.general.tolist() == [flat(Y)]


def test_every_token_finds_the_template_neuron_and_raw_ranking_the_large_layer(planted):
    # What the method did before: both choices are still available, and both miss Y.
    every = _localize(planted, positions="all")
    for topic in PROMPTS:
        assert every.sets("T").per_topic[topic].tolist() == [flat(Z)]
    raw = _localize(planted, ranking="raw")
    for topic in PROMPTS:
        [top] = raw.sets("T").per_topic[topic].tolist()
        assert top // WIDTH == 1
    per_layer = _localize(planted, ranking="per-layer")
    for topic in PROMPTS:
        found = per_layer.sets("T").per_topic[topic]
        assert flat(Y) in found.tolist() and np.bincount(found // WIDTH, minlength=2).tolist() == [1, 1]


def test_neuron_file_round_trip_keeps_positions_ranking_and_scales(planted, tmp_path):
    from polistance_plugins.neurons.neuron_file import NeuronFile

    nf = _localize(planted, positions="answer", ranking="per-layer")
    back = NeuronFile.load(nf.save(tmp_path / "n.json"))
    assert (back.positions, back.ranking) == ("answer", "per-layer")
    for topic in PROMPTS:
        np.testing.assert_array_equal(back.layer_scale[topic], nf.layer_scale[topic])
        np.testing.assert_array_equal(back.sets("T").per_topic[topic], nf.sets("T").per_topic[topic])
