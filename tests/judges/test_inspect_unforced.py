"""The Inspect task compass_unforced on mockllm: forced answers and open replies chosen per statement,
a grader biased toward whatever position is numbered first; the metrics must come out exact."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from polistance_plugins.instruments.compass import load_source
from polistance_plugins.instruments.unforced import POSITIONS
from polistance_plugins.tasks.compass_unforced import compass_unforced
from tests.inspect.conftest import events, metrics, mock_model, mock_output, scores

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


# ---- the forced answer's coverage: which of the labels 1-4 were among the returned log-probabilities --
PARTIAL = [("1", 0.4), ("2", 0.2), ("3", 0.2), ("I", 0.2)]  # label 4 (strongly agree) is not returned
FULL = [("3", 0.6), ("2", 0.2), ("1", 0.1), ("4", 0.1)]


def run_unforced(tmp_path, respond, graded=None, **task_args):
    from inspect_ai import eval as inspect_eval

    [out] = inspect_eval(compass_unforced(source=MINI, **task_args), model=mock_model(respond),
                         model_roles={"grader": mock_model(graded or grader)}, log_dir=str(tmp_path), display="none")
    assert out.status == "success", out.error
    return out


def partial_but_so_2(messages, config):
    """Forced: labels 1-3 at 0.4, 0.2, 0.2 and "I" at 0.2 (4 missing), except mini-so-2 with all four."""
    text = messages[-1].text
    if config.logprobs:
        top = FULL if which(text) == "mini-so-2" else PARTIAL
        return mock_output(top[0][0], top)
    return mock_output(f"My view. TRUE={OPEN[which(text)]}")


def test_a_forced_label_missing_from_the_logprobs_is_partial_coverage_and_warns(tmp_path):
    """Three forced answers lack label 4: renormalised over 1-3 (0.4, 0.2, 0.2 of 0.8 -> 0.5, 0.25,
    0.25), coverage 3 of the 4 returned tokens, in the sample and the score; the metrics say mean
    coverage (3 * 3 + 4) / 4 and 3 partial; each partial one gets a transcript note, the run one warning."""
    log = run_unforced(tmp_path, partial_but_so_2)
    by_item = {s.metadata["item_id"]: s for s in log.samples}
    for item, sample in by_item.items():
        full = item == "mini-so-2"
        for meta in (sample.metadata, next(iter(sample.scores.values())).metadata):
            assert meta["forced_coverage"] == (4 if full else 3) and meta["forced_tokens_returned"] == 4
            assert meta["forced_present"] == [True, True, True, full]
            assert meta["forced_probs"] == pytest.approx([0.1, 0.2, 0.6, 0.1] if full else [0.5, 0.25, 0.25, 0.0])
    m = metrics(log)
    assert m["forced_coverage"] == 3.25 and m["forced_partial_coverage"] == 3
    assert m["match"] == pytest.approx(1 / 3)  # forced SD vs open SA (ec-1) and D (so-1); A = A (so-2); ec-2 no position
    warned = events(log, "logger", "only 3 of the 4 option labels were among the 4 returned log-probabilities")
    assert len(warned) == 1 and "polistance compass_unforced" in warned[0].message.message
    assert "forced_coverage and forced_partial_coverage metrics" in warned[0].message.message
    assert len(events(log, "info", "only 3 of the 4 option labels")) == 3


def test_the_forced_answer_is_asked_until_all_four_labels_are_there(tmp_path, monkeypatch):
    """On a provider without a cap (mockllm standing in for hf, vocabulary 5000) the forced question is
    asked for 20, then 200 log-probabilities (where label 4 first appears), each time alone in the
    conversation, at temperature 0 for one token; the grader still gets 20. Nothing is partial."""
    solver_module = importlib.import_module("polistance_plugins.solvers.option_answer")
    monkeypatch.setattr(solver_module, "UNCAPPED_PROVIDERS", ("mockllm",))
    monkeypatch.setattr(solver_module, "_vocabulary_size", lambda: 5000)
    forced_asks, grader_asks = [], []

    def deep_four(messages, config):
        text = messages[-1].text
        if not config.logprobs:
            return mock_output(f"My view. TRUE={OPEN[which(text)]}")
        forced_asks.append((which(text), len(messages), config.top_logprobs, config.temperature, config.max_tokens))
        top = [("1", 0.3), ("I", 0.3), ("2", 0.2), ("3", 0.1)] + ([("4", 0.1)] if config.top_logprobs >= 200 else [])
        return mock_output("1", top)

    def counted(messages, config):
        grader_asks.append(config.top_logprobs)
        return grader(messages, config)

    log = run_unforced(tmp_path, deep_four, counted)
    assert sorted(forced_asks) == sorted((item, 1, n, 0.0, 1) for item in FORCED for n in (20, 200))
    assert set(grader_asks) == {20}
    for s in log.samples:
        assert s.metadata["forced_coverage"] == 4 and s.metadata["forced_tokens_returned"] == 5
        assert s.metadata["forced_probs"] == pytest.approx([3 / 7, 2 / 7, 1 / 7, 1 / 7])
    m = metrics(log)
    assert m["forced_coverage"] == 4 and m["forced_partial_coverage"] == 0
    assert events(log, "logger", "returned log-probabilities") == []


def test_capped_providers_get_20_and_an_explicit_top_logprobs_is_used_as_given(tmp_path, monkeypatch):
    """mockllm has a cap: the forced question is asked once for 20; -T top_logprobs=7, even where there
    is no cap, asks forced answer and grader once for exactly 7 (and the renormalised answer says so)."""
    asks = []

    def record(messages, config):
        if config.logprobs:
            asks.append(config.top_logprobs)
        return partial_but_so_2(messages, config)

    def counted(messages, config):
        asks.append(("grader", config.top_logprobs))
        return grader(messages, config)

    run_unforced(tmp_path / "capped", record, counted)
    assert sorted(a for a in asks if not isinstance(a, tuple)) == [20] * 4
    asks.clear()
    solver_module = importlib.import_module("polistance_plugins.solvers.option_answer")
    monkeypatch.setattr(solver_module, "UNCAPPED_PROVIDERS", ("mockllm",))
    monkeypatch.setattr(solver_module, "_vocabulary_size", lambda: 5000)
    log = run_unforced(tmp_path / "seven", record, counted, top_logprobs=7)
    assert sorted(a for a in asks if not isinstance(a, tuple)) == [7] * 4
    assert {a for a in asks if isinstance(a, tuple)} == {("grader", 7)}
    assert metrics(log)["forced_partial_coverage"] == 3


def test_forced_coverage_counts_propositions_not_epochs(tmp_path):
    """Two open replies per proposition ask the forced question twice: the metrics still count each
    proposition's forced answer once (3 partial of 4, mean coverage 3.25)."""
    log = run_unforced(tmp_path, partial_but_so_2, samples=2)
    assert len(log.samples) == 8
    m = metrics(log)
    assert m["forced_coverage"] == 3.25 and m["forced_partial_coverage"] == 3
