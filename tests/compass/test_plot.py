"""The compass PNG."""

import math

import matplotlib.image as mpimg

from polistance_plugins.report.compass_plot import QUADRANTS, plot_compass


def summary(name, econ, soc):
    return {
        "model": name,
        "expected": {"econ": econ, "soc": soc},
        "expected_ci": {"econ": [econ - 1, econ + 1], "soc": [soc - 0.5, soc + 2]},
        "argmax": {"econ": econ + 2, "soc": soc - 1},
    }


def test_plot_is_written_with_the_quadrant_colours(tmp_path):
    out = plot_compass([summary("base", -3.0, 4.0), summary("adapter", 5.0, -6.0)], tmp_path / "sub" / "compass.png")
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(out)
    assert img.shape[0] > 500 and img.shape[1] > 500
    # Each quadrant colour fills a visible share of the picture.
    rgb = (img[..., :3] * 255).round()
    for *_, colour, _name in QUADRANTS:
        target = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        share = ((abs(rgb - target) <= 2).all(axis=-1)).mean()
        assert share > 0.03, colour


def test_plot_skips_undefined_points(tmp_path):
    out = plot_compass([summary("base", 1.0, 1.0), {"model": "empty", "expected": {"econ": math.nan, "soc": math.nan}}], tmp_path / "c.png")
    assert out.is_file()


def test_clustered_points_get_an_enlarged_panel(tmp_path):
    near = {"model": "m", "expected": {"econ": 0.1, "soc": -0.2}, "expected_ci": {"econ": [-0.1, 0.3], "soc": [-0.4, 0.0]},
            "argmax": {"econ": 0.0, "soc": -0.5}}
    far = summary("spread", -3.0, 4.0)
    h_near, w_near = mpimg.imread(plot_compass([near], tmp_path / "near.png")).shape[:2]
    h_far, w_far = mpimg.imread(plot_compass([far, summary("other", 5.0, -6.0)], tmp_path / "far.png")).shape[:2]
    assert w_near > 1.8 * h_near  # compass + enlarged panel side by side
    assert w_far < 1.6 * h_far  # one compass (plus legend)
