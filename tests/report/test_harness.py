"""`polistance report --lm-eval DIR`: the report built from a real lm-eval output folder (--output_path,
--log_samples), written by lm-eval's own EvaluationTracker for the base model and a PEFT adapter."""

import json
import math
import re
from pathlib import Path

import pytest

from polistance_plugins.cli import main
from polistance_plugins.core import DIGITS, distribution_from_option_logprobs

TASKS = ["polistance_terry9", "polistance_topics_race"]


def lm_eval_run(model_args: str, output: Path) -> dict:
    """Run our tasks with lm_eval.simple_evaluate and save them the way the lm_eval CLI does."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from polistance_plugins.cli import tasks_path

    tracker = EvaluationTracker(output_path=str(output))
    results = lm_eval.simple_evaluate(
        model="hf", model_args=model_args, tasks=TASKS, task_manager=TaskManager(include_path=tasks_path()),
        apply_chat_template=True, log_samples=True, limit=12, batch_size=4, device="cpu", evaluation_tracker=tracker,
    )
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return results


@pytest.fixture(scope="module")
def harness(tiny_model_dir, tiny_adapters, tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_eval_out")
    base = lm_eval_run(f"pretrained={tiny_model_dir},dtype=float32", root)
    tuned = lm_eval_run(f"pretrained={tiny_model_dir},peft={tiny_adapters['tuned']},dtype=float32", root)
    out = tmp_path_factory.mktemp("report") / "from_lm_eval"
    assert main(["report", "--lm-eval", str(root), "--out", str(out), "--min-mass", "0"]) == 0
    return root, out, {"base": base, "tuned": tuned}, tiny_model_dir.name


def test_records_come_from_the_logged_loglikelihoods(harness):
    root, out, _, base_label = harness
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert {r["model"] for r in records} == {base_label, "tuned"}
    assert len(records) == 2 * (9 + 12)
    samples = {}
    for f in root.rglob("samples_polistance_terry9_*.jsonl"):
        label = "tuned" if "tuned" in f.parent.name else base_label
        for line in f.read_text().splitlines():
            s = json.loads(line)
            samples[(label, s["doc"]["key"])] = [float(r[0]) for r in s["filtered_resps"]]
    terry = [r for r in records if r["bank"] == "terry9"]
    assert len(terry) == 18
    for r in terry:
        dist = distribution_from_option_logprobs(samples[(r["model"], f"{r['item_id']}/p0/normal")], DIGITS)
        assert r["probs"] == pytest.approx(list(dist.probs), abs=1e-9)
    assert {r["bank"] for r in records} == {"terry9", "topics"}


def test_reference_is_the_run_without_an_adapter(harness):
    _, out, _, base_label = harness
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["reference"] == base_label
    assert results["meta"]["models"] == [base_label, "tuned"]
    shift = results["tables"]["topic_shift"]
    assert {r["model"] for r in shift} == {"tuned"}
    race = [r for r in shift if r["bank"] == "topics" and r["topic"] == "race" and r["measure"] == "stance_shift"]
    assert race and race[0]["n_items"] == 2  # limit 12 = race-01 and race-02, 6 forms each


def test_lm_eval_layout_matches_lm_evals_own_numbers(harness):
    """Our lm-eval-layout digit mass and off-format share equal what lm-eval computed from the same run."""
    _, out, runs, base_label = harness
    ours = json.loads((out / "results.json").read_text())["lm_eval"]
    for label, theirs in ((base_label, runs["base"]), ("tuned", runs["tuned"])):
        mine = ours[label]["results"]
        for task in TASKS:
            assert mine[task]["digit_mass,none"] == pytest.approx(theirs["results"][task]["digit_mass,none"], rel=1e-6)
            assert mine[task]["sample_len"] == theirs["results"][task]["sample_len"]


def test_lm_eval_layout_matches_at_the_task_threshold(harness):
    """Read at lm-eval's own threshold (min mass 0.05), the off-format share and stance agree too."""
    from polistance_plugins.readers.lm_eval_outputs import records_from_lm_eval
    from polistance_plugins.report.frames import questionnaire_frame
    from polistance_plugins.report.lm_eval_export import lm_eval_results

    root, _, runs, base_label = harness
    pairs = records_from_lm_eval(root, min_mass=0.05)
    df = questionnaire_frame([r for _, recs in pairs for r in recs])
    ours = lm_eval_results(df, {"models": [info["label"] for info, _ in pairs], "adapters": {}})
    for label, theirs in ((base_label, runs["base"]), ("tuned", runs["tuned"])):
        for task in TASKS:
            for metric in ("off_format,none", "stance,none", "expected_score,none"):
                a, b = ours[label]["results"][task][metric], theirs["results"][task][metric]
                assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-6), (label, task, metric)


def test_report_html_has_its_figures(harness):
    _, out, _, _ = harness
    html = (out / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) >= 4 and all((out / s).is_file() for s in sources)
    assert "harness outputs (lm-eval)" in html
    assert main(["report", str(out)]) == 0  # a harness-built folder rebuilds like any run


def test_ambiguous_reference_is_refused(harness, tmp_path, capsys):
    root, _, _, _ = harness
    assert main(["report", "--lm-eval", str(root), "--out", str(tmp_path / "x"), "--reference", "nobody"]) == 2
    assert "--reference 'nobody'" in capsys.readouterr().err


def test_one_label_from_both_harnesses_is_refused(harness, tmp_path, capsys):
    """The same model's questionnaire from lm-eval and from Inspect would count every form twice."""
    from polistance_plugins.tasks.questionnaire import questionnaire

    from ..inspect.conftest import mock_model, mock_output, run_eval

    root, _, _, _ = harness
    logs = tmp_path / "logs"
    top = [("7", 0.9)]
    run_eval(questionnaire(bank="terry9"), mock_model(lambda m, c: mock_output("7", top)), logs, limit=2, metadata={"adapter": "tuned"})
    assert main(["report", "--lm-eval", str(root), "--inspect-logs", str(logs), "--out", str(tmp_path / "both")]) == 2
    assert "come from both lm-eval and Inspect" in capsys.readouterr().err
    # a questionnaire-only Inspect folder makes a questionnaire-only report (no elaboration suite listed)
    assert main(["report", "--inspect-logs", str(logs), "--out", str(tmp_path / "inspect_only")]) == 0
    manifest = json.loads((tmp_path / "inspect_only" / "manifest.json").read_text())
    assert manifest["config"]["options"]["suites"] == ["questionnaire"]
