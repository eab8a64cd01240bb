"""Inspect logs of the polistance tasks as one pandas table, so runs on several adapters (or models)
sit side by side: one row per (log, topic, metric) with columns model, adapter, task, topic,
metric, value, n, log.

Rows come from the metrics Inspect computed (``log.results``), so the table holds exactly what
``inspect eval`` printed and ``inspect view`` shows. Metric names ``<topic>/<metric>`` give the
topic; plain names are topic ``all``; ``n`` is the number of samples (items or replies) behind the
row, taken from the matching ``n`` metric.

The adapter is the ``adapter`` entry of the eval metadata when present (``inspect eval ...
--metadata adapter=coastal``), else the folder name of ``-M model_path=DIR`` when DIR is a PEFT
adapter folder, else None.

``inspect_records`` reads the samples of the questionnaire and compass logs instead.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import PolistanceError

COLUMNS = ["model", "adapter", "task", "topic", "metric", "value", "n", "log"]


def adapter_label(eval_spec) -> str | None:
    """Which adapter a run evaluated: eval metadata ``adapter``, or a PEFT ``model_path`` folder's name."""
    meta = eval_spec.metadata or {}
    if meta.get("adapter") is not None:
        return str(meta["adapter"])
    path = (eval_spec.model_args or {}).get("model_path")
    if path and (Path(path) / "adapter_config.json").is_file():
        return Path(path).name
    return None


def log_rows(log, location: str = "") -> list[dict]:
    """The table rows of one evaluation log (header only is enough)."""
    rows: list[dict] = []
    spec = log.eval
    scores = log.results.scores if log.results else []
    for score in scores:
        values = {name: float(m.value) for name, m in score.metrics.items()}
        # one scorer whose metrics return several dicts gives several entries of the same name: no prefix then
        prefix = f"{score.name}:" if len({s.name for s in scores}) > 1 else ""
        for name, value in values.items():
            topic, metric = name.split("/", 1) if "/" in name else ("all", name)
            if metric == "n":
                continue
            n = values.get("n" if topic == "all" else f"{topic}/n", float(score.scored_samples or 0))
            rows.append(_row(spec, topic, prefix + metric, value, n, location))
        if score.unscored_samples:
            total = (score.scored_samples or 0) + score.unscored_samples
            rows.append(_row(spec, "all", prefix + "unscored_samples", float(score.unscored_samples), float(total), location))
    return rows


def _row(spec, topic: str, metric: str, value: float, n: float, location: str) -> dict:
    return {
        "model": spec.model,
        "adapter": adapter_label(spec),
        "task": spec.task.split("/")[-1],
        "topic": topic,
        "metric": metric,
        "value": value,
        "n": int(n) if n == n else None,
        "log": location,
    }


def log_location(f) -> str:
    """A log's path (``list_eval_logs`` names local files ``file://...``): the one spelling reports key logs by."""
    from urllib.parse import unquote, urlparse

    name = str(getattr(f, "name", f))
    return unquote(urlparse(name).path) if name.startswith("file://") else name


def log_files(paths: Iterable[str | Path]) -> list:
    from inspect_ai.log import list_eval_logs

    files: list = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(list_eval_logs(str(path), descending=False))
        elif path.is_file():
            files.append(str(path))
        else:
            raise PolistanceError(f"{p}: no such log file or folder")
    return files


def logs_table(*paths: str | Path) -> "pd.DataFrame":  # noqa: F821
    """One table from Inspect log files and/or folders of them (searched recursively).

    Logs of runs that did not finish successfully are skipped with a warning.
    """
    import pandas as pd
    from inspect_ai.log import read_eval_log

    rows: list[dict] = []
    for f in log_files(paths):
        log = read_eval_log(f, header_only=True)
        location = log_location(f)
        if log.status != "success":
            warnings.warn(f"{location}: status {log.status}, skipped", stacklevel=2)
            continue
        rows.extend(log_rows(log, location))
    return pd.DataFrame(rows, columns=COLUMNS)


def inspect_table(dirs: Sequence[str]):
    """``inspect_logs.logs_table`` over the folders (each must still exist)."""
    for d in dirs:
        if not Path(d).exists():
            raise PolistanceError(f"Inspect logs {d}: no such file or folder (the report reads them again on rebuild)")
    return logs_table(*dirs)


def grader_of_logs(dirs: Sequence[str]) -> dict | None:
    """Who graded the elaboration logs: the ``grader`` model role, or the model under test when none was
    given. ``weak`` is set when the grader is the evaluated model itself or shares its weights, or when
    the log's ``weak_grader`` metric (the scorer's own check, which also knows the embedded model) is 1."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    graders, weak = [], False
    for d in dirs:
        files = list_eval_logs(str(d), descending=False) if Path(d).is_dir() else [str(d)]
        for f in files:
            log = read_eval_log(f, header_only=True)
            spec = log.eval
            if not spec.task.split("/")[-1].endswith("elaboration"):
                continue
            flagged = [m.value for s in (log.results.scores if log.results else []) for n, m in s.metrics.items() if n == "weak_grader"]
            weak = weak or any(v == 1.0 for v in flagged)
            role = (spec.model_roles or {}).get("grader")
            role = role[0] if isinstance(role, list) else role
            if role is None:
                graders.append(f"{spec.model} (the model under test)")
                weak = True
                continue
            graders.append(role.model)
            mine = {str(v) for k, v in (spec.model_args or {}).items() if k in ("model_path", "tokenizer_path")}
            theirs = {str(v) for k, v in (role.args or {}).items() if k in ("model_path", "tokenizer_path")}
            weak = weak or role.model == spec.model or bool(mine & theirs)
    if not graders:
        return None
    return {"model": ", ".join(dict.fromkeys(graders)), "weak": weak, "source": "Inspect model roles"}
