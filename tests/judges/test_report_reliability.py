"""The report decides how to show the elaboration categories from the grader's measured reliability:
records graded by hand-chosen graders give exact kappas, the verdict, and the page that follows."""

from __future__ import annotations

import json

import pytest

from polistance_plugins.instruments.elaboration import CATEGORIES
from polistance_plugins.report.build import build_report
from polistance_plugins.report.grader_reliability import reliability_table, verdict
from polistance_plugins.report.meta import meta_from_config

J, I, R = "Justification", "Incoherent", "Reversal"


def record(k: int, orders: list[str], other: str | None = None) -> dict:
    probs = [[1.0 if c == lab else 0.0 for c in CATEGORIES] for lab in orders]
    rec = {"suite": "elaboration", "model": "base", "topic": "immigration", "kind": "normal", "key": f"r{k}",
           "category": orders[0] if all(o == orders[0] for o in orders) else orders[0], "grader": "base",
           "grader_order_labels": orders, "grader_order_probs": probs}
    if other is not None:
        rec["other_graders"] = [{"grader": "judge", "category": other, "grader_order_labels": [other, other],
                                 "grader_order_probs": [[float(c == other) for c in CATEGORIES]] * 2}]
    return rec


def stuck_records():
    """The embedded model's failure: Incoherent whenever it is listed first, Justification when reversed."""
    return [record(k, [I, J]) for k in range(6)]


def test_a_grader_that_follows_the_listing_is_unreliable_with_the_numbers():
    table = reliability_table(stuck_records())
    got = {r.measure: r.value for r in table.itertuples()}
    assert got["label_orders"] == 2 and got["order_kappa"] == 0.0 and got["order_mean_tv"] == 1.0
    judged = verdict(table)
    assert judged["reliable"] is False and judged["reasons"] == ["base: label-order kappa = 0.00 < 0.4"]


def test_two_graders_per_category_and_a_reliable_verdict():
    # the first grader is consistent across orders; the second disagrees on one reply of six
    labels = [J, J, J, R, R, I]
    others = [J, J, J, R, R, J]
    recs = [record(k, [lab, lab], other) for k, (lab, other) in enumerate(zip(labels, others))]
    table = reliability_table(recs)
    overall = table[(table["category"] == "all") & (table["measure"] == "grader_kappa")]["value"].item()
    # 5 of 6 alike; marginals J3 R2 I1 vs J4 R2: pe = (12 + 4) / 36
    assert overall == pytest.approx((5 / 6 - 16 / 36) / (1 - 16 / 36))
    inc = table[(table["category"] == I) & (table["measure"] == "grader_kappa")]["value"].item()
    assert inc == 0.0  # one says Incoherent once, the other never: no agreement beyond chance
    judged = verdict(table)
    assert judged["reliable"] is True
    assert judged["measures"] == {"base: label-order kappa": 1.0, "judge: label-order kappa": 1.0,
                                  "base vs judge: kappa": pytest.approx(overall)}


def test_the_page_shows_measured_reliability_instead_of_a_banner(tmp_path):
    config = {"kind": "compare", "variants": [{"label": "base", "adapter": None}], "reference": "base",
              "options": {"suites": ["elaboration"]}, "grader": {"model": "the base model", "weak": True}}
    path = build_report(tmp_path, stuck_records(), meta_from_config(config))
    html = path.read_text()
    assert "Weak grader" not in html
    assert "Elaboration categories unreliable." in html and "base: label-order kappa = 0.00 &lt; 0.4" in html
    assert "Categories as graded (unreliable grader: not a measurement)" in html
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["grader_reliability"]["reliable"] is False
    assert {r["grader_reliable"] for r in results["tables"]["elaboration"]} == {False}
    assert (tmp_path / "tables" / "grader_reliability.csv").is_file()
