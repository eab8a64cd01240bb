"""The comparison statistics: hand-checkable cases and properties (hypothesis)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polistance_plugins.core import stats as S

FAST = settings(max_examples=40, deadline=None)


def onehot(d: int) -> list[float]:
    return [1.0 if i == d else 0.0 for i in range(10)]


distributions = st.lists(st.floats(0, 1, allow_nan=False), min_size=10, max_size=10).filter(lambda v: sum(v) > 1e-6)
item_values = st.lists(st.floats(-2, 2, allow_nan=False, allow_subnormal=False), min_size=2, max_size=9)


# ---- hand-checkable ------------------------------------------------------------------------------
def test_point_masses_move_by_their_distance():
    assert S.wasserstein1(onehot(0), onehot(9)) == pytest.approx(9.0)
    assert S.wasserstein1(onehot(3), onehot(5)) == pytest.approx(2.0)
    assert S.expected_shift(onehot(3), onehot(5)) == pytest.approx(2.0)


def test_spreading_a_peak_changes_w1_but_not_the_mean():
    peak = onehot(5)
    spread = [0, 0, 0, 0, 0.5, 0, 0.5, 0, 0, 0]
    assert S.expected_shift(peak, spread) == pytest.approx(0.0)
    assert S.wasserstein1(peak, spread) == pytest.approx(1.0)  # half the mass moves one step each way


def test_cluster_means_average_within_items_first():
    names, means = S.cluster_means([1.0, 3.0, 10.0, float("nan")], ["a", "a", "b", "c"])
    assert names == ["a", "b"]  # c has only NaN
    assert means.tolist() == [2.0, 10.0]


def test_sign_flip_test_exact_values():
    # five equal positive differences: only all-plus and all-minus are as extreme -> 2/32
    assert S.sign_flip_test([1, 1, 1, 1, 1]) == pytest.approx(2 / 32)
    # [1, 2, 3]: |mean| >= 2 only for all-plus / all-minus out of 8 sign patterns
    assert S.sign_flip_test([1, 2, 3]) == pytest.approx(2 / 8)
    assert S.sign_flip_test([0, 0, 0]) == 1.0
    assert S.sign_flip_test([0.7]) == 1.0
    assert math.isnan(S.sign_flip_test([]))


def test_bh_by_hand():
    q = S.bh_adjust([0.01, 0.04, float("nan"), 0.03, 0.5])
    # ranks over the 4 finite p: 0.01*4/1=0.04, 0.03*4/2=0.06, 0.04*4/3=0.0533, 0.5*4/4=0.5, then step-up minima
    assert q[0] == pytest.approx(0.04)
    assert q[1] == pytest.approx(0.16 / 3)
    assert math.isnan(q[2])
    assert q[3] == pytest.approx(0.16 / 3)
    assert q[4] == pytest.approx(0.5)


def test_mean_estimate_rows_carry_n_interval_and_test():
    e = S.mean_estimate([0.1, 0.3, 0.2, 0.4, 0.5, 0.3], seed=1)
    assert e.estimate == pytest.approx(0.3)
    assert e.n_items == 6
    assert 0.1 <= e.ci_low < 0.3 < e.ci_high <= 0.5
    assert "bootstrap over items" in e.interval and "BCa" in e.interval
    assert "sign-flip" in e.test
    assert e.p_value == pytest.approx(2 / 64)  # all six positive
    none = S.mean_estimate([1.0, 2.0], test=False)
    assert none.test == "none" and math.isnan(none.p_value)
    single = S.mean_estimate([0.4])
    assert single.n_items == 1 and math.isnan(single.ci_low) and single.p_value == 1.0
    empty = S.mean_estimate([float("nan")])
    assert empty.n_items == 0 and math.isnan(empty.estimate)
    flat = S.mean_estimate([0.2] * 6)
    assert (flat.ci_low, flat.ci_high) == (0.2, 0.2)


# ---- issue 14, point 7: no interval from too few items, and none that rounding noise can move -----
def test_no_interval_below_the_minimum_number_of_items():
    """Two items: the old "95% interval" was [min, max] = [0.1, 0.3], excluding 0 while the exact
    sign-flip test gives p = 0.5. Below 6 items no interval is made, and the row says why."""
    assert S.MIN_INTERVAL_UNITS == 6
    two = S.mean_estimate([0.1, 0.3], seed=1)
    assert two.estimate == pytest.approx(0.2) and two.p_value == pytest.approx(0.5)
    assert math.isnan(two.ci_low) and math.isnan(two.ci_high)
    assert two.interval == "none (fewer than 6 items: 2)"
    five = S.clustered_estimate([0.7, 0.1, 0.3, 0.9, 0.2, 0.6], ["a", "a", "b", "c", "d", "e"], seed=1)
    assert five.n_items == 5 and math.isnan(five.ci_low) and five.interval == "none (fewer than 6 items: 5)"
    assert five.p_value == pytest.approx(2 / 32)  # all positive: the smallest p five items allow
    forms = S.mean_estimate([0.3, 0.1, 0.7], unit="forms")
    assert math.isnan(forms.ci_low) and forms.interval == "none (fewer than 6 forms: 3)"
    six = S.mean_estimate([0.1, 0.3, 0.7, 0.2, 0.9, 0.6], seed=1)
    assert six.ci_low < six.estimate < six.ci_high and "BCa" in six.interval


def test_rounding_noise_does_not_move_an_interval():
    """The same six item values, once as written and once through (x + 0.1) - 0.1 (which leaves
    differences of about 1e-17): the BCa interval must not change. It did: -0.075 against -0.0667."""
    x = np.array([-0.05, 0.05, 0.0, -0.15, 0.4, -0.1])
    noisy = (x + 0.1) - 0.1
    assert not np.array_equal(x, noisy)  # the noise is really there
    for n_resamples in (999, 9999):
        clean = S.bootstrap_interval(x, seed=0, n_resamples=n_resamples)
        moved = S.bootstrap_interval(noisy, seed=0, n_resamples=n_resamples)
        assert clean == moved
    four = [-0.125, 0.4, 0.1, -0.05]  # the audit's four-item case: no interval at all now
    assert math.isnan(S.bootstrap_interval(four)[0]) and math.isnan(S.bootstrap_interval(np.array(four) + 1e-17)[0])


def test_correlation_interval_needs_the_minimum_too():
    x = [0.1, 0.4, 0.2, 0.9, 0.6]
    r = S.correlation_estimate(x, [0.3, 0.5, 0.1, 0.8, 0.7], seed=1)
    assert math.isfinite(r.estimate) and math.isnan(r.ci_low) and r.interval == "none (fewer than 6 items: 5)"
    r8 = S.correlation_estimate(x + [0.35, 0.05, 0.75], [0.3, 0.5, 0.1, 0.8, 0.7, 0.2, 0.15, 0.45], seed=1)
    assert math.isfinite(r8.ci_low) and r8.ci_low < r8.estimate < r8.ci_high


def test_direction_consistency_and_spread_by_hand():
    # agrees 0.9 on both scales -> 1; always "9" (normal 1.0, reversed un-reversed 0.0) -> 0
    assert S.direction_consistency([0.9, 1.0], [0.9, 0.0]).tolist() == [1.0, 0.0]
    assert S.spread([-1.0, 1.0]) == pytest.approx(1.0)
    assert math.isnan(S.spread([0.3]))


def test_seed_for_is_stable_and_label_dependent():
    assert S.seed_for(0, "a", "race") == S.seed_for(0, "a", "race")
    assert S.seed_for(0, "a", "race") != S.seed_for(0, "a", "science")


def test_bad_probability_vectors_are_rejected():
    with pytest.raises(ValueError):
        S.wasserstein1([0.0] * 10, onehot(1))
    with pytest.raises(ValueError):
        S.wasserstein1(onehot(1), [0.5, 0.5])


# ---- properties ----------------------------------------------------------------------------------
@FAST
@given(distributions, distributions)
def test_w1_is_a_symmetric_distance_bounded_by_the_mean_shift(p, q):
    assert S.wasserstein1(p, p) == pytest.approx(0.0, abs=1e-9)
    assert S.wasserstein1(p, q) == pytest.approx(S.wasserstein1(q, p), abs=1e-9)
    assert S.wasserstein1(p, q) >= abs(S.expected_shift(p, q)) - 1e-9
    assert S.wasserstein1(p, q) <= 9 + 1e-9
    assert S.expected_shift(p, q) == pytest.approx(-S.expected_shift(q, p), abs=1e-9)


@FAST
@given(item_values)
def test_a_model_against_itself_shifts_zero_with_p_one(values):
    items = list(range(len(values)))
    e = S.paired_difference(values, values, items)
    assert e.estimate == 0.0 and e.p_value == 1.0
    if len(values) >= S.MIN_INTERVAL_UNITS:
        assert (e.ci_low, e.ci_high) == (0.0, 0.0)
    else:
        assert math.isnan(e.ci_low) and math.isnan(e.ci_high)


@FAST
@given(item_values, item_values)
def test_swapping_the_models_flips_the_sign_and_keeps_p(a, b):
    n = min(len(a), len(b))
    a, b = np.array(a[:n]), np.array(b[:n])
    items = [f"i{k}" for k in range(n)]
    ab = S.paired_difference(a, b, items, seed=3)
    ba = S.paired_difference(b, a, items, seed=3)
    assert ab.estimate == pytest.approx(-ba.estimate, abs=1e-12)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.n_items == ba.n_items == n


@FAST
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30))
def test_bh_adjusted_are_at_least_raw_at_most_one_and_monotone(p):
    q = S.bh_adjust(p)
    raw = np.asarray(p)
    assert np.all(q >= raw - 1e-12)
    assert np.all(q <= 1 + 1e-12)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(q[order]) >= -1e-12)


@FAST
@given(item_values)
def test_interval_lies_within_the_data(values):
    e = S.mean_estimate(values, seed=5, n_resamples=999)
    if not math.isnan(e.ci_low):
        assert min(values) - 1e-9 <= e.ci_low <= e.ci_high <= max(values) + 1e-9


@FAST
@given(st.lists(st.integers(-16, 16).map(lambda k: k / 16), min_size=3, max_size=8), st.integers(2, 4))
def test_paraphrases_do_not_count_as_extra_items(values, copies):
    """Resampling is over paraphrase groups: asking each item in more (identical) wordings must not
    narrow the interval or strengthen the test. (Values are multiples of 1/16, so averaging the
    copies gives each item's value back exactly.)"""
    items = list(range(len(values)))
    once = S.clustered_estimate(values, items, seed=7, n_resamples=999)
    repeated = S.clustered_estimate(np.repeat(values, copies), np.repeat(items, copies), seed=7, n_resamples=999)
    assert repeated.n_items == once.n_items == len(values)
    assert repeated.estimate == pytest.approx(once.estimate)
    assert (repeated.ci_low, repeated.ci_high) == pytest.approx((once.ci_low, once.ci_high), nan_ok=True)
    assert repeated.p_value == pytest.approx(once.p_value)


def test_correlation_estimate_by_hand():
    x = [0.1, 0.4, 0.2, 0.9, 0.6]
    up = S.correlation_estimate(x, [2 * v + 1 for v in x], seed=1)
    down = S.correlation_estimate(x, [1 - v for v in x], seed=1)
    assert up.estimate == pytest.approx(1.0) and down.estimate == pytest.approx(-1.0)
    assert up.p_value == pytest.approx(2 / 120)  # 5! pairings; only the identity and its mirror reach |r| = 1
    assert "Pearson" in up.test and up.n_items == 5
    flat = S.correlation_estimate(x, [0.5] * 5)
    assert math.isnan(flat.estimate) and flat.test == "none" and "no spread" in flat.interval
    assert math.isnan(S.correlation_estimate([1, 2], [2, 1]).estimate)
