"""Harness-facing task definitions: Inspect @task modules here, lm-eval YAMLs in ``lm_eval/``."""

from pathlib import Path

LM_EVAL_DIR = Path(__file__).parent / "lm_eval"
