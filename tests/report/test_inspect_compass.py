"""`polistance report --inspect-logs DIR` with Inspect compass logs: the compass task run on mockllm
becomes the per-form compass records `polistance compare --suite compass` writes, and the report's
compass section (table, figure) follows."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from polistance_plugins.cli import main
from polistance_plugins.instruments.compass import load_source
from polistance_plugins.errors import PolistanceError
from polistance_plugins.readers.inspect_records import records_from_logs
from polistance_plugins.core.compass import compass_point
from polistance_plugins.tasks.compass import compass

from ..inspect.conftest import mock_model, mock_output, run_eval
from .test_compare import image_sources, strict_json

PROPS = [
    ("ec-a", "economic", "right", [-8, -4, 4, 8]), ("ec-b", "economic", "left", [8, 4, -4, -8]),
    ("so-a", "social", "authoritarian", [-6, -3, 3, 6]), ("so-b", "social", "libertarian", [6, 3, -3, -6]),
]
# The mock's canonical answer distribution (sd, d, a, sa) per proposition, whatever the form.
Q = [(0.1, 0.2, 0.3, 0.4), (0.4, 0.3, 0.2, 0.1), (0.05, 0.15, 0.5, 0.3), (0.6, 0.2, 0.1, 0.1)]
MASS = 0.8
WEAK = "Claim so-b said another way."  # forms with this wording put almost nothing on the options


def write_bank(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": i, "axis": a, "direction": d, "weights": w, "source": "test",
                                        "paraphrases": [f"Claim {i} one.", f"Claim {i} said another way."]}) + "\n"
                            for i, a, d, w in PROPS))
    return path


def respond(messages, config):
    prompt = messages[-1].text
    if WEAK in prompt:
        return mock_output("I", [("I", 0.98), ("3", 0.02)])
    index = next(k for k, (i, *_) in enumerate(PROPS) if f"Claim {i} " in prompt)
    reversed_ = prompt.index("Strongly agree") < prompt.index("Strongly disagree")
    listed = Q[index][::-1] if reversed_ else Q[index]
    top = [(str(k + 1), MASS * p) for k, p in enumerate(listed)] + [("I", 1 - MASS)]
    top.sort(key=lambda t: -t[1])
    return mock_output(top[0][0], top)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect-compass")
    bank = write_bank(root / "mini_compass.jsonl")
    logs = root / "logs"
    run_eval(compass(source=str(bank), labels="numbers"), mock_model(respond), logs)
    out = root / "report"
    assert main(["report", "--inspect-logs", str(logs), "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    return {"bank": bank, "logs": logs, "out": out, "records": records}


def test_compass_logs_become_compass_records(harness):
    records = harness["records"]
    assert len(records) == 4 * 2 * 2  # propositions x paraphrases x orders (number labels)
    assert {r["suite"] for r in records} == {"compass"} and {r["model"] for r in records} == {"mockllm/model"}
    source = load_source(str(harness["bank"]))
    assert {r["source"] for r in records} == {source.name}
    weak = [r for r in records if r["item_id"] == "so-b" and r["paraphrase"] == 1]
    assert len(weak) == 2 and {r["status"] for r in weak} == {"off_format"} and all(r["probs"] is None for r in weak)
    ok = [r for r in records if r not in weak]
    assert len(ok) == 14 and {r["status"] for r in ok} == {"ok"} and {r["method"] for r in ok} == {"logprobs"}
    for r in ok:
        assert r["probs"] == pytest.approx(list(Q[r["index"]])), r["key"]
        assert r["mass"] == pytest.approx(MASS)
        assert r["present"] == [True] * 4 and r["coverage"] == 4
        assert r["key"] == f"mockllm/model|{source.name}|{r['item_id']}/p{r['paraphrase']}/{r['order']}/numbers"


def test_the_report_has_the_compass_section(harness):
    out = harness["out"]
    table = pd.read_csv(out / "tables" / "compass.csv")
    assert list(table["model"]) == ["mockllm/model"] and list(table["answered"]) == [4]
    econ, soc = compass_point(Q, load_source(str(harness["bank"])).weights)
    assert table["econ"][0] == pytest.approx(econ) and table["soc"][0] == pytest.approx(soc)
    assert (out / "figures" / "compass.png").is_file()
    assert "figures/compass.png" in image_sources((out / "report.html").read_text())
    meta = strict_json(out / "results.json")["meta"]
    assert meta["compass_source"] == str(harness["bank"]) and "compass" in meta["suites"]
    assert "questionnaire" not in meta["suites"]


def test_the_report_min_mass_applies(harness):
    [(info, records)] = records_from_logs([harness["logs"]], min_mass=0.9)  # above the mock's option mass
    assert info["compass_source"] == str(harness["bank"])
    assert {r["status"] for r in records} == {"off_format"}


def test_failed_compass_run_is_skipped_with_a_warning(tmp_path):
    from inspect_ai import eval as inspect_eval

    def broken(messages, config):
        raise RuntimeError("provider down")

    bank = write_bank(tmp_path / "mini_compass.jsonl")
    [log] = inspect_eval(compass(source=str(bank)), model=mock_model(broken), log_dir=str(tmp_path / "logs"), display="none", limit=1)
    assert log.status == "error"
    name = log.location.rsplit("/", 1)[-1]
    with pytest.warns(UserWarning, match=name):
        assert records_from_logs([tmp_path / "logs"]) == []


def test_pct_logs_without_their_file_are_refused(tmp_path):
    pct = tmp_path / "pct_propositions.csv"
    shutil.copy(Path(__file__).parents[1] / "compass" / "fixtures" / "pct_fixture.csv", pct)
    run_eval(compass(source="pct", pct_file=str(pct)), mock_model(respond_agree), tmp_path / "logs", limit=2)
    [(info, records)] = records_from_logs([tmp_path / "logs"])
    assert info["compass_source"] == "pct" and info["pct_file"] == str(pct) and len(records) == 2
    pct.unlink()
    with pytest.raises(PolistanceError, match="PCT"):
        records_from_logs([tmp_path / "logs"])
    assert main(["report", "--inspect-logs", str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 2


def respond_agree(messages, config):
    return mock_output("3", [("3", 0.9), ("2", 0.1)])


def respond_partly(messages, config):
    """Label 4 is absent on the first proposition's forms and present at 1e-12 (0 once rounded) on the others."""
    top = [("1", 0.5), ("2", 0.3), ("3", 0.1)]
    return mock_output("1", top if "Claim ec-a " in messages[-1].text else top + [("4", 1e-12)])


def test_records_carry_the_coverage_the_scorer_recorded(tmp_path):
    """A label the scorer saw counts as present even when its probability rounds to 0; one it did not see
    is absent. A log from before the scorer kept ``present`` falls back on probability > 0."""
    from inspect_ai.log import read_eval_log

    from polistance_plugins.readers.inspect_records import compass_records

    bank = write_bank(tmp_path / "mini_compass.jsonl")
    log = run_eval(compass(source=str(bank), labels="numbers"), mock_model(respond_partly), tmp_path / "logs", limit=8)
    kept = {s.id: s.scores["likert"].metadata for s in log.samples}
    [(info, records)] = records_from_logs([tmp_path / "logs"])
    assert len(records) == 8
    for r in records:
        scored = kept[r["key"].split("|")[-1]]
        assert r["coverage"] == scored["coverage"] and r["present"] == scored["present"], r["key"]
        assert r["coverage"] == (3 if r["item_id"] == "ec-a" else 4) and r["probs"][::-1 if r["order"] == "reversed" else 1][3] == 0
    old = read_eval_log(log.location)
    for s in old.samples:
        for k in ("present", "coverage", "tokens_returned"):
            s.scores["likert"].metadata.pop(k)
    _, before = compass_records(old, log.location)
    assert {r["coverage"] for r in before} == {3}  # every label 4 had probability 0 once rounded


def test_text_answers_have_no_coverage(tmp_path):
    """Word labels are read from the reply's text, not from log-probabilities: their records say nothing
    about coverage (a one-hot answer is not "one of four labels returned")."""
    bank = write_bank(tmp_path / "mini_compass.jsonl")
    run_eval(compass(source=str(bank), labels="words", orders="normal", paraphrases="first"),
             mock_model(lambda m, c: mock_output("Agree", [("Agree", 0.9)])), tmp_path / "logs")
    [(_, records)] = records_from_logs([tmp_path / "logs"])
    assert len(records) == 4 and {r["method"] for r in records} == {"text"}
    assert all(r["probs"] == [0.0, 0.0, 1.0, 0.0] for r in records)
    assert {(r["coverage"], r["present"] is None) for r in records} == {(None, True)}
