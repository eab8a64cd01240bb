"""`polistance report --lm-eval DIR [--inspect-logs DIR]`: the report built from real lm-eval output
folders (--output_path, --log_samples), written by lm-eval's own EvaluationTracker, and from Inspect
logs of the same models.

The lm-eval folder holds what a user makes by running one model after another into one output path:
the base on terry9, then the base on the race topic, then an adapter on both (issue 14, point 12: the
base's terry9 run used to be dropped without a word). A second folder holds a polistance_pct run with
--limit (point 14: the compass samples could not be read at all)."""

import json
import math
import re
import shutil
from pathlib import Path

import pytest

from polistance_plugins.cli import main
from polistance_plugins.core import DIGITS, distribution_from_option_logprobs

TASKS = ["polistance_terry9", "polistance_topics_race"]
PCT_FIXTURE = Path(__file__).parents[1] / "compass" / "fixtures" / "pct_fixture.csv"


def lm_eval_run(model_args: str, output: Path, tasks, limit=None, metadata=None) -> dict:
    """Run our tasks with lm_eval.simple_evaluate and save them the way the lm_eval CLI does."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from polistance_plugins.cli import tasks_path

    tracker = EvaluationTracker(output_path=str(output))
    results = lm_eval.simple_evaluate(
        model="hf", model_args=model_args, tasks=tasks, task_manager=TaskManager(include_path=tasks_path(), include_defaults=False, metadata=metadata),
        apply_chat_template=True, log_samples=True, limit=limit, batch_size=4, device="cpu", evaluation_tracker=tracker,
    )
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return results


@pytest.fixture(scope="module")
def harness(tiny_model_dir, tiny_adapters, tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_eval_out")
    base_args = f"pretrained={tiny_model_dir},dtype=float32"
    base_terry9 = lm_eval_run(base_args, root, ["polistance_terry9"])
    # the same weights spelled with a trailing slash: still the same model
    base_race = lm_eval_run(f"pretrained={tiny_model_dir}/,dtype=float32", root, ["polistance_topics_race"], limit=12)
    tuned = lm_eval_run(f"{base_args},peft={tiny_adapters['tuned']}", root, TASKS, limit=12)
    out = tmp_path_factory.mktemp("report") / "from_lm_eval"
    assert main(["report", "--lm-eval", str(root), "--out", str(out), "--min-mass", "0"]) == 0
    runs = {"base": {**base_terry9, "results": {**base_terry9["results"], **base_race["results"]}}, "tuned": tuned}
    return root, out, runs, tiny_model_dir.name


def records_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]


def test_every_run_in_the_folder_counts(harness):
    """Point 12: two results files in the base's folder (terry9, then race): both are read."""
    root, out, _, base_label = harness
    assert len(list(root.rglob("results_*.json"))) == 3
    records = records_of(out)
    assert {r["model"] for r in records} == {base_label, "tuned"}
    base = [r for r in records if r["model"] == base_label]
    assert sum(r["bank"] == "terry9" for r in base) == 9 and sum(r["bank"] == "topics" for r in base) == 12
    assert len(records) == 2 * (9 + 12)
    sources = json.loads((out / "manifest.json").read_text())["config"]["sources"]
    base_source = next(s for s in sources if s["label"] == base_label)
    assert len(base_source["sources"][0]["results_files"]) == 2


def test_records_come_from_the_logged_loglikelihoods(harness):
    root, out, _, base_label = harness
    records = records_of(out)
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


def test_reference_is_the_run_without_an_adapter(harness):
    _, out, _, base_label = harness
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["reference"] == base_label
    assert results["meta"]["models"] == [base_label, "tuned"]
    shift = results["tables"]["topic_shift"]
    assert {r["model"] for r in shift} == {"tuned"}
    race = [r for r in shift if r["bank"] == "topics" and r["topic"] == "race" and r["measure"] == "stance_shift"]
    assert race and race[0]["n_items"] == 2  # limit 12 = race-01 and race-02, 6 forms each
    terry9 = [r for r in shift if r["bank"] == "terry9" and r["topic"] == "all topics" and r["measure"] == "stance_shift"]
    assert terry9 and terry9[0]["n_items"] == 9  # the base's terry9 run is there to compare with


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
    """Read at lm-eval's own threshold (min mass 0.05), the off-format share, stance and agreement agree too."""
    from polistance_plugins.readers.lm_eval_outputs import records_from_lm_eval, relabel
    from polistance_plugins.report.frames import questionnaire_frame
    from polistance_plugins.report.lm_eval_export import lm_eval_results

    root, _, runs, base_label = harness
    models = records_from_lm_eval(root, min_mass=0.05)
    labels = {m.identity: ("tuned" if m.identity.adapter else base_label) for m in models}
    df = questionnaire_frame([r for m in models for r in relabel(m.records, labels[m.identity])])
    ours = lm_eval_results(df, {"models": [base_label, "tuned"], "adapters": {}})
    for label, theirs in ((base_label, runs["base"]), ("tuned", runs["tuned"])):
        for task in TASKS:
            for metric in ("off_format,none", "stance,none", "agreement,none"):
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


def copy_run(root: Path, tmp_path: Path, change) -> Path:
    """A copy of the lm-eval folder plus one more run of the base on terry9: its results and samples
    files again under a later time stamp, each sample's log-likelihoods (a list) passed through ``change``."""
    copy = tmp_path / "lm"
    shutil.copytree(root, copy)
    results = sorted(p for p in copy.rglob("results_*.json") if "polistance_terry9" in p.read_text() and "peft" not in p.read_text())
    [res] = results
    stamp = res.name.removeprefix("results_").removesuffix(".json")
    later = "2999-01-01T00-00-00.000000"
    (res.parent / f"results_{later}.json").write_text(res.read_text())
    lines = []
    for line in (res.parent / f"samples_polistance_terry9_{stamp}.jsonl").read_text().splitlines():
        s = json.loads(line)
        lls = change([float(r[0]) for r in s["filtered_resps"]])
        s["filtered_resps"] = [[str(ll), r[1]] for ll, r in zip(lls, s["filtered_resps"])]
        lines.append(json.dumps(s))
    (res.parent / f"samples_polistance_terry9_{later}.jsonl").write_text("\n".join(lines) + "\n")
    return copy


def test_the_same_run_twice_counts_once(harness, tmp_path):
    root, _, _, base_label = harness
    copy = copy_run(root, tmp_path, lambda ll: ll)
    out = tmp_path / "report"
    assert main(["report", "--lm-eval", str(copy), "--out", str(out), "--min-mass", "0"]) == 0
    assert sum(r["model"] == base_label and r["bank"] == "terry9" for r in records_of(out)) == 9


def test_two_runs_with_other_numbers_for_one_form_are_refused(harness, tmp_path, capsys):
    """Point 12: the same form of the same model with different numbers is a real conflict."""
    root, _, _, base_label = harness
    copy = copy_run(root, tmp_path, lambda lls: [lls[0] - 1.0, *lls[1:]])  # digit 0 less likely
    assert main(["report", "--lm-eval", str(copy), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert f"two runs of {str(Path(str(root)).resolve())!r}" not in err  # named by its label, not a path
    assert "give different numbers for the same form terry9|terry9-01/p0/normal" in err
    assert "samples_polistance_terry9_2999-01-01T00-00-00.000000.jsonl" in err


# ---- one model through lm-eval and Inspect (point 13) ----------------------------------------------
def inspect_base_run(model_dir: Path, logs: Path, bank: str = "topics", **task):
    """The base weights through Inspect's hf provider, under a name of its own ("hf/smollm2")."""
    from polistance_plugins.tasks.questionnaire import questionnaire

    from ..inspect.conftest import run_eval

    # 20 log-probabilities: on the tiny random model the digits are far down the vocabulary, and the
    # default search for them (up to all 49,152 entries, each logged) is what these tests do not need.
    task = {"top_logprobs": 20, **task}
    return run_eval(questionnaire(bank=bank, **task), "hf/smollm2", logs, limit=2,
                    model_args={"model_path": str(model_dir), "do_sample": False})


def test_one_model_through_both_harnesses_is_one_model(harness, tiny_model_dir, tmp_path):
    """The base's lm-eval runs and an Inspect run of the same weights (named hf/smollm2) are one model,
    labelled by its weights; a mockllm run is another base model, shown as a model, never an adapter."""
    from polistance_plugins.tasks.questionnaire import questionnaire

    from ..inspect.conftest import mock_model, mock_output, run_eval

    root, _, _, base_label = harness
    logs = tmp_path / "logs"
    inspect_base_run(tiny_model_dir, logs, topics="science")
    run_eval(questionnaire(bank="terry9"), mock_model(lambda m, c: mock_output("7", [("7", 0.9)])), logs, limit=2)
    out = tmp_path / "report"
    # two base models now (the tiny weights and mockllm): which is the reference must be said
    assert main(["report", "--lm-eval", str(root), "--inspect-logs", str(logs), "--out", str(out)]) == 2
    assert main(["report", "--lm-eval", str(root), "--inspect-logs", str(logs), "--out", str(out), "--min-mass", "0",
                 "--reference", base_label]) == 0
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["models"] == [base_label, "tuned", "mockllm/model"]
    records = records_of(out)
    base = [r for r in records if r["model"] == base_label]
    assert {r["topic"] for r in base if r["bank"] == "topics"} == {"race", "science"}  # lm-eval's race, Inspect's science
    assert not any(r["model"].startswith("hf/") for r in records)
    html = (out / "report.html").read_text()
    cards = re.findall(r'<div class="card">(.*?)</div></div>', html, flags=re.S)
    roles = {re.search(r'<div class="v">([^<]+)</div>', c).group(1): re.search(r"</span>(\w+)</div>", c).group(1) for c in cards}
    assert roles == {base_label: "reference", "tuned": "adapter", "mockllm/model": "model"}
    assert "adapter path not recorded" not in html
    lm = json.loads((out / "results.json").read_text())["lm_eval"]
    assert lm["mockllm/model"]["config"]["model_args"] == {"pretrained": "mockllm/model"}
    assert lm[base_label]["config"]["model_args"] == {"pretrained": str(tiny_model_dir.resolve())}


def test_the_same_form_from_both_harnesses_with_other_numbers_is_refused(harness, tiny_model_dir, tmp_path, capsys):
    """The base's terry9 forms from lm-eval (exact log-likelihoods) and from Inspect (top log-probabilities)
    are the same forms of the same model with different numbers: refused, not counted twice."""
    root, _, _, base_label = harness
    logs = tmp_path / "logs"
    inspect_base_run(tiny_model_dir, logs, bank="terry9")
    assert main(["report", "--lm-eval", str(root), "--inspect-logs", str(logs), "--out", str(tmp_path / "both")]) == 2
    assert f"two runs of {base_label!r} give different numbers for the same form terry9|terry9-01/p0/normal" in capsys.readouterr().err


def test_named_models_and_folders_are_one_identity(embedded_dir):
    from types import SimpleNamespace

    from polistance_plugins.readers.identity import identity_from_inspect, identity_from_lm_eval, readable_labels

    named = identity_from_lm_eval({"pretrained": "smollm2-135m-instruct"})
    folder = identity_from_lm_eval({"pretrained": str(embedded_dir) + "/"})
    inspect = identity_from_inspect(SimpleNamespace(model="hf/smollm2", model_args={"model_path": str(embedded_dir)}, metadata=None))
    by_path = identity_from_inspect(SimpleNamespace(model=f"hf/{embedded_dir}", model_args={}, metadata=None))
    assert named == folder == inspect == by_path and named.adapter is None
    assert readable_labels([(named, None)]) == {named: "smollm2-135m-instruct"}
    as_base = identity_from_inspect(SimpleNamespace(model="hf/smollm2", model_args={"model_path": str(embedded_dir)},
                                                    metadata={"adapter": "base"}))
    assert as_base == named  # "--metadata adapter=base" names the base; it does not make it an adapter


# ---- the lm-eval compass task (point 14) ---------------------------------------------------------
@pytest.fixture(scope="module")
def compass_report(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_eval_pct")
    run = lm_eval_run(f"pretrained={tiny_model_dir},dtype=float32", root, ["polistance_pct"], limit=8,
                      metadata={"pct_file": str(PCT_FIXTURE), "orders": "normal", "labels": "numbers", "min_mass": 0})
    out = tmp_path_factory.mktemp("report") / "pct"
    assert main(["report", "--lm-eval", str(root), "--out", str(out), "--min-mass", "0"]) == 0
    return run, out


def test_lm_eval_compass_samples_enter_the_report(compass_report, tiny_model_dir):
    run, out = compass_report
    records = records_of(out)
    assert len(records) == 8 and {r["suite"] for r in records} == {"compass"} and {r["source"] for r in records} == {"pct"}
    results = json.loads((out / "results.json").read_text())
    [summary] = results["compass"]["summaries"]
    assert summary["model"] == tiny_model_dir.name
    assert (summary["answered"], summary["propositions"], summary["partial"]) == (8, 62, True)
    theirs = run["results"]["polistance_pct"]
    assert summary["expected"]["econ"] == pytest.approx(theirs["econ,none"], abs=1e-6)
    assert summary["expected"]["soc"] == pytest.approx(theirs["social,none"], abs=1e-6)
    assert theirs["answered,none"] == 8


def test_the_compass_figure_and_table_say_how_many_were_answered(compass_report, tiny_model_dir):
    from polistance_plugins.report.compass_plot import legend_label

    _, out = compass_report
    results = json.loads((out / "results.json").read_text())
    [summary] = results["compass"]["summaries"]
    assert legend_label(summary).startswith(f"{tiny_model_dir.name}: 8/62 answered (partial: economic ")
    html = (out / "report.html").read_text()
    assert "8/62 answered (partial: economic " in html and "62 propositions" not in html
    assert (out / "figures" / "compass.png").is_file()
