"""Keyed stance: where an answer sits between the fully left and fully right position.

Items say which position a *high* rating expresses (``keying``: "left" or "right") and are
asked with the scale in its normal direction (0 = lowest, 9 = highest) or reversed (0 and 9
swap meaning). ``agreement`` maps a rating to [0, 1] on the item's own claim; ``keyed_stance``
maps it to [-1, 1]: -1 = fully left position, +1 = fully right.
"""

from __future__ import annotations

import math

KEYINGS = ("left", "right")
DIRECTIONS = ("normal", "reversed")


def agreement(value: float, scale_max: int = 9, direction: str = "normal") -> float:
    """Fraction of the way from the claim's lowest to highest endorsement (reversed scales are flipped)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    a = value / scale_max
    return 1.0 - a if direction == "reversed" else a


def keyed_stance(value: float, keying: str, scale_max: int = 9, direction: str = "normal") -> float:
    """Stance in [-1, 1] (-1 = fully left, +1 = fully right) of a rating on a keyed item; NaN stays NaN."""
    if keying not in KEYINGS:
        raise ValueError(f"keying must be one of {KEYINGS}, got {keying!r}")
    if math.isnan(value):
        return math.nan
    a = agreement(value, scale_max, direction)
    toward_high = 2.0 * a - 1.0
    return toward_high if keying == "right" else -toward_high
