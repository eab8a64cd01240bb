"""The InhibitFT study's statistics on constructed shifts (issue 14.4): signed shifts, units over
seeds, the paired permutation test, the specificity ratio and the two-level bootstrap."""

import numpy as np
import pandas as pd
import pytest

from polistance_plugins.neurons.study_stats import (
    UnitShifts,
    in_and_cross,
    paired_test,
    summarise,
    topic_means,
    unit_shifts,
    unit_table,
)

TOPICS = ["a", "b", "c"]


def _records(shift_of):
    """Base at stance 0 on 2 items per topic; adapter ``name`` at ``shift_of(name, item)``."""
    rows = []
    names = ["base"] + [f"{arm}-{T}-s{s}" for arm in ("plain", "inhibit") for T in ("a", "b") for s in (0, 1, 2)]
    for name in names:
        for t in TOPICS:
            for k in range(2):
                item = f"{t}{k}"
                v = 0.0 if name == "base" else shift_of(name, item)
                rows.append({"model": name, "item_id": item, "topic": t, "direction": "normal", "stance": v,
                             "expected": 4.5, "status": "ok"})
    return pd.DataFrame(rows)


def _name(arm, topic, seed):
    return f"{arm}-{topic}-s{seed}"


UNITS = [(T, s) for T in ("a", "b") for s in (0, 1, 2)]


def test_shifts_are_signed_in_the_trained_direction_and_opposite_moves_cancel():
    # Every adapter moves its own topic's items 0.4 to the LEFT (what a left-leaning training wants);
    # on the other topics one item moves +0.1 and the other -0.1: no net cross-topic shift.
    def shift(name, item):
        home = name.split("-")[1]
        if item[0] == home:
            return -0.4
        return 0.1 if item.endswith("0") else -0.1

    us = unit_shifts(_records(shift), _name, ["plain"], UNITS, TOPICS, sign=-1.0)
    rows = unit_table(us)
    assert [r["in_topic"] for r in rows] == pytest.approx([0.4] * 6)  # +0.4 in the trained direction
    assert [r["ctg"] for r in rows] == [0.0] * 6  # |shift| would have counted 0.1 here
    assert [r["ratio"] for r in rows] == [0.0] * 6
    # read as right-leaning training, the same moves are against the training
    right = unit_table(unit_shifts(_records(shift), _name, ["plain"], UNITS, TOPICS))
    assert [r["in_topic"] for r in right] == pytest.approx([-0.4] * 6)


def test_in_topic_ctg_and_ratio_by_hand():
    tm = np.array([[[0.6, 0.2, 0.1]], [[0.0, 0.5, 0.3]]])  # 2 draws x 1 unit x 3 topics
    i, c = in_and_cross(tm, np.array([[0], [1]]))
    assert i.ravel().tolist() == [0.6, 0.5] and c.ravel().tolist() == pytest.approx([0.15, 0.15])
    shifts = np.array([[1.0, 3.0, 2.0, 2.0, 0.0, 0.0]])
    assert topic_means(shifts, np.array([0, 0, 1, 1, 2, 2]), 3).tolist() == [[2.0, 2.0, 0.0]]


def _constructed(inhibit_factor=0.5, noise=0.0, seed=0):
    """Plain: in-topic +0.5, cross +0.2 per item; InhibitFT: cross-topic shift times the factor."""
    rng = np.random.default_rng(seed)
    item_topic = np.repeat(np.arange(3), 4)
    units = [(T, s) for T in TOPICS for s in range(3)]
    home = np.array([TOPICS.index(T) for T, _ in units])
    plain = np.where(item_topic[None, :] == home[:, None], 0.5, 0.2) + noise * rng.standard_normal((9, 12))
    inhibit = np.where(item_topic[None, :] == home[:, None], plain, inhibit_factor * plain)
    return UnitShifts(["plain", "inhibit"], units, TOPICS, item_topic, {"plain": plain, "inhibit": inhibit})


def test_summary_exact_without_noise():
    arms, comps = summarise(_constructed(), [("inhibit", "plain")], n_resamples=200)
    plain, inhibit = arms
    assert plain["in_topic"] == pytest.approx(0.5) and plain["ctg"] == pytest.approx(0.2)
    assert plain["ratio"] == pytest.approx(0.4) and (plain["ratio_lo"], plain["ratio_hi"]) == pytest.approx((0.4, 0.4))
    assert inhibit["ctg"] == pytest.approx(0.1) and inhibit["ratio"] == pytest.approx(0.2)
    [c] = comps
    assert c["d_ctg"] == pytest.approx(-0.1) and c["d_in_topic"] == pytest.approx(0.0)
    assert c["reduction"] == pytest.approx(0.5) and (c["reduction_lo"], c["reduction_hi"]) == pytest.approx((0.5, 0.5))
    assert c["d_ratio"] == pytest.approx(-0.2)
    # 9 units all lower by the same amount: the exact sign-flip test gives 2 / 2^9
    assert c["p_ctg"] == pytest.approx(2 / 512)
    assert c["p_in_topic"] == 1.0


def test_paired_test_is_exact_over_units():
    assert paired_test(np.array([1.0, 2.0, 3.0]), np.zeros(3)) == pytest.approx(2 / 8)
    assert paired_test(np.array([1.0, -1.0, 1.0, -1.0]), np.zeros(4)) == pytest.approx(1.0)
    assert paired_test(np.array([0.3, 0.1]), np.array([0.3, 0.1])) == 1.0


def test_intervals_cover_the_estimate_and_widen_with_noise():
    arms_quiet, comps_quiet = summarise(_constructed(noise=0.01), [("inhibit", "plain")], n_resamples=500)
    arms_noisy, comps_noisy = summarise(_constructed(noise=0.2), [("inhibit", "plain")], n_resamples=500)
    for r in arms_quiet + arms_noisy:
        assert r["ctg_lo"] <= r["ctg"] <= r["ctg_hi"] and r["in_topic_lo"] <= r["in_topic"] <= r["in_topic_hi"]
    width = lambda r, k: r[k + "_hi"] - r[k + "_lo"]  # noqa: E731
    assert width(comps_noisy[0], "d_ctg") > 5 * width(comps_quiet[0], "d_ctg")
    assert comps_quiet[0]["p_ctg"] == pytest.approx(2 / 512)  # every unit still lower


def test_a_ratio_whose_denominator_crosses_zero_gets_no_interval():
    us = _constructed(noise=0.0)
    us.shifts["plain"] = us.shifts["plain"] - 0.5 * (us.item_topic[None, :] == us.home[:, None])  # in-topic 0
    us.shifts["plain"] += np.random.default_rng(1).standard_normal(us.shifts["plain"].shape) * 0.3
    arms, _ = summarise(us, [("inhibit", "plain")], n_resamples=300)
    assert np.isnan(arms[0]["ratio_lo"]) and np.isnan(arms[0]["ratio_hi"])


def test_off_format_answers_leave_their_item_out_of_that_adapter_only():
    us = _constructed()
    us.shifts["inhibit"] = us.shifts["inhibit"].copy()
    us.shifts["inhibit"][0, 0] = np.nan  # unit 0 (home topic a) did not answer item 0 of topic a
    us.shifts["inhibit"][0, 1] = 9.0  # ... and answered item 1 with a shift of 9
    rows = {(r["arm"], r["topic"], r["seed"]): r for r in unit_table(us)}
    assert rows[("inhibit", "a", 0)]["in_topic"] == pytest.approx((9.0 + 0.5 + 0.5) / 3)  # the 3 it answered
    assert rows[("inhibit", "a", 0)]["answered"] == 11 and rows[("plain", "a", 0)]["answered"] == 12
    arms, comps = summarise(us, [("inhibit", "plain")], n_resamples=200)
    assert arms[1]["answered"] == pytest.approx(1 - 1 / 108)
    assert np.isfinite(comps[0]["d_in_topic_lo"])
    # a topic a unit answered nothing of drops out of that unit's CTG, not the whole table
    us.shifts["inhibit"][1, 4:8] = np.nan  # unit 1 (home a): every item of topic b
    rows = {(r["arm"], r["topic"], r["seed"]): r for r in unit_table(us)}
    assert rows[("inhibit", "a", 1)]["ctg"] == pytest.approx(0.1)  # topic c only
