"""Where the polistance lm-eval tasks live and what they are called: the YAML folder passed to
``lm_eval --include_path``, the task name of a bank and topic, and the shared task settings."""

from __future__ import annotations

import re
from pathlib import Path

LM_EVAL_DIR = Path(__file__).resolve().parent.parent / "tasks" / "lm_eval"
"""The folder of the lm-eval task YAMLs (``polistance tasks-path`` prints it)."""

TOPICS_GROUP = "polistance_topics"


def task_name(bank: str, topic: str | None) -> tuple[str, str | None]:
    """(task, group) names of a bank/topic in the polistance lm-eval tasks: the topics bank has one
    subtask per topic under the ``polistance_topics`` group; other banks are one task each."""
    stem = re.sub(r"\W", "_", Path(bank).stem)
    if stem == "topics" and topic:
        return f"polistance_topics_{topic}", TOPICS_GROUP
    return f"polistance_{stem}", None


def task_template() -> dict:
    """The shared settings of the questionnaire tasks (``_template_yaml``), ``!function`` tags kept as text."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")
    return yaml.load((LM_EVAL_DIR / "_template_yaml").read_text(), Loader=Loader)
