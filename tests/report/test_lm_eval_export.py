"""The lm-eval results layout a report writes (``results.json["lm_eval"]`` and ``lm_eval/*/results_*.json``):
standard errors take items as the unit (issue 14, point 6). Hand-made records whose numbers are
chosen so each standard error is known in closed form."""

import math

import numpy as np
import pytest

from polistance_plugins.core import Distribution
from polistance_plugins.instruments.questionnaire import Form, score_record
from polistance_plugins.report import frames, lm_eval_export

PARAPHRASES, DIRECTIONS = 3, ("normal", "reversed")  # 6 forms per item


def form_record(model, bank, item, topic, k, direction, digit, mass):
    form = Form(item, topic, "statement", "right", k, direction, f"claim {item} {k}")
    probs = tuple(1.0 if d == digit else 0.0 for d in range(10))
    rec = {"key": f"{model}|{bank}|{form.key}", "model": model, "bank": bank, "item_id": item, "topic": topic,
           "paraphrase": k, "direction": direction, "keying": "right", "suite": "questionnaire"}
    rec.update(score_record(form, Distribution(probs, mass), min_mass=0.0))
    return rec


def item_forms(bank, item, topic, i):
    """Six forms of item ``i``: digit mass 0.30 + 0.04 i + 0.05 (j - 2.5) over forms j = 0..5 (item mean
    0.30 + 0.04 i); agreement i % 7 + k on paraphrase k, on both scales (item mean i % 7 + 1)."""
    out = []
    for k in range(PARAPHRASES):
        for d, direction in enumerate(DIRECTIONS):
            j = 2 * k + d
            agree = i % 7 + k
            digit = agree if direction == "normal" else 9 - agree
            out.append(form_record("m", bank, item, topic, k, direction, digit, 0.30 + 0.04 * i + 0.05 * (j - 2.5)))
    return out


def test_stderr_is_over_items_not_forms():
    """14 items x 6 forms: digit mass varies within every item, so forms are not independent draws.
    The standard error over items is SD(item means) / sqrt(14) = 0.04 * sqrt(17.5 / 14); over forms
    it would be about 2.5 times smaller."""
    recs = [r for i in range(14) for r in item_forms("bank", f"i{i:02d}", "alpha", i)]
    out = lm_eval_export.lm_eval_results(frames.questionnaire_frame(recs), {"models": ["m"], "adapters": {}, "model": "x"})
    res = out["m"]["results"]["polistance_bank"]
    assert res["digit_mass,none"] == pytest.approx(0.30 + 0.04 * 6.5)
    assert res["digit_mass_stderr,none"] == pytest.approx(0.04 * math.sqrt(17.5 / 14), rel=1e-9)
    masses = [r["mass"] for r in recs]
    over_forms = np.std(masses, ddof=1) / math.sqrt(len(masses))
    assert res["digit_mass_stderr,none"] / over_forms > 2.0  # what the layout used to report
    # stance = 2 * agreement / 9 - 1 with item mean agreement i % 7 + 1
    item_stance = np.array([2 * (i % 7 + 1) / 9 - 1 for i in range(14)])
    assert res["stance_stderr,none"] == pytest.approx(np.std(item_stance, ddof=1) / math.sqrt(14), rel=1e-9)
    assert res["off_format_stderr,none"] == pytest.approx(0.0)


def test_a_group_combines_its_subtasks_item_level_errors():
    """polistance_topics with 8 items on alpha and 5 on beta: the group value is lm-eval's size-weighted
    mean; its standard error that of a weighted mean of two independent subtasks."""
    recs = [r for i in range(8) for r in item_forms("topics", f"a{i}", "alpha", i)]
    recs += [r for i in range(5) for r in item_forms("topics", f"b{i}", "beta", 3 * i)]
    out = lm_eval_export.lm_eval_results(frames.questionnaire_frame(recs), {"models": ["m"], "adapters": {}, "model": "x"})["m"]
    res = out["results"]
    alpha, beta, group = res["polistance_topics_alpha"], res["polistance_topics_beta"], res["polistance_topics"]
    se_alpha = 0.04 * np.std(np.arange(8), ddof=1) / math.sqrt(8)
    se_beta = 0.12 * np.std(np.arange(5), ddof=1) / math.sqrt(5)
    assert alpha["digit_mass_stderr,none"] == pytest.approx(se_alpha, rel=1e-9)
    assert beta["digit_mass_stderr,none"] == pytest.approx(se_beta, rel=1e-9)
    w_alpha, w_beta = 48 / 78, 30 / 78  # forms: lm-eval weights subtasks by their sample counts
    assert group["digit_mass,none"] == pytest.approx(w_alpha * alpha["digit_mass,none"] + w_beta * beta["digit_mass,none"])
    assert group["digit_mass_stderr,none"] == pytest.approx(math.hypot(w_alpha * se_alpha, w_beta * se_beta), rel=1e-9)


def test_one_item_has_no_stderr():
    recs = item_forms("bank", "only", "alpha", 3)
    res = lm_eval_export.lm_eval_results(frames.questionnaire_frame(recs), {"models": ["m"], "adapters": {}})["m"]["results"]
    assert res["polistance_bank"]["digit_mass_stderr,none"] == "N/A"
