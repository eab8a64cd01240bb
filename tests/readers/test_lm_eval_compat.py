"""What polistance relies on from lm-evaluation-harness beyond its task API, pinned: an lm-eval
upgrade that changes one of these fails here, not in a user's report."""

import pytest

from polistance_plugins.readers import lm_eval_compat as compat


def test_result_file_time_is_the_stamp_after_the_last_underscore():
    assert compat.result_file_time("results_2026-12-01T20-46-42.123456.json") == "2026-12-01T20-46-42.123456.json"
    assert compat.result_file_time("samples_polistance_terry9_2026-12-01T20-46-42.123456.jsonl") == "2026-12-01T20-46-42.123456"
    # sortable: a later run sorts after an earlier one
    assert compat.result_file_time("results_2026-12-02T01-00-00.json") > compat.result_file_time("results_2026-12-01T23-00-00.json")


def test_sanitize_model_name_replaces_path_characters():
    assert compat.sanitize_model_name("/models/smollm2:135m") == "__models__smollm2__135m"


def test_group_value_is_the_size_weighted_mean():
    assert compat.aggregate_subtask_metrics([1.0, 3.0], [1, 3]) == pytest.approx(2.5)


def test_the_results_layout_has_the_keys_the_export_writes():
    keys = compat.results_layout_keys()
    for k in ("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples",
              "config", "date", "model_source", "model_name", "model_name_sanitized", "lm_eval_version"):
        assert k in keys, k
