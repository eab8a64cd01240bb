"""`polistance report --inspect-logs DIR`: elaboration categories per model from real Inspect logs
(the elaboration task on mockllm), with the weak-grader banner when the model graded itself."""

import json
import re

import pytest

from polistance_plugins.cli import main

GRADES = {"base": ["Justification", "Justification", "Justification", "Reversal"],
          "tuned": ["Incoherent", "Contradiction", "Justification", "not a category"]}


def mock_output(text):
    from inspect_ai.model import ModelOutput, ModelUsage

    out = ModelOutput.from_content(model="mockllm/model", content=text)
    out.usage = ModelUsage(input_tokens=10, output_tokens=1, total_tokens=11)
    return out


def self_grading_model(grades):
    """Answers the elaboration question with "reply-k" and, asked to grade reply-k, says grades[k]."""
    from inspect_ai.model import get_model

    state = {"n": 0}

    def respond(messages, tools, tool_choice, config):
        text = messages[-1].text
        m = re.search(r"reply-(\d+)", text)
        if m and "categor" in text.lower():
            return mock_output(grades[int(m.group(1))])
        k = state["n"]
        state["n"] += 1
        return mock_output(f"reply-{k}")

    return get_model("mockllm/model", custom_outputs=respond, memoize=False)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    from inspect_ai import eval as inspect_eval

    from polistance_plugins.tasks.elaboration import elaboration

    root = tmp_path_factory.mktemp("inspect")
    targets = root / "targets.jsonl"
    targets.write_text("\n".join(json.dumps(t) for t in [{"item_id": "terry9-01", "answer": 1}, {"item_id": "terry9-05", "answer": 8}]) + "\n")
    for label, grades in GRADES.items():
        task = elaboration(targets=str(targets), samples=2, grader_mode="text")
        [log] = inspect_eval(task, model=self_grading_model(grades), log_dir=str(root / "logs"), display="none", metadata={"adapter": label})
        assert log.status == "success", log.error
    return root / "logs"


def test_elaboration_section_from_inspect_logs(logs, tmp_path):
    out = tmp_path / "report"
    assert main(["report", "--inspect-logs", str(logs), "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    rows = {(r["model"], r["category"]): r for r in results["tables"]["elaboration"] if r["topic"] == "all topics"}
    assert rows[("base", "Justification")]["count"] == 3 and rows[("base", "Reversal")]["count"] == 1
    assert rows[("base", "Justification")]["rate"] == pytest.approx(3 / 4)
    tuned = rows[("tuned", "Incoherent")]
    assert tuned["count"] == 1 and tuned["n_scored"] == 3 and tuned["n_unscored"] == 1 and tuned["n_replies"] == 4
    assert rows[("tuned", "Justification")]["rate"] == pytest.approx(1 / 3)
    html = (out / "report.html").read_text()
    assert "figures/elaboration.png" in html and (out / "figures" / "elaboration.png").is_file()
    assert results["meta"]["grader"]["weak"] is True  # no grader role: each model graded its own replies
    assert 'id="grader-reliability"' in html and "Weak grader" not in html
    rel = {(r["grader"], r["measure"]): r["value"] for r in results["tables"]["grader_reliability"]}
    assert rel[("grader (base)", "label_orders")] == 2 and rel[("grader (base)", "order_kappa")] == 1.0
    assert main(["report", str(out)]) == 0  # rebuild reads the logs again
    assert json.loads((out / "results.json").read_text())["tables"]["elaboration"] == results["tables"]["elaboration"]
