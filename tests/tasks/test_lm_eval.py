"""The polistance lm-eval tasks under the real lm-eval, agreeing with `polistance eval`."""

import math

import pytest

from polistance_plugins.backends.hf import LocalBackend
from polistance_plugins.banks import load_bank
from polistance_plugins.questionnaire import bank_forms
from polistance_plugins.scoring import DIGITS, distribution_from_option_logprobs


def run_lm_eval(model_dir, tasks, limit=None, model_args=""):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from polistance_plugins.cli import tasks_path

    tm = TaskManager(include_path=tasks_path())
    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32{model_args}",
        tasks=tasks,
        task_manager=tm,
        apply_chat_template=True,
        log_samples=True,
        limit=limit,
        batch_size=4,
        device="cpu",
    )


@pytest.fixture(scope="module")
def terry9_run(tiny_model_dir):
    return run_lm_eval(tiny_model_dir, ["polistance_terry9"])


def test_lm_eval_distribution_matches_polistance(tiny_model_dir, terry9_run):
    backend = LocalBackend(str(tiny_model_dir), batch_size=3)
    forms = bank_forms(load_bank("terry9"))
    ours = backend.distributions([f.prompt() for f in forms], DIGITS)
    samples = terry9_run["samples"]["polistance_terry9"]
    assert len(samples) == len(forms) == 9
    by_key = {s["doc"]["key"]: s for s in samples}
    for form, dist in zip(forms, ours):
        lls = [float(r[0]) for r in by_key[form.key]["filtered_resps"]]
        theirs = distribution_from_option_logprobs(lls, DIGITS)
        assert theirs.probs == pytest.approx(dist.probs, abs=1e-4)
        assert theirs.expected == pytest.approx(dist.expected, abs=1e-4)


def test_lm_eval_metrics_are_reported(terry9_run):
    res = terry9_run["results"]["polistance_terry9"]
    for metric in ("expected_score", "stance", "entropy", "digit_mass", "off_format"):
        assert f"{metric},none" in res
    assert 0.0 < res["digit_mass,none"] <= 1.0
    assert -1.0 <= res["stance,none"] <= 1.0 or math.isnan(res["stance,none"])


def test_topics_group_aggregates_stance(tiny_model_dir):
    out = run_lm_eval(tiny_model_dir, ["polistance_topics"], limit=4)
    results = out["results"]
    assert "polistance_topics" in results
    subtasks = [k for k in results if k.startswith("polistance_topics_")]
    assert len(subtasks) == 6
    assert "stance,none" in results["polistance_topics"]
