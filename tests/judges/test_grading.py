"""Label-order debiasing on a grader biased toward its first label (the embedded model's failure:
everything in category 1), through the elaboration engine's grading."""

from __future__ import annotations

import pytest

from polistance_plugins.core.kappa import order_agreement
from polistance_plugins.engine.elaborate import grade_replies
from polistance_plugins.instruments.elaboration import CATEGORIES

from .conftest import FirstLabelGrader

TRUTHS = ["Reversal", "Justification", "Incoherent", "Non-answer"]


def grade(orders: int):
    grader = FirstLabelGrader(CATEGORIES, bias=0.6)
    replies = [f"I chose it. TRUE={t}" for t in TRUTHS]
    return grade_replies(grader, [("Q?", 3)] * len(replies), replies, min_mass=0.05, orders=orders), grader


def test_one_order_puts_everything_in_the_first_category():
    grades, _ = grade(1)
    assert [g["category"] for g in grades] == ["Incoherent"] * 4
    assert grades[0]["grader_probs"]["Incoherent"] == pytest.approx(0.6)


def test_forward_and_reversed_orders_recover_the_truth_with_exact_averages():
    grades, grader = grade(2)
    assert [g["category"] for g in grades] == TRUTHS
    # Reversal: forward puts .6 on Incoherent, reversed .6 on Justification; .4 on Reversal in both
    assert grades[0]["grader_probs"] == pytest.approx({"Incoherent": 0.3, "Non-answer": 0.0, "Contradiction": 0.0,
                                                       "Reversal": 0.4, "Justification": 0.3})
    assert grades[1]["grader_probs"]["Justification"] == pytest.approx(0.7)
    assert grades[0]["grader_order_labels"] == ["Incoherent", "Justification"]
    assert len(grader.prompts) == 8 and "1. Justification:" in grader.prompts[4]
    # self-agreement: order 1 always says Incoherent, order 2 always Justification: kappa 0, TV 0.6
    labels = [[CATEGORIES.index(x) for x in g["grader_order_labels"]] for g in grades]
    agree = order_agreement(labels, [g["grader_order_probs"] for g in grades], len(CATEGORIES))
    assert agree["kappa"] == 0.0 and agree["mean_tv"] == pytest.approx(0.6) and agree["agreement"] == 0.0


def test_an_unbiased_grader_agrees_with_itself_across_orders():
    grader = FirstLabelGrader(CATEGORIES, bias=0.0)
    replies = [f"TRUE={t}" for t in TRUTHS]
    grades = grade_replies(grader, [("Q?", 3)] * 4, replies, min_mass=0.05, orders=3)
    labels = [[CATEGORIES.index(x) for x in g["grader_order_labels"]] for g in grades]
    agree = order_agreement(labels, [g["grader_order_probs"] for g in grades], len(CATEGORIES))
    assert agree["kappa"] == 1.0 and agree["mean_tv"] == 0.0 and agree["n_pairs_of_orders"] == 3
