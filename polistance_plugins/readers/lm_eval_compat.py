"""The few pieces of lm-evaluation-harness that polistance uses beyond its public task API, in one
place. ``tests/readers/test_lm_eval_compat.py`` pins what each is relied on to do, so an lm-eval
upgrade that changes one fails that test instead of a report.

- ``result_file_time``: when a ``results_<time>.json`` / ``samples_<task>_<time>.jsonl`` was written;
- ``sanitize_model_name``: the folder name lm-eval gives a model under ``--output_path``;
- ``aggregate_subtask_metrics``: how a group combines its subtasks' values (standard errors are
  polistance's own, with items as the unit: ``core.stats.clustered_stderr``).
"""

from __future__ import annotations

from typing import Sequence


def result_file_time(name: str) -> str:
    """The timestamp in an lm-eval output file name, as a sortable string (lm-eval's own parser)."""
    from lm_eval.utils import get_file_datetime

    return get_file_datetime(name)


def sanitize_model_name(name: str) -> str:
    """The model folder name lm-eval writes results under."""
    from lm_eval.utils import sanitize_model_name as _sanitize

    return _sanitize(name)


def aggregate_subtask_metrics(values: Sequence[float], sizes: Sequence[int]) -> float:
    """A group's value: the subtasks' values weighted by their sample counts (lm-eval's group rule)."""
    from lm_eval.api.metrics import aggregate_subtask_metrics as _aggregate

    return float(_aggregate(list(values), list(sizes), True))


def lm_eval_version() -> str:
    import lm_eval

    return lm_eval.__version__


def results_layout_keys() -> frozenset[str]:
    """The top-level keys of lm-eval's results file (``lm_eval.result_schema.EvalResults``)."""
    from lm_eval.result_schema import EvalResults

    return frozenset(EvalResults.__annotations__)
