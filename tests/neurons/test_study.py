"""End to end on the tiny Llama: the CLI commands and the whole InhibitFT study pipeline."""

import json

import pandas as pd
import pytest

from polistance_plugins.cli import main
from polistance_plugins.neurons.neuron_file import NeuronFile

TOPICS = "crime_and_guns,science"


def test_localize_and_patch_commands(tmp_path, tiny_model_dir, mlp_adapter_dir, attn_adapter_dir, capsys):
    out = tmp_path / "neurons.json"
    rc = main(["localize", "--model", str(tiny_model_dir), "--adapter", f"A={mlp_adapter_dir}", "--adapter",
               f"B={attn_adapter_dir}", "--topics", TOPICS, "--top-k", "20", "--out", str(out), "--batch-size", "4"])
    assert rc == 0
    nf = NeuronFile.load(out)
    assert set(nf.scores) == {"A", "B"} and nf.topics == TOPICS.split(",") and nf.site == "mlp_out"
    assert nf.prompt_source["prompts_per_topic"] == {"crime_and_guns": 8, "science": 8}
    assert nf.adapters["A"]["sha256"] and (tmp_path / "neurons.png").stat().st_size > 1000
    # adapter B also changes attention, adapter A only the MLPs: both move some neuron
    assert nf.scores["A"]["science"].max() > 0 and nf.scores["B"]["science"].max() > 0
    printed = capsys.readouterr().out
    assert "where the general neurons sit" in printed and "(of 32 per layer)" in printed

    csv = tmp_path / "patch.csv"
    rc = main(["patch", "--model", str(tiny_model_dir), "--adapter", f"A={mlp_adapter_dir}", "--neurons", str(out),
               "--topics", "science", "--out", str(csv), "--batch-size", "4", "--min-mass", "0", "--n-random", "2",
               "--n-resamples", "100"])
    assert rc == 0
    table = pd.read_csv(csv)
    assert list(table["set"]) == ["general", "random_general", "specific", "random_specific"]
    general = nf.sets("A").general.size
    assert table.loc[0, "n_neurons"] == general == table.loc[1, "n_neurons"]
    assert table.loc[0, "per_layer"] == table.loc[1, "per_layer"] and table.loc[1, "draws"] == 2
    assert (table["n_forms"] == 14).all()  # --min-mass 0: every science form counts
    printed = capsys.readouterr().out
    assert "fraction [95% CI]" in printed and "mean of 2 layer-matched random sets" in printed
    # the tiny model puts little mass on the digits: at the default --min-mass far fewer forms count
    rc = main(["patch", "--model", str(tiny_model_dir), "--adapter", f"A={mlp_adapter_dir}", "--neurons", str(out),
               "--topics", "science", "--out", str(csv), "--batch-size", "4", "--n-random", "1", "--n-resamples", "100"])
    assert rc == 0 and (pd.read_csv(csv)["n_forms"] < 14).all()


def test_patch_refuses_wrong_site(tmp_path, tiny_model_dir, mlp_adapter_dir, capsys):
    out = tmp_path / "n.json"
    assert main(["localize", "--model", str(tiny_model_dir), "--adapter", f"A={mlp_adapter_dir}", "--topics",
                 "science", "--out", str(out)]) == 0
    rc = main(["patch", "--model", str(tiny_model_dir), "--adapter", f"A={mlp_adapter_dir}", "--neurons", str(out),
               "--site", "mlp_hidden"])
    assert rc == 2 and "mlp_out" in capsys.readouterr().err


def test_inhibitft_study_end_to_end(tmp_path, tiny_model_dir):
    from polistance_plugins.neurons.contrast import per_layer_counts
    from polistance_plugins.neurons.study import StudyConfig, run_study

    cfg = StudyConfig(model=str(tiny_model_dir), topics=["science"], eval_topics=TOPICS.split(","), seeds=[0, 1, 2],
                      inhibit_top=[50.0], hold_weight=10.0, max_steps=1, batch_size=4, rank=2, learning_rate=5e-3,
                      n_resamples=200, eval_batch_size=16, min_mass=0.0)  # the random tiny model rarely puts 5% on the digits
    out = tmp_path / "study"
    summary = run_study(cfg, out, log=lambda m: None)
    for f in ("neurons.json", "neurons_per_layer.png", "table.md", "units.csv", "arms.csv", "comparisons.csv", "drift.csv",
              "heatmap.png", "study.json", "table_agreement.md", "units_agreement.csv", "heatmap_agreement.png"):
        assert (out / f).is_file(), f
    # every evaluated item asks a sub-issue the training split does not
    assert summary["heldout"]["items"] == 28 and summary["heldout"]["left_out_shared_subissue"] == []

    nf = NeuronFile.load(out / "neurons.json")
    assert list(nf.scores) == ["plain-science-s0"] and nf.positions == "item" and nf.ranking == "scaled"
    general = nf.sets("plain-science-s0", 50).general
    for seed in (0, 1, 2):
        masks = {arm: json.loads((out / "adapters" / f"{arm}50-science-s{seed}" / "polistance.json").read_text())
                 for arm in ("inhibit", "control", "hold")}
        assert {m["hyperparameters"]["seed"] for m in masks.values()} == {seed}
        for arm, m in masks.items():
            g = m["gradient_mask"]
            assert g["arm"] == arm and g["n_neurons"] == general.size and m["gradient_mask_verification"]["rows_verified_unchanged"]
            # the control pins as many rows in every layer, elsewhere
            assert g["neurons_per_layer"] == {str(l): int(c) for l, c in enumerate(per_layer_counts(general, 2, 32)) if c}
        assert masks["control"]["gradient_mask"]["control_for"] == "general"
        assert masks["hold"]["gradient_mask"]["hold_activations"] == 10.0
        assert masks["hold"]["gradient_mask_verification"]["hold_activations"]["forwards"] == 1
        assert masks["inhibit"]["gradient_mask"]["hold_activations"] == 0.0

    units = pd.read_csv(out / "units.csv")
    assert sorted(units["arm"].unique()) == ["control50", "hold50", "inhibit50", "plain"]
    assert len(units) == 12 and set(units["seed"]) == {0, 1, 2}
    # s(T, t) and the in-topic effect by hand from the records: right-leaning, so the sign is +1
    items = pd.read_json(out / "eval" / "items.jsonl", lines=True)
    per_item = items[items["status"] == "ok"].groupby(["model", "item_id", "topic"])["stance"].mean().unstack("model")
    d = (per_item["inhibit50-science-s1"] - per_item["base"]).groupby(level="topic").mean()
    row = units[(units["arm"] == "inhibit50") & (units["seed"] == 1)].iloc[0]
    assert row["in_topic"] == pytest.approx(d["science"]) and row["ctg"] == pytest.approx(d["crime_and_guns"])
    comps = pd.read_csv(out / "comparisons.csv")
    assert {(r.arm, r.reference) for r in comps.itertuples()} == {
        ("inhibit50", "plain"), ("control50", "plain"), ("hold50", "plain"), ("inhibit50", "control50"),
        ("hold50", "control50"), ("hold50", "inhibit50")}
    pair = units[units["arm"].isin(["inhibit50", "plain"])].pivot(index="seed", columns="arm", values="ctg")
    r = comps[(comps["arm"] == "inhibit50") & (comps["reference"] == "plain")].iloc[0]
    assert r["d_ctg"] == pytest.approx((pair["inhibit50"] - pair["plain"]).mean())
    drift = pd.read_csv(out / "drift.csv")
    assert len(drift) == 12 and (drift["n_neurons"] == general.size).all()
    assert "ratio CTG/IN" in summary["markdown"] and "permutation test" in summary["markdown"]

    # a second run continues: every adapter is reused, the evaluation is already recorded
    logged = []
    again = run_study(cfg, out, log=logged.append)
    assert all(a["reused"] for a in again["adapters"].values())
    assert "reusing drift.csv (same adapters and neuron file)" in logged
    assert pd.read_csv(out / "drift.csv").equals(drift)
    assert pd.read_csv(out / "units.csv").equals(units)


def test_study_needs_three_seeds(tiny_model_dir, capsys):
    rc = main(["inhibitft-study", "--model", str(tiny_model_dir), "--seeds", "0,1", "--topics", "science"])
    assert rc == 2 and "at least 3 different seeds" in capsys.readouterr().err


def test_study_options_reach_the_configuration(tiny_model_dir, tmp_path, monkeypatch, capsys):
    # --seed is the statistics' seed (the training seeds are --seeds); the others reach training and evaluation
    import polistance_plugins.neurons.study as study

    seen = {}

    class Stop(Exception):
        pass

    def fake(cfg, out, log=None):
        seen["cfg"] = cfg
        raise Stop

    monkeypatch.setattr(study, "run_study", fake)
    with pytest.raises(Stop):
        main(["inhibitft-study", "--model", str(tiny_model_dir), "--topics", "science", "--seeds", "3,4,5", "--seed", "7",
              "--n-resamples", "300", "--min-mass", "0.2", "--steps", "2", "--hold-weight", "0.5", "--out", str(tmp_path)])
    cfg = seen["cfg"]
    assert (cfg.seeds, cfg.stats_seed, cfg.n_resamples, cfg.min_mass, cfg.max_steps, cfg.hold_weight) == (
        [3, 4, 5], 7, 300, 0.2, 2, 0.5)


def test_study_statistics_follow_the_seed(monkeypatch):
    import numpy as np

    from polistance_plugins.neurons import study_results
    from polistance_plugins.neurons.study import StudyConfig

    seeds = []
    monkeypatch.setattr(study_results, "unit_shifts", lambda *a, **k: None)
    monkeypatch.setattr(study_results, "unit_table", lambda us: [])
    monkeypatch.setattr(study_results, "summarise", lambda us, pairs, n, seed: seeds.append(seed) or ([], []))
    cfg = StudyConfig(model="m", topics=["science"], stats_seed=11)
    study_results.level_results(cfg, None, {(5.0, "science"): np.arange(3)}, ["science"], 5.0, "stance")
    assert seeds == [11]


def test_adapter_names_have_no_dots():
    from polistance_plugins.neurons.study_train import adapter_name

    assert adapter_name("inhibit", "science", 2, 0.5) == "inhibit0p5-science-s2"
    assert adapter_name("control", "science", 0, 5.0) == "control5-science-s0"
    assert adapter_name("plain", "science", 1) == "plain-science-s1"
