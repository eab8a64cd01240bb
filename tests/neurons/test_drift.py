"""What InhibitFT holds still: the pinned rows' parameters, not the inhibited activations (issue 14.2).

The mask measures after training how far the inhibited activations moved against the other neurons
of their layers, and the manifest records it. The optional activation penalty (``hold_activations``)
is checked against the gradient of an explicit loss + penalty, and shown to hold the activations.
"""

import numpy as np
import pytest
import torch

from polistance_plugins.neurons.anchor import ActivationAnchor
from polistance_plugins.neurons.capture import Recorder, site_hooks
from polistance_plugins.neurons.drift import drift_summary
from polistance_plugins.neurons.inhibit import InhibitMask

from .test_inhibit import NEURONS, _lora, _train

PROBES = ["Should cities spend more on buses?", "Share your view on taxes.", "Is space exploration worth the money?"]


def test_drift_summary_by_hand():
    # 2 layers x 4 neurons; layer 1 runs at twice the scale of layer 0
    scores = np.array([0.1, 0.3, 0.3, 0.3, 0.0, 0.8, 0.4, 0.4])
    scale = np.array([1.0, 2.0])
    got = drift_summary(scores, scale, np.array([0, 4]), width=4)
    # inhibited: 0.1 (layer 0), 0.0 (layer 1); others of the same layers: 0.3 x3, and 0.8, 0.4, 0.4 (scaled 0.4, 0.2, 0.2)
    assert got["n_neurons"] == 2 and got["n_other_same_layers"] == 6
    assert got["inhibited_rms_change"] == pytest.approx(0.05)
    assert got["other_rms_change"] == pytest.approx((0.9 + 1.6) / 6)
    assert got["inhibited_relative_change"] == pytest.approx(0.05)
    assert got["other_relative_change"] == pytest.approx((0.9 + 0.8) / 6)
    # each inhibited neuron against its own layer's others: 0.1 / 0.3 and 0 / (0.8 / 3)
    assert got["ratio"] == pytest.approx((0.1 / 0.3 + 0.0) / 2)


def _manual_drift(model, tok, flat, width=32):
    """The same summary from full activations recorded by hand (adapter off vs on), item tokens only."""
    from polistance_plugins.neurons.capture import run_forwards, selection_masks
    from polistance_plugins.neurons.positions import encode_probes

    probes = encode_probes(tok, PROBES, "item")
    seqs = [p.ids for p in probes]
    select = selection_masks(seqs, [p.selected for p in probes], 8)
    base, tuned = Recorder(), Recorder()
    model.eval()
    with model.disable_adapter(), base.attach(model, "mlp_out"):
        run_forwards(model, seqs, 8, tok.pad_token_id)
    with tuned.attach(model, "mlp_out"):
        run_forwards(model, seqs, 8, tok.pad_token_id)
    sq, bsq, n = np.zeros((2, width)), np.zeros(2), 0
    for b, m in enumerate(select):
        n += int(m.sum())
        for l in range(2):
            x, y = base.batches[b][l][m].double().numpy(), tuned.batches[b][l][m].double().numpy()
            sq[l] += ((y - x) ** 2).sum(0)
            bsq[l] += (x**2).sum()
    return drift_summary(np.sqrt(sq / n).ravel(), np.sqrt(bsq / (n * width)), flat, width)


FLAT = np.array([1, 5, 7, 32, 63])  # NEURONS as flat indices (width 32)


@pytest.mark.parametrize("targets", ["all-linear", ["down_proj"]])
def test_mask_measures_how_far_the_inhibited_activations_moved(tmp_path, tiny_model_dir, targets):
    model, tok = _lora(tiny_model_dir, targets)
    mask = InhibitMask(NEURONS, "mlp_out", probes=PROBES)
    _train(model, tok, tmp_path, mask)
    drift = mask.verification()["activation_drift"]
    assert drift is not None and drift["probe_prompts"] == 3 and drift["positions"] == "item"
    by_hand = _manual_drift(model, tok, FLAT)
    for key in ("inhibited_rms_change", "other_rms_change", "inhibited_relative_change", "ratio"):
        assert drift[key] == pytest.approx(by_hand[key], rel=1e-4, abs=1e-9)
    assert drift["other_relative_change"] > 0
    if targets == "all-linear":
        # the pinned rows hold the parameters, not the activations: attention and gate/up still move them
        assert drift["inhibited_relative_change"] > 0.05 * drift["other_relative_change"]
    else:
        # with LoRA on down_proj alone, layer 0's MLP input cannot change, so its pinned outputs stay put
        only_layer0 = _manual_drift(model, tok, FLAT[:3])
        assert only_layer0["inhibited_rms_change"] == 0.0 < only_layer0["other_rms_change"]


def test_anchor_gradient_equals_the_gradient_of_loss_plus_penalty(tiny_model_dir):
    model, tok = _lora(tiny_model_dir, "all-linear")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)  # an adapter that already moved
    ids = torch.tensor([tok(t, add_special_tokens=False)["input_ids"][:6] for t in PROBES[:2]])
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # padding positions must not count
    weight = 3.0
    model.train()

    def grads():
        out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad()
        return out

    model(input_ids=ids, attention_mask=mask, labels=ids).loss.backward()
    plain = grads()
    anchor = ActivationAnchor(NEURONS, "mlp_out", weight)
    anchor.attach(model)
    model(input_ids=ids, attention_mask=mask, labels=ids).loss.backward()
    anchor.detach()
    with_anchor = grads()

    reference = Recorder()
    with torch.no_grad(), model.disable_adapter(), reference.attach(model, "mlp_out"):
        model(input_ids=ids, attention_mask=mask)
    live = {}
    with site_hooks(model, "mlp_out", lambda layer, act: live.__setitem__(layer, act)):
        loss = model(input_ids=ids, attention_mask=mask, labels=ids).loss
    tokens = mask.bool()
    penalty = 0.0
    for layer, dims in NEURONS.items():
        ref = reference.batches[0][layer]
        scale = ref[tokens].pow(2).mean().sqrt()
        diff = (live[layer][..., dims] - ref[..., dims])[tokens] / scale
        penalty = penalty + diff.pow(2).sum()
    penalty = weight * penalty / (tokens.sum() * 5)
    (loss + penalty).backward()
    explicit = grads()
    assert penalty.item() > 0 and anchor.summary()["penalty_last"] == pytest.approx(penalty.item(), rel=1e-5)
    assert with_anchor.keys() == explicit.keys()
    for name in explicit:
        torch.testing.assert_close(with_anchor[name], explicit[name], rtol=1e-3, atol=1e-5)
    # ... and the penalty's share of the gradient is far above that tolerance
    assert max(float((with_anchor[n] - plain[n]).abs().max()) for n in plain) > 0.01


def test_holding_activations_keeps_them_closer_to_the_base(tmp_path, tiny_model_dir):
    ratios = {}
    for hold in (0.0, 100.0):
        model, tok = _lora(tiny_model_dir, "all-linear")
        mask = InhibitMask(NEURONS, "mlp_out", probes=PROBES, hold_activations=hold)
        _train(model, tok, tmp_path / str(hold), mask, steps=4)
        v = mask.verification()
        assert v["rows_verified_unchanged"] is True
        ratios[hold] = v["activation_drift"]["inhibited_relative_change"]
        assert mask.describe()["hold_activations"] == hold
        if hold:
            assert v["hold_activations"]["weight"] == hold and v["hold_activations"]["forwards"] == 4
            assert v["hold_activations"]["penalty_mean"] > 0
        else:
            assert v["hold_activations"] is None
    assert ratios[100.0] < 0.5 * ratios[0.0]
