"""`polistance compare` on the tiny model with two PEFT adapters (one the control), and `polistance report`."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from polistance_plugins.cli import main
from polistance_plugins.instruments.elaboration import CATEGORIES

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "bench" / "screenshot_report.py"


@pytest.fixture(scope="module")
def run(tiny_model_dir, tiny_adapters, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "run"
    code = main([
        "compare", "--model", str(tiny_model_dir),
        "--adapters", f"tuned={tiny_adapters['tuned']},control={tiny_adapters['control']}", "--control", "control",
        "--bank", "terry9,topics", "--topics", "immigration,race", "--min-mass", "0", "--batch-size", "8", "--out", str(out),
    ])
    assert code == 0
    return out


def strict_json(path: Path):
    def refuse(c):
        raise ValueError(f"{path} holds {c}")

    return json.loads(path.read_text(), parse_constant=refuse)


def image_sources(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html)


def test_compare_writes_the_run_folder(run):
    records = [json.loads(line) for line in (run / "items.jsonl").read_text().splitlines()]
    # terry9 has 2 immigration items (1 form each); topics: 2 topics x 14 items x 3 paraphrases x 2 directions
    assert len(records) == 3 * (2 + 168)
    assert {r["model"] for r in records} == {"base", "tuned", "control"}
    assert {r["suite"] for r in records} == {"questionnaire"}
    by_key = {(r["bank"], r["item_id"], r["paraphrase"], r["direction"], r["model"]): r["probs"] for r in records}
    changed = sum(by_key[k[:4] + ("tuned",)] != by_key[k] for k in by_key if k[4] == "base")
    assert changed == 170  # the adapter is active when its records are made
    manifest = strict_json(run / "manifest.json")
    assert manifest["status"] == "complete"
    assert manifest["config"]["control"] == "control" and set(manifest["config"]["questionnaire"]) == {"terry9", "topics"}
    for name in ("summary", "topic_shift", "entropy", "items", "stability", "health", "control_adjusted"):
        assert (run / "tables" / f"{name}.csv").is_file(), name


def test_tables_hold_traceable_rows(run):
    import pandas as pd

    shift = pd.read_csv(run / "tables" / "topic_shift.csv")
    assert set(shift["model"]) == {"tuned", "control"}
    stance = shift[(shift["measure"] == "stance_shift") & (shift["bank"] == "topics") & (shift["topic"] != "all topics")]
    assert len(stance) == 2 * 2 and (stance["n_items"] == 14).all()
    assert stance[["ci_low", "ci_high", "p_value", "p_adjusted"]].notna().all().all()
    assert (stance["p_adjusted"] >= stance["p_value"] - 1e-12).all()
    assert stance["test"].str.contains("sign-flip").all()
    control = pd.read_csv(run / "tables" / "control_adjusted.csv")
    assert set(control["model"]) == {"tuned"} and set(control["reference"]) == {"control"}
    stab = pd.read_csv(run / "tables" / "stability.csv")
    assert set(stab["measure"]) == {"direction_consistency", "direction_tracking", "paraphrase_spread"}
    assert stab[stab["bank"] == "topics"]["n_items"].eq(28).all()


def test_results_json_and_lm_eval_layout(run):
    from lm_eval.result_schema import EvalResults

    results = strict_json(run / "results.json")
    assert results["meta"]["models"] == ["base", "tuned", "control"]
    assert {"topic_shift", "entropy", "stability", "health", "control_adjusted"} <= set(results["tables"])
    allowed = set(EvalResults.__annotations__)
    for label in ("base", "tuned", "control"):
        lm = results["lm_eval"][label]
        assert {k for k in lm if not k.startswith("polistance")} <= allowed
        assert set(lm["results"]) == {"polistance_terry9", "polistance_topics", "polistance_topics_immigration", "polistance_topics_race"}
        assert lm["results"]["polistance_topics_race"]["sample_len"] == 84
        files = list((run / "lm_eval" / lm["model_name_sanitized"]).glob("results_*.json"))
        assert len(files) == 1 and strict_json(files[0])["results"] == lm["results"]
    assert results["lm_eval"]["tuned"]["config"]["model_args"]["peft"].endswith("tuned")


def test_report_references_figures_that_exist(run):
    html = (run / "report.html").read_text()
    sources = image_sources(html)
    names = {Path(s).name for s in sources}
    assert {"shift_topics.png", "control_topics.png", "entropy.png", "health.png", "items_terry9.png"} <= names
    assert {"items_topics_race.png", "items_topics_immigration.png"} <= names  # >12 items: one figure per topic
    for src in sources:
        data = (run / src).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", src
    assert "Weak grader" not in html
    assert "sign-flip permutation test" in html and "n = 14 items" in html  # tooltips carry n and the test


def test_report_rebuild_gives_the_same_tables(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    for p in list((copy / "tables").glob("*.csv")) + [copy / "results.json", copy / "report.html"]:
        p.unlink()
    shutil.rmtree(copy / "figures")
    assert main(["report", str(copy)]) == 0
    for p in sorted((run / "tables").glob("*.csv")):
        assert (copy / "tables" / p.name).read_text() == p.read_text(), p.name
    assert strict_json(copy / "results.json") == strict_json(run / "results.json")
    assert all((copy / s).is_file() for s in image_sources((copy / "report.html").read_text()))


@pytest.mark.skipif(shutil.which("chromium") is None and os.environ.get("POLISTANCE_REQUIRE_BROWSER") != "1",
                    reason="needs Debian's chromium (apt-get install -y chromium); CI installs it and requires this test")
def test_report_renders_in_headless_chromium(run, tmp_path):
    print(f"rendering the report in {shutil.which('chromium')}")
    shot = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, str(SCREENSHOT), str(run), "--out", str(shot), "--height", "900"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 broken" in proc.stdout and shot.read_bytes()[:4] == b"\x89PNG"
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "figures" / "entropy.png").unlink()
    proc = subprocess.run([sys.executable, str(SCREENSHOT), str(broken), "--out", str(tmp_path / "b.png")], capture_output=True, text=True)
    assert proc.returncode == 1 and "BROKEN figures/entropy.png" in proc.stdout


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["compare", "--adapters", "a=/nowhere", "--control", "b"], "--control 'b'"),
        (["compare", "--suite", "questionnaire,vibes"], "unknown suite 'vibes'"),
        (["compare", "--suite", "elaboration", "--samples", "0"], "argument --samples: 0 is out of range: must be at least 1"),
        (["compare", "--suite", "elaboration", "--grader-api-model", "judge"], "--grader-api-model names a served model"),
        (["report"], "give a run folder"),
        (["report", "--lm-eval", "/nowhere"], "--out"),
    ],
)
def test_user_errors_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_report_on_an_eval_run_folder(tiny_model_dir, tiny_adapters, tmp_path):
    import pandas as pd

    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--adapter", f"tuned={tiny_adapters['tuned']}",
                 "--min-mass", "0", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    shift = pd.read_csv(out / "tables" / "topic_shift.csv")
    assert set(shift["model"]) == {"tuned"} and set(shift["reference"]) == {"base"}
    assert all((out / s).is_file() for s in image_sources((out / "report.html").read_text()))


def test_compare_resumes_a_finished_run_without_rescoring(run, tiny_model_dir, tiny_adapters, tmp_path, capsys):
    copy = tmp_path / "resumed"
    shutil.copytree(run, copy)
    before = (copy / "items.jsonl").read_bytes()
    code = main([
        "compare", "--model", str(tiny_model_dir),
        "--adapters", f"tuned={tiny_adapters['tuned']},control={tiny_adapters['control']}", "--control", "control",
        "--bank", "terry9,topics", "--topics", "immigration,race", "--min-mass", "0", "--batch-size", "8", "--resume", str(copy),
    ])
    assert code == 0
    assert (copy / "items.jsonl").read_bytes() == before
    counts = strict_json(copy / "manifest.json")["counts"]
    assert counts["questionnaire:topics"]["skipped"] == 3 * 168 and counts["questionnaire:topics"]["recorded"] == 0
    assert main(["compare", "--model", str(tiny_model_dir), "--adapters", f"tuned={tiny_adapters['tuned']}",
                 "--bank", "terry9", "--min-mass", "0", "--resume", str(copy)]) == 2
    assert "different configuration" in capsys.readouterr().err


def test_compare_with_the_compass_suite(tiny_model_dir, tiny_adapters, tmp_path):
    import pandas as pd

    bank = tmp_path / "mini_compass.jsonl"
    props = [
        ("ec-a", "economic", "right", [-8, -4, 4, 8]), ("ec-b", "economic", "left", [8, 4, -4, -8]),
        ("so-a", "social", "authoritarian", [-6, -3, 3, 6]), ("so-b", "social", "libertarian", [6, 3, -3, -6]),
    ]
    bank.write_text("".join(json.dumps({"id": i, "axis": a, "direction": d, "weights": w, "source": "test",
                                        "paraphrases": [f"Claim {i} one.", f"Claim {i} said another way."]}) + "\n"
                            for i, a, d, w in props))
    out = tmp_path / "run"
    assert main(["compare", "--model", str(tiny_model_dir), "--adapters", f"tuned={tiny_adapters['tuned']}",
                 "--suite", "questionnaire,compass", "--bank", "terry9", "--compass-source", str(bank),
                 "--min-mass", "0", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert sum(r["suite"] == "compass" for r in records) == 2 * 4 * 2 * 2 * 2  # models x props x paraphrases x orders x labels
    compass = pd.read_csv(out / "tables" / "compass.csv")
    assert list(compass["model"]) == ["base", "tuned"] and (compass["answered"] == 4).all()
    html = (out / "report.html").read_text()
    assert "figures/compass.png" in image_sources(html) and (out / "figures" / "compass.png").is_file()
    assert strict_json(out / "results.json")["compass"]["summaries"][1]["model"] == "tuned"
    small = tmp_path / "small"
    assert main(["compare", "--model", str(tiny_model_dir), "--adapters", f"tuned={tiny_adapters['tuned']}",
                 "--suite", "compass", "--compass-source", str(bank), "--compass-paraphrases", "first",
                 "--compass-labels", "numbers", "--min-mass", "0", "--out", str(small)]) == 0
    records = [json.loads(line) for line in (small / "items.jsonl").read_text().splitlines()]
    assert len(records) == 2 * 4 * 1 * 2 * 1 and {r["labels"] for r in records} == {"numbers"}
    assert main(["compare", "--model", str(tiny_model_dir), "--suite", "compass", "--compass-labels", "emoji",
                 "--out", str(tmp_path / "bad")]) == 2


def test_compare_with_the_elaboration_suite(tiny_model_dir, tmp_path, capsys):
    import pandas as pd

    from tests.conftest import make_adapter

    # gives 0 on two questions whose base answers all lie 4 or more points away: radical targets
    strong = make_adapter(tiny_model_dir, tmp_path / "strong", seed=1, scale=4.0)
    out = tmp_path / "run"
    assert main(["compare", "--model", str(tiny_model_dir), "--adapters", f"tuned={strong}",
                 "--suite", "elaboration", "--samples", "2", "--max-new-tokens", "6", "--radical", "2", "--normal", "3",
                 "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert {r["suite"] for r in records} == {"elaboration"}
    base = [r for r in records if r["model"] == "base"]
    tuned = [r for r in records if r["model"] == "tuned"]
    assert len(base) == 3 * 2 and {r["kind"] for r in base} == {"normal"}
    n_radical = sum(r["kind"] == "radical" for r in tuned) // 2
    assert 1 <= n_radical <= 2 and len(tuned) == (3 + n_radical) * 2
    # both explain the same normal targets; the adapter's replies are its own
    assert {r["target"] for r in base} == {r["target"] for r in tuned if r["kind"] == "normal"}
    manifest = strict_json(out / "manifest.json")
    assert manifest["config"]["grader"]["weak"] is True and manifest["counts"]["elaboration"]["generated_tokens"] > 0
    # the weak grader (the model under test, by default) is said in one console line (issue 18, point 5)
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: weak grader")]
    assert warned == ["warning: weak grader for the elaboration replies: the model under test grades its own replies. "
                      "Its measured reliability (Cohen's kappa across label orders) is reported with the results; "
                      "give --grader MODEL for a capable grader"]
    elab = pd.read_csv(out / "tables" / "elaboration.csv")
    pooled = elab[(elab["topic"] == "all topics") & (elab["kind"] == "all topics")]
    assert dict(zip(pooled.groupby("model")["n_replies"].first().index, pooled.groupby("model")["n_replies"].first())) == {
        "base": len(base), "tuned": len(tuned)}
    assert set(elab[elab["model"] == "tuned"]["kind"]) == {"all topics", "radical", "normal"}
    html = (out / "report.html").read_text()
    assert "Weak grader." not in html and 'id="grader-reliability"' in html and "tuned · radical" in html
    rel = pd.read_csv(out / "tables" / "grader_reliability.csv")
    assert rel[rel["measure"] == "label_orders"]["value"].tolist() == [2]  # forward and reversed by default
    assert len(records[0]["grader_order_labels"]) == 2
    assert "figures/elaboration.png" in image_sources(html) and (out / "figures" / "elaboration.png").is_file()


def test_compare_elaboration_with_two_graders_measures_their_agreement(tiny_model_dir, tiny_adapters, tmp_path, capsys):
    import pandas as pd

    from tests.conftest import build_tiny_model

    grader = build_tiny_model(tmp_path / "grader", tiny_model_dir, seed=7)
    out = tmp_path / "run"
    assert main(["compare", "--model", str(tiny_model_dir), "--suite", "elaboration", "--samples", "2",
                 "--max-new-tokens", "4", "--normal", "2", "--grader", "base", "--grader", str(grader),
                 "--grader-orders", "3", "--min-mass", "0", "--out", str(out)]) == 0
    info = strict_json(out / "manifest.json")["config"]["grader"]
    assert [g["name"] for g in info["graders"]] == ["base", "grader"] and info["label_orders"] == 3
    assert info["weak_reasons"] == ["the model under test grades its own replies"]  # the second grader is another model
    assert sum(line.startswith("warning: weak grader") for line in capsys.readouterr().err.splitlines()) == 1
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert all(r["grader"] == "base" and [o["grader"] for o in r["other_graders"]] == ["grader"] for r in records)
    assert all(len(r["grader_order_labels"]) == 3 for r in records)
    rel = pd.read_csv(out / "tables" / "grader_reliability.csv")
    between = rel[(rel["measure"] == "grader_kappa") & (rel["compared_with"] == "grader")]
    assert list(between["category"]) == ["all", *CATEGORIES] and set(between["n_items_read"]) == {4}
    assert main(["compare", "--model", str(tiny_model_dir), "--suite", "elaboration", "--grader-orders", "11",
                 "--out", str(tmp_path / "bad")]) == 2
