"""The Inspect compass task end to end on mockllm: logprob answers, strict text answers, unscored replies."""

import importlib
import math
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)

from polistance_plugins.instruments.compass import load_source
from polistance_plugins.core.compass import argmax_answer, compass_point
from polistance_plugins.tasks.compass import compass
from tests.inspect.conftest import events

FIXTURES = Path(__file__).parent / "fixtures"
MINI = str(FIXTURES / "mini_compass.jsonl")
# The mock model's canonical answer distribution per proposition (sd, d, a, sa), whatever the form.
Q = [(0.1, 0.2, 0.3, 0.4), (0.4, 0.3, 0.2, 0.1), (0.05, 0.15, 0.5, 0.3), (0.6, 0.2, 0.1, 0.1)]
MASS = 0.8


def output(text: str, logprobs: dict[str, float] | None) -> ModelOutput:
    lp = None
    if logprobs:
        top = [TopLogprob(token=t, logprob=v) for t, v in sorted(logprobs.items(), key=lambda kv: -kv[1])]
        lp = Logprobs(content=[Logprob(token=top[0].token, logprob=top[0].logprob, top_logprobs=top)])
    choice = ChatCompletionChoice(message=ChatMessageAssistant(content=text, model="mockllm/model"), stop_reason="stop", logprobs=lp)
    return ModelOutput(model="mockllm/model", choices=[choice], usage=ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2))


def which(prompt: str) -> tuple[int, bool]:
    """(proposition index, reversed?) of a rendered prompt."""
    src = load_source(MINI)
    index = next(i for i, p in enumerate(src.propositions) if any(w in prompt for w in p.wordings))
    return index, "1. Strongly agree" in prompt or prompt.index("Strongly agree") < prompt.index("Strongly disagree")


def logprob_model(messages, tools, tool_choice, config):
    index, reversed_ = which(messages[-1].text)
    listed = Q[index][::-1] if reversed_ else Q[index]
    lps = {str(k + 1): math.log(MASS * p) for k, p in enumerate(listed)}
    lps["I"] = math.log(1 - MASS)
    return output(str(max(range(4), key=lambda k: listed[k]) + 1), lps)


def run(task, fn, **kw):
    log = inspect_eval(task, model="mockllm/model", model_args={"custom_outputs": fn}, display="none", **kw)[0]
    assert log.status == "success", log.error
    metrics = {k: v.value for s in log.results.scores for k, v in s.metrics.items()}
    return log, metrics


def test_logprob_answers_give_the_expected_point(tmp_path):
    log, metrics = run(compass(source=MINI), logprob_model, log_dir=str(tmp_path))
    assert len(log.samples) == 4 * 2 * 2  # 2 paraphrases x 2 orders, number labels
    src = load_source(MINI)
    econ, soc = compass_point(Q, src.weights)
    assert metrics["econ"] == pytest.approx(econ) and metrics["social"] == pytest.approx(soc)
    a_econ, a_soc = compass_point([argmax_answer(q) for q in Q], src.weights)
    assert metrics["econ_argmax"] == pytest.approx(a_econ) and metrics["social_argmax"] == pytest.approx(a_soc)
    assert metrics["answer_stability"] == 1.0  # the mock answers every form of a proposition alike
    score = log.samples[0].scores["likert"]
    assert score.metadata["method"] == "logprobs"
    assert score.metadata["mass"] == pytest.approx(MASS)
    assert score.metadata["probs"] == pytest.approx(list(Q[0]))


def test_a_partial_answer_set_is_counted(tmp_path):
    """Issue 14, point 8: with --limit 4 only the first proposition (4 forms) is asked: the metrics say
    1 answered and 3 unanswered, and the axis with nothing answered has no coordinate."""
    log, metrics = run(compass(source=MINI), logprob_model, log_dir=str(tmp_path), limit=4)
    assert {s.metadata["index"] for s in log.samples} == {0}
    assert metrics["answered"] == 1 and metrics["unanswered"] == 3
    src = load_source(MINI)
    econ, soc = compass_point([Q[0], None, None, None], src.weights)
    assert sum(math.isnan(v) for v in (econ, soc)) == 1
    for name, value in (("econ", econ), ("social", soc)):
        assert (math.isnan(metrics[name]) and math.isnan(value)) or metrics[name] == pytest.approx(value)
    _, full = run(compass(source=MINI), logprob_model, log_dir=str(tmp_path / "full"))
    assert full["answered"] == 4 and full["unanswered"] == 0


def test_low_option_mass_is_unscored(tmp_path):
    def weak(messages, tools, tool_choice, config):
        return output("I", {"I": math.log(0.98), "3": math.log(0.02)})

    log, metrics = run(compass(source=MINI, min_mass=0.05), weak, log_dir=str(tmp_path), limit=2)
    score = log.samples[0].scores["likert"]
    assert math.isnan(score.value) and score.reason == "off_format"
    assert math.isnan(metrics["econ"])


def test_text_only_replies_are_parsed_strictly(tmp_path):
    def agree_or_ramble(messages, tools, tool_choice, config):
        prompt = messages[-1].text
        index, reversed_ = which(prompt)
        if index == 3:
            return output("I think I would agree with that.", None)
        if "words" in prompt or "number" not in prompt:
            return output("Agree.\nBecause...", None)
        return output("2" if reversed_ else "3", None)

    log, metrics = run(compass(source=MINI, labels="numbers,words"), agree_or_ramble, log_dir=str(tmp_path))
    by_item = {}
    for s in log.samples:
        sc = s.scores["likert"]
        by_item.setdefault(s.metadata["index"], []).append(sc)
    # Proposition 4 rambles: every form is unscored with its reason; the others are "agree".
    assert all(math.isnan(sc.value) and sc.reason == "unparseable" for sc in by_item[3])
    for i in range(3):
        assert all(sc.value == 2.0 and sc.metadata["method"] == "text" for sc in by_item[i])
    # econ: mean of the agree weights of the two economic items (4 and -3); social: only item 3 (5).
    assert metrics["econ"] == pytest.approx(0.5)
    assert metrics["social"] == pytest.approx(5.0)
    # no answer was read from log-probabilities: no coverage to report, nothing partial
    assert math.isnan(metrics["coverage"]) and metrics["partial_coverage"] == 0
    assert all("coverage" not in s.scores["likert"].metadata for s in log.samples)


def test_pct_source_needs_and_reads_the_file(tmp_path):
    from polistance_plugins.errors import PolistanceError

    with pytest.raises(PolistanceError, match="pct_file"):
        compass(source="pct")

    def agree(messages, tools, tool_choice, config):
        reversed_ = "1. Strongly agree" in messages[-1].text
        return output("2" if reversed_ else "3", {"2" if reversed_ else "3": 0.0})

    log, metrics = run(compass(source="pct", pct_file=str(FIXTURES / "pct_fixture.csv")), agree, log_dir=str(tmp_path), limit=6)
    assert log.samples[0].metadata["item_id"] == "pc-01"
    # "agree" weighs 0 everywhere on the published tables: the point is the offsets.
    assert metrics["econ"] == pytest.approx(0.38) and metrics["social"] == pytest.approx(2.41)


# ---- coverage: which option labels were among the returned log-probabilities ---------------------
def three_labels(messages, tools, tool_choice, config):
    """Labels 1, 2, 3 listed at 0.4, 0.2, 0.2 and "I" at 0.2; label 4 is not among the returned tokens."""
    return output("1", {"1": math.log(0.4), "2": math.log(0.2), "3": math.log(0.2), "I": math.log(0.2)})


def test_a_label_missing_from_the_logprobs_is_partial_coverage_and_warns(tmp_path):
    """Label 4 never comes back: each form is renormalised over three labels (0.4, 0.2, 0.2 of 0.8 ->
    0.5, 0.25, 0.25), says coverage 3 and which labels were there (canonical order: listed 4 is
    strongly agree on a normal form, strongly disagree on a reversed one), and the run warns once."""
    log, metrics = run(compass(source=MINI), three_labels, log_dir=str(tmp_path), limit=4)
    by_order = {}
    for s in log.samples:
        meta = s.scores["likert"].metadata
        assert meta["coverage"] == 3 and meta["tokens_returned"] == 4 and meta["mass"] == pytest.approx(0.8)
        by_order.setdefault(s.metadata["order"], []).append(meta)
    assert len(by_order["normal"]) == len(by_order["reversed"]) == 2
    for meta in by_order["normal"]:
        assert meta["present"] == [True, True, True, False] and meta["probs"] == pytest.approx([0.5, 0.25, 0.25, 0.0])
    for meta in by_order["reversed"]:
        assert meta["present"] == [False, True, True, True] and meta["probs"] == pytest.approx([0.0, 0.25, 0.25, 0.5])
    assert metrics["coverage"] == 3 and metrics["partial_coverage"] == 4
    assert metrics["mean"] == pytest.approx((0.75 + 2.25) / 2)  # E = 0.25 + 2 * 0.25 (normal), 0.25 + 0.5 + 3 * 0.5 (reversed)
    warned = events(log, "logger", "only 3 of the 4 option labels were among the 4 returned log-probabilities")
    assert len(warned) == 1 and "polistance compass" in warned[0].message.message
    assert len(events(log, "info", "only 3 of the 4 option labels")) == 4


def test_full_coverage_is_quiet(tmp_path):
    log, metrics = run(compass(source=MINI), logprob_model, log_dir=str(tmp_path), limit=4)
    assert metrics["coverage"] == 4 and metrics["partial_coverage"] == 0
    assert all(s.scores["likert"].metadata["present"] == [True] * 4 for s in log.samples)
    assert events(log, "logger", "returned log-probabilities") == [] and events(log, "info", "returned log-probabilities") == []


def test_capped_providers_are_asked_for_20_and_word_labels_get_room(tmp_path):
    """mockllm has a cap: every form is asked once, for 20 log-probabilities (or exactly -T top_logprobs),
    with 8 tokens of room, enough for "Strongly disagree"."""
    seen = []

    def record(messages, tools, tool_choice, config):
        seen.append((config.logprobs, config.top_logprobs, config.max_tokens))
        return three_labels(messages, tools, tool_choice, config)

    run(compass(source=MINI, labels="numbers,words"), record, log_dir=str(tmp_path / "default"), limit=8)
    assert seen == [(True, 20, 8)] * 8
    seen.clear()
    run(compass(source=MINI, labels="numbers,words", top_logprobs=7), record, log_dir=str(tmp_path / "seven"), limit=8)
    assert seen == [(True, 7, 8)] * 8


def test_number_labels_are_asked_until_all_four_are_there(tmp_path, monkeypatch):
    """On a provider without a cap (mockllm standing in for hf, with a vocabulary of 5000) a number-label
    form is asked for 20, then 200 log-probabilities, where label 4 first appears; a word-label form,
    whose answer is read from its text, is asked once."""
    solver_module = importlib.import_module("polistance_plugins.solvers.option_answer")
    monkeypatch.setattr(solver_module, "UNCAPPED_PROVIDERS", ("mockllm",))
    monkeypatch.setattr(solver_module, "_vocabulary_size", lambda: 5000)
    seen = []

    def deep_four(messages, tools, tool_choice, config):
        words = "number" not in messages[-1].text
        seen.append(("words" if words else "numbers", config.top_logprobs))
        if words:
            return output("Agree", {"Agree": math.log(0.6), "Strong": math.log(0.4)})
        top = {"1": math.log(0.3), "2": math.log(0.2), "3": math.log(0.1), "I": math.log(0.3)}
        if config.top_logprobs >= 200:
            top["4"] = math.log(0.1)
        return output("1", top)

    log, metrics = run(compass(source=MINI, labels="numbers,words"), deep_four, log_dir=str(tmp_path), limit=8)
    assert sorted(seen) == sorted([("numbers", 20), ("numbers", 200)] * 4 + [("words", 20)] * 4)
    numbers = [s.scores["likert"].metadata for s in log.samples if s.metadata["labels"] == "numbers"]
    assert len(numbers) == 4 and all(m["coverage"] == 4 and m["tokens_returned"] == 5 for m in numbers)
    normal = next(m for m in numbers if m["order"] == "normal")
    assert normal["probs"] == pytest.approx([3 / 7, 2 / 7, 1 / 7, 1 / 7])
    assert metrics["coverage"] == 4 and metrics["partial_coverage"] == 0
