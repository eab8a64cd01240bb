"""Is the grader weak? The judge tasks grade with the ``grader`` model role; without one the model
under test grades its own replies. A grader that is the model under test (or shares its weights), or
that is the embedded 135M model, is flagged where people look:

- on the console: one warning per scorer (Python logging, which Inspect prints and also records in
  the sample's transcript);
- in the log: each score's metadata carries the note under ``weak_grader``, and the eval-level
  metric ``weak_grader`` is 1 when a reply was graded by a weak grader (0 otherwise), so
  ``readers.inspect_table`` and ``polistance report --inspect-logs`` read it from the log header.

The model roles are known only while the eval runs (not when the task is built), so the check runs
in the scorer.
"""

from __future__ import annotations

import logging
from pathlib import Path

from inspect_ai.model import get_model, model_roles
from inspect_ai.scorer import Metric, SampleScore, metric

from polistance_plugins.engine.models import DEFAULT_MODEL, prepared_dir

NOTE = "weak_grader"
logger = logging.getLogger(__name__)


def _paths(model, keys=("model_path", "tokenizer_path")) -> set[str]:
    """The local weight folders a model was given (``-M model_path=...``), resolved."""
    args = getattr(model, "model_args", None) or {}
    return {str(Path(str(args[k])).expanduser().resolve()) for k in keys if args.get(k)}


def grader_weakness(role: str = "grader") -> str | None:
    """Why the grader of ``role`` is weak (one line), or None when it is a separate model."""
    grader = model_roles().get(role)
    if isinstance(grader, list):
        grader = grader[0] if grader else None
    if grader is None:
        return (f"weak grader: no {role!r} model role, so the model under test grades its own replies "
                f"(give --model-role {role}=MODEL)")
    if str(prepared_dir(DEFAULT_MODEL).resolve()) in _paths(grader, ("model_path",)):
        return f"weak grader: the {role!r} model role is the embedded {DEFAULT_MODEL} (135M parameters)"
    tested = get_model()
    mine, theirs = _paths(tested), _paths(grader)
    if mine & theirs or (not mine and not theirs and str(tested) == str(grader)):
        return f"weak grader: the {role!r} model role is the model under test ({grader}), grading its own replies"
    return None


def weakness_flag():
    """A function for one scorer: returns the grader's weakness note and warns on the console the
    first time it finds one."""
    warned: set[str] = set()

    def check(role: str = "grader") -> str | None:
        note = grader_weakness(role)
        if note and note not in warned:
            warned.add(note)
            logger.warning(note)
        return note

    return check


@metric(scores="unreduced")
def weak_grader() -> Metric:
    """1 when any reply was graded by a weak grader (its score metadata has the note), else 0."""

    def compute(scores: list[SampleScore]) -> float:
        return float(any((s.score.metadata or {}).get(NOTE) for s in scores))

    return compute
