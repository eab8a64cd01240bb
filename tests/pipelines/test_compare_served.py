"""`polistance compare --api-base` over adapters served as model names on one server (as vLLM serves
LoRA adapters): the fake server serves several names with distributions the test knows, and the
report's numbers must be the ones those distributions give."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from polistance_plugins.banks import load_bank
from polistance_plugins.cli import main
from polistance_plugins.core import DIGITS, keyed_stance
from polistance_plugins.engine.backends.hf import LocalBackend
from polistance_plugins.instruments.elaboration import CATEGORIES, CODES, judge_prompt
from polistance_plugins.instruments.questionnaire import bank_forms
from tests.backends.fake_openai import FakeOpenAIServer
from tests.conftest import make_adapter

ALL = "all topics"
MINI_COMPASS = str(Path(__file__).resolve().parents[1] / "compass" / "fixtures" / "mini_compass.jsonl")


def planted(probs) -> dict[str, float]:
    """Log-probabilities of the digits (any leftover probability is on other tokens)."""
    return {d: math.log(p) for d, p in zip(DIGITS, probs) if p > 0}


# Known distributions: the base model answers low, "lefty" high, "righty" in the middle.
BASE = [0.30, 0.25, 0.15, 0.10, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01]
LEFTY = [0.01, 0.01, 0.02, 0.03, 0.03, 0.05, 0.10, 0.15, 0.25, 0.35]
RIGHTY = [0.05, 0.05, 0.10, 0.10, 0.20, 0.20, 0.10, 0.10, 0.05, 0.05]


def _records(folder):
    return [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]


def _api(srv, tokenizer, *rest):
    return ["--api-base", srv.base_url, "--tokenizer", str(tokenizer), "--api-mode", "exact", *rest]


def test_shifts_of_served_adapters_equal_the_ones_their_distributions_give(tiny_backend, tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    with FakeOpenAIServer(tiny_backend, model="base", planted={"base": planted(BASE), "lefty": planted(LEFTY),
                                                               "righty": planted(RIGHTY)}, max_seconds=1800) as srv:
        assert main(["compare", *_api(srv, tiny_model_dir, "--api-model", "base"), "--adapters", "lefty=lefty,righty=righty",
                     "--suite", "questionnaire", "--bank", "terry9", "--out", str(out)]) == 0
        served = {r.body["model"] for r in srv.requests if r.body}
    assert served == {"base", "lefty", "righty"}
    records = _records(out)
    for r in records:  # every form reads its model's planted distribution exactly
        want = {"base": BASE, "lefty": LEFTY, "righty": RIGHTY}[r["model"]]
        assert r["probs"] == pytest.approx(np.array(want) / sum(want), abs=1e-7) and r["method"] == "exact"
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert [(v["label"], v.get("served_model")) for v in config["variants"]] == [("base", None), ("lefty", "lefty"), ("righty", "righty")]

    # what the report must say: per item, the keyed stance of the expected answer, adapter minus base
    forms = bank_forms(load_bank("terry9"))
    shift = pd.read_csv(out / "tables" / "topic_shift.csv")
    for name, probs in (("lefty", LEFTY), ("righty", RIGHTY)):
        e_model, e_base = float(np.dot(probs, range(10))), float(np.dot(BASE, range(10)))
        per_item = pd.Series([keyed_stance(e_model, f.keying, 9, f.direction) - keyed_stance(e_base, f.keying, 9, f.direction)
                              for f in forms], index=[f.item_id for f in forms]).groupby(level=0).mean()
        row = lambda measure: shift[(shift["model"] == name) & (shift["topic"] == ALL) & (shift["measure"] == measure)].iloc[0]
        assert row("stance_shift")["estimate"] == pytest.approx(per_item.mean(), abs=1e-6)  # the server sends float32
        assert row("stance_shift")["n_items"] == 9
        assert row("wasserstein1")["estimate"] == pytest.approx(wasserstein_distance(range(10), range(10), probs, BASE), abs=1e-6)


@pytest.fixture(scope="module")
def served_backend(tiny_model_dir, tmp_path_factory):
    """The tiny model with two LoRA adapters loaded, which the fake serves as their own model names."""
    root = tmp_path_factory.mktemp("served")
    adapters = {name: make_adapter(tiny_model_dir, root / name, seed) for name, seed in (("tuned", 1), ("control", 2))}
    backend = LocalBackend(str(tiny_model_dir), batch_size=8)
    for name, path in adapters.items():
        backend.load_adapter(name, str(path))
    return backend, adapters


def test_served_adapters_compare_exactly_as_local_adapters(served_backend, tiny_model_dir, tmp_path):
    backend, adapters = served_backend
    suite = ["--suite", "questionnaire,compass", "--bank", "terry9", "--compass-source", MINI_COMPASS,
             "--compass-labels", "numbers", "--control", "control", "--min-mass", "0"]
    local = tmp_path / "local"
    assert main(["compare", "--model", str(tiny_model_dir), "--adapters", ",".join(f"{n}={p}" for n, p in adapters.items()),
                 *suite, "--out", str(local)]) == 0
    served, single = tmp_path / "served", tmp_path / "single"
    with FakeOpenAIServer(backend, model="base", served={"base": None, "tuned": "tuned", "control": "control"}, max_seconds=1800) as srv:
        assert main(["compare", *_api(srv, tiny_model_dir, "--api-model", "base"), "--adapters", "tuned=tuned,control=control",
                     *suite, "--out", str(served)]) == 0
        assert main(["eval", *_api(srv, tiny_model_dir, "--api-model", "tuned"), "--bank", "terry9", "--out", str(single)]) == 0
        assert main(["compare", *_api(srv, tiny_model_dir, "--api-model", "base"), "--adapters", "x=not-served",
                     "--bank", "terry9", "--out", str(tmp_path / "bad")]) == 2
    mine = {r["key"]: r for r in _records(served)}
    theirs = {r["key"]: r for r in _records(local)}
    assert mine.keys() == theirs.keys() and {r["suite"] for r in mine.values()} == {"questionnaire", "compass"}
    for key, r in mine.items():
        assert r["probs"] == pytest.approx(theirs[key]["probs"], abs=2e-5), key
    # the records of a separate `eval` against the same server are the compare run's records
    for r in _records(single):
        twin = mine[f"tuned|terry9|{r['key'].split('|', 2)[2]}"]
        assert r["probs"] == twin["probs"] and r["mass"] == twin["mass"]
    a, b = (pd.read_csv(f / "tables" / "topic_shift.csv") for f in (served, local))
    assert len(a) > 10 and list(a["model"]) == list(b["model"]) and list(a["measure"]) == list(b["measure"])
    assert np.allclose(a["estimate"].astype(float), b["estimate"].astype(float), atol=1e-4, equal_nan=True)
    ca, cb = (pd.read_csv(f / "tables" / "compass.csv") for f in (served, local))
    assert len(ca) == 3 and np.allclose(ca.select_dtypes("number"), cb.select_dtypes("number"), atol=1e-4, equal_nan=True)


def test_elaboration_samples_over_the_api_and_a_served_grader_reads_the_categories(served_backend, tiny_model_dir, tmp_path):
    backend, _ = served_backend
    judge = [0.02, 0.03, 0.05, 0.10, 0.70]  # biased on purpose: every reply is a Justification (in one label order;
    # the planted numbers ignore the listing, so a second order would read them as another category)
    out = tmp_path / "run"
    with FakeOpenAIServer(backend, model="base", served={"base": None, "tuned": "tuned"},
                          planted={"judge": {c: math.log(p) for c, p in zip(CODES, judge)}}, max_seconds=1800) as srv:
        assert main(["compare", *_api(srv, tiny_model_dir, "--api-model", "base"), "--adapters", "tuned=tuned",
                     "--suite", "elaboration", "--samples", "3", "--max-new-tokens", "5", "--radical", "1", "--normal", "2",
                     "--grader-api-model", "judge", "--grader-orders", "1", "--out", str(out)]) == 0
        sampling = [r.body for r in srv.requests if r.body and not r.body.get("echo") and r.body.get("logprobs") is None
                    and r.path.endswith("/completions")]
    assert sampling and all(b["n"] == 3 and b["temperature"] == 1.0 and b["model"] in ("base", "tuned") for b in sampling), sampling[:3]
    records = [r for r in _records(out) if r["suite"] == "elaboration"]
    assert {r["model"] for r in records} == {"base", "tuned"} and any(r["reply"] for r in records)
    for r in records:
        assert r["category"] == "Justification" and r["grader_method"] == "exact" and r["grader_coverage"] == 5
        assert [r["grader_probs"][c] for c in CATEGORIES] == pytest.approx(np.array(judge) / sum(judge), abs=1e-7)
        assert r["grader_mass"] == pytest.approx(sum(judge), abs=1e-6)
    info = json.loads((out / "manifest.json").read_text())["config"]["grader"]
    assert info["weak"] is False and info["served"] is True and "judge" in info["model"]
    elab = pd.read_csv(out / "tables" / "elaboration.csv")
    assert set(elab["model"]) == {"base", "tuned"}

    # a local grader reads the same replies exactly as it reads them in process
    local_out = tmp_path / "local-grader"
    with FakeOpenAIServer(backend, model="base", served={"base": None, "tuned": "tuned"}, n_per_request=False, max_seconds=1800) as srv:
        assert main(["compare", *_api(srv, tiny_model_dir, "--api-model", "base"), "--adapters", "tuned=tuned",
                     "--suite", "elaboration", "--samples", "2", "--max-new-tokens", "4", "--radical", "0", "--normal", "1",
                     "--grader", str(tiny_model_dir), "--grader-orders", "1", "--min-mass", "0", "--out", str(local_out)]) == 0
        asked = [r.body.get("n") for r in srv.requests if r.body and r.body.get("temperature") == 1.0]
    assert asked == [2, 1, 1, 1]  # asked for 2 and got 1: from then on one request per sample
    records = [r for r in _records(local_out) if r["suite"] == "elaboration"]
    assert len(records) == 2 * 2 and len({r["reply"] for r in records}) >= 1
    grader = LocalBackend(str(tiny_model_dir), batch_size=8)
    questions = {f.item_id: f.prompt() for f in bank_forms(load_bank("terry9"), "first", ("normal",))}
    prompts = [judge_prompt(questions[r["item_id"]], r["answer"], r["reply"], "logprob") for r in records]
    for r, res in zip(records, grader.score_prompts(prompts, CODES)):
        assert r["grader_method"] == "exact"
        assert [r["grader_probs"][c] for c in CATEGORIES] == pytest.approx(res.distribution.probs, abs=1e-6)
