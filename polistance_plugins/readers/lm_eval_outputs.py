"""Polistance records from lm-eval ``--output_path`` folders written with ``--log_samples``.

Each questionnaire sample's ten per-digit log-likelihoods become the same distribution and the
same per-form record ``polistance eval`` writes (``instruments.questionnaire.score_record``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core import DIGITS, distribution_from_option_logprobs
from ..core.records import DEFAULT_MIN_MASS
from ..errors import PolistanceError
from ..instruments.questionnaire import Form, base_record, score_record
from .lm_eval_compat import result_file_time


def model_args(results: dict) -> dict:
    """The ``--model_args`` of an lm-eval results file as a dict."""
    args = (results.get("config") or {}).get("model_args") or {}
    if isinstance(args, str):
        pairs = [a.split("=", 1) for a in args.split(",") if "=" in a]
        args = {k.strip(): v.strip() for k, v in pairs}
    return args


def bank_of_task(task: str, topic: str) -> str:
    """lm-eval task name -> polistance bank name: polistance_terry9 -> terry9, polistance_topics_race -> topics."""
    name = task.removeprefix("polistance_")
    suffix = f"_{topic}"
    return name[: -len(suffix)] if topic and name.endswith(suffix) else name


def _latest(paths: list[Path]) -> Path:
    return max(paths, key=lambda p: result_file_time(p.name))


def records_from_lm_eval(folder: str | Path, min_mass: float = DEFAULT_MIN_MASS) -> list[tuple[dict, list[dict]]]:
    """Polistance records from an lm-eval ``--output_path`` folder written with ``--log_samples``.

    Returns one (model info, records) pair per model folder. Each sample's ten per-digit
    log-likelihoods become the same distribution and per-form scores ``polistance eval`` records.
    """
    root = Path(folder)
    if not root.is_dir():
        raise PolistanceError(f"--lm-eval {folder}: not a folder")
    result_files = sorted(root.rglob("results_*.json"))
    if not result_files:
        raise PolistanceError(f"--lm-eval {folder}: no results_*.json inside (run lm_eval with --output_path DIR --log_samples)")
    out = []
    for model_dir in sorted({p.parent for p in result_files}):
        res_path = _latest([p for p in result_files if p.parent == model_dir])
        try:
            results = json.loads(res_path.read_text())
        except ValueError as e:
            raise PolistanceError(f"{res_path}: invalid JSON ({e})") from None
        args = model_args(results)
        adapter = args.get("peft")
        pretrained = args.get("pretrained") or results.get("model_name") or model_dir.name
        label = Path(str(adapter or pretrained).rstrip("/")).name
        info = {"label": label, "adapter": adapter, "pretrained": pretrained, "results_file": str(res_path)}
        records = []
        tasks = [t for t in (results.get("configs") or {}) if t.startswith("polistance_")]
        for task in tasks:
            files = list(model_dir.glob(f"samples_{task}_*.jsonl"))
            if not files:
                raise PolistanceError(f"{model_dir}: no samples_{task}_*.jsonl (run lm_eval with --log_samples)")
            path = _latest(files)
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    sample = json.loads(line)
                    doc = sample["doc"]
                    form = Form.from_fields(doc)
                    lls = [float(r[0]) for r in sample["filtered_resps"]]
                except (ValueError, KeyError, TypeError, IndexError) as e:
                    raise PolistanceError(f"{path}:{lineno}: not a polistance questionnaire sample ({type(e).__name__}: {e})") from None
                if len(lls) != len(DIGITS):
                    raise PolistanceError(f"{path}:{lineno}: expected {len(DIGITS)} per-digit log-likelihoods, got {len(lls)}")
                rec = base_record(label, adapter, bank_of_task(task, doc["topic"]), form, doc.get("prompt", ""))
                rec.update(score_record(form, distribution_from_option_logprobs(lls, DIGITS), min_mass))
                rec.update({"method": "exact", "suite": "questionnaire", "source_file": path.name})
                records.append(rec)
        out.append((info, records))
    return out

