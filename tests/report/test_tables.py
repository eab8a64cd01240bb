"""Comparison tables on hand-made records whose answers are point masses, so every number is checkable."""

import math

import pytest

from polistance_plugins.instruments.questionnaire import Form, score_record
from polistance_plugins.report import frames, lm_eval_export, shift_tables, stability_tables
from polistance_plugins.core import Distribution

ITEMS = [  # (item, topic, keying)
    ("a1", "alpha", "left"), ("a2", "alpha", "left"), ("a3", "alpha", "left"),
    ("b1", "beta", "right"), ("b2", "beta", "right"), ("b3", "beta", "right"),
]


def record(model, item, topic, keying, paraphrase, direction, digit, mass=0.9, bank="bank"):
    form = Form(item, topic, "statement", keying, paraphrase, direction, f"claim {item} {paraphrase}")
    probs = tuple(1.0 if d == digit else 0.0 for d in range(10))
    rec = {"key": f"{model}|{bank}|{form.key}", "model": model, "bank": bank, "item_id": item, "topic": topic,
           "paraphrase": paraphrase, "direction": direction, "keying": keying, "suite": "questionnaire"}
    rec.update(score_record(form, Distribution(probs, mass), min_mass=0.05))
    return rec


def answers(model, agree, reversed_agree=None, paraphrases=2, mass=0.9):
    """Every item, paraphrase and direction with agreement ``agree`` (a digit on the claim's own scale)."""
    out = []
    for item, topic, keying in ITEMS:
        for k in range(paraphrases):
            a = agree(item, k) if callable(agree) else agree
            ra = a if reversed_agree is None else (reversed_agree(item, k) if callable(reversed_agree) else reversed_agree)
            out.append(record(model, item, topic, keying, k, "normal", a, mass))
            out.append(record(model, item, topic, keying, k, "reversed", 9 - ra, mass))
    return out


@pytest.fixture(scope="module")
def frame():
    recs = answers("base", 3) + answers("tuned", 5) + answers("ctrl", 4)
    return frames.questionnaire_frame(recs)


def row(table, **where):
    hit = table
    for k, v in where.items():
        hit = hit[hit[k] == v]
    assert len(hit) == 1, where
    return hit.iloc[0]


def test_stance_shift_by_hand(frame):
    shift = shift_tables.shift_table(frame, "base", ["base", "tuned", "ctrl"], seed=0)
    # agreement 3 -> 5 moves a left-keyed item's stance by -2*2/9 and a right-keyed one's by +2*2/9
    a = row(shift, model="tuned", topic="alpha", measure="stance_shift")
    assert a["estimate"] == pytest.approx(-4 / 9)
    assert math.isnan(a["ci_low"]) and a["interval"] == "none (fewer than 6 items: 3)"  # issue 14, point 7
    assert a["n_items"] == 3 and a["n_forms"] == 12
    assert a["p_value"] == pytest.approx(2 / 8)  # three items, all the same sign: 2 of 8 sign patterns
    assert row(shift, model="tuned", topic="beta", measure="stance_shift")["estimate"] == pytest.approx(4 / 9)
    pooled = row(shift, model="tuned", topic=frames.ALL, measure="stance_shift")
    assert pooled["estimate"] == pytest.approx(0.0, abs=1e-12) and pooled["n_items"] == 6
    assert row(shift, model="tuned", topic="alpha", measure="agreement_shift")["estimate"] == pytest.approx(2.0)
    w1 = row(shift, model="tuned", topic="beta", measure="wasserstein1")
    assert w1["estimate"] == pytest.approx(2.0) and w1["test"] == "none" and math.isnan(w1["p_value"])
    # BH over the two topics: both raw p = 0.25 -> adjusted 0.25; the pooled row keeps its raw p
    assert row(shift, model="tuned", topic="alpha", measure="stance_shift")["p_adjusted"] == pytest.approx(0.25)
    assert set(shift["model"]) == {"tuned", "ctrl"}  # the reference is not compared with itself


def test_entropy_and_control_adjusted_by_hand(frame):
    ent = shift_tables.entropy_table(frame, "base", ["base", "tuned"])
    r = row(ent, model="tuned", topic=frames.ALL)
    assert r["estimate"] == 0.0 and r["p_value"] == 1.0  # point masses everywhere
    ctl = shift_tables.control_table(frame, "base", "ctrl", ["base", "tuned", "ctrl"])
    assert set(ctl["model"]) == {"tuned"}
    # (tuned - base) - (ctrl - base) = tuned - ctrl: agreement 5 vs 4 -> -2/9 on left-keyed items
    assert row(ctl, topic="alpha")["estimate"] == pytest.approx(-2 / 9)
    assert row(ctl, topic="beta")["estimate"] == pytest.approx(2 / 9)
    assert row(ctl, topic="alpha")["reference"] == "ctrl"


def test_off_format_forms_leave_the_comparison():
    recs = answers("base", 3) + answers("tuned", 5)
    for r in recs:
        if r["model"] == "tuned" and r["item_id"] == "a1" and r["direction"] == "reversed":
            r.update(status="off_format", mass=0.01)
    df = frames.questionnaire_frame(recs)
    shift = shift_tables.shift_table(df, "base", ["base", "tuned"])
    assert row(shift, model="tuned", topic="alpha", measure="stance_shift")["n_forms"] == 12 - 2
    health = stability_tables.health_table(df, "base", ["base", "tuned"])
    h = row(health, model="tuned")
    assert h["n_off_format"] == 2 and h["n_ok"] == 22 and h["n_forms"] == 24


def test_stability_sees_acquiescence_and_wording():
    # base says "9" whatever the direction: agreement 9 on normal forms, 0 on reversed ones
    base = answers("base", 9, reversed_agree=0)
    # tuned agrees 6 in both directions but depends on the wording: paraphrase 0 -> 6, paraphrase 1 -> 2
    tuned = answers("tuned", lambda item, k: 6 if k == 0 else 2, reversed_agree=lambda item, k: 6 if k == 0 else 2)
    df = frames.questionnaire_frame(base + tuned)
    stab = stability_tables.stability_table(df, "base", ["base", "tuned"], seed=0)
    b = row(stab, model="base", measure="direction_consistency")
    assert b["estimate"] == pytest.approx(0.0) and b["test"] == "none (reference model)"
    t = row(stab, model="tuned", measure="direction_consistency")
    assert t["estimate"] == pytest.approx(1.0) and t["vs_reference"] == pytest.approx(1.0)
    assert t["n_items"] == 6 and t["p_value"] == pytest.approx(2 / 64)
    # stance of agreement 6 vs 2 differs by 2*4/9; the SD of two values is half their distance
    assert row(stab, model="tuned", measure="paraphrase_spread")["estimate"] == pytest.approx(4 / 9)
    assert row(stab, model="base", measure="paraphrase_spread")["estimate"] == pytest.approx(0.0)


def test_item_distributions_use_the_normal_scale():
    # agrees 7 on normal forms but says "7" on reversed forms too (agreement 2 once read backwards)
    df = frames.questionnaire_frame(answers("m", 7, reversed_agree=2))
    r = row(frames.item_distributions(df), model="m", item_id="a1")
    assert r["probs"][7] == pytest.approx(1.0) and r["expected"] == pytest.approx(7.0)
    assert r["n_forms"] == 2 and r["direction"] == "normal"
    only_reversed = frames.questionnaire_frame([x for x in answers("m", 7, reversed_agree=2) if x["direction"] == "reversed"])
    r = row(frames.item_distributions(only_reversed), model="m", item_id="a1")
    assert r["probs"][2] == pytest.approx(1.0) and r["direction"].startswith("reversed")


def test_agreement_reads_reversed_forms_backwards():
    """Issue 14, point 9: an adapter that truly agrees one point more on both scales (normal 5 -> 6,
    reversed 4 -> 3) showed an expected score of 4.5 for both models. Agreement reads reversed forms
    as 9 - E: 5.0 for the base, 6.0 for the adapter, in the summary table and the lm-eval layout."""
    recs = answers("base", 5) + answers("tuned", 6)
    assert {r["expected"] for r in recs if r["model"] == "tuned"} == {6.0, 3.0}
    assert {r["agreement"] for r in recs if r["model"] == "tuned"} == {6.0}
    df = frames.questionnaire_frame(recs)
    summary = frames.model_summary(df)
    assert "expected_score" not in summary
    assert row(summary, model="base", topic="alpha")["agreement"] == pytest.approx(5.0)
    assert row(summary, model="tuned", topic="alpha")["agreement"] == pytest.approx(6.0)
    out = lm_eval_export.lm_eval_results(df, {"models": ["base", "tuned"], "adapters": {}})
    assert out["base"]["results"]["polistance_bank"]["agreement,none"] == pytest.approx(5.0)
    assert out["tuned"]["results"]["polistance_bank"]["agreement,none"] == pytest.approx(6.0)
    assert "expected_score,none" not in out["tuned"]["results"]["polistance_bank"]


def test_positions_are_not_ranked():
    """Issue 14, point 10: agreement, stance (positions) and entropy are neither better nor worse."""
    out = lm_eval_export.lm_eval_results(frames.questionnaire_frame(answers("base", 3)), {"models": ["base"], "adapters": {}})
    hib = out["base"]["higher_is_better"]["polistance_bank"]
    assert hib == {"agreement": None, "stance": None, "entropy": None, "digit_mass": True, "off_format": False}
    assert [m["higher_is_better"] for m in out["base"]["configs"]["polistance_bank"]["metric_list"]] == [None, None, None, True, False]


def test_lm_eval_layout_values(frame):
    meta = {"models": ["base", "tuned"], "adapters": {"base": None, "tuned": "/x/tuned"}, "model": "/x/model", "min_mass": 0.05}
    out = lm_eval_export.lm_eval_results(frame, meta, date="2026-01-01T00:00:00+00:00")
    res = out["tuned"]["results"]["polistance_bank"]
    # agreement 5 on every form (the digit 5 on normal forms, 4 on reversed ones read backwards)
    assert res["agreement,none"] == pytest.approx(5.0)
    assert res["digit_mass,none"] == pytest.approx(0.9) and res["off_format,none"] == 0.0
    assert res["sample_len"] == 24
    assert out["tuned"]["config"]["model_args"]["peft"] == "/x/tuned"
    assert out["tuned"]["model_name_sanitized"] == "__x__tuned"
    assert out["base"]["versions"]["polistance_bank"] == 2.0
    assert out["base"]["higher_is_better"]["polistance_bank"]["stance"] is None
    from polistance_plugins.readers.lm_eval_compat import results_layout_keys

    assert set(out["tuned"]) - {"polistance_version", "polistance_label"} <= results_layout_keys()


def test_topics_bank_is_a_group_of_topic_subtasks():
    recs = [dict(r, bank="topics") for r in answers("base", 3)]
    recs[0].update(status="off_format")
    df = frames.questionnaire_frame(recs)
    out = lm_eval_export.lm_eval_results(df, {"models": ["base"], "adapters": {}, "model": "m"})["base"]
    assert out["group_subtasks"]["polistance_topics"] == ["polistance_topics_alpha", "polistance_topics_beta"]
    group, alpha, beta = (out["results"][k] for k in ("polistance_topics", "polistance_topics_alpha", "polistance_topics_beta"))
    assert alpha["off_format,none"] == pytest.approx(1 / 12)
    assert group["off_format,none"] == pytest.approx((alpha["off_format,none"] * 12 + beta["off_format,none"] * 12) / 24)
    assert group["sample_len"] == 24 and out["groups"]["polistance_topics"] is group


def test_direction_tracking_tells_content_from_repeated_digits():
    # follows the content: agreement differs by item and is the same on both scales -> r = +1
    agree = {"a1": 1, "a2": 3, "a3": 8, "b1": 2, "b2": 6, "b3": 9}
    follows = answers("follows", lambda item, k: agree[item], reversed_agree=lambda item, k: agree[item])
    # repeats its digit whatever the scale means: says agree[item] on both -> reversed agreement 9 - agree -> r = -1
    repeats = answers("repeats", lambda item, k: agree[item], reversed_agree=lambda item, k: 9 - agree[item])
    stab = stability_tables.stability_table(frames.questionnaire_frame(follows + repeats), "follows", ["follows", "repeats"])
    f = row(stab, model="follows", measure="direction_tracking")
    r = row(stab, model="repeats", measure="direction_tracking")
    assert f["estimate"] == pytest.approx(1.0) and r["estimate"] == pytest.approx(-1.0)
    assert f["n_items"] == 6 and "Pearson" in f["test"] and f["p_value"] < 0.01


def test_eval_summary_reads_reversed_forms_backwards():
    """Issue 14, point 9 in `polistance eval`'s summary.csv: mean_agreement, not a raw digit mean."""
    from polistance_plugins.pipelines.questionnaire import topic_summary

    recs = answers("tuned", 6)  # digit 6 on normal forms, 3 on reversed ones
    for r in recs[1::2]:
        r.pop("agreement")  # a record written before the field existed reads the same
    summary = topic_summary(recs)
    assert "mean_expected" not in summary
    assert summary.set_index("topic")["mean_agreement"].to_dict() == {"alpha": pytest.approx(6.0), "beta": pytest.approx(6.0)}


def test_report_title_says_what_is_compared():
    from polistance_plugins.report.html import report_title

    assert report_title({"models": ["base"], "model": "smollm2-135m-instruct"}, {"base": "reference"}) == \
        "Political stance of smollm2-135m-instruct"
    assert report_title({"models": ["base", "tuned"], "model": "m"}, {"base": "reference", "tuned": "adapter"}) == \
        "Political stance: base model vs adapters"
    assert report_title({"models": ["a", "b", "c"]}, {"a": "reference", "b": "model", "c": "model"}) == "Political stance: 3 models"
