"""Every numeric argument of every command is checked in the parser: a value past its limit is
exit 2 with one line naming the argument, before any model loads or any run folder is made; the
value at the limit is accepted."""

from __future__ import annotations

import pytest

from polistance_plugins.cli import build_parser, main

PATCH = ["patch", "--adapter", "a", "--neurons", "n.json"]
# (command, flag, values past the limit, values at the limit)
TABLE = [
    (["eval"], "--batch-size", ["0", "-4", "x", "1.5"], ["1"]),
    (["eval"], "--concurrency", ["0", "-1"], ["1"]),
    (["eval"], "--min-mass", ["2", "1.01", "-1", "nan", "inf", "-0.01"], ["0", "1"]),
    (["eval"], "--seed", ["-1", "x", str(2**32)], ["0", str(2**32 - 1)]),
    (["compass"], "--n-resamples", ["99", "0", "-5"], ["100"]),
    (["compass"], "--min-mass", ["nan"], ["0.5"]),
    (["compare"], "--samples", ["0"], ["1"]),
    (["compare"], "--max-new-tokens", ["0"], ["1"]),
    (["compare"], "--radical", ["-1"], ["0"]),
    (["compare"], "--normal", ["-1"], ["0"]),
    (["compare"], "--batch-size", ["0"], ["1"]),
    (["report", "runs/x"], "--min-mass", ["nan", "2"], ["0"]),
    (["report", "runs/x"], "--seed", ["-1"], ["0"]),
    (["train", "control"], "--epochs", ["0", "-1", "nan", "inf"], ["0.01"]),
    (["train", "control"], "--lr", ["0", "nan", "inf", "-1e-4"], ["1e-9"]),
    (["train", "control"], "--rank", ["0"], ["1"]),
    (["train", "control"], "--alpha", ["0", "nan"], ["0.5"]),
    (["train", "control"], "--batch-size", ["0"], ["1"]),
    (["train", "control"], "--grad-accum", ["0"], ["1"]),
    (["train", "control"], "--seed", ["-1"], ["0"]),
    (["train", "control"], "--max-steps", ["0"], ["1"]),
    (["train", "control"], "--save-steps", ["0"], ["1"]),
    (["train", "control"], "--threads", ["0"], ["1"]),
    (["train", "ideology"], "--beta", ["0", "nan"], ["0.01"]),
    (["train", "ideology"], "--inhibit-top", ["0", "101", "nan"], ["100", "0.1"]),
    (["demo"], "--batch-size", ["0"], ["1"]),
    (["localize"], "--top-k", ["0", "101", "nan"], ["100"]),
    (["localize"], "--first-heldout", ["0"], ["1"]),
    (["localize"], "--batch-size", ["0"], ["1"]),
    (["localize"], "--threads", ["0"], ["1"]),
    (PATCH, "--top-k", ["0", "inf"], ["100"]),
    (PATCH, "--seed", ["-1"], ["0"]),
    (["inhibitft-study"], "--steps", ["0"], ["1"]),
    (["inhibitft-study"], "--learning-rate", ["0", "nan"], ["1e-6"]),
    (["inhibitft-study"], "--rank", ["0"], ["1"]),
    (["inhibitft-study"], "--train-batch-size", ["0"], ["1"]),
    (["inhibitft-study"], "--min-mass", ["2"], ["1"]),
    (["inhibitft-study"], "--n-resamples", ["99"], ["100"]),
    (["inhibitft-study"], "--seed", ["-1"], ["0"]),
]
CASES = [(c, f, v, ok) for c, f, bad, good in TABLE for v, ok in [(b, False) for b in bad] + [(g, True) for g in good]]


@pytest.mark.parametrize("command,flag,value,accepted", CASES, ids=[f"{' '.join(c[:2])} {f}={v}" for c, f, v, _ in CASES])
def test_numeric_arguments_are_checked_in_the_parser(command, flag, value, accepted, capsys):
    parser = build_parser()
    if accepted:
        args = parser.parse_args(command + [flag, value])
        assert getattr(args, flag.lstrip("-").replace("-", "_")) == pytest.approx(float(value))
        return
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(command + [flag, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--batch-size", "0"], ["--batch-size", "-4"], ["--min-mass", "nan"], ["--min-mass", "2"]])
def test_a_bad_number_leaves_no_run_folder(argv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--model", "/nonexistent/model", "--out", str(out), *argv]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err.count("\n") <= 3 and "Traceback" not in err


ENV_TABLE = [
    ("POLISTANCE_API_ATTEMPTS", ["0", "-1", "nan", "1.5", "x", "1000"], ["1", "100"]),
    ("POLISTANCE_API_TIMEOUT", ["0", "-1", "nan", "inf"], ["0.001", "3600"]),
    ("POLISTANCE_API_BACKOFF", ["-1", "nan", "inf"], ["0", "600"]),
    ("POLISTANCE_API_BACKOFF_CAP", ["-0.5", "inf"], ["0", "3600"]),
    ("POLISTANCE_API_MAX_RETRY_AFTER", ["nan", "1e9"], ["0", "3600"]),
]
ENV_CASES = [(var, v, ok) for var, bad, good in ENV_TABLE for v, ok in [(b, False) for b in bad] + [(g, True) for g in good]]


@pytest.mark.parametrize("var,value,accepted", ENV_CASES, ids=[f"{var}={v}" for var, v, _ in ENV_CASES])
def test_retry_settings_from_the_environment_are_range_checked(var, value, accepted):
    from polistance_plugins.engine.backends.api_http import retry_policy_from_env
    from polistance_plugins.errors import PolistanceError

    if accepted:
        retry_policy_from_env({var: value})
        return
    with pytest.raises(PolistanceError, match=f"{var}={value!r}"):
        retry_policy_from_env({var: value})
