"""`polistance demo` on the tiny model: trains the three adapters, reuses them when their manifests
match, retrains when they do not, and ends with a report holding all three suites."""

import dataclasses
import json

import pytest

from polistance_plugins.pipelines.demo import DEMO_ADAPTERS, DEMO_OPTIONS, ensure_adapters, run_demo, trained_here
from polistance_plugins.train import TrainConfig

FAST = TrainConfig(max_steps=1, batch_size=2)


@pytest.fixture(scope="module")
def adapters_root(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-adapters")
    made = ensure_adapters(str(tiny_model_dir), root, FAST, log=lambda m: None)
    assert {n: how for n, (_, how) in made.items()} == {n: "trained" for n in DEMO_ADAPTERS}
    return root


def test_adapters_are_reused_only_when_their_manifest_matches(tiny_model_dir, adapters_root):
    from polistance_plugins.pipelines.demo import demo_dataset

    model = str(tiny_model_dir)
    before = {n: (adapters_root / n / "adapter_model.safetensors").read_bytes() for n in DEMO_ADAPTERS}
    again = ensure_adapters(model, adapters_root, FAST, log=lambda m: None)
    assert {how for _, how in again.values()} == {"reused"}
    assert all((adapters_root / n / "adapter_model.safetensors").read_bytes() == before[n] for n in DEMO_ADAPTERS)
    southern = adapters_root / "southern"
    assert trained_here(southern, model, demo_dataset("southern"), FAST)
    assert not trained_here(southern, model, demo_dataset("coastal"), FAST)            # other data
    assert not trained_here(southern, model, demo_dataset("southern"), TrainConfig(max_steps=2, batch_size=2))
    manifest = json.loads((southern / "polistance.json").read_text())
    (southern / "polistance.json").write_text(json.dumps({**manifest, "status": "running"}))
    assert not trained_here(southern, model, demo_dataset("southern"), FAST)           # unfinished run
    redone = ensure_adapters(model, adapters_root, FAST, log=lambda m: None)
    assert {n: how for n, (_, how) in redone.items()} == {"southern": "trained", "coastal": "reused", "control": "reused"}


def test_demo_ends_with_a_report_of_all_three_suites(tiny_model_dir, adapters_root, tmp_path):
    options = dataclasses.replace(DEMO_OPTIONS, banks=("terry9",), samples=1, max_new_tokens=4, normal=2, radical=1,
                                  compass_resamples=50, min_mass=0.0)
    result = run_demo(str(tiny_model_dir), adapters_root, tmp_path / "run", options=options, train_config=FAST, log=lambda m: None)
    assert {how for _, how in result["adapters"].values()} == {"reused"}
    records = [json.loads(line) for line in (result["folder"] / "items.jsonl").read_text().splitlines()]
    assert {r["suite"] for r in records} == {"questionnaire", "compass", "elaboration"}
    assert {r["model"] for r in records} == {"base", *DEMO_ADAPTERS}
    config = json.loads((result["folder"] / "manifest.json").read_text())["config"]
    assert config["control"] == "control" and config["grader"]["label_orders"] == 2
    html = result["report"].read_text()
    assert "Weak grader." not in html and 'id="grader-reliability"' in html and all(f"figures/{f}.png" in html for f in ("compass", "elaboration"))
    # issue 14, points 6 and 7: terry9's topics hold 1 or 2 items, below the minimum for an interval;
    # the pooled row (9 items) has one; the lm-eval layout's standard errors are over items
    results = json.loads((result["folder"] / "results.json").read_text())
    shift = [r for r in results["tables"]["topic_shift"] if r["measure"] == "stance_shift"]
    small = [r for r in shift if r["n_items"] < 6]
    assert small and all(r["ci_low"] is None and r["interval"].startswith("none (fewer than 6 items") for r in small)
    assert all(r["ci_low"] is not None for r in shift if r["topic"] == "all topics")
    assert html.count("no interval (n &lt; 6)") >= len(small)
    from polistance_plugins.core.stats import clustered_stderr

    base = [r for r in records if r["suite"] == "questionnaire" and r["model"] == "base"]
    mass_se = results["lm_eval"]["base"]["results"]["polistance_terry9"]["digit_mass_stderr,none"]
    assert mass_se == pytest.approx(clustered_stderr([r["mass"] for r in base], [r["item_id"] for r in base]))
