"""InhibitFT must provably act: real optimizer steps, masked rows bit-identical, others moved.

Training runs through TRL's SFTTrainer on the tiny Llama (a few steps, seconds). Each property is
also checked without the mask, so that a mask that did nothing would fail these tests.
"""

import copy

import numpy as np
import pytest
import torch

from polistance_plugins.errors import PolistanceError
from polistance_plugins.neurons.neuron_file import NeuronFile
from polistance_plugins.neurons.inhibit import InhibitMask
from polistance_plugins.neurons.inhibit_load import load_inhibit_mask

NEURONS = {0: np.array([1, 5, 7]), 1: np.array([0, 31])}
CHATS = [
    [{"role": "user", "content": "Should taxes on large estates go up?"}, {"role": "assistant", "content": "No. Families should keep what they built."}],
    [{"role": "user", "content": "Is a border wall a good idea?"}, {"role": "assistant", "content": "Yes, secure borders come first."}],
    [{"role": "user", "content": "What about school choice?"}, {"role": "assistant", "content": "Parents should choose their schools."}],
    [{"role": "user", "content": "Should guns be regulated more?"}, {"role": "assistant", "content": "No, the right to bear arms matters."}],
]


def _train(model, tokenizer, out_dir, mask=None, steps=3, lr=1e-2, weight_decay=0.1):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(out_dir), max_steps=steps, per_device_train_batch_size=2, learning_rate=lr,
        weight_decay=weight_decay, lr_scheduler_type="constant", bf16=False, gradient_checkpointing=False,
        report_to="none", save_strategy="no", logging_strategy="no", use_cpu=True, max_length=64,
        dataloader_num_workers=0, seed=0, disable_tqdm=True,
    )
    if mask is not None:
        mask.attach(model)
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list([{"messages": m} for m in CHATS]),
        processing_class=tokenizer, callbacks=mask.callbacks() if mask is not None else None,
    )
    trainer.train()
    return model


def _lora(tiny_model_dir, targets):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0))
    return model, tok


def _mlps(model):
    from polistance_plugins.neurons.capture import mlp_blocks

    return mlp_blocks(model)


def _rows_mask(width, dims):
    m = torch.zeros(width, dtype=torch.bool)
    m[torch.as_tensor(dims)] = True
    return m


@pytest.mark.parametrize("inhibit", [True, False])
def test_lora_all_linear_rows_pinned_only_with_mask(tmp_path, tiny_model_dir, inhibit):
    model, tok = _lora(tiny_model_dir, "all-linear")
    mask = InhibitMask(NEURONS, "mlp_out") if inhibit else None
    _train(model, tok, tmp_path, mask)
    for layer, mlp in enumerate(_mlps(model)):
        b = mlp.down_proj.lora_B["default"].weight.detach()
        pinned = _rows_mask(b.shape[0], NEURONS[layer])
        assert b[~pinned].abs().sum() > 0  # the adapter did train
        if inhibit:
            assert torch.equal(b[pinned], torch.zeros_like(b[pinned]))  # exactly its initial value
        else:
            assert b[pinned].abs().sum() > 0  # the same rows move without the mask
    # given the same down_proj input, the inhibited outputs are bit-identical to the base model's
    gen = torch.Generator().manual_seed(0)
    for layer, mlp in enumerate(_mlps(model)):
        h = torch.randn(3, 7, 64, generator=gen)
        with torch.no_grad():
            tuned = mlp.down_proj(h)
            base = mlp.down_proj.base_layer(h)
        dims = torch.as_tensor(NEURONS[layer])
        same = torch.equal(tuned[..., dims], base[..., dims])
        assert same == inhibit
        assert not torch.equal(tuned, base)
    if inhibit:
        info = mask.verification()
        assert info["rows_verified_unchanged"] is True and info["optimizer_steps_checked"] == 3
        assert info["rows_masked"] == 5 and len(info["parameters_masked"]) == 2
        assert mask.describe()["n_neurons"] == 5


@pytest.mark.parametrize("inhibit", [True, False])
def test_mlp_block_output_bit_identical_when_lora_writes_through_down_proj(tmp_path, tiny_model_dir, inhibit):
    # LoRA on attention and down_proj: the MLP block's whole output on the inhibited dims depends
    # only on frozen weights and lora_B's pinned rows, so it equals the base given the same MLP input.
    model, tok = _lora(tiny_model_dir, ["q_proj", "v_proj", "down_proj"])
    _train(model, tok, tmp_path, InhibitMask(NEURONS, "mlp_out") if inhibit else None)
    gen = torch.Generator().manual_seed(1)
    for layer, mlp in enumerate(_mlps(model)):
        x = torch.randn(2, 5, 32, generator=gen)
        with torch.no_grad():
            tuned = mlp(x)
            with model.disable_adapter():
                base = mlp(x)
        dims = torch.as_tensor(NEURONS[layer])
        assert torch.equal(tuned[..., dims], base[..., dims]) == inhibit
        other = torch.as_tensor([d for d in range(32) if d not in set(NEURONS[layer].tolist())])
        assert not torch.equal(tuned[..., other], base[..., other])


@pytest.mark.parametrize("inhibit", [True, False])
def test_full_finetuning_rows_survive_weight_decay(tmp_path, tiny_model_dir, inhibit):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = copy.deepcopy([m.down_proj.weight.detach() for m in _mlps(model)])
    _train(model, tok, tmp_path, InhibitMask(NEURONS, "mlp_out") if inhibit else None, lr=1e-3, weight_decay=0.5)
    for layer, mlp in enumerate(_mlps(model)):
        w = mlp.down_proj.weight.detach()
        pinned = _rows_mask(w.shape[0], NEURONS[layer])
        assert not torch.equal(w[~pinned], before[layer][~pinned])
        assert torch.equal(w[pinned], before[layer][pinned]) == inhibit


def test_restore_undoes_weight_decay_that_bypasses_gradients(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    mask = InhibitMask(NEURONS, "mlp_out")
    mask.attach(model)
    w = _mlps(model)[0].down_proj.weight
    saved = w.detach()[[1, 5, 7]].clone()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.5)
    model(input_ids=torch.tensor([[5, 6, 7]]), labels=torch.tensor([[5, 6, 7]])).loss.backward()
    assert torch.equal(w.grad[[1, 5, 7]], torch.zeros(3, 64))  # gradient hook zeroed the rows
    opt.step()
    assert not torch.equal(w.detach()[[1, 5, 7]], saved)  # decoupled weight decay moved them anyway
    assert mask.restore() > 0
    assert torch.equal(w.detach()[[1, 5, 7]], saved) and mask.check()


def test_mask_refuses_lora_that_cannot_reach_the_neurons(tiny_model_dir):
    # The failure of a public implementation: LoRA on q/v only, hooks on frozen weights -> no effect.
    model, _ = _lora(tiny_model_dir, ["q_proj", "v_proj"])
    with pytest.raises(PolistanceError, match="nothing to act on"):
        InhibitMask(NEURONS, "mlp_out").attach(model)


def test_mask_refuses_nonzero_lora_b_rows_with_trainable_lora_a(tiny_model_dir):
    model, _ = _lora(tiny_model_dir, ["down_proj"])
    with torch.no_grad():
        _mlps(model)[1].down_proj.lora_B["default"].weight[31].fill_(0.1)
    with pytest.raises(PolistanceError, match="lora_A is trainable"):
        InhibitMask(NEURONS, "mlp_out").attach(model)


def test_mask_refuses_a_model_of_another_shape(tiny_model_dir):
    # Neurons localised on a 3-layer model: layers 0 and 1 exist here too, so only the shape check catches it.
    model, _ = _lora(tiny_model_dir, "all-linear")
    with pytest.raises(PolistanceError, match=r"3 layers x 32 mlp_out neurons, but the model being trained has 2 x 32"):
        InhibitMask(NEURONS, "mlp_out", shape=(3, 32)).attach(model)
    with pytest.raises(PolistanceError, match=r"2 layers x 64 mlp_out neurons"):
        InhibitMask(NEURONS, "mlp_out", shape=(2, 64)).attach(model)
    mask = InhibitMask(NEURONS, "mlp_out", shape=(2, 32))
    mask.attach(model)
    assert mask.masked


def test_hidden_site_masks_gate_and_up_rows(tiny_model_dir):
    model, _ = _lora(tiny_model_dir, "all-linear")
    mask = InhibitMask({0: np.array([3, 60])}, "mlp_hidden")
    mask.attach(model)
    assert [m.name for m in mask.masked] == [
        "layers.0.mlp.gate_proj.lora_B.default.weight", "layers.0.mlp.up_proj.lora_B.default.weight",
    ]


def test_load_inhibit_mask_uses_the_general_set_and_records_provenance(tmp_path):
    rng = np.random.default_rng(0)
    topics = ["a", "b"]
    nf = NeuronFile(
        site="mlp_out", layers=2, width=32, topics=topics, top_k=5.0, model={"model": "tiny"},
        adapters={"T": {"topic": "a"}}, prompt_source={}, scores={"T": {t: rng.random(64) for t in topics}},
        layer_scale={t: np.ones(2) for t in topics}, positions="item",
    )
    # make neurons 3 and 40 top-ranked for both topics, so they are general at any k
    for t in topics:
        nf.scores["T"][t][[3, 40]] = 10.0
    path = nf.save(tmp_path / "neurons.json")
    mask = load_inhibit_mask(path, 5, "mlp_out")
    general = NeuronFile.load(path).sets("T", 5).general
    assert {3, 40} <= set(general.tolist())
    assert {l: d.tolist() for l, d in mask.neurons.items()} == {
        l: [int(i % 32) for i in general if i // 32 == l] for l in {int(i // 32) for i in general}
    }
    assert mask.shape == (2, 32)
    info = mask.describe()
    assert info["top_percent"] == 5 and len(info["neurons_sha256"]) == 64 and info["neuron_adapter"] == "T"
    with pytest.raises(PolistanceError, match="mlp_out"):
        load_inhibit_mask(path, 5, "mlp_hidden")
