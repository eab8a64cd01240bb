"""What polistance relies on from lm-evaluation-harness beyond its task API, pinned: an lm-eval
upgrade that changes one of these fails here, not in a user's report."""

import math
import statistics

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


def test_pooled_stderr_equals_the_stderr_of_the_concatenated_samples():
    a, b = [0.1, 0.5, 0.9, 0.2], [0.3, 0.7, 0.4]
    se = lambda x: statistics.stdev(x) / math.sqrt(len(x))  # noqa: E731
    pooled = compat.pooled_sample_stderr([se(a), se(b)], [len(a), len(b)])
    assert pooled == pytest.approx(se(a + b), rel=0.25)  # lm-eval's formula approximates it
    assert compat.mean_stderr(a) == pytest.approx(se(a))


def test_the_results_layout_has_the_keys_the_export_writes():
    keys = compat.results_layout_keys()
    for k in ("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples",
              "config", "date", "model_source", "model_name", "model_name_sanitized", "lm_eval_version"):
        assert k in keys, k
