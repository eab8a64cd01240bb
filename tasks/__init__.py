"""Harness-facing task definitions: Inspect @task modules here, lm-eval YAMLs in ``lm_eval/``."""

from polistance_plugins.instruments.lm_eval_tasks import LM_EVAL_DIR

__all__ = ["LM_EVAL_DIR"]
