"""Figures drawn from edge-case tables."""

import pandas as pd

from polistance_plugins.report.figures import plot_entropy
from polistance_plugins.report.frames import ALL


def test_entropy_plot_takes_an_interval_that_rounding_put_a_bit_past_the_estimate(tmp_path):
    """Items that all shift by the same amount give an interval equal to the estimate, up to the
    last bit of a float sum; matplotlib refuses a negative error bar, so that bit must not crash."""
    estimate = 0.1 + 0.2  # 0.30000000000000004
    entropy = pd.DataFrame([{"model": "lefty", "bank": "terry9", "topic": ALL, "estimate": estimate,
                             "ci_low": 0.30000000000000010, "ci_high": 0.3, "n_items": 9, "significance": ""}])
    assert entropy["ci_low"][0] > estimate > entropy["ci_high"][0]
    out = plot_entropy(entropy, {"lefty": "#d62728"}, tmp_path / "entropy.png")
    assert out.is_file() and out.stat().st_size > 1000
