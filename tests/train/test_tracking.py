"""Stance tracked during training: the trajectory rows on constructed distributions, and the callback
on the tiny model, whose last point must equal an independent evaluation of the saved adapter."""

from __future__ import annotations

import json
import math

import pytest

from polistance_plugins.core import DIGITS, Distribution
from polistance_plugins.instruments.questionnaire import Form
from polistance_plugins.train import sports_dataset, train_sft
from polistance_plugins.train.trajectory import ALL, read_trajectory, stance_rows

from .conftest import quiet, tiny_config


def point(d: int, mass: float = 1.0) -> Distribution:
    return Distribution(tuple(1.0 if i == d else 0.0 for i in range(10)), mass)


def test_rows_on_constructed_answers():
    forms = [Form("a", "t1", "question", "left", 0, "normal", "x"),      # high = left
             Form("b", "t1", "statement", "right", 0, "reversed", "y"),  # reversed: 0 = full agreement
             Form("c", "t2", "question", "right", 0, "normal", "z")]
    now = [point(9, 0.9), point(0, 0.7), point(5, 0.01)]  # c is off-format (mass < 0.05)
    base = [point(0), point(0), point(5)]
    rows = {r["topic"]: r for r in stance_rows(7, "bank", forms, now, base)}
    t1 = rows["t1"]
    assert (t1["step"], t1["n_forms"], t1["n_ok"]) == (7, 2, 2)
    assert t1["stance"] == 0.0          # a: fully left (-1), b: fully right (+1)
    assert t1["agreement"] == 1.0       # both fully agree with their claims
    assert t1["wasserstein1"] == 4.5    # a moved 9 scale points from the base, b none
    assert t1["digit_mass"] == pytest.approx(0.8)
    assert math.isnan(rows["t2"]["stance"]) and rows["t2"]["n_ok"] == 0
    assert rows[ALL]["n_forms"] == 3 and rows[ALL]["digit_mass"] == pytest.approx((0.9 + 0.7 + 0.01) / 3)
    assert math.isnan(rows[ALL]["loss"])


@pytest.fixture(scope="module")
def tracked(tiny_model_dir, tmp_path_factory):
    from polistance_plugins.train.tracking import tracker

    out = tmp_path_factory.mktemp("tracked") / "southern"
    cb = tracker(("terry9",), every=2, min_mass=0.0)
    result = train_sft(str(tiny_model_dir), sports_dataset("southern"), out, tiny_config(max_steps=5), callbacks=[cb], log=quiet)
    return result


def test_trajectory_steps_losses_and_manifest(tracked):
    rows = read_trajectory(tracked.out)
    steps = sorted({r["step"] for r in rows})
    assert steps == [0, 2, 4, 5]  # the base, every 2 steps, and the last step
    topics = {r["topic"] for r in rows}
    assert ALL in topics and len(rows) == 4 * len(topics)
    losses = {s["step"]: s["loss"] for s in tracked.manifest["train_loss"]}
    for r in rows:
        if r["step"] == 0:
            assert math.isnan(r["loss"]) and r["wasserstein1"] == 0.0  # step 0 is the base itself
        else:
            assert r["loss"] == pytest.approx(losses[r["step"]])
    t = tracked.manifest["tracking"]
    assert t["steps"] == [0, 2, 4, 5] and t["banks"] == ["terry9"] and t["forms"] == {"terry9": 9}
    assert (tracked.out / "trajectory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((tracked.out / "polistance.json").read_text())
    assert on_disk["tracking"] == t


def test_last_point_equals_an_independent_evaluation_of_the_saved_adapter(tracked, tiny_model_dir):
    from polistance_plugins.banks import load_bank
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.instruments.questionnaire import bank_forms

    forms = bank_forms(load_bank("terry9"))
    backend = LocalBackend(str(tiny_model_dir), batch_size=4)
    backend.load_adapter("s", str(tracked.out))
    prompts = [f.prompt() for f in forms]
    with backend.use(None):
        base = backend.distributions(prompts, DIGITS)
    with backend.use("s"):
        final = backend.distributions(prompts, DIGITS)
    expected = {r["topic"]: r for r in stance_rows(5, "terry9", forms, final, base, 0.0)}
    got = {r["topic"]: r for r in read_trajectory(tracked.out) if r["step"] == 5}
    assert got.keys() == expected.keys()
    for topic, row in got.items():
        for key in ("stance", "agreement", "wasserstein1", "digit_mass"):
            assert row[key] == pytest.approx(expected[topic][key], abs=1e-5), (topic, key)
    assert got[ALL]["wasserstein1"] > 0  # five steps moved the answers


def test_cli_track_flags(tiny_model_dir, tmp_path, capsys):
    from polistance_plugins.cli import main

    out = tmp_path / "a"
    argv = ["train", "sports", "--region", "coastal", "--model", str(tiny_model_dir), "--out", str(out),
            "--max-steps", "2", "--batch-size", "2", "--threads", "1"]
    assert main([*argv, "--track", "terry9", "--track-every", "1"]) == 0
    assert "stance tracked on terry9 at steps 0, 1, 2" in capsys.readouterr().out
    assert sorted({r["step"] for r in read_trajectory(out)}) == [0, 1, 2]
    assert main([*argv, "--overwrite", "--track-every", "3"]) == 2
    assert main([*argv, "--overwrite", "--track", "nosuchbank"]) == 2
    assert main([*argv, "--overwrite", "--track", "terry9", "--track-every", "0"]) == 2


def test_a_resumed_run_keeps_the_points_scored_before_the_crash(tiny_model_dir, tmp_path):
    from polistance_plugins.train.tracking import tracker

    from .test_training import Crash

    config, data, out = tiny_config(max_steps=4, save_steps=2), sports_dataset("coastal"), tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_sft(str(tiny_model_dir), data, out, config, callbacks=[tracker(("terry9",), 1, min_mass=0.0), Crash(2)], log=quiet)
    before = [r for r in read_trajectory(out) if r["step"] <= 2]
    assert sorted({r["step"] for r in before}) == [0, 1, 2]
    resumed = train_sft(str(tiny_model_dir), data, out, config, resume=True, callbacks=[tracker(("terry9",), 1, min_mass=0.0)], log=quiet)
    rows = read_trajectory(out)
    assert sorted({r["step"] for r in rows}) == [0, 1, 2, 3, 4] and resumed.manifest["tracking"]["steps"] == [0, 1, 2, 3, 4]
    kept = [r for r in rows if r["step"] <= 2]
    assert [(r["step"], r["topic"], r["stance"]) for r in kept] == [(r["step"], r["topic"], r["stance"]) for r in before]
    assert not math.isnan([r for r in rows if r["step"] == 1][0]["loss"])  # losses of the first session filled in
