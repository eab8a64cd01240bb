"""The questionnaire task: digit distributions from first-token top logprobs, end to end."""

from __future__ import annotations

import math

import pytest

from polistance_plugins.tasks.questionnaire import questionnaire

from .conftest import metrics, mock_model, mock_output, run_eval, scores

# terry9 items 01 (gay marriage, keyed left), 02 (ICE, keyed right), 03 (abortion, keyed left).
REPLIES = {
    "gay marriage": [("7", 0.5), ("8", 0.3), ("Hello", 0.2)],
    "ICE": [("I", 0.6), ("As", 0.3), ("The", 0.1)],
    "abortion": [("Ġ2", 0.4), ("2", 0.4), ("x", 0.2)],
}


def by_question(messages, config):
    text = messages[-1].text
    for key, top in REPLIES.items():
        if key in text:
            return mock_output(top[0][0], top)
    raise AssertionError(f"unexpected prompt {text!r}")


def test_digit_scores_and_missing_digits(tmp_path):
    log = run_eval(questionnaire(bank="terry9"), mock_model(by_question), tmp_path, limit=3)
    by_id = {s.id: next(iter(s.scores.values())) for s in log.samples}
    marriage, ice, abortion = (by_id[f"terry9-0{i}/p0/normal"] for i in (1, 2, 3))

    assert marriage.value["expected"] == pytest.approx(7.375)  # 7 * 5/8 + 8 * 3/8
    assert marriage.value["stance"] == pytest.approx(-(2 * 7.375 / 9 - 1))  # keyed left
    assert marriage.value["mass"] == pytest.approx(0.8)
    assert marriage.metadata["record"]["probs"][7] == pytest.approx(0.625)
    # " 2" (the byte-level token Ġ2) and "2" are the same answer
    assert abortion.value["expected"] == pytest.approx(2.0)
    assert abortion.value["mass"] == pytest.approx(0.8)
    # no digit among the logprobs: counted, never scored as 0
    assert ice.value["no_digit"] == 1.0 and math.isnan(ice.value["expected"]) and math.isnan(ice.value["stance"])
    assert ice.reason == "invalid_response_format"

    m = metrics(log)
    assert m["n"] == 3
    assert m["no_digit"] == 1
    assert m["agreement"] == pytest.approx((7.375 + 2.0) / 2)  # normal scale only: agreement = E
    assert m["gender_and_sexuality/agreement"] == pytest.approx((7.375 + 2.0) / 2)
    assert m["immigration/no_digit"] == 1 and m["immigration/n"] == 1
    assert math.isnan(m["immigration/agreement"])
    assert m["mass"] == pytest.approx((0.8 + 0.0 + 0.8) / 3)


def test_agreement_reads_reversed_forms_backwards(tmp_path):
    """Issue 14, point 9 under Inspect: a model answering 6 on the normal scale and 3 on the reversed
    one agrees 6 with every claim; the raw digits would average 4.5."""

    def by_direction(messages, config):
        reversed_scale = "0 means you strongly agree" in messages[-1].text
        return mock_output("3" if reversed_scale else "6", [("3" if reversed_scale else "6", 0.9)])

    task = questionnaire(bank="topics", topics="race", paraphrases="first")
    log = run_eval(task, mock_model(by_direction), tmp_path, limit=4)
    directions = [s.metadata["direction"] for s in log.samples]
    assert sorted(directions) == ["normal", "normal", "reversed", "reversed"]
    expected = sorted(next(iter(s.scores.values())).value["expected"] for s in log.samples)
    assert expected == [3.0, 3.0, 6.0, 6.0]
    m = metrics(log)
    assert m["agreement"] == pytest.approx(6.0) and m["race/agreement"] == pytest.approx(6.0)
    assert "expected" not in m


def test_top_k_keeps_only_the_most_probable_tokens(tmp_path):
    # the digit is the sixth most probable token: the paper's top-5 reading does not see it
    top = [("A", 0.3), ("B", 0.2), ("C", 0.15), ("D", 0.1), ("E", 0.08), ("6", 0.07)]
    model = mock_model(lambda messages, config: mock_output("A", top))
    seen = run_eval(questionnaire(bank="terry9"), model, tmp_path / "all", limit=1)
    top5 = run_eval(questionnaire(bank="terry9", top_k=5), model, tmp_path / "top5", limit=1)
    assert scores(seen)[0].value["expected"] == 6.0 and scores(seen)[0].value["no_digit"] == 0.0
    assert scores(top5)[0].value["no_digit"] == 1.0 and math.isnan(scores(top5)[0].value["expected"])


def test_missing_logprobs_is_unscored_not_zero(tmp_path):
    log = run_eval(questionnaire(bank="terry9"), mock_model(lambda m, c: mock_output("5")), tmp_path, limit=2)
    for s in scores(log):
        assert math.isnan(s.value) and s.reason == "scoring_failed"
    assert log.results.scores[0].unscored_samples == 2


def test_request_asks_for_logprobs(tmp_path):
    seen = []

    def record(messages, config):
        seen.append((config.logprobs, config.top_logprobs, config.max_tokens))
        return mock_output("3", [("3", 0.9)])

    run_eval(questionnaire(bank="terry9", top_logprobs=30), mock_model(record), tmp_path, limit=1)
    assert seen == [(True, 30, 1)]


def test_topics_and_unknown_topic():
    from polistance_plugins.errors import PolistanceError

    task = questionnaire(bank="topics", topics="race", paraphrases="first")
    assert len(task.dataset) == 28  # 14 race statements x (normal, reversed)
    assert {s.metadata["topic"] for s in task.dataset} == {"race"}
    with pytest.raises(PolistanceError, match="astrology"):
        questionnaire(bank="topics", topics="race,astrology")


def test_prompt_is_the_cli_prompt():
    from polistance_plugins.banks import load_bank
    from polistance_plugins.instruments.questionnaire import bank_forms

    forms = bank_forms(load_bank("terry9"))
    assert [s.input for s in questionnaire(bank="terry9").dataset] == [f.prompt() for f in forms]


def test_tiny_model_through_hf_provider(tmp_path, tiny_model_dir):
    """The random tiny model puts ~1e-9 on digits: among 20 log-probabilities every item has no digit."""
    log = run_eval(
        questionnaire(bank="terry9", top_logprobs=20), "hf/tiny", tmp_path, limit=3,
        model_args={"model_path": str(tiny_model_dir), "do_sample": False},
    )
    m = metrics(log)
    assert m["n"] == 3 and m["no_digit"] == 3 and math.isnan(m["agreement"])
    assert m["coverage"] == 0 and m["partial_coverage"] == 0  # none at all is no_digit, not partial
    assert all(s.metadata["tokens_returned"] == 20 for s in scores(log))


def local_distributions(model_dir):
    from polistance_plugins.banks import load_bank
    from polistance_plugins.core import DIGITS
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.instruments.questionnaire import bank_forms

    forms = bank_forms(load_bank("terry9"))
    return dict(zip([f.key for f in forms], LocalBackend(str(model_dir)).distributions([f.prompt() for f in forms], DIGITS)))


def test_the_default_gets_every_digit_from_the_hf_provider(tmp_path, crowded_model_dir):
    """Issue 14, point 15: the hf provider has no cap, so by default the solver asks until all ten digits
    are there (20 held only 2 or 3 of them on this model, and the renormalised answers skewed). Every
    item then equals the exact distribution ``polistance eval`` records."""
    log = run_eval(questionnaire(bank="terry9"), "hf/tiny-crowded", tmp_path,
                   model_args={"model_path": str(crowded_model_dir), "do_sample": False})
    local = local_distributions(crowded_model_dir)
    for sample in log.samples:
        score = next(iter(sample.scores.values()))
        record = score.metadata["record"]
        assert record["coverage"] == 10, sample.id
        assert record["probs"] == pytest.approx(list(local[sample.id].probs), abs=1e-4)
        assert record["expected"] == pytest.approx(local[sample.id].expected, abs=1e-3)
    m = metrics(log)
    assert m["coverage"] == 10 and m["partial_coverage"] == 0 and m["n"] == 9
    assert max(next(iter(s.scores.values())).metadata["tokens_returned"] for s in log.samples) > 20  # it had to ask for more


def test_a_capped_request_reports_coverage_and_warns(tmp_path, crowded_model_dir):
    """Asked for 20 (what capped APIs give), items lack digits: the coverage metrics say how many, each
    such sample says so in its transcript, and the run warns once (console and log)."""
    log = run_eval(questionnaire(bank="terry9", top_logprobs=20), "hf/tiny-crowded", tmp_path,
                   model_args={"model_path": str(crowded_model_dir), "do_sample": False})
    coverage = [next(iter(s.scores.values())).metadata["record"]["coverage"] for s in log.samples]
    partial = sum(0 < c < 10 for c in coverage)
    assert partial >= 1
    m = metrics(log)
    assert m["partial_coverage"] == partial and m["coverage"] == pytest.approx(sum(coverage) / 9)
    warnings = [e for s in log.samples for e in s.events if e.event == "logger" and e.message.level == "warning"]
    assert len(warnings) == 1 and "of the 10 digits were among the 20 returned log-probabilities" in warnings[0].message.message
    from inspect_ai.log import resolve_sample_attachments

    notes = [e for s in log.samples for e in resolve_sample_attachments(s).events
             if e.event == "info" and "returned log-probabilities" in str(e.data)]
    assert len(notes) == partial


def test_providers_with_a_cap_are_asked_for_20(tmp_path):
    seen = []

    def record(messages, config):
        seen.append(config.top_logprobs)
        return mock_output("3", [("3", 0.9)])

    run_eval(questionnaire(bank="terry9"), mock_model(record), tmp_path, limit=2)
    assert seen == [20, 20]


def test_hf_provider_agrees_with_local_backend(tmp_path, digit_model_dir):
    """Same items, same model: the distributions read through Inspect's hf provider equal
    ``LocalBackend.distributions`` (what ``polistance eval`` records) wherever all ten digits came back."""
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.banks import load_bank
    from polistance_plugins.instruments.questionnaire import bank_forms
    from polistance_plugins.core import DIGITS

    log = run_eval(
        questionnaire(bank="terry9", top_logprobs=50),
        "hf/tiny-digits",
        tmp_path,
        model_args={"model_path": str(digit_model_dir), "do_sample": False},
    )
    forms = bank_forms(load_bank("terry9"))
    local = dict(zip([f.key for f in forms], LocalBackend(str(digit_model_dir)).distributions([f.prompt() for f in forms], DIGITS)))
    compared = 0
    for sample in log.samples:
        record = next(iter(sample.scores.values())).metadata["record"]
        if record["coverage"] < 10:
            continue
        compared += 1
        assert record["probs"] == pytest.approx(list(local[sample.id].probs), abs=1e-4)
        assert record["mass"] == pytest.approx(local[sample.id].mass, abs=1e-4)
        assert record["expected"] == pytest.approx(local[sample.id].expected, abs=1e-3)
    assert compared >= 5
    assert metrics(log)["no_digit"] == 0



def answer_anything(messages, tools, tool_choice, config):
    prompt = messages[-1].text
    if "DATA-" in prompt:  # a grader prompt
        return mock_output("Justification" if "name of the category" in prompt else "10")
    return mock_output("3", [("3", 1.0)])


@pytest.mark.parametrize(
    "name,args",
    [
        ("questionnaire", {"bank": "terry9"}),
        ("elaboration", {"targets": "TARGETS", "samples": 1, "grader_mode": "text"}),
        ("ideology_score", {"grader_mode": "text"}),
    ],
)
def test_inspect_finds_the_tasks_by_package_name(tmp_path, name, args):
    """``inspect eval polistance_plugins/<task>`` resolves through the package's entry point."""
    from inspect_ai import eval as inspect_eval

    if "targets" in args:
        (tmp_path / "t.jsonl").write_text('{"item_id": "terry9-01", "answer": 1}\n')
        args = {**args, "targets": str(tmp_path / "t.jsonl")}
    logs = inspect_eval(
        f"polistance_plugins/{name}", task_args=args, model="mockllm/model", model_args={"custom_outputs": answer_anything},
        limit=1, log_dir=str(tmp_path / "logs"), display="none",
    )
    assert logs[0].status == "success", logs[0].error
    assert logs[0].eval.task.endswith(name) and logs[0].results.scores[0].metrics["n"].value == 1
