"""``summarise``: means skip NaN, flags are counted, groups add up to the whole."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from polistance_plugins.scorers.metrics import summarise

NAN = math.nan


def test_means_skip_nan_and_flags_are_counted():
    rows = [
        ("a", {"x": 1.0, "flag": 0.0}),
        ("a", {"x": NAN, "flag": 1.0}),
        ("b", {"x": 4.0, "flag": 0.0}),
        (None, {"x": 7.0, "flag": 1.0}),
    ]
    out = summarise(rows, means=["x"], counts=["flag"], stds=["x"])
    assert out["n"] == 4 and out["x"] == 4.0 and out["flag"] == 2.0
    assert out["x_std"] == 3.0  # sample std of 1, 4, 7
    assert out["a/n"] == 2 and out["a/x"] == 1.0 and out["a/flag"] == 1.0 and math.isnan(out["a/x_std"])
    assert out["b/x"] == 4.0 and "None/x" not in out


def test_all_missing_gives_nan_not_zero():
    out = summarise([("t", {"x": NAN})], means=["x"])
    assert math.isnan(out["x"]) and math.isnan(out["t/x"]) and out["n"] == 1


values = st.one_of(st.just(NAN), st.floats(-100, 100))


@given(st.lists(st.tuples(st.sampled_from(["p", "q", "r"]), values, st.sampled_from([0.0, 1.0])), min_size=1))
def test_groups_add_up(rows):
    data = [(g, {"x": x, "f": f}) for g, x, f in rows]
    out = summarise(data, means=["x"], counts=["f"])
    groups = {g for g, _, _ in rows}
    assert sum(out[f"{g}/n"] for g in groups) == out["n"] == len(rows)
    assert sum(out[f"{g}/f"] for g in groups) == out["f"] == sum(f for _, _, f in rows)
    finite = [x for _, x, _ in rows if not math.isnan(x)]
    if finite:
        assert math.isclose(out["x"], sum(finite) / len(finite), rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert math.isnan(out["x"])
