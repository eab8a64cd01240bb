"""The Python API: evaluate, compass, compare and load_run give the run folders the CLI writes, read
back as tidy DataFrames; --limit and --quiet make small, quiet runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import polistance_plugins as P
from polistance_plugins.banks import load_bank
from polistance_plugins.cli import main


def test_evaluate_is_what_polistance_eval_runs(tiny_model_dir, tiny_adapters, tmp_path):
    run = P.evaluate(str(tiny_model_dir), bank="terry9", adapters={"tuned": str(tiny_adapters["tuned"])},
                     out=tmp_path / "api", batch_size=4, progress=False, log=None)
    assert run.kind == "eval" and run.status == "complete"
    assert len(run.records) == 2 * 9 and set(run.records["model"]) == {"base", "tuned"}
    pd.testing.assert_frame_equal(run.tables["summary"], pd.read_csv(tmp_path / "api" / "summary.csv"))
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--adapter", f"tuned={tiny_adapters['tuned']}",
                 "--batch-size", "4", "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    assert (tmp_path / "cli" / "items.jsonl").read_bytes() == (tmp_path / "api" / "items.jsonl").read_bytes()


def test_limit_asks_only_the_first_items(tiny_model_dir, tmp_path):
    run = P.evaluate(str(tiny_model_dir), bank="topics", topics="race,science", limit=2, out=tmp_path / "r",
                     batch_size=4, progress=False, log=None)
    race = [it.id for it in load_bank("topics") if it.topic == "race"][:2]
    assert sorted(set(run.records["item_id"])) == sorted(race)
    assert len(run.records) == 2 * 3 * 2  # 2 items x 3 paraphrases x 2 scale directions


def test_quiet_prints_the_summary_but_no_line_per_form(tiny_model_dir, tmp_path, capsys):
    argv = ["eval", "--model", str(tiny_model_dir), "--bank", "topics", "--topics", "race", "--paraphrases", "first",
            "--batch-size", "8"]
    assert main([*argv, "--out", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr().out.count("\n")
    assert main([*argv, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert loud - quiet.out.count("\n") == 14 * 2  # one line per form: 14 items x 2 directions
    assert "per-topic stance" in quiet.out and "scoring" not in quiet.err


def test_compass_with_a_limit_and_load_run(tiny_model_dir, tmp_path):
    run = P.compass(str(tiny_model_dir), paraphrases="first", labels=["numbers"], limit=3, n_resamples=100,
                    out=tmp_path / "c", batch_size=8, progress=False, log=None)
    assert run.kind == "compass"
    assert run.records["item_id"].nunique() == 3 and len(run.records) == 3 * 2
    assert {"summary", "propositions", "points"} <= set(run.tables)
    assert P.load_run(tmp_path / "c").records.equals(run.records)


def test_compare_returns_the_report_tables(tiny_model_dir, tiny_adapters, tmp_path):
    run = P.compare(str(tiny_model_dir), {"tuned": str(tiny_adapters["tuned"])}, banks="terry9", limit=4, min_mass=0,
                    out=tmp_path / "cmp", batch_size=8, progress=False, log=None)
    assert run.kind == "compare" and run.report is not None
    assert run.records["item_id"].nunique() == 4
    shift = run.tables["topic_shift"]
    assert set(shift["model"]) == {"tuned"} and "all topics" in set(shift["topic"])
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert set(results["tables"]) <= set(run.tables)


def test_unknown_compare_option_is_named(tiny_model_dir, tmp_path):
    with pytest.raises(P.PolistanceError, match="unknown option.*bogus"):
        P.compare(str(tiny_model_dir), out=tmp_path / "x", bogus=1)


def test_load_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"what": "else"}}))
    with pytest.raises(P.PolistanceError, match="not a polistance run folder"):
        P.load_run(tmp_path)


def test_banks_lists_the_compass_bank(capsys):
    assert main(["banks"]) == 0
    out = capsys.readouterr().out
    assert "compass" in out and "64 items" in out and "economic, social" in out


def test_load_run_reads_an_empty_table_as_an_empty_frame(tmp_path):
    """A compare run without the questionnaire suite writes empty questionnaire tables."""
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "topic_shift.csv").write_text("\n")
    (tmp_path / "items.jsonl").write_text("")
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"kind": "compare"}, "status": "complete"}))
    run = P.load_run(tmp_path)
    assert run.kind == "compare" and run.tables["topic_shift"].empty and run.records.empty
