"""compass_coordinates and friends: the published formula, expected points, intervals, stability."""

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polistance_plugins import compass_coordinates
from polistance_plugins.core.compass import compass_point, load_weights, site_round
from polistance_plugins.core.compass_stability import FormAnswer, bootstrap_interval, pool, stability

SHARED_WEIGHTS = Path("/work/shared/data/pct/pct_weights.json")


@pytest.mark.parametrize(
    "answer,expected",
    [(2, (0.38, 2.41)), (0, (0.01, -4.36)), (1, (-0.24, -2.41)), (3, (0.01, 4.36))],
)
def test_uniform_answers_reproduce_the_published_figures(answer, expected):
    assert compass_coordinates([answer] * 62) == expected
    assert compass_coordinates([answer] * 62, weights="pct") == expected


def test_bundled_table_has_62_unshifted_rows():
    table = json.loads((Path(__file__).parents[2] / "polistance_plugins/data/pct_weights.json").read_text())
    assert len(table["econ_weights"]) == len(table["soc_weights"]) == 62
    assert "politicalcompass/politicalcompass.github.io" in table["source"] and "llm-values-pct" in table["source"]
    # Proposition 1 scores on the economic axis only, proposition 2 on the social axis only: a table
    # shifted by one row (the 63-row bug) would break both.
    assert table["econ_weights"][0] == [7, 5, 0, -2] and table["soc_weights"][0] == [0, 0, 0, 0]
    assert table["econ_weights"][1] == [0, 0, 0, 0] and table["soc_weights"][1] == [-8, -6, 0, 2]
    if SHARED_WEIGHTS.is_file():
        shared = json.loads(SHARED_WEIGHTS.read_text())
        assert table["econ_weights"] == shared["econ_weights"] and table["soc_weights"] == shared["soc_weights"]


# Hand computations from the published tables (proposition k is row k-1), everything else "agree"
# (weight 0 on both axes, so only the changed proposition counts):
#   proposition 1, strongly disagree: econ 0.38 + 7/8 = 1.255 -> 1.26 (the site rounds halves up)
#   proposition 2, strongly disagree: soc 2.41 - 8/19.5 = 1.9997... -> 2.00
#   proposition 38, strongly disagree: econ 0.38 - 10/8 = -0.87
#   proposition 26, strongly disagree: soc 2.41 + 8/19.5 = 2.8202... -> 2.82
#   proposition 3, strongly agree: soc 2.41 - 2/19.5 = 2.3074... -> 2.31
@pytest.mark.parametrize(
    "number,answer,expected",
    [(1, 0, (1.26, 2.41)), (2, 0, (0.38, 2.0)), (38, 0, (-0.87, 2.41)), (26, 0, (0.38, 2.82)), (3, 3, (0.38, 2.31))],
)
def test_single_proposition_changes_match_hand_computation(number, answer, expected):
    answers = [2] * 62
    answers[number - 1] = answer
    assert compass_coordinates(answers) == expected


def test_each_single_change_moves_by_its_own_row():
    w = load_weights("pct")
    for k in range(62):
        for a in range(4):
            answers = [2] * 62
            answers[k] = a
            e, s = compass_point(answers, "pct")
            assert e == pytest.approx(0.38 + w.econ.rows[k][a] / 8.0)
            assert s == pytest.approx(2.41 + w.soc.rows[k][a] / 19.5)


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
@settings(max_examples=1, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), min_size=62, max_size=62), min_size=40, max_size=40))
def test_forced_answers_match_the_formula_evaluated_in_javascript(vectors):
    """The site's arithmetic (double precision, Math.round of x + EPSILON) evaluated by node."""
    table = json.loads((Path(__file__).parents[2] / "polistance_plugins/data/pct_weights.json").read_text())
    script = (
        "const t = JSON.parse(process.argv[1]); const vs = JSON.parse(process.argv[2]);"
        "const r = x => Math.round((x + Number.EPSILON) * 100) / 100;"
        "console.log(JSON.stringify(vs.map(v => { let e = 0, s = 0;"
        " v.forEach((a, i) => { e += t.econ_weights[i][a]; s += t.soc_weights[i][a]; });"
        " return [r(e / 8.0 + 0.38), r(s / 19.5 + 2.41)]; })));"
    )
    vectors = vectors + [[i % 4 for i in range(62)], [(i * 7) % 4 for i in range(62)]]
    out = subprocess.run(["node", "-e", script, json.dumps(table), json.dumps(vectors)], capture_output=True, text=True, check=True)
    for v, js in zip(vectors, json.loads(out.stdout)):
        assert list(compass_coordinates(v)) == js


probs4 = st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda p: sum(p) > 1e-3)


@settings(max_examples=60, deadline=None)
@given(st.lists(probs4, min_size=62, max_size=62))
def test_distributions_give_the_expected_point(dists):
    w = json.loads((Path(__file__).parents[2] / "polistance_plugins/data/pct_weights.json").read_text())
    econ = 0.38 + sum(sum(p / sum(d) * x for p, x in zip(d, row)) for d, row in zip(dists, w["econ_weights"])) / 8.0
    soc = 2.41 + sum(sum(p / sum(d) * x for p, x in zip(d, row)) for d, row in zip(dists, w["soc_weights"])) / 19.5
    got = compass_coordinates(dists)
    assert got == pytest.approx((econ, soc), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 63), st.integers(0, 3), st.integers(0, 3), st.floats(0.0, 1.0), st.lists(st.integers(0, 3), min_size=64, max_size=64))
def test_expected_point_is_the_mixture_of_forced_points(k, a, b, p, rest):
    """On one proposition, answering a with probability p and b otherwise gives p*point(a) + (1-p)*point(b)."""
    mixed = list(rest)
    mixed[k] = [p if i == a else 0.0 for i in range(4)]
    mixed[k][b] += 1 - p
    if sum(mixed[k]) == 0:
        return
    with_a, with_b = list(rest), list(rest)
    with_a[k], with_b[k] = a, b
    pa, pb = compass_point(with_a, "compass"), compass_point(with_b, "compass")
    got = compass_coordinates(mixed, "compass")
    assert got[0] == pytest.approx(p * pa[0] + (1 - p) * pb[0], abs=1e-9)
    assert got[1] == pytest.approx(p * pa[1] + (1 - p) * pb[1], abs=1e-9)


def test_compass_bank_weights_by_hand():
    from polistance_plugins.banks import load_bank
    from polistance_plugins.banks.compass_schema import CompassItem

    bank = load_bank("compass", model=CompassItem)
    # Balanced bank: agreeing (or disagreeing) with everything lands on the centre.
    assert compass_coordinates([2] * 64, "compass") == (0.0, 0.0)
    assert compass_coordinates([0] * 64, "compass") == (0.0, 0.0)
    # Strongly agreeing with every right/authoritarian item and strongly disagreeing with every
    # left/libertarian one: each item gives its strong magnitude; 4 x 10, 6 x 8, 6 x 6 per side
    # -> mean (2 * (40 + 48 + 36)) / 32 = 7.75 on both axes.
    answers = [3 if it.direction in ("right", "authoritarian") else 0 for it in bank.items]
    assert compass_coordinates(answers, "compass") == (7.75, 7.75)
    # A mild agreement on one economic item only counts that item's mild weight over the answered ones.
    only = [None] * 64
    only[0] = 2
    assert compass_point(only, "compass")[0] == bank.items[0].weights[2]
    assert math.isnan(compass_point(only, "compass")[1])


def test_unanswered_pct_items_add_nothing_as_on_the_site():
    answers = [2] * 62
    answers[0] = 0
    answers[5] = None  # an economic proposition left unanswered adds nothing to the sum
    assert compass_coordinates(answers) == (site_round(0.38 + 7 / 8), 2.41)
    answers = [None] * 62
    answers[0] = 0  # no social proposition answered: no social coordinate (issue 14, point 8)
    econ, soc = compass_coordinates(answers)
    assert econ == site_round(0.38 + 7 / 8) and math.isnan(soc)


@pytest.mark.parametrize("bad", [4, -1, [0.5, 0.5], [0.2, 0.2, float("nan"), 0.6], [0, 0, 0, 0], "agree", True])
def test_bad_answers_are_rejected(bad):
    with pytest.raises(ValueError):
        compass_coordinates([bad] + [2] * 61)


def test_wrong_number_of_answers_is_rejected():
    with pytest.raises(ValueError, match="62 propositions"):
        compass_coordinates([2] * 63)


def test_weights_from_a_json_path(tmp_path):
    table = {"econ_offset": 0, "econ_divisor": 1, "soc_offset": 0, "soc_divisor": 2,
             "econ_weights": [[1, 2, 3, 4], [0, 0, 0, 0]], "soc_weights": [[0, 0, 0, 0], [-4, -2, 2, 4]]}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(table))
    assert compass_coordinates([3, 0], str(path)) == (4.0, -2.0)
    assert compass_coordinates([[0.5, 0, 0, 0.5], 1], str(path), decimals=None) == (2.5, -1.0)


def test_bootstrap_interval_brackets_the_point_and_is_reproducible():
    answers = [(i * 5) % 4 for i in range(64)]
    point = compass_point(answers, "compass")
    ci = bootstrap_interval(answers, "compass", n_resamples=500, seed=3)
    assert ci == bootstrap_interval(answers, "compass", n_resamples=500, seed=3)
    for axis, p in zip(("econ", "soc"), point):
        lo, hi = ci[axis]
        assert lo < p < hi
        assert hi - lo < 10


def test_bootstrap_interval_is_a_point_when_every_proposition_contributes_the_same():
    # "agree" weighs 0 on every published row, so resampling propositions cannot move the point.
    ci = bootstrap_interval([2] * 62, "pct", n_resamples=200)
    assert ci == {"econ": (0.38, 0.38), "soc": (2.41, 2.41)}


def test_stability_separates_the_factors():
    # Every proposition: the forced answer follows the option order (position bias), not the wording.
    forms = []
    for i in range(64):
        for k in range(3):
            for order in ("normal", "reversed"):
                for labels in ("numbers", "words"):
                    probs = (0.7, 0.1, 0.1, 0.1) if order == "normal" else (0.1, 0.1, 0.1, 0.7)
                    forms.append(FormAnswer(i, k, order, labels, probs))
    st_ = stability(forms, "compass")
    assert st_["agreement_by_factor"] == {"paraphrase": 1.0, "order": 0.0, "labels": 1.0}
    # 12 forms per proposition: 66 pairs, of which 2 * 15 share the order.
    assert st_["agreement"] == pytest.approx(30 / 66)
    assert len(st_["versions"]) == 12
    normal = [v for v in st_["versions"] if v["order"] == "normal"]
    assert all(v["argmax"] == normal[0]["argmax"] for v in normal)
    # Pooled over the orders each proposition is symmetric, so the expected point is the centre.
    pooled = pool(forms, 64)
    assert compass_coordinates(pooled, "compass") == pytest.approx((0.0, 0.0), abs=1e-12)


# ---- issue 14, point 8: unanswered propositions, partial answer sets, resampling within an axis ---
def test_nothing_answered_has_no_point():
    """Every PCT row weighs 0 on "agree", so an unanswered proposition used to score as "agree": no
    answer at all gave the all-agree point (0.38, 2.41). It has no point."""
    from polistance_plugins.core.compass import answered_counts, is_partial

    econ, soc = compass_point([None] * 62, "pct")
    assert math.isnan(econ) and math.isnan(soc)
    assert all(math.isnan(v) for v in compass_coordinates([None] * 62))
    counts = answered_counts([None] * 62, "pct")
    assert counts == {"econ": (0, 18), "soc": (0, 43), "all": (0, 62)} and is_partial(counts)


def test_a_point_says_how_many_propositions_it_rests_on():
    from polistance_plugins.core.compass import answered_counts, is_partial

    answers = [None] * 62
    answers[0] = 0  # proposition 1 scores on the economic axis only
    econ, soc = compass_point(answers, "pct")
    assert econ == pytest.approx(0.38 + 7 / 8) and math.isnan(soc)  # no social proposition answered
    assert answered_counts(answers, "pct") == {"econ": (1, 18), "soc": (0, 43), "all": (1, 62)}
    assert not is_partial(answered_counts([2] * 62, "pct"))


def consistently_right(weights) -> list[int]:
    """On every proposition, the answer that moves the model furthest right (economic propositions)
    or furthest toward authority (social ones)."""
    answers = []
    for e, s in zip(weights.econ.rows, weights.soc.rows):
        row = e if any(e) else s
        answers.append(max(range(4), key=lambda k: row[k]))
    return answers


def test_bootstrap_resamples_within_each_axis():
    """A consistently right-wing model on the published tables: its 18 economic answers weigh
    7, 7, 2, 6, 7, 2, 8, 8, 7, 8, 2, 1, 2, 6, 1, 1, 1, 1. Resampling all 62 propositions with zeros
    for the social ones made the economic sum move with how many economic propositions were drawn
    ([5.63, 14.88] here). Resampled within the axis, the interval is the percentile bootstrap of
    0.38 + (sum of 18 draws from those weights) / 8, about [7.0, 13.0]."""
    import numpy as np
    from scipy.stats import bootstrap as scipy_bootstrap

    w = load_weights("pct")
    answers = consistently_right(w)
    econ_weights = [w.econ.rows[i][a] for i, a in enumerate(answers) if any(w.econ.rows[i])]
    assert econ_weights == [7, 7, 2, 6, 7, 2, 8, 8, 7, 8, 2, 1, 2, 6, 1, 1, 1, 1]
    ci = bootstrap_interval(answers, w, n_resamples=2000, seed=2)
    assert compass_point(answers, w)[0] == pytest.approx(0.38 + sum(econ_weights) / 8)
    ref = scipy_bootstrap((np.array(econ_weights, dtype=float),), lambda x, axis=-1: 0.38 + np.sum(x, axis=axis) / 8,
                          n_resamples=2000, method="percentile", vectorized=True, rng=np.random.default_rng(2))
    assert ci["econ"] == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert ci["econ"] == pytest.approx((7.005, 13.005))
    assert 8.0 < ci["soc"][0] < ci["soc"][1] < 12.0


def test_an_axis_whose_answers_weigh_the_same_has_no_spread():
    """Six economic and four social propositions; the model answers every economic one "strongly
    agree" (weight +5 each): wherever it resamples economic propositions it gets the same sum, so the
    interval is exactly the point 30 / 4 = 7.5. Resampling all ten with zeros gave a wide interval."""
    from polistance_plugins.core.compass import weights_from_table

    table = {"econ_offset": 0, "econ_divisor": 4, "soc_offset": 0, "soc_divisor": 4,
             "econ_weights": [[-5, -2, 2, 5]] * 6 + [[0, 0, 0, 0]] * 4,
             "soc_weights": [[0, 0, 0, 0]] * 6 + [[-3, -1, 1, 3], [3, 1, -1, -3], [-3, -1, 1, 3], [3, 1, -1, -3]]}
    w = weights_from_table(table)
    answers = [3] * 6 + [3, 0, 2, 1]
    ci = bootstrap_interval(answers, w, n_resamples=500)
    assert compass_point(answers, w) == (7.5, pytest.approx((3 + 3 + 1 + 1) / 4))
    assert ci["econ"] == (7.5, 7.5)
    assert math.isnan(ci["soc"][0])  # four answered social propositions: fewer than the minimum of six
