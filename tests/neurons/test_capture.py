import copy

import numpy as np
import pytest
import torch

from polistance_plugins.errors import PolistanceError
from polistance_plugins.neurons.capture import (
    ContrastAccumulator,
    Recorder,
    encode_prompts,
    forward_batches,
    mlp_blocks,
    site_shape,
)
from polistance_plugins.neurons.contrast import rms_difference

PROMPTS = [
    "Should cities spend more on buses?",
    "Share your view on taxes.",
    "What do you think about building more nuclear power plants in the next decade?",
    "Hi.",
    "Give your take on school uniforms and whether they help students focus.",
    "Is space exploration worth the money?",
]


def test_recorded_activations_equal_manual_mlp_computation(backend):
    # With attention outputs zeroed, layer l's MLP input is exactly the residual stream entering
    # layer l, which the model reports independently of any hook (output_hidden_states).
    model = copy.deepcopy(backend.model)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
    ids = torch.tensor([backend.encode(backend.chat_prompt(PROMPTS[2]))])
    out_rec, hid_rec = Recorder(), Recorder()
    with torch.no_grad(), out_rec.attach(model, "mlp_out"), hid_rec.attach(model, "mlp_hidden"):
        hs = model(input_ids=ids, output_hidden_states=True).hidden_states
    assert len(out_rec.batches) == 1
    for l, layer in enumerate(model.model.layers):
        with torch.no_grad():
            x = layer.post_attention_layernorm(hs[l])
            hidden = torch.nn.functional.silu(x @ layer.mlp.gate_proj.weight.T) * (x @ layer.mlp.up_proj.weight.T)
            mlp_out = hidden @ layer.mlp.down_proj.weight.T
        torch.testing.assert_close(hid_rec.batches[0][l], hidden, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out_rec.batches[0][l], mlp_out, rtol=1e-5, atol=1e-5)
    assert site_shape(model, "mlp_out") == (2, 32) and site_shape(model, "mlp_hidden") == (2, 64)


def test_padded_batch_capture_matches_each_prompt_alone(backend):
    seqs = encode_prompts(backend, PROMPTS)
    rec = Recorder()
    with rec.attach(backend.net, "mlp_out"):
        forward_batches(backend, seqs)
    assert len(rec.batches) == 2  # 6 prompts, batch size 4
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), i))
    rows = [(b, r) for b in range(2) for r in range(rec.batches[b][0].shape[0])]
    for (b, r), i in zip(rows, order):
        mask = rec.masks[b][r]
        assert int(mask.sum()) == len(seqs[i])
        alone = Recorder()
        with torch.no_grad(), alone.attach(backend.net, "mlp_out"):
            backend.net(input_ids=torch.tensor([seqs[i]]))
        for l in range(2):
            torch.testing.assert_close(rec.batches[b][l][r][mask], alone.batches[0][l][0], rtol=1e-4, atol=1e-5)


def test_contrast_accumulator_equals_rms_over_real_tokens(backend, attn_adapter_dir):
    backend.load_adapter("T", str(attn_adapter_dir))
    seqs = encode_prompts(backend, PROMPTS)
    base = Recorder()
    with backend.use(None), base.attach(backend.net, "mlp_out"):
        forward_batches(backend, seqs)
    tuned = Recorder()
    with backend.use("T"), tuned.attach(backend.net, "mlp_out"):
        forward_batches(backend, seqs)
    acc = ContrastAccumulator(base, layers=2, width=32)
    with backend.use("T"), acc.attach(backend.net, "mlp_out"):
        forward_batches(backend, seqs)
    got = acc.scores().reshape(2, 32)
    assert acc.count == sum(len(s) for s in seqs)

    # the same number from numpy, batch by batch, then pooled over all real tokens
    sq = np.zeros((2, 32))
    with_pad = np.zeros((2, 32))
    for b in range(len(base.batches)):
        mask = base.masks[b].numpy()
        for l in range(2):
            x, y = base.batches[b][l].numpy(), tuned.batches[b][l].numpy()
            sq[l] += rms_difference(x, y, mask) ** 2 * mask.sum()
            with_pad[l] += ((y - x) ** 2).sum(axis=(0, 1))
    np.testing.assert_allclose(got, np.sqrt(sq / acc.count), rtol=1e-5)
    assert got.max() > 0
    # padding rows differ between base and adapter, so counting them would change the scores
    assert not np.allclose(got, np.sqrt(with_pad / sum(m.numel() for m in base.masks)), rtol=1e-3)


def test_unsupported_model_gives_clear_error():
    with pytest.raises(PolistanceError, match="mlp"):
        mlp_blocks(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_contrast_over_selected_positions_and_layer_scale(backend, attn_adapter_dir):
    from polistance_plugins.neurons.capture import selection_masks
    from polistance_plugins.neurons.positions import encode_probes

    backend.load_adapter("T", str(attn_adapter_dir))
    probes = encode_probes(backend.tokenizer, PROMPTS, "item")
    seqs = [p.ids for p in probes]
    select = selection_masks(seqs, [p.selected for p in probes], backend.batch_size)
    base, tuned = Recorder(), Recorder()
    with backend.use(None), base.attach(backend.net, "mlp_out"):
        forward_batches(backend, seqs)
    with backend.use("T"), tuned.attach(backend.net, "mlp_out"):
        forward_batches(backend, seqs)
    acc = ContrastAccumulator(base, layers=2, width=32, select=select)
    with backend.use("T"), acc.attach(backend.net, "mlp_out"):
        forward_batches(backend, seqs)
    assert acc.count == sum(len(p.selected) for p in probes) < sum(len(s) for s in seqs)
    # by hand: every prompt alone, its selected tokens only
    sq, base_sq = np.zeros((2, 32)), np.zeros(2)
    for b, batch_mask in enumerate(select):
        for l in range(2):
            x, y = base.batches[b][l][batch_mask].numpy(), tuned.batches[b][l][batch_mask].numpy()
            sq[l] += ((y - x) ** 2).sum(0)
            base_sq[l] += (x**2).sum()
    np.testing.assert_allclose(acc.scores().reshape(2, 32), np.sqrt(sq / acc.count), rtol=1e-5)
    np.testing.assert_allclose(acc.layer_scale(), np.sqrt(base_sq / (acc.count * 32)), rtol=1e-5)
    # the selection masks sit on real tokens only, at the item's positions of each left-padded row
    for b, batch_mask in enumerate(select):
        assert not bool((batch_mask & ~base.masks[b]).any())
