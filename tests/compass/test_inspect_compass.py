"""The Inspect compass task end to end on mockllm: logprob answers, strict text answers, unscored replies."""

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
