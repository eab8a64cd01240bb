import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polistance_plugins.errors import PolistanceError
from polistance_plugins.neurons.contrast import (
    by_layer,
    general_set,
    n_top,
    per_layer_counts,
    matched_random_set,
    rms_difference,
    scaled_scores,
    specific_sets,
    top_neurons,
    top_percent,
)
from polistance_plugins.neurons.neuron_file import NeuronFile


def test_rms_difference_hand_computed_and_padding_excluded():
    base = np.zeros((2, 3, 2))
    tuned = np.zeros((2, 3, 2))
    tuned[0, 1] = [3.0, 0.0]
    tuned[0, 2] = [4.0, 1.0]
    tuned[1, 2] = [0.0, 2.0]
    tuned[1, 0] = [100.0, 100.0]  # a padding position: must not count
    mask = np.array([[False, True, True], [False, False, True]])
    got = rms_difference(base, tuned, mask)
    # three real tokens: neuron 0 diffs 3, 4, 0 -> sqrt(25/3); neuron 1 diffs 0, 1, 2 -> sqrt(5/3)
    assert got == pytest.approx([np.sqrt(25 / 3), np.sqrt(5 / 3)])
    with_padding = rms_difference(base, tuned, np.ones((2, 3), bool))
    assert with_padding[0] > 10  # the padding value would dominate had it been included


def test_rms_difference_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        rms_difference(np.zeros((1, 2, 3)), np.zeros((1, 2, 4)), np.ones((1, 2), bool))


def test_top_percent_ranks_all_layers_together_with_deterministic_ties():
    scores = np.array([[0.1, 0.9, 0.3, 0.3], [0.8, 0.0, 0.3, 0.7]])  # 2 layers x 4 dims
    assert top_percent(scores, 25).tolist() == [1, 4]  # 0.9 (layer 0) then 0.8 (layer 1)
    assert top_percent(scores, 50).tolist() == [1, 4, 7, 2]  # ties 0.3 broken by the lower flat index
    assert n_top(17280, 5) == 864
    assert n_top(10, 1) == 1
    with pytest.raises(ValueError):
        top_percent(scores, 0)


def test_general_is_intersection_and_specific_is_the_rest():
    per_topic = {"a": np.array([1, 2, 3, 9]), "b": np.array([3, 2, 7]), "c": np.array([2, 3, 4, 5])}
    general = general_set(per_topic)
    assert general.tolist() == [2, 3]
    spec = specific_sets(per_topic, general)
    assert spec["a"].tolist() == [1, 9] and spec["b"].tolist() == [7] and spec["c"].tolist() == [4, 5]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sets(st.integers(0, 40), max_size=20), min_size=1, max_size=5))
def test_set_algebra_properties(sets):
    per_topic = {f"t{i}": np.array(sorted(s), dtype=np.int64) for i, s in enumerate(sets)}
    general = set(general_set(per_topic).tolist())
    assert general == set.intersection(*[set(s) for s in sets])
    for t, spec in specific_sets(per_topic, np.array(sorted(general), dtype=np.int64)).items():
        assert set(spec.tolist()) | general >= set(per_topic[t].tolist())
        assert not set(spec.tolist()) & general


def test_layer_helpers():
    idx = np.array([0, 5, 6, 11, 3])
    assert per_layer_counts(idx, 3, 4).tolist() == [2, 2, 1]
    split = by_layer(idx, 4)
    assert {k: v.tolist() for k, v in split.items()} == {0: [0, 3], 1: [1, 2], 2: [3]}


def test_matched_random_set_has_the_layer_profile_and_avoids_the_set():
    chosen = np.array([0, 1, 2, 13, 35, 36])  # 4 layers x 10: counts [3, 1, 0, 2]
    for seed in range(20):
        r = matched_random_set(chosen, 4, 10, seed)
        assert per_layer_counts(r, 4, 10).tolist() == [3, 1, 0, 2]
        assert not set(r.tolist()) & set(chosen.tolist()) and len(set(r.tolist())) == 6
    assert matched_random_set(chosen, 4, 10, 1).tolist() == matched_random_set(chosen, 4, 10, 1).tolist()
    assert len({tuple(matched_random_set(chosen, 4, 10, s).tolist()) for s in range(20)}) > 10
    # 6 of layer 0's 10 neurons leave only 4 others: the draw then takes 6 from the whole layer
    wide = matched_random_set(np.arange(6), 4, 10, 0)
    assert per_layer_counts(wide, 4, 10).tolist() == [6, 0, 0, 0] and len(set(wide.tolist())) == 6


def test_rankings_by_hand():
    # layer 0 runs at scale 1, layer 1 at scale 10; raw scores of 2 layers x 4 neurons
    scores = np.array([0.1, 0.9, 0.3, 0.2, 5.0, 6.0, 4.0, 9.0])
    scale = np.array([1.0, 10.0])
    assert scaled_scores(scores, scale).tolist() == pytest.approx([0.1, 0.9, 0.3, 0.2, 0.5, 0.6, 0.4, 0.9])
    assert top_neurons(scores, 25, "raw", scale).tolist() == [7, 5]  # raw values: layer 1 only
    assert top_neurons(scores, 25, "scaled", scale).tolist() == [1, 7]  # 0.9 and 0.9, lower index first
    assert top_neurons(scores, 37.5, "scaled", scale).tolist() == [1, 7, 5]
    assert top_neurons(scores, 25, "per-layer", scale).tolist() == [1, 7]  # one per layer
    assert top_neurons(scores, 50, "per-layer", scale).tolist() == [1, 7, 5, 2]
    assert scaled_scores(scores, np.array([0.0, 10.0]))[:4].tolist() == [0.0] * 4  # a silent layer scores 0


def _file(rng, topics=("x", "y", "z")):
    return NeuronFile(
        site="mlp_out", layers=3, width=10, topics=list(topics), top_k=20.0, model={"model": "m"},
        adapters={"A": {"path": "/a", "sha256": "h", "topic": "x"}}, prompt_source={"file": "p"},
        scores={"A": {t: rng.random(30) for t in topics}}, layer_scale={t: np.ones(3) for t in topics},
        positions="item",
    )


def test_neuron_file_roundtrip_keeps_sets_and_provenance(tmp_path):
    nf = _file(np.random.default_rng(0))
    path = nf.save(tmp_path / "n.json")
    back = NeuronFile.load(path)
    assert back.site == "mlp_out" and back.adapters["A"]["sha256"] == "h" and back.prompt_source["file"] == "p"
    for k in (5, 20, 50):
        a, b = nf.sets("A", k), back.sets("A", k)
        assert a.general.tolist() == b.general.tolist()
        assert all(a.specific[t].tolist() == b.specific[t].tolist() for t in nf.topics)
    raw = json.loads(path.read_text())
    general = nf.sets("A").general
    assert [[l, p] for l, p in raw["sets"]["A"]["general"]] == [[int(i // 10), int(i % 10)] for i in general]
    l, p, s = raw["sets"]["A"]["per_topic"]["x"][0]
    assert s == pytest.approx(nf.scores["A"]["x"][l * 10 + p])
    assert s == max(nf.scores["A"]["x"])


def test_neuron_file_load_errors_name_the_field(tmp_path):
    nf = _file(np.random.default_rng(1))
    raw = nf.to_dict()
    raw["scores"]["A"]["y"] = raw["scores"]["A"]["y"][:5]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(PolistanceError, match=r"scores\.A\.y"):
        NeuronFile.load(bad)
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(PolistanceError, match="format"):
        NeuronFile.load(tmp_path / "other.json")
    raw = nf.to_dict()
    raw["version"] = 1
    bad.write_text(json.dumps(raw))
    with pytest.raises(PolistanceError, match="version 1.*localize"):
        NeuronFile.load(bad)
    raw = nf.to_dict()
    raw["ranking"] = "magic"
    bad.write_text(json.dumps(raw))
    with pytest.raises(PolistanceError, match="ranking"):
        NeuronFile.load(bad)


def test_general_over_adapters_is_intersection_of_generals():
    rng = np.random.default_rng(2)
    nf = _file(rng)
    nf.scores["B"] = {t: rng.random(30) for t in nf.topics}
    both = nf.general_over_adapters(50)
    expected = np.intersect1d(nf.sets("A", 50).general, nf.sets("B", 50).general)
    assert both.tolist() == expected.tolist()
