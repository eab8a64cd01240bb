"""The Inspect task compass_unforced on mockllm: forced answers and open replies chosen per statement,
a grader biased toward whatever position is numbered first; the metrics must come out exact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polistance_plugins.instruments.compass import load_source
from polistance_plugins.instruments.unforced import POSITIONS
from polistance_plugins.tasks.compass_unforced import compass_unforced
from tests.inspect.conftest import metrics, mock_model, mock_output, scores

MINI = str(Path(__file__).resolve().parents[1] / "compass" / "fixtures" / "mini_compass.jsonl")
SD, D, A, SA, NP = POSITIONS
FORCED = {"mini-ec-1": "4", "mini-ec-2": "3", "mini-so-1": "1", "mini-so-2": "3"}   # listed 1-4 = SD..SA
OPEN = {"mini-ec-1": SA, "mini-ec-2": NP, "mini-so-1": D, "mini-so-2": A}


def which(text: str) -> str:
    source = load_source(MINI)
    return next(p.id for p in source.propositions if p.wordings[0] in text)


def model(messages, config):
    text = messages[-1].text
    if config.logprobs:  # the forced question
        return mock_output(FORCED[which(text)], [(FORCED[which(text)], 0.9)])
    return mock_output(f"My view. TRUE={OPEN[which(text)]}")


def grader(messages, config):
    prompt = messages[-1].text
    listing = [name for _, name in re.findall(r"^(\d)\. ([A-Za-z ]+): ", prompt, re.M)]
    truth = re.search(r"TRUE=([A-Za-z ]+)\n", prompt).group(1)
    probs = {"1": 0.6}
    code = str(listing.index(truth) + 1)
    probs[code] = probs.get(code, 0.0) + 0.4
    return mock_output("1", list(probs.items()))


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    from inspect_ai import eval as inspect_eval

    [out] = inspect_eval(compass_unforced(source=MINI), model=mock_model(model), model_roles={"grader": mock_model(grader)},
                         log_dir=str(tmp_path_factory.mktemp("unforced")), display="none")
    assert out.status == "success", out.error
    return out


def test_positions_match_and_point(log):
    m = metrics(log)
    assert {s.metadata["item_id"]: s.answer for s in scores(log)} == OPEN  # two orders undo the first-label bias
    assert m["match"] == pytest.approx(2 / 3)  # ec-1 SA=SA, so-1 D vs SD, so-2 A=A; ec-2 has no position
    assert m["No position"] == 0.25 and m["unscored"] == 0
    assert m["unforced_econ"] == 8.0 and m["unforced_soc"] == -4.5 and m["no_position_share"] == 0.25
    assert m["economic/match"] == 1.0 and m["social/match"] == 0.5


def test_forced_answer_and_grader_reliability(log):
    forced = {s.metadata["item_id"]: s.metadata["forced_answer"] for s in scores(log)}
    assert forced == {"mini-ec-1": SA, "mini-ec-2": A, "mini-so-1": SD, "mini-so-2": A}
    m = metrics(log)
    assert m["label_orders"] == 2 and m["order_kappa"] == 0.0 and m["reliable"] == 0.0
