import math

import pytest
from hypothesis import given, strategies as st

from polistance_plugins.core import agreement, keyed_stance


@pytest.mark.parametrize(
    "value,keying,direction,expected",
    [
        (9, "left", "normal", -1.0),  # full support of a left-keyed claim = fully left
        (0, "left", "normal", 1.0),
        (9, "right", "normal", 1.0),
        (0, "right", "reversed", 1.0),  # reversed scale: 0 = strongest endorsement
        (9, "left", "reversed", 1.0),
        (4.5, "left", "normal", 0.0),
    ],
)
def test_keyed_stance_ends(value, keying, direction, expected):
    assert keyed_stance(value, keying, 9, direction) == pytest.approx(expected)


@given(st.floats(0, 9), st.sampled_from(["normal", "reversed"]))
def test_opposite_keying_gives_opposite_stance(v, direction):
    assert keyed_stance(v, "left", 9, direction) == pytest.approx(-keyed_stance(v, "right", 9, direction))


@given(st.floats(0, 9))
def test_reversed_scale_mirrors(v):
    assert agreement(v, 9, "reversed") == pytest.approx(agreement(9 - v, 9, "normal"))


def test_bad_keying_and_nan():
    with pytest.raises(ValueError):
        keyed_stance(3, "center")
    assert math.isnan(keyed_stance(float("nan"), "left"))
