"""Inspect logs -> one pandas table, runs on two adapters side by side."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from polistance_plugins.errors import PolistanceError
from polistance_plugins.readers.inspect_table import COLUMNS, adapter_label, logs_table
from polistance_plugins.tasks.questionnaire import questionnaire

from .conftest import mock_model, mock_output, run_eval


def always(top):
    return mock_model(lambda messages, config: mock_output(top[0][0], top))


def test_two_adapters_side_by_side(tmp_path):
    run_eval(questionnaire(bank="terry9"), always([("2", 1.0)]), tmp_path / "logs", limit=3, metadata={"adapter": "coastal"})
    run_eval(questionnaire(bank="terry9"), always([("7", 0.5), ("9", 0.5)]), tmp_path / "logs", limit=3, metadata={"adapter": "southern"})
    (tmp_path / "logs" / "notes.txt").write_text("not a log")

    table = logs_table(tmp_path / "logs")
    assert list(table.columns) == COLUMNS
    assert set(table["adapter"]) == {"coastal", "southern"} and set(table["task"]) == {"questionnaire"}
    expected = table[table["metric"] == "agreement"].pivot(index="topic", columns="adapter", values="value")
    assert expected.loc["all", "coastal"] == 2.0 and expected.loc["all", "southern"] == 8.0
    # items 01 and 03 are gender_and_sexuality, item 02 immigration
    n = table[table["metric"] == "agreement"].set_index(["adapter", "topic"])["n"]
    assert n[("coastal", "all")] == 3 and n[("coastal", "gender_and_sexuality")] == 2 and n[("southern", "immigration")] == 1
    stance = table[(table["metric"] == "stance") & (table["topic"] == "immigration")].set_index("adapter")["value"]
    assert stance["coastal"] == pytest.approx(2 * 2 / 9 - 1)  # ICE is keyed right
    assert stance["southern"] == pytest.approx(2 * 8 / 9 - 1)
    assert not (table["metric"] == "n").any()


def test_adapter_from_model_path(tmp_path):
    (tmp_path / "coastal").mkdir()
    (tmp_path / "coastal" / "adapter_config.json").write_text("{}")
    assert adapter_label(SimpleNamespace(metadata=None, model_args={"model_path": str(tmp_path / "coastal")})) == "coastal"
    assert adapter_label(SimpleNamespace(metadata=None, model_args={"model_path": str(tmp_path)})) is None
    assert adapter_label(SimpleNamespace(metadata={"adapter": "base"}, model_args={})) == "base"


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(PolistanceError, match="no such log"):
        logs_table(tmp_path / "nowhere")
