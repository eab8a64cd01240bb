"""Label orders: which orders are asked, and how each order's probabilities return to the categories."""

from __future__ import annotations

import pytest

from polistance_plugins.core import Distribution
from polistance_plugins.core.label_orders import combine_orders, label_orders, to_canonical


def test_orders_forward_reversed_then_rotations():
    assert label_orders(3, 1) == [(0, 1, 2)]
    assert label_orders(3, 2) == [(0, 1, 2), (2, 1, 0)]
    assert label_orders(3, 4) == [(0, 1, 2), (2, 1, 0), (1, 2, 0), (0, 2, 1)]
    with pytest.raises(ValueError, match="at most 6"):
        label_orders(3, 7)
    with pytest.raises(ValueError):
        label_orders(3, 0)


def test_to_canonical_maps_listed_positions_back():
    listed = Distribution((0.7, 0.2, 0.1), 0.9, ("1", "2", "3"))
    back = to_canonical(listed, (2, 1, 0), ("a", "b", "c"))  # "1" was c, "3" was a
    assert back.probs == (0.1, 0.2, 0.7) and back.options == ("a", "b", "c") and back.mass == 0.9


def test_combine_averages_readable_orders_only():
    opts = ("a", "b")
    ok1 = Distribution((0.8, 0.2), 0.9, opts)
    ok2 = Distribution((0.2, 0.8), 0.5, opts)
    off = Distribution((1.0, 0.0), 0.001, opts)  # off-format: under DEFAULT_MIN_MASS
    got = combine_orders([ok1, ok2, off])
    assert got["probs"] == pytest.approx([0.5, 0.5]) and got["index"] == 0  # tie: the first option
    assert got["order_labels"] == [0, 1, None]
    assert got["mass"] == pytest.approx((0.9 + 0.5 + 0.001) / 3)
    none = combine_orders([off])
    assert none["index"] is None and "off-format" in none["problem"]
