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
    from polistance_plugins.neurons.study import StudyConfig, run_study

    cfg = StudyConfig(model=str(tiny_model_dir), topics=TOPICS.split(","), inhibit_top=[50.0], max_steps=1,
                      batch_size=4, rank=2, learning_rate=5e-3, n_resamples=200, eval_batch_size=16,
                      min_mass=0.0)  # the random tiny model rarely puts 5% on the digits
    out = tmp_path / "study"
    summary = run_study(cfg, out, log=lambda m: None)
    for f in ("neurons.json", "neurons_per_layer.png", "table.csv", "table.md", "shifts.csv", "heatmap.png", "study.json",
              "table_agreement.csv", "heatmap_agreement.png"):
        assert (out / f).is_file(), f
    table = pd.read_csv(out / "table.csv")
    at50 = table[table["inhibit_top"] == 50.0]
    assert set(at50["topic"]) == {"crime_and_guns", "science", "all"}
    assert at50["ctg_plain"].notna().all() and (at50["n_neurons"] > 0).all()

    nf = NeuronFile.load(out / "neurons.json")
    for T in cfg.topics:
        manifest = json.loads((out / "adapters" / f"inhibit50-{T}" / "polistance.json").read_text())
        mask = manifest["gradient_mask"]
        assert mask["method"] == "InhibitFT" and mask["top_percent"] == 50.0
        assert mask["n_neurons"] == nf.sets(f"plain-{T}", 50).general.size
        assert summary["adapters"][f"inhibit50-{T}"]["verification"]["rows_verified_unchanged"] is True
    shifts = pd.read_csv(out / "shifts.csv")
    assert set(shifts["variant"]) >= {"plain", "InhibitFT 50%"}
    # s(T, t) in the table is the mean over items of (adapter - base) keyed stance, recomputed here by hand
    items = pd.read_json(out / "eval" / "items.jsonl", lines=True)
    ok = items[items["status"] == "ok"]
    per_item = ok.groupby(["model", "item_id", "topic"])["stance"].mean().unstack("model")
    T = "science"
    d = (per_item[f"plain-{T}"] - per_item["base"]).dropna().groupby(level="topic").mean()
    s_plain = shifts[(shifts["variant"] == "plain") & (shifts["adapter_topic"] == T)].set_index("eval_topic")["shift"]
    assert s_plain.to_dict() == pytest.approx(d.to_dict())

    # a second run continues: every adapter is reused, the evaluation is already recorded
    again = run_study(cfg, out, log=lambda m: None)
    assert all(a["reused"] for a in again["adapters"].values())
    assert pd.read_csv(out / "table.csv").equals(table)


def test_adapter_names_have_no_dots():
    from polistance_plugins.neurons.study import inhibit_name

    assert inhibit_name("science", 0.5) == "inhibit0p5-science" and inhibit_name("science", 5.0) == "inhibit5-science"


def test_markdown_table_flags_intervals_that_miss_their_estimate():
    from polistance_plugins.neurons.study_table import markdown_table

    base = {"inhibit_top": 5.0, "n_neurons": 10, "note": "", "in_topic_plain": 0.5, "in_topic_inhibit": 0.4,
            "ctg_plain": 0.2, "ctg_inhibit": 0.1, "retention": 0.8, "retention_lo": 0.7, "retention_hi": 0.9}
    good = dict(base, topic="a", reduction=0.5, reduction_lo=0.4, reduction_hi=0.6)
    bad = dict(base, topic="b", reduction=0.05, reduction_lo=0.1, reduction_hi=0.2)
    text = markdown_table(pd.DataFrame([good]))
    assert "†" not in text and "+0.50 [+0.40, +0.60]" in text
    text = markdown_table(pd.DataFrame([good, bad]))
    assert "+0.05 [+0.10, +0.20] †" in text and "dominated by" in text
