"""The polistance lm-eval tasks under the real lm-eval, agreeing with `polistance eval`."""

import math

import pytest

from polistance_plugins.engine.backends.hf import LocalBackend
from polistance_plugins.banks import load_bank
from polistance_plugins.instruments.questionnaire import bank_forms
from polistance_plugins.core import DIGITS, distribution_from_option_logprobs


def run_lm_eval(model_dir, tasks, limit=None, model_args="", metadata=None):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from polistance_plugins.cli import tasks_path

    # Our tasks only: indexing lm-eval's own ~14,700 tasks takes about 6 s per run. The task list a
    # user gets (ours beside lm-eval's) is exercised by tests/backends/test_openai_api.py.
    tm = TaskManager(include_path=tasks_path(), include_defaults=False, metadata=metadata)
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
    for metric in ("agreement", "stance", "entropy", "digit_mass", "off_format"):
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


def _masses(run, task):
    """lm-eval's own digit mass of every sample of ``task`` (sum of the ten digit probabilities)."""
    return [sum(math.exp(float(r[0])) for r in s["filtered_resps"]) for s in run["samples"][task]]


def test_min_mass_from_metadata_decides_off_format(tiny_model_dir, terry9_run):
    """``--metadata '{"min_mass": X}'`` is the threshold of the record rule, not a hard-coded 0.05."""
    masses = _masses(terry9_run, "polistance_terry9")
    ranked = sorted(masses)
    threshold = (ranked[len(ranked) // 2 - 1] + ranked[len(ranked) // 2]) / 2  # between two forms: no ties
    expected_off = sum(m < threshold for m in masses) / len(masses)
    assert 0 < expected_off < 1
    default_off = sum(m < 0.05 for m in masses) / len(masses)
    assert terry9_run["results"]["polistance_terry9"]["off_format,none"] == pytest.approx(default_off)
    run = run_lm_eval(tiny_model_dir, ["polistance_terry9"], metadata={"min_mass": threshold})
    res = run["results"]["polistance_terry9"]
    assert res["off_format,none"] == pytest.approx(expected_off)
    assert expected_off != default_off
    ok = [s for s, m in zip(run["samples"]["polistance_terry9"], _masses(run, "polistance_terry9")) if m >= threshold]
    assert all(not math.isnan(s["stance"]) for s in ok)
    assert all(math.isnan(s["stance"]) for s in run["samples"]["polistance_terry9"] if s not in ok)


def test_out_of_range_min_mass_is_refused(tiny_model_dir):
    from polistance_plugins.errors import PolistanceError

    with pytest.raises(PolistanceError, match="min_mass"):
        run_lm_eval(tiny_model_dir, ["polistance_terry9"], metadata={"min_mass": 2})


STATEMENTS = [
    {"id": "own-1", "topic": "race", "kind": "statement", "paraphrases": ["Statement one is true.", "The first statement holds."],
     "scale": "0-9", "keying": "left", "source": "test"},
    {"id": "own-2", "topic": "science", "kind": "statement", "text": "Statement two is true.", "scale": "0-9",
     "keying": "right", "source": "test"},
]


@pytest.mark.parametrize("task", ["polistance_bank", "polistance_terry9"])
def test_a_custom_bank_gets_the_scale_directions_polistance_eval_gives_it(tiny_model_dir, tmp_path, task):
    """A statement bank passed with ``--metadata '{"bank": FILE}'`` is asked on both scale directions,
    exactly the forms ``polistance eval --bank FILE`` asks (directions decided by ``directions_for``)."""
    import json

    from polistance_plugins.instruments.questionnaire import directions_for

    path = tmp_path / "own.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in STATEMENTS))
    bank = load_bank(str(path))
    ours = {f.key for f in bank_forms(bank, "all", directions_for(bank, "auto"))}
    assert len(ours) == 6
    run = run_lm_eval(tiny_model_dir, [task], metadata={"bank": str(path)})
    theirs = {s["doc"]["key"] for s in run["samples"][task]}
    assert theirs == ours
    assert {s["doc"]["direction"] for s in run["samples"][task]} == {"normal", "reversed"}


def test_agreement_and_neutral_positions_under_lm_eval(tiny_model_dir, tmp_path):
    """Issue 14, points 9, 10 and 6 under the real lm-eval: ``agreement`` is the mean over forms of E on
    normal forms and 9 - E on reversed ones; agreement, stance and entropy declare no direction
    (``higher_is_better`` null); lm-eval attaches no standard error over forms (N/A)."""
    import json

    path = tmp_path / "own.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in STATEMENTS))
    run = run_lm_eval(tiny_model_dir, ["polistance_bank"], metadata={"bank": str(path), "min_mass": 0})
    per_form = []
    for s in run["samples"]["polistance_bank"]:
        e = distribution_from_option_logprobs([float(r[0]) for r in s["filtered_resps"]], DIGITS).expected
        per_form.append(9 - e if s["doc"]["direction"] == "reversed" else e)
    assert len(per_form) == 6
    res = run["results"]["polistance_bank"]
    assert res["agreement,none"] == pytest.approx(sum(per_form) / 6, abs=1e-9)
    assert "expected_score,none" not in res
    hib = run["higher_is_better"]["polistance_bank"]
    assert hib["agreement"] is None and hib["stance"] is None and hib["entropy"] is None
    assert hib["digit_mass"] is True and hib["off_format"] is False
    assert all(res[f"{m}_stderr,none"] == "N/A" for m in ("agreement", "stance", "entropy", "digit_mass", "off_format"))


def test_the_bank_task_without_a_bank_says_how_to_give_one(tiny_model_dir):
    from polistance_plugins.errors import PolistanceError

    with pytest.raises(PolistanceError, match="--metadata"):
        run_lm_eval(tiny_model_dir, ["polistance_bank"])
