"""Which compare graders are weak, and the one console line that says so (issue 18, point 5)."""

from __future__ import annotations

from polistance_plugins.engine.models import DEFAULT_MODEL
from polistance_plugins.pipelines.graders import weak_reasons, warning_line


def test_weak_reasons_on_constructed_graders():
    graders = [{"name": "base", "weights_sha256": "T"}, {"name": "copy", "weights_sha256": "T"},
               {"name": "smol", "weights_sha256": "E"}, {"name": "judge", "weights_sha256": "J"},
               {"name": "unknown", "weights_sha256": None}]
    assert weak_reasons("T", graders, "E") == [
        "the model under test grades its own replies",
        "grader copy has the model under test's weights",
        f"grader smol is the embedded {DEFAULT_MODEL} (135M parameters)",
    ]
    assert weak_reasons("T", [{"name": "judge", "weights_sha256": "J"}], None) == []
    # not prepared here: nothing is the embedded model; an unknown hash never matches
    assert weak_reasons(None, [{"name": "unknown", "weights_sha256": None}], None) == []


def test_one_warning_line_or_none():
    assert warning_line([], "the elaboration replies") is None
    line = warning_line(["a", "b"], "the open compass answers")
    assert line.startswith("warning: weak grader for the open compass answers: a; b.") and "\n" not in line
