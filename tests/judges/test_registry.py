"""``inspect eval polistance_plugins/<task>`` finds the new tasks through the package's entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inspect.conftest import mock_output

PAIRS = str(Path(__file__).parent / "fixtures" / "pairs.csv")
MINI = str(Path(__file__).resolve().parents[1] / "compass" / "fixtures" / "mini_compass.jsonl")


def answer_anything(messages, tools, tool_choice, config):
    prompt = messages[-1].text
    if "DATA-" in prompt:  # a grader prompt, text mode
        return mock_output("Agree" if "name of the position" in prompt else "Even")
    return mock_output("3", [("3", 1.0)])


@pytest.mark.parametrize("name,args", [
    ("compass_unforced", {"source": MINI, "grader_mode": "text"}),
    ("evenhandedness", {"pairs_file": PAIRS, "grader_mode": "text"}),
])
def test_tasks_resolve_by_package_name(tmp_path, name, args):
    from inspect_ai import eval as inspect_eval

    [log] = inspect_eval(f"polistance_plugins/{name}", task_args=args, model="mockllm/model",
                         model_args={"custom_outputs": answer_anything}, limit=1, log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    assert log.eval.task.endswith(name) and log.results.scores[0].metrics["n"].value == 1


def test_evenhandedness_without_a_pairs_file_says_how():
    from polistance_plugins.errors import PolistanceError
    from polistance_plugins.tasks.evenhandedness import evenhandedness

    with pytest.raises(PolistanceError, match="pairs_file=FILE"):
        evenhandedness()
