"""`polistance compass` end to end on the tiny model, with a PEFT adapter made here."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from polistance_plugins.cli import main
from polistance_plugins.instruments.compass import build_forms, canonical_distribution, load_source
from polistance_plugins.core.compass import argmax_answer, compass_point
from polistance_plugins.core.compass_stability import FormAnswer, pool

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def lora_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter on the tiny model with random lora_B, so it really changes the logits."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 2.0)
    out = tmp_path_factory.mktemp("adapter") / "tilted"
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def compass_run(tiny_model_dir, lora_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("compass") / "run"
    argv = ["compass", "--model", str(tiny_model_dir), "--adapter", str(lora_dir), "--out", str(out),
            "--paraphrases", "first", "--labels", "numbers", "--min-mass", "0", "--batch-size", "16", "--n-resamples", "300"]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue(), out


def test_run_writes_records_summary_and_plot(compass_run):
    code, printed, out = compass_run
    assert code == 0
    for name in ("items.jsonl", "propositions.csv", "summary.json", "summary.csv", "compass.png", "manifest.json"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert len(records) == 2 * 64 * 2  # base + adapter, 64 propositions, 2 orders
    assert {r["model"] for r in records} == {"base", "tilted"}
    for r in records:
        assert len(r["probs"]) == 4 and abs(sum(r["probs"]) - 1) < 1e-6
        assert 0 < r["mass"] <= 1 and r["status"] == "ok"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["source"] == "compass"
    assert manifest["config"]["variants"][1]["adapter_sha256"]
    assert (out / "compass.png").read_bytes()[:4] == b"\x89PNG"
    assert "political compass (compass)" in printed and "tilted" in printed and "stability" in printed


def test_adapter_moves_the_answers(compass_run):
    _, _, out = compass_run
    summaries = json.loads((out / "summary.json").read_text())
    base, tilted = summaries
    assert base["model"] == "base" and tilted["model"] == "tilted"
    assert base["answers"] != tilted["answers"]
    assert (base["expected"]["econ"], base["expected"]["soc"]) != (tilted["expected"]["econ"], tilted["expected"]["soc"])


def test_summary_numbers_follow_from_the_records(compass_run):
    """The summary's points are the scoring core applied to the recorded per-form distributions."""
    _, printed, out = compass_run
    src = load_source("compass")
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    summaries = {s["model"]: s for s in json.loads((out / "summary.json").read_text())}
    for model, s in summaries.items():
        mine = [r for r in records if r["model"] == model]
        forms = [FormAnswer(r["index"], r["paraphrase"], r["order"], r["labels"], tuple(r["probs"])) for r in mine]
        pooled = pool(forms, 64)
        econ, soc = compass_point(pooled, "compass")
        assert s["expected"]["econ"] == pytest.approx(econ) and s["expected"]["soc"] == pytest.approx(soc)
        a_econ, a_soc = compass_point([argmax_answer(p) for p in pooled], "compass")
        assert s["argmax"]["econ"] == pytest.approx(a_econ) and s["argmax"]["soc"] == pytest.approx(a_soc)
        lo, hi = s["expected_ci"]["econ"]
        assert lo <= econ <= hi
        assert 0 <= s["stability"]["agreement"] <= 1
        assert f"{econ:+.2f}" in printed
    assert len(src) == 64


def test_records_match_the_backend_directly(compass_run, tiny_backend):
    """A reversed numbers form: label "4" is strongly disagree, so canonical p[0] = P("4")."""
    _, _, out = compass_run
    records = {json.loads(line)["key"]: json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()}
    src = load_source("compass")
    forms = [f for f in build_forms(src, "first", labels=("numbers",)) if f.index in (0, 40)]
    for form in forms:
        res = tiny_backend.score_prompts([form.prompt()], form.choices)[0]
        dist = canonical_distribution(form, res.distribution)
        rec = records[f"base|compass|{form.key}"]
        assert rec["probs"] == pytest.approx(list(dist.probs), abs=1e-5)
        if form.order == "reversed" and form.labels == "numbers":
            assert rec["probs"][0] == pytest.approx(res.distribution.probs[3], abs=1e-5)


def test_every_factor_is_asked_and_words_answers_are_scored(tiny_model_dir, tiny_backend, tmp_path):
    """All paraphrases x orders x label styles on a small bank; word labels are multi-token answers."""
    out = tmp_path / "mini"
    bank = FIXTURES / "mini_compass.jsonl"
    assert main(["compass", "--model", str(tiny_model_dir), "--source", str(bank), "--out", str(out),
                 "--min-mass", "0", "--n-resamples", "200"]) == 0
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert len(records) == 4 * 2 * 2 * 2
    assert {(r["paraphrase"], r["order"], r["labels"]) for r in records} == {
        (k, o, s) for k in (0, 1) for o in ("normal", "reversed") for s in ("numbers", "words")
    }
    src = load_source(str(bank))
    words = next(f for f in build_forms(src) if f.labels == "words" and f.order == "reversed")
    rec = next(r for r in records if r["key"].endswith(words.key))
    assert rec["choices"] == ["Strongly agree", "Agree", "Disagree", "Strongly disagree"]
    direct = canonical_distribution(words, tiny_backend.score_prompts([words.prompt()], words.choices)[0].distribution)
    assert rec["probs"] == pytest.approx(list(direct.probs), abs=1e-5)
    summary = json.loads((out / "summary.json").read_text())[0]
    assert set(summary["stability"]["agreement_by_factor"]) == {"paraphrase", "order", "labels"}
    assert len(summary["stability"]["versions"]) == 8


def test_pct_source_with_a_user_file(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "pct"
    code = main(["compass", "--model", str(tiny_model_dir), "--source", "pct", "--pct-file", str(FIXTURES / "pct_fixture.csv"),
                 "--out", str(out), "--orders", "normal", "--labels", "numbers", "--min-mass", "0", "--n-resamples", "200"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())[0]
    assert summary["source"] == "pct" and summary["answered"] == 62
    forced = [argmax_answer(p) for p in summary["answers"]]
    assert summary["argmax"]["econ"] == pytest.approx(compass_point(forced, "pct")[0])
    assert not math.isnan(summary["expected"]["soc"])
    assert "political compass (pct)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--source", "pct"], "llm-values-pct"),
        (["--source", "pct", "--pct-file", "/nonexistent.csv"], "no such file"),
        (["--labels", "letters"], "--labels"),
        (["--source", "compass", "--pct-file", "x.csv"], "only used with source 'pct'"),
    ],
)
def test_user_errors_exit_2(tiny_model_dir, tmp_path, capsys, extra, needle):
    assert main(["compass", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r"), *extra]) == 2
    assert needle in capsys.readouterr().err


def test_user_error_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "polistance_plugins.cli", "compass", "--source", "pct"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "--pct-file" in proc.stderr and "Traceback" not in proc.stderr


def test_resume_refuses_a_run_made_with_another_batch_size(tiny_model_dir, tmp_path, capsys):
    """Padding changes the last digits, so a resumed compass run with another --batch-size would mix
    records of two configurations: it is refused with the difference named, and nothing is written."""
    out = tmp_path / "run"
    base = ["compass", "--model", str(tiny_model_dir), "--paraphrases", "first", "--labels", "numbers",
            "--n-resamples", "100", "--source", str(FIXTURES / "mini_compass.jsonl")]
    assert main([*base, "--batch-size", "4", "--out", str(out)]) == 0
    before = (out / "items.jsonl").read_bytes()
    capsys.readouterr()
    assert main([*base, "--batch-size", "8", "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert "batch_size: recorded 4, now 8" in err
    assert (out / "items.jsonl").read_bytes() == before
    assert main([*base, "--batch-size", "4", "--resume", str(out)]) == 0
