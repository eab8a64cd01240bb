import math

import numpy as np
import pandas as pd
import pytest

from polistance_plugins.neurons.metrics import compare, ctg, item_shifts, reduction, retention, shift_matrix

TOPICS = ["a", "b", "c"]


def _records(model, stances):
    """stances: {item_id: (topic, [form stances])}; None marks an off-format form."""
    rows = []
    for item, (topic, values) in stances.items():
        for v in values:
            rows.append({"model": model, "item_id": item, "topic": topic,
                         "stance": v, "status": "ok" if v is not None else "off_format"})
    return rows


def test_item_shifts_average_forms_and_skip_off_format():
    recs = _records("base", {"i1": ("a", [0.0, 0.2]), "i2": ("b", [0.5, None])})
    recs += _records("T", {"i1": ("a", [0.4, 0.6]), "i2": ("b", [None, None])})
    sh = item_shifts(recs, "T")
    assert list(sh.index) == ["i1"]  # i2 has no in-format answer from T
    assert sh.loc["i1", "shift"] == pytest.approx(0.4)


def test_shift_matrix_and_ctg_by_hand():
    shifts = {
        "a": pd.DataFrame({"topic": ["a", "a", "b", "c"], "shift": [0.4, 0.6, -0.2, 0.1]}),
        "b": pd.DataFrame({"topic": ["a", "b", "c"], "shift": [0.0, 0.3, -0.3]}),
    }
    m = shift_matrix(shifts, TOPICS)
    assert m.loc["a", "a"] == pytest.approx(0.5) and m.loc["a", "b"] == pytest.approx(-0.2)
    assert ctg(m.loc["a"], "a") == pytest.approx((0.2 + 0.1) / 2)
    assert ctg(m.loc["b"], "b") == pytest.approx(0.15)
    assert reduction(0.2, 0.15) == pytest.approx(0.25)
    assert retention(0.5, 0.4) == pytest.approx(0.8)
    assert math.isnan(reduction(0.0, 0.1))


def _shifts(rng, home, cross_scale, n=12):
    rows = []
    for t in TOPICS:
        mean = 0.5 if t == home else cross_scale
        for i in range(n):
            rows.append({"item_id": f"{t}{i}", "topic": t, "shift": mean + 0.02 * rng.standard_normal()})
    return pd.DataFrame(rows).set_index("item_id")


def test_compare_point_estimates_and_intervals():
    rng = np.random.default_rng(0)
    plain = _shifts(rng, "a", 0.2)
    inhibit = _shifts(rng, "a", 0.1)  # half the spill-over
    out = compare(plain, inhibit, "a", TOPICS, n_resamples=500, seed=1)
    assert out["n_items"] == 36
    assert out["reduction"] == pytest.approx(reduction(out["ctg_plain"], out["ctg_inhibit"]))
    assert out["retention"] == pytest.approx(out["in_topic_inhibit"] / out["in_topic_plain"])
    assert 0.4 < out["reduction"] < 0.6
    assert out["reduction_lo"] < out["reduction"] < out["reduction_hi"]
    assert 0.3 < out["reduction_lo"] and out["reduction_hi"] < 0.7
    assert out["retention"] == pytest.approx(1.0, abs=0.05)
    assert out["retention_lo"] <= out["retention"] <= out["retention_hi"]


def test_compare_is_paired_over_common_items():
    rng = np.random.default_rng(1)
    plain = _shifts(rng, "a", 0.2)
    inhibit = plain.drop(index=["b0", "c3"])
    out = compare(plain, inhibit, "a", TOPICS, n_resamples=200)
    assert out["n_items"] == 34
    assert out["reduction"] == pytest.approx(0.0, abs=1e-12)  # identical shifts on the common items


def test_compare_study_pools_over_adapters():
    from polistance_plugins.neurons.metrics import compare_study

    rng = np.random.default_rng(3)
    plain = {"a": _shifts(rng, "a", 0.2), "b": _shifts(rng, "b", 0.4)}
    inhibit = {"a": _shifts(rng, "a", 0.1), "b": _shifts(rng, "b", 0.4)}
    rows = compare_study(plain, inhibit, TOPICS, n_resamples=300)
    by = {r["topic"]: r for r in rows}
    assert set(by) == {"a", "b", "all"}
    assert by["b"]["reduction"] == pytest.approx(0.0, abs=0.1)
    pooled = 1 - (by["a"]["ctg_inhibit"] + by["b"]["ctg_inhibit"]) / (by["a"]["ctg_plain"] + by["b"]["ctg_plain"])
    assert by["all"]["reduction"] == pytest.approx(pooled)
    assert by["all"]["reduction_lo"] < by["all"]["reduction"] < by["all"]["reduction_hi"]
    # the single-adapter wrapper gives the same numbers for its adapter
    single = compare(plain["a"], inhibit["a"], "a", TOPICS, n_resamples=300)
    assert single["reduction"] == pytest.approx(by["a"]["reduction"])


def test_agreement_reads_reversed_forms_backwards():
    # Issue 14 point 3. Each item is asked on the normal scale and on the reversed one (0 and 9 swap
    # meaning). The adapter agrees exactly 1 point more on both: normal E 4 -> 5, reversed E 5 -> 4.
    # Averaging raw expected digits would show 0; reading reversed forms as 9 - E shows +1.
    rows = []
    for model, normal, reversed_ in (("base", 4.0, 5.0), ("T", 5.0, 4.0)):
        for item, topic in (("i1", "a"), ("i2", "b")):
            for direction, e in (("normal", normal), ("reversed", reversed_)):
                rows.append({"model": model, "item_id": item, "topic": topic, "direction": direction,
                             "expected": e, "stance": 0.0, "status": "ok"})
    sh = item_shifts(rows, "T", value="expected")
    assert sh["shift"].tolist() == [1.0, 1.0]
    # the per-item level is the rating on the normal scale: (4 + (9 - 5)) / 2 = 4 for the base
    from polistance_plugins.neurons.metrics import item_stances

    assert item_stances(rows, "base", value="expected")["stance"].tolist() == [4.0, 4.0]
