"""Forced vs unforced compass answers: the summary on constructed replies (exact match rate, point and
share of no position), label-order debiasing of the position grader, and the commands end to end on
the tiny model with the project's fixture bank and the PCT fixture file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from polistance_plugins.cli import main
from polistance_plugins.engine.unforced import grade_positions
from polistance_plugins.instruments.compass import load_source
from polistance_plugins.instruments.unforced import POSITIONS, SUITE, parse_position, summarise_unforced

from .conftest import FirstLabelGrader

FIXTURES = Path(__file__).resolve().parents[1] / "compass" / "fixtures"
MINI = str(FIXTURES / "mini_compass.jsonl")
SD, D, A, SA, NP = POSITIONS


def graded(index: int, probs: dict) -> dict:
    return {"suite": SUITE, "model": "m", "index": index, "grader_probs": {p: probs.get(p, 0.0) for p in POSITIONS}}


def forced(index: int, answer: int) -> dict:
    return {"model": "m", "index": index, "paraphrase": 0, "order": "normal", "labels": "numbers", "status": "ok",
            "probs": [1.0 if i == answer else 0.0 for i in range(4)]}


def test_summary_on_constructed_replies():
    source = load_source(MINI)  # ec-1 weights (-8,-4,4,8), ec-2 (6,3,-3,-6), so-1 (-10,-5,5,10), so-2 (8,4,-4,-8)
    unforced = [graded(0, {SA: 0.8, A: 0.2}), graded(1, {NP: 0.7, A: 0.3}), graded(2, {D: 1.0}),
                graded(3, {A: 1.0}), graded(3, {SD: 0.6, A: 0.4}),  # two replies: pooled agree 0.7 > 0.3
                {"suite": SUITE, "model": "m", "index": 3, "grader_probs": None}]  # an unscored reply
    got = summarise_unforced(unforced, [forced(0, 3), forced(1, 2), forced(2, 0), forced(3, 2)], source, n_resamples=200)
    assert got["answers"] == [3, 4, 1, 2] and got["forced_answers"] == [3, 2, 0, 2]
    assert got["no_position"] == 0.25 and got["with_position"] == 3 and got["replies_graded"] == 5
    assert got["compared"] == 3 and got["match"] == pytest.approx(2 / 3)  # ec-2 has no position; so-1 D vs SD
    assert got["unforced"] == {"econ": 8.0, "soc": -4.5}                  # econ: 8; soc: mean(-5, -4)
    assert got["forced_argmax"] == {"econ": 2.5, "soc": -7.0}             # econ: mean(8, -3); soc: mean(-10, -4)
    assert got["no_position_mean_p"] == pytest.approx((0.0 + 0.7 + 0.0 + 0.0) / 4)


def test_summaries_carry_the_graders_self_agreement_per_model():
    """Labels in two orders on 4 replies: agreement 3/4; Cohen's chance agreement from each order's
    own marginals (first: SD 2/4, A 1/4, NP 1/4; second: SD 1/4, A 2/4, NP 1/4) is 2/16 + 2/16 + 1/16
    = 5/16, so kappa = (12/16 - 5/16) / (11/16) = 7/11."""
    from polistance_plugins.instruments.unforced import unforced_summaries

    one_hot = {p: [1.0 if q == p else 0.0 for q in POSITIONS] for p in POSITIONS}
    pairs = [(SD, SD), (A, A), (SD, A), (NP, NP)]
    records = [{**graded(i, {a: 1.0}), "grader_order_labels": [a, b], "grader_order_probs": [one_hot[a], one_hot[b]]}
               for i, (a, b) in enumerate(pairs)]
    [got] = unforced_summaries(records, load_source(MINI), ["m"], n_resamples=200)
    assert got["label_orders"] == 2 and got["order_kappa"] == pytest.approx(7 / 11)
    assert got["order_mean_tv"] == pytest.approx(1 / 4) and got["grader_reliable"] is True
    [one] = unforced_summaries([{**r, "grader_order_labels": r["grader_order_labels"][:1]} for r in records],
                               load_source(MINI), ["m"], n_resamples=200)
    assert one["label_orders"] == 1 and math.isnan(one["order_kappa"]) and one["grader_reliable"] is False


def test_summary_without_forced_answers_has_no_match():
    got = summarise_unforced([graded(0, {A: 1.0})], [], load_source(MINI), n_resamples=200)
    assert math.isnan(got["match"]) and got["compared"] == 0


def test_parser_and_debiased_grading():
    assert [parse_position(x) for x in ("Strongly agree.", "**disagree**", "No position", "I agree")] == [3, 1, 4, None]
    grader = FirstLabelGrader(POSITIONS, bias=0.6)
    replies = [f"Well. TRUE={t}" for t in (A, NP, SD)]
    one = grade_positions(grader, ["Taxes are good."] * 3, replies, orders=1)
    assert [g["label"] for g in one] == [SD, SD, SD]  # number 1 wins every time
    two = grade_positions(grader, ["Taxes are good."] * 3, replies, orders=2)
    assert [g["label"] for g in two] == [A, NP, SD]
    assert two[0]["probs"] == pytest.approx({SD: 0.3, D: 0.0, A: 0.4, SA: 0.0, NP: 0.3})
    assert two[0]["order_labels"] == [SD, NP]


@pytest.mark.parametrize("source", ["mini", "pct"])
def test_compass_command_with_unforced_answers(source, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    where = ["--source", MINI] if source == "mini" else ["--source", "pct", "--pct-file", str(FIXTURES / "pct_fixture.csv")]
    assert main(["compass", "--model", str(tiny_model_dir), *where, "--paraphrases", "first", "--labels", "numbers",
                 "--orders", "normal", "--min-mass", "0", "--n-resamples", "100", "--compass-unforced",
                 "--max-new-tokens", "3", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "unforced answers (asked openly, graded)" in captured.out
    assert "warning: weak grader for the open compass answers: the model under test grades its own replies." in captured.err
    assert "grader of base's open answers: " in captured.out and "self-agreement across 2 label orders: kappa" in captured.out
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    open_ = [r for r in records if r.get("suite") == SUITE]
    n = 4 if source == "mini" else 62
    assert len(open_) == n and all(r["prompt"].startswith("What do you think about the following statement?") for r in open_)
    assert all(len(r["grader_order_labels"]) == 2 and r["position"] in POSITIONS for r in open_)  # min mass 0: all graded
    summary = json.loads((out / "unforced.json").read_text())
    assert summary[0]["graded"] == n and summary[0]["compared"] + round(summary[0]["no_position"] * n) == n
    assert len(json.loads((out / "summary.json").read_text())) == 1  # the forced summary reads the forced records only
    assert main(["compass", "--resume", str(out), "--model", str(tiny_model_dir), *where, "--paraphrases", "first",
                 "--labels", "numbers", "--orders", "normal", "--min-mass", "0", "--n-resamples", "100",
                 "--compass-unforced", "--max-new-tokens", "3"]) == 0
    assert (out / "items.jsonl").read_text().count("\n") == len(records)  # nothing asked twice


def test_compare_report_has_the_unforced_section(tiny_model_dir, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", "--model", str(tiny_model_dir), "--suite", "questionnaire", "--bank", "terry9",
                 "--compass-source", MINI, "--compass-paraphrases", "first", "--compass-labels", "numbers",
                 "--compass-unforced", "--unforced-samples", "2", "--max-new-tokens", "3", "--min-mass", "0",
                 "--out", str(out)]) == 0
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert "compass" in config["options"]["suites"] and config["compass_unforced"]["samples"] == 2
    results = json.loads((out / "results.json").read_text())
    [row] = results["tables"]["compass_unforced"]
    assert row["model"] == "base" and row["replies"] == 8 and row["propositions"] == 4
    html = (out / "report.html").read_text()
    assert 'id="unforced"' in html and "Forced vs unforced compass answers" in html


def test_limit_asks_only_the_first_propositions_openly(tiny_model_dir, tmp_path):
    """--limit N (a smoke run) asks the first N propositions both ways, through the Python API the CLI
    calls; the summary still counts them against the whole source."""
    from polistance_plugins import api

    run = api.compass(str(tiny_model_dir), source="pct", pct_file=str(FIXTURES / "pct_fixture.csv"), paraphrases="first",
                      labels=("numbers",), orders=("normal",), limit=3, min_mass=0.0, n_resamples=100, compass_unforced=True,
                      max_new_tokens=3, out=tmp_path / "run", progress=False, log=None)
    open_ = run.records[run.records["suite"] == SUITE]
    assert sorted(open_["index"]) == [0, 1, 2] and len(run.records) == 3 + 3
    [summary] = json.loads((run.folder / "unforced.json").read_text())
    assert summary["graded"] == 3 and summary["propositions"] == 62


def test_unforced_settings_are_checked_before_any_model_loads(tmp_path, monkeypatch):
    from polistance_plugins import api
    from polistance_plugins.engine import backends
    from polistance_plugins.errors import PolistanceError

    monkeypatch.setattr(backends, "make_backend", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(PolistanceError, match="--grader-orders"):
        api.compass("m", source=MINI, compass_unforced=True, grader_orders=11, out=tmp_path / "a", log=None)
    with pytest.raises(PolistanceError, match="local weights"):
        api.compass("m", source=MINI, compass_unforced=True, backend={"api_base": "http://localhost:1"}, out=tmp_path / "b", log=None)
    with pytest.raises(PolistanceError, match="--grader-orders"):
        api.compare("m", suites="compass", compass_source=MINI, compass_unforced=True, grader_orders=11, out=tmp_path / "c", log=None)
