"""Issue 14, point 8 where people read a compass point: the summaries, the CLI table, the plot's
legend and the report say how many propositions a point rests on and name a partial answer set; a
model with nothing answered has no point."""

import math

import pytest

from polistance_plugins.cli.compass import print_table
from polistance_plugins.core import Distribution
from polistance_plugins.core.compass import LIKERT
from polistance_plugins.instruments.compass import base_record, build_forms, load_source, score_form
from polistance_plugins.instruments.compass_summary import answered_text, summarise_model, summary_rows
from polistance_plugins.report.compass_plot import compass_title, legend_label


def records(model: str, answered: set[int], mass: float = 0.9) -> list[dict]:
    """Every number-label form of the project's bank (first paraphrase, normal order); the forms of
    propositions in ``answered`` hold ``mass`` on the options ("agree" most), the others 0.01 (off-format)."""
    source = load_source("compass")
    out = []
    for form in build_forms(source, "first", ("normal",), ("numbers",)):
        rec = base_record(model, None, source.name, form, form.prompt())
        dist = Distribution((0.1, 0.2, 0.6, 0.1), mass if form.index in answered else 0.01, LIKERT)
        rec.update(score_form(form, dist, source.weights, 0.05))
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def summaries():
    source = load_source("compass")
    econ_first = next(i for i, p in enumerate(source.propositions) if p.axis == "economic")
    full = summarise_model(records("full", set(range(64))), source, n_resamples=200)
    one = summarise_model(records("one", {econ_first}), source, n_resamples=200)
    none = summarise_model(records("none", set()), source, n_resamples=200)
    return full, one, none


def test_summaries_count_what_the_point_rests_on(summaries):
    full, one, none = summaries
    assert (full["answered"], full["propositions"], full["partial"]) == (64, 64, False)
    assert (one["answered"], one["answered_econ"], one["answered_soc"]) == (1, 1, 0) and one["partial"]
    assert (one["propositions_econ"], one["propositions_soc"]) == (32, 32)
    assert math.isfinite(one["expected"]["econ"]) and math.isnan(one["expected"]["soc"])
    assert none["answered"] == 0 and none["partial"]
    assert all(math.isnan(v) for v in (*none["expected"].values(), *none["argmax"].values()))
    row = summary_rows([one])[0]
    assert row["partial"] and (row["answered_econ"], row["answered_soc"]) == (1, 0)


def test_answered_text_names_a_partial_set(summaries):
    full, one, _ = summaries
    assert answered_text(full) == "64/64 answered"
    assert answered_text(one) == "1/64 answered (partial: economic 1/32, social 0/32)"


def test_cli_table_marks_partial_points(summaries, capsys):
    print_table(list(summaries), "compass")
    out = capsys.readouterr().out
    assert "  64/64   " in out and "   1/64 * " in out and "   0/64 * " in out
    assert "* one: 1/64 answered (partial: economic 1/32, social 0/32); the point rests on the answered propositions only" in out
    assert "* full" not in out


def test_plot_legend_counts_answers_not_the_questionnaire(summaries):
    full, one, none = summaries
    assert compass_title(load_source("compass")) == "Political compass (compass)"  # it said "64 propositions"
    assert legend_label(one) == "one: 1/64 answered (partial: economic 1/32, social 0/32) (no point)"
    assert legend_label(full) == "full: 64/64 answered"
    assert legend_label(none).endswith("(no point)")
