"""The Inspect elaboration judge with label orders and two grader roles, on mockllm graders whose
probabilities are chosen here: one biased toward whatever category is numbered first, one that
disagrees with the truth on a single reply. The kappas are computed by hand."""

from __future__ import annotations

import math
import re

import pytest

from polistance_plugins.tasks.elaboration import elaboration
from tests.inspect.conftest import metrics, mock_model, mock_output, scores

TRUTH = ["Justification", "Justification", "Reversal", "Incoherent", "Non-answer",
         "Justification", "Contradiction", "Reversal", "Justification", "Incoherent"]


def reply_number(prompt: str) -> int:
    return int(re.search(r"BEGIN\nreply-(\d+)\n", prompt).group(1))


def listing(prompt: str) -> list[str]:
    return [name for _, name in re.findall(r"^(\d)\. ([A-Za-z-]+): ", prompt, re.M)]


def biased_grader(messages, config):
    """0.6 on category number 1, 0.4 on the true category's number."""
    prompt = messages[-1].text
    listed, truth = listing(prompt), TRUTH[reply_number(prompt)]
    probs = {"1": 0.6}
    code = str(listed.index(truth) + 1)
    probs[code] = probs.get(code, 0.0) + 0.4
    return mock_output("1", list(probs.items()))


def second_grader(messages, config):
    """The truth, except on reply 9 (Justification instead of Incoherent), whatever the order."""
    prompt = messages[-1].text
    k = reply_number(prompt)
    label = "Justification" if k == 9 else TRUTH[k]
    return mock_output("x", [(str(listing(prompt).index(label) + 1), 0.9)])


def model_under_test():
    state = {"n": 0}

    def respond(messages, config):
        k = state["n"]
        state["n"] += 1
        return mock_output(f"reply-{k}")

    return mock_model(respond)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    from inspect_ai import eval as inspect_eval

    root = tmp_path_factory.mktemp("judges")
    targets = root / "targets.jsonl"
    targets.write_text('{"item_id": "terry9-01", "answer": 1}\n{"item_id": "terry9-05", "answer": 8}\n')
    [out] = inspect_eval(elaboration(targets=str(targets), samples=5), model=model_under_test(),
                         model_roles={"grader": mock_model(biased_grader), "grader2": mock_model(second_grader)},
                         log_dir=str(root / "logs"), display="none")
    assert out.status == "success", out.error
    return out


def test_two_orders_undo_the_first_label_bias(log):
    m = metrics(log)
    assert m["n"] == 10 and m["unscored"] == 0
    # debiased categories equal the truth: 4 Justification, 2 Reversal, 2 Incoherent, 1 each of the others
    assert m["Justification"] == pytest.approx(0.4) and m["Reversal"] == pytest.approx(0.2)
    assert m["Incoherent"] == pytest.approx(0.2) and m["Non-answer"] == m["Contradiction"] == pytest.approx(0.1)
    assert all(s.metadata["grader_order_labels"] == ["Incoherent", "Justification"] for s in scores(log))
    assert sorted(s.answer for s in scores(log)) == sorted(TRUTH)


def test_self_agreement_across_orders_exposes_the_bias(log):
    m = metrics(log)
    # forward order always answers Incoherent (number 1), reversed always Justification: kappa 0;
    # every reply's two distributions differ by the 0.6 that moved between the first options
    assert m["label_orders"] == 2 and m["order_kappa"] == 0.0 and m["order_agreement"] == 0.0
    assert m["order_mean_tv"] == pytest.approx(0.6) and m["order_n_read"] == 10


def test_agreement_with_the_second_grader_overall_and_per_category(log):
    m = metrics(log)
    # 9 of 10 alike; marginals J4 R2 I2 N1 C1 vs J5 R2 I1 N1 C1: pe = (20 + 4 + 2 + 1 + 1) / 100
    assert m["grader_agreement"] == pytest.approx(0.9)
    assert m["grader_kappa"] == pytest.approx((0.9 - 0.28) / 0.72)
    # Incoherent one-vs-rest: 2 vs 1 positives, 9 of 10 alike: pe = .2 * .1 + .8 * .9
    assert m["grader_kappa_Incoherent"] == pytest.approx((0.9 - 0.74) / 0.26)
    assert m["grader_kappa_Reversal"] == 1.0
    assert m["reliable"] == 0.0 and m["kappa_threshold"] == 0.4  # the order kappa 0 fails the grader
    assert not math.isnan(m["grader_n_read"]) and m["grader_n_read"] == 10
