"""The compass lm-eval tasks under the real lm-eval, agreeing with `polistance compass`."""

from pathlib import Path

import pytest

from polistance_plugins.instruments.compass import build_forms, canonical_distribution, load_source
from polistance_plugins.core.compass import argmax_answer, compass_point
from polistance_plugins.core.compass_stability import FormAnswer, pool

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "mini_compass.jsonl"


def run_lm_eval(model_dir, task, metadata, limit=None):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from polistance_plugins.cli import tasks_path

    tm = TaskManager(include_path=tasks_path(), include_defaults=False, metadata=metadata)
    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32",
        tasks=[task],
        task_manager=tm,
        apply_chat_template=True,
        log_samples=True,
        limit=limit,
        batch_size=8,
        device="cpu",
    )


@pytest.fixture(scope="module")
def mini_run(tiny_model_dir):
    return run_lm_eval(tiny_model_dir, "polistance_compass", {"bank": str(MINI), "min_mass": 0})


def test_lm_eval_distributions_and_coordinates_match_polistance(tiny_model_dir, mini_run, tiny_backend):
    src = load_source(str(MINI))
    forms = build_forms(src)
    samples = {s["doc"]["key"]: s for s in mini_run["samples"]["polistance_compass"]}
    assert len(samples) == len(forms) == 32
    ours = []
    for form in forms:
        dist = canonical_distribution(form, tiny_backend.score_prompts([form.prompt()], form.choices)[0].distribution)
        theirs = samples[form.key]["econ"][5]
        assert theirs == pytest.approx(list(dist.probs), abs=1e-4)
        ours.append(FormAnswer(form.index, form.paraphrase, form.order, form.labels, dist.probs))
    pooled = pool(ours, len(src))
    econ, soc = compass_point(pooled, src.weights)
    a_econ, a_soc = compass_point([argmax_answer(p) for p in pooled], src.weights)
    res = mini_run["results"]["polistance_compass"]
    assert res["econ,none"] == pytest.approx(econ, abs=1e-3)
    assert res["social,none"] == pytest.approx(soc, abs=1e-3)
    assert res["econ_argmax,none"] == pytest.approx(a_econ)
    assert res["social_argmax,none"] == pytest.approx(a_soc)
    assert 0.0 <= res["stability,none"] <= 1.0
    assert 0.0 <= res["expected_answer,none"] <= 3.0
    assert res["off_format,none"] == 0.0 and res["option_mass,none"] > 0


def test_pct_task_reads_the_users_file(tiny_model_dir):
    out = run_lm_eval(tiny_model_dir, "polistance_pct", {"pct_file": str(FIXTURES / "pct_fixture.csv"), "min_mass": 0,
                                                         "orders": "normal", "labels": "numbers"}, limit=8)
    samples = out["samples"]["polistance_pct"]
    assert len(samples) == 8
    assert samples[0]["doc"]["item_id"] == "pc-01" and samples[0]["doc"]["text"].startswith("Morning walks")
    res = out["results"]["polistance_pct"]
    # Only the first 8 propositions were asked; the others add nothing, as on the site.
    answers = [None] * 62
    for s in samples:
        answers[s["doc"]["index"]] = s["econ"][5]
    assert res["econ,none"] == pytest.approx(compass_point(answers, "pct")[0], abs=1e-6)
    assert res["social,none"] == pytest.approx(compass_point(answers, "pct")[1], abs=1e-6)
    # the point rests on 8 of the 62 propositions, and says so (issue 14, point 8)
    assert res["answered,none"] == 8 and res["unanswered,none"] == 54
    assert out["higher_is_better"]["polistance_pct"]["answered"] is None


def test_pct_task_without_a_file_says_how_to_pass_it():
    from lm_eval.tasks import TaskManager

    from polistance_plugins.cli import tasks_path
    from polistance_plugins.errors import PolistanceError

    tm = TaskManager(include_path=tasks_path(), include_defaults=False)
    with pytest.raises(PolistanceError, match=r"--metadata='\{\"pct_file\""):
        tm.load(["polistance_pct"])
