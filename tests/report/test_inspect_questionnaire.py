"""`polistance report --inspect-logs DIR` with Inspect questionnaire logs: the questionnaire task run
through Inspect's hf provider (base model and a PEFT adapter) becomes the same per-form records
`polistance eval` writes, and the report's questionnaire tables follow."""

import json

import pytest

from polistance_plugins.cli import main
from polistance_plugins.errors import PolistanceError
from polistance_plugins.readers.inspect_records import records_from_logs
from polistance_plugins.tasks.questionnaire import questionnaire

from ..inspect.conftest import build_digit_model, mock_model, mock_output, run_eval
from tests.conftest import make_adapter

FORMS = 9  # terry9: nine questions, one wording each, normal scale
BASE = "digits"  # no adapter and no --metadata adapter: the run is labelled by its weights' folder (not "hf/tiny-digits")
ELABORATION = "mock-elaboration"  # the mockllm elaboration run: another model


@pytest.fixture(scope="module")
def models(tiny_model_dir, tmp_path_factory):
    """The tiny model made to answer in digits, and a LoRA adapter on it that moves its answers."""
    root = tmp_path_factory.mktemp("inspect-q-models")
    base = build_digit_model(tiny_model_dir, root / "digits")
    return base, make_adapter(base, root / "tuned", seed=2, scale=0.02)


def elaboration_log(log_dir, tmp_path):
    """A successful elaboration log (mockllm): not a questionnaire log."""
    from polistance_plugins.tasks.elaboration import elaboration

    targets = tmp_path / "targets.jsonl"
    targets.write_text('{"item_id": "terry9-01", "answer": 1}\n')

    def respond(messages, config):
        return mock_output("Justification" if "categor" in messages[-1].text.lower() else "Because.")

    return run_eval(elaboration(targets=str(targets), samples=2, grader_mode="text"), mock_model(respond), log_dir,
                    metadata={"adapter": ELABORATION})


@pytest.fixture(scope="module")
def harness(models, tmp_path_factory):
    base, tuned = models
    root = tmp_path_factory.mktemp("inspect-q")
    logs = root / "logs"
    args = {"model_path": str(base), "do_sample": False}
    run_eval(questionnaire(bank="terry9", top_logprobs=50), "hf/tiny-digits", logs, model_args=args)
    # the adapter folder as model_path: labelled by the folder name ("tuned")
    run_eval(questionnaire(bank="terry9", top_logprobs=50), "hf/tiny-digits", logs,
             model_args={**args, "model_path": str(tuned), "tokenizer_path": str(base)})
    elaboration = elaboration_log(logs, root)
    out = root / "report"
    assert main(["report", "--inspect-logs", str(logs), "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    return {"logs": logs, "out": out, "records": records, "elaboration": elaboration, "root": root}


@pytest.fixture(scope="module")
def eval_records(models, tmp_path_factory):
    """What `polistance eval` records for the same model and adapter."""
    base, tuned = models
    out = tmp_path_factory.mktemp("inspect-q-eval") / "run"
    assert main(["eval", "--model", str(base), "--adapter", f"tuned={tuned}", "--bank", "terry9", "--out", str(out)]) == 0
    return {r["key"]: r for r in map(json.loads, (out / "items.jsonl").read_text().splitlines())}


def test_one_record_per_form_and_model(harness):
    records = harness["records"]
    assert len(records) == 2 * FORMS
    assert {r["model"] for r in records} == {BASE, "tuned"}
    assert {r["suite"] for r in records} == {"questionnaire"} and {r["bank"] for r in records} == {"terry9"}
    assert all(r["method"] == "topk" for r in records)
    tuned = [r for r in records if r["model"] == "tuned"]
    assert len({r["item_id"] for r in tuned}) == FORMS
    assert all(r["adapter"] and r["adapter"].endswith("tuned") for r in tuned)
    assert all(r["adapter"] is None for r in records if r["model"] == BASE)


def test_distributions_equal_polistance_eval(harness, eval_records):
    """Same forms, same weights: the distributions read back from the Inspect logs equal those
    `polistance eval` records, wherever all ten digits were among the returned tokens."""
    compared = {BASE: 0, "tuned": 0}
    for r in harness["records"]:
        mine = eval_records[r["key"].replace(BASE, "base", 1) if r["model"] == BASE else r["key"]]
        assert r["prompt"] == mine["prompt"]
        if r["coverage"] < 10:
            continue
        compared[r["model"]] += 1
        assert r["probs"] == pytest.approx(mine["probs"], abs=1e-4)
        assert r["mass"] == pytest.approx(mine["mass"], abs=1e-4)
        assert r["expected"] == pytest.approx(mine["expected"], abs=1e-3)
        assert r["stance"] == pytest.approx(mine["stance"], abs=1e-3)
        assert r["status"] == mine["status"] == "ok"
    assert min(compared.values()) >= 5, compared
    base_e = {r["item_id"]: r["expected"] for r in harness["records"] if r["model"] == BASE}
    # the adapter moved the answers (so the labels cannot have been swapped unnoticed)
    assert max(abs(r["expected"] - base_e[r["item_id"]]) for r in harness["records"] if r["model"] == "tuned") > 0.01


def test_report_has_the_adapter_shift(harness):
    results = json.loads((harness["out"] / "results.json").read_text())
    assert results["meta"]["reference"] == BASE and results["meta"]["models"] == [BASE, "tuned", ELABORATION]
    assert "questionnaire" in results["meta"]["suites"] and results["meta"]["banks"] == ["terry9"]
    shift = [r for r in results["tables"]["topic_shift"] if r["measure"] == "stance_shift" and r["topic"] == "all topics"]
    assert [(r["model"], r["bank"]) for r in shift] == [("tuned", "terry9")]
    records = harness["records"]
    stance = {(r["model"], r["item_id"]): r["stance"] for r in records if r["status"] == "ok"}
    shifts = [stance[("tuned", i)] - stance[(BASE, i)] for i in {r["item_id"] for r in records} if ("tuned", i) in stance and (BASE, i) in stance]
    assert shift[0]["n_forms"] == len(shifts) >= 5
    assert shift[0]["estimate"] == pytest.approx(sum(shifts) / len(shifts), abs=1e-6)
    # the elaboration log in the same folder still gives the elaboration section
    assert {r["model"] for r in results["tables"]["elaboration"]} == {ELABORATION}


def test_non_questionnaire_logs_give_no_records(harness):
    pairs = records_from_logs([harness["logs"]])
    assert sorted(info["label"] for info, _ in pairs) == sorted([BASE, "tuned"])
    elaboration = harness["elaboration"].location
    assert all(info["log_file"] != elaboration for info, _ in pairs)
    sources = {r["source_file"] for r in harness["records"]}
    assert len(sources) == 2 and elaboration.rsplit("/", 1)[-1] not in sources
    assert records_from_logs([elaboration]) == []


# ---- mockllm: what the scorer kept, and logs that cannot be read -----------------------------------
REPLIES = {  # terry9 items 01..04
    "gay marriage": [("7", 0.5), ("8", 0.3), ("Hello", 0.2)],  # ok
    "ICE": [("I", 0.6), ("As", 0.3), ("The", 0.1)],  # no digit
    "abortion": [("x", 0.97), ("2", 0.03)],  # digits hold 0.03: off-format at the task's 0.05
}


def by_question(messages, config):
    text = messages[-1].text
    for key, top in REPLIES.items():
        if key in text:
            return mock_output(top[0][0], top)
    return mock_output("5")  # no log-probabilities at all: unscored


def test_records_are_rescored_at_the_reports_min_mass(tmp_path):
    log = run_eval(questionnaire(bank="terry9"), mock_model(by_question), tmp_path, limit=4, metadata={"adapter": "mock"})
    [(info, records)] = records_from_logs([tmp_path], min_mass=0.01)
    from polistance_plugins.readers.identity import ModelIdentity

    assert info == {"label": "mock", "adapter": None, "pretrained": "mockllm/model", "log_file": log.location,
                    "identity": ModelIdentity("mockllm/model", "name:mock"), "hint": "mock"}
    by_item = {r["item_id"]: r for r in records}
    assert len(records) == 4
    marriage, ice, abortion, fourth = (by_item[f"terry9-0{i}"] for i in (1, 2, 3, 4))
    assert marriage["status"] == "ok" and marriage["expected"] == pytest.approx(7.375) and marriage["coverage"] == 2
    assert marriage["probs"][7] == pytest.approx(0.625) and marriage["mass"] == pytest.approx(0.8)
    assert marriage["present"] == [i in (7, 8) for i in range(10)] and marriage["method"] == "topk"
    assert ice["status"] == "no_options" and ice["expected"] is None and ice["coverage"] == 0
    # the log's scorer called it off-format (min_mass 0.05); the report's 0.01 reads it
    assert next(iter(log.samples[2].scores.values())).value["off_format"] == 1.0
    assert abortion["status"] == "ok" and abortion["expected"] == pytest.approx(2.0)
    assert fourth["status"] == "failed" and "log-probabilities" in fourth["error"] and "probs" not in fourth
    assert records_from_logs([tmp_path])[0][1][2]["status"] == "off_format"  # the default 0.05
    keys = {r["key"] for r in records}
    assert len(keys) == 4 and all(k.startswith("mock|terry9|terry9-0") for k in keys)


def test_failed_run_is_skipped_with_a_warning(tmp_path):
    from inspect_ai import eval as inspect_eval

    def broken(messages, config):
        raise RuntimeError("provider down")

    [log] = inspect_eval(questionnaire(bank="terry9"), model=mock_model(broken), log_dir=str(tmp_path), display="none", limit=1)
    assert log.status == "error"
    name = log.location.rsplit("/", 1)[-1]
    with pytest.warns(UserWarning, match=name):
        assert records_from_logs([tmp_path]) == []


def test_the_same_run_twice_counts_once_and_other_numbers_are_refused(tmp_path):
    """Issue 14, point 12 for Inspect logs: the same form of the same model twice is kept once when the
    numbers agree, and refused when they do not."""
    for _ in range(2):
        run_eval(questionnaire(bank="terry9"), mock_model(by_question), tmp_path / "same", limit=1)
    pairs = records_from_logs([tmp_path / "same"])
    assert [len(records) for _, records in pairs] == [1, 0]
    run_eval(questionnaire(bank="terry9"), mock_model(by_question), tmp_path / "other", limit=1)
    run_eval(questionnaire(bank="terry9"), mock_model(lambda m, c: mock_output("3", [("3", 0.9)])), tmp_path / "other", limit=1)
    with pytest.raises(PolistanceError, match="two runs of 'mockllm/model' give different numbers for the same form terry9\\|terry9-01"):
        records_from_logs([tmp_path / "other"])


def test_partial_coverage_reaches_the_report(tmp_path):
    """Issue 14, point 15: forms read from top log-probabilities that lacked some digits are counted in
    the report built from the logs (format health, and a banner at the top)."""
    logs = tmp_path / "logs"
    run_eval(questionnaire(bank="terry9"), mock_model(by_question), logs, limit=4)  # two partial, one none, one failed
    run_eval(questionnaire(bank="terry9"), mock_model(lambda m, c: mock_output("6", [(str(d), 0.1) for d in range(10)])),
             logs, limit=4, metadata={"adapter": "full"})
    out = tmp_path / "report"
    assert main(["report", "--inspect-logs", str(logs), "--out", str(out), "--min-mass", "0.01"]) == 0
    health = {r["model"]: r for r in json.loads((out / "results.json").read_text())["tables"]["health"]}
    assert health["mockllm/model"]["n_partial_coverage"] == 2  # gay marriage (7, 8) and abortion (2)
    assert health["full"]["n_partial_coverage"] == 0 and health["full"]["mean_coverage"] == 10
    html = (out / "report.html").read_text()
    assert "Partial digit coverage." in html
    assert "mockllm/model on terry9: 2 of 4 forms lacked some digits among the returned log-probabilities" in html
    assert "full on terry9" not in html
