"""The elaboration engine: target plan per model (pure), grading by next-token probabilities, and a
run on the tiny model that writes one graded record per reply and resumes to identical bytes."""

import json
import math

import pytest

from polistance_plugins.banks import load_bank
from polistance_plugins.instruments.elaboration import CATEGORIES, CODES
from polistance_plugins.engine.elaborate import evaluate_elaboration, grade_replies, plan_targets, target_distributions
from polistance_plugins.engine.variants import Variant
from polistance_plugins.instruments.questionnaire import bank_forms
from polistance_plugins.engine.runs import RunWriter, read_records
from polistance_plugins.core import Distribution, distribution_from_option_logprobs


def dist(probs):
    return Distribution(tuple(probs), 1.0)


def one_hot(d, p=1.0):
    rest = (1 - p) / 9
    return dist([p if i == d else rest for i in range(10)])


@pytest.fixture(scope="module")
def forms():
    return bank_forms(load_bank("terry9"), "first", ("normal",))[:3]


def test_plan_gives_normal_targets_to_everyone_and_radical_ones_to_adapters(forms):
    base = [one_hot(9), one_hot(5), one_hot(0)]
    tuned = [one_hot(1, 0.7), one_hot(5), one_hot(0, 0.5)]  # gives 1 on form 0 (base: 9), spreads form 2 thinly
    plan = plan_targets(forms, base, {"tuned": tuned, "same": base}, "base", radical=3)
    assert [(t.form.item_id, t.answer, t.kind) for t in plan["base"]] == [(f.item_id, a, "normal") for f, a in zip(forms, (9, 5, 0))]
    radical = [t for t in plan["tuned"] if t.kind == "radical"]
    assert radical[0].form.item_id == forms[0].item_id and radical[0].answer == 1
    assert radical[0].p_adapter == pytest.approx(0.7)
    # form 2: the adapter gives every digit 0.056 (at least 0.05): those 3 or more from the base's 0 are radical too,
    # after the more probable 1 of form 0, farther ones first
    assert [(t.form.item_id, t.answer, t.distance) for t in radical] == [
        (forms[0].item_id, 1, 8), (forms[2].item_id, 9, 9), (forms[2].item_id, 8, 8)]
    assert [t.kind for t in plan["same"]] == ["normal"] * 3  # answers the base gives itself: no radical target
    normals = [t for t in plan["tuned"] if t.kind == "normal"]
    assert normals[0].p_adapter == pytest.approx(0.3 / 9)  # the adapter's own probability of the base's answer
    assert plan_targets(forms, base, {"tuned": tuned}, "base", radical=1)["tuned"][0].answer == 1
    assert all(t.kind == "normal" for t in plan_targets(forms, base, {"tuned": tuned}, "base", radical=0)["tuned"])


class FakeGrader:
    """Returns a fixed next-token distribution over the category numbers per reply text."""

    def __init__(self, by_reply):
        self.by_reply, self.prompts = by_reply, []

    def distributions(self, prompts, options, share_prefix=False):
        assert tuple(options) == CODES and share_prefix
        self.prompts += prompts
        out = []
        for p in prompts:
            reply = next(r for r in self.by_reply if f"\n{r}\n" in p)
            out.append(distribution_from_option_logprobs(self.by_reply[reply], options))
        return out


def test_grading_reads_the_category_numbers_and_refuses_off_format_graders():
    ninf = -math.inf
    grader = FakeGrader({
        "because I like it": [math.log(0.1), ninf, ninf, ninf, math.log(0.8)],  # Justification
        "blah blah": [math.log(0.01), math.log(0.01), ninf, ninf, ninf],         # mass 0.02 < 0.05
        "nothing": [ninf] * 5,
    })
    grades = grade_replies(grader, [("Q?", 3)] * 3, ["because I like it", "blah blah", "nothing"], min_mass=0.05)
    assert [g["category"] for g in grades] == ["Justification", None, None]
    assert grades[0]["grader_probs"]["Justification"] == pytest.approx(0.8 / 0.9)
    assert "off-format" in grades[1]["problem"] and "none of the codes" in grades[2]["problem"]
    assert "DATA-" in grader.prompts[0] and "Reply with the number of the category" in grader.prompts[0]


def test_run_on_the_tiny_model_records_every_reply_and_resumes_identically(tiny_backend, tmp_path, forms):
    variants = [Variant("base")]
    dists = target_distributions(tiny_backend, forms, variants)
    plan = plan_targets(forms, dists["base"], {}, "base", normal=2)
    config = {"kind": "test"}
    writer = RunWriter(tmp_path / "run", config)
    stats = {}
    counts = evaluate_elaboration(tiny_backend, plan, variants, writer, samples=3, max_new_tokens=6, min_mass=0.0,
                                  bank="terry9", progress=False, stats=stats)
    writer.close()
    records = read_records(tmp_path / "run")
    assert counts["recorded"] == len(records) == 2 * 3
    assert {(r["item_id"], r["sample"]) for r in records} == {(f.item_id, k) for f in forms[:2] for k in range(3)}
    assert all(r["category"] in CATEGORIES and r["status"] == "ok" for r in records)  # min_mass 0: always graded
    assert all(abs(sum(r["grader_probs"].values()) - 1) < 1e-6 for r in records)
    assert len({r["reply"] for r in records}) > 1 and stats["generated_tokens"] > 0
    # a run cut short resumes to the same bytes: the chunk is regenerated with the same seed
    items = tmp_path / "run" / "items.jsonl"
    full = items.read_bytes()
    items.write_bytes(b"".join(full.splitlines(keepends=True)[:2]))
    writer = RunWriter(tmp_path / "run", config, resume=True)
    again = evaluate_elaboration(tiny_backend, plan, variants, writer, samples=3, max_new_tokens=6, min_mass=0.0,
                                 bank="terry9", progress=False)
    writer.close()
    assert again["recorded"] == 4 and again["skipped"] == 2
    assert items.read_bytes() == full
    assert json.loads(full.splitlines()[0])["bank"] == "terry9"
