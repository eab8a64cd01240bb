"""Grader agreement statistics on hand-made label pairs: the kappas are computed here by hand."""

from __future__ import annotations

import math

import pytest

from polistance_plugins.core.kappa import (
    KAPPA_THRESHOLD,
    grader_agreement,
    kappa,
    order_agreement,
    reliability_verdict,
    total_variation,
)


def test_kappa_two_labels_by_hand():
    # 8 of 10 alike; each rater says 1 five times: chance agreement 0.5, kappa (0.8 - 0.5) / 0.5
    a = [1, 1, 0, 0, 1, 0, 1, 1, 0, 0]
    b = [1, 0, 0, 0, 1, 0, 1, 1, 1, 0]
    assert kappa(a, b) == pytest.approx(0.6)


def test_kappa_three_labels_by_hand():
    # po = 4/6; marginals (3, 2, 1) and (2, 2, 2): pe = 12/36; kappa = (2/3 - 1/3) / (2/3)
    assert kappa([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], [0, 1, 2]) == pytest.approx(0.5)


def test_kappa_is_undefined_for_one_shared_label_and_zero_for_opposite_constants():
    assert math.isnan(kappa([0, 0, 0], [0, 0, 0], range(5)))
    assert kappa([0, 0, 0], [4, 4, 4], range(5)) == 0.0
    assert math.isnan(kappa([], []))


def test_total_variation():
    assert total_variation([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]) == pytest.approx(0.5)


def test_order_agreement_pairs_orders_and_skips_unreadable_items():
    # item 0: both orders say 0; item 1: 1 vs 1; item 2: 0 vs 1; item 3: unreadable in order 2
    labels = [[0, 0], [1, 1], [0, 1], [1, None]]
    probs = [[[1.0, 0.0], [0.8, 0.2]], [[0.0, 1.0], [0.0, 1.0]], [[0.6, 0.4], [0.4, 0.6]], [[0.0, 1.0], [0.5, 0.5]]]
    got = order_agreement(labels, probs, 2)
    # read: items 0-2; a = [0, 1, 0], b = [0, 1, 1]: po 2/3, pe = (2*1 + 1*2)/9 = 4/9, kappa = (2/9)/(5/9)
    assert got["n_items_read"] == 3 and got["n_pairs_of_orders"] == 1
    assert got["kappa"] == pytest.approx(0.4)
    assert got["agreement"] == pytest.approx(2 / 3)
    assert got["mean_tv"] == pytest.approx((0.2 + 0.0 + 0.2) / 3)


def test_order_agreement_with_one_order_measures_nothing():
    got = order_agreement([[0], [1]], [[[1.0, 0.0]], [[0.0, 1.0]]], 2)
    assert got["n_orders"] == 1 and math.isnan(got["kappa"])


def test_grader_agreement_overall_and_per_category():
    a = [0, 0, 0, 1, 1, 2, None]
    b = [0, 0, 1, 1, 2, 2, 1]
    got = grader_agreement(a, b, ["x", "y", "z"])
    assert got["n_items_read"] == 6 and got["kappa"] == pytest.approx(0.5) and got["agreement"] == pytest.approx(4 / 6)
    x = got["per_category"][0]
    # one-vs-rest for "x": a = [1,1,1,0,0,0], b = [1,1,0,0,0,0]: po 5/6, pe = (3*2 + 3*4)/36 = 1/2, kappa 2/3
    assert x["kappa"] == pytest.approx(2 / 3) and (x["n_first"], x["n_second"]) == (3, 2)


def test_verdict():
    assert reliability_verdict({"order kappa": 0.55})["reliable"] is True
    low = reliability_verdict({"order kappa": 0.55, "between-grader kappa": 0.12})
    assert low["reliable"] is False and low["reasons"] == [f"between-grader kappa = 0.12 < {KAPPA_THRESHOLD:g}"]
    stuck = reliability_verdict({"order kappa": math.nan})
    assert not stuck["reliable"] and "one and the same label" in stuck["reasons"][0]
    assert not reliability_verdict({})["reliable"]
