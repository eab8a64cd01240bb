"""Matrix cases: damaged run folders, model names, run folder paths, numeric arguments at and past
their limits, and environment variables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .cases_files import write
from .harness import case

EVAL = ["eval", "--model", "{model}", "--bank", "terry9"]
RESUME = EVAL + ["--resume", "{tmp}/run"]


def damaged(name: str, damage, code: int = 2, argv=None):
    """A copy of a finished eval run (terry9, tiny model) in ``{tmp}/run``, damaged, then resumed."""
    def setup(ws):
        run = Path(ws["tmp"]) / "run"
        shutil.copytree(ws["finished_run"], run)
        damage(run)
    return case(f"run folder: {name}", argv or RESUME, code, setup)


def edit(name: str, change):
    def damage(run: Path):
        path = run / name
        path.write_text(change(path.read_text()))
    return damage


def set_status(status: str, failed_item: str | None = None):
    """The manifest's status changed; with ``failed_item``, that item's record made a failure."""
    def damage(run: Path):
        m = json.loads((run / "manifest.json").read_text())
        m["status"] = status
        (run / "manifest.json").write_text(json.dumps(m))
        recs = [json.loads(x) for x in (run / "items.jsonl").read_text().splitlines()]
        recs = [{"key": r["key"], "item_id": r["item_id"], "status": "failed", "error": "HTTP 500"}
                if r["item_id"] == failed_item else r for r in recs]
        (run / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return damage


RUN_FOLDERS = [
    damaged("torn last line", edit("items.jsonl", lambda t: t[:-40]), 0),
    damaged("record without a key", edit("items.jsonl", lambda t: t.replace('"key": ', '"kee": ', 1))),
    damaged("record that is a list", edit("items.jsonl", lambda t: "[1, 2]\n" + t)),
    damaged("record that is not JSON", edit("items.jsonl", lambda t: "{oops\n" + t)),
    damaged("record key that is a number", edit("items.jsonl", lambda t: '{"key": 7}\n' + t)),
    damaged("truncated manifest", edit("manifest.json", lambda t: t[: len(t) // 2])),
    damaged("manifest that is a list", edit("manifest.json", lambda t: "[]")),
    damaged("manifest config that is a string", edit("manifest.json", lambda t: '{"config": "x"}')),
    damaged("no manifest", lambda run: (run / "manifest.json").unlink()),
    damaged("no items.jsonl", lambda run: (run / "items.jsonl").unlink(), 0),
    damaged("empty items.jsonl", lambda run: (run / "items.jsonl").write_text(""), 0),
    damaged("items.jsonl is a folder", lambda run: ((run / "items.jsonl").unlink(), (run / "items.jsonl").mkdir())),
    damaged("left 'running' by a kill", set_status("running"), 0),
    damaged("a failed record to retry", set_status("incomplete", "terry9-03"), 0),
    damaged("another configuration", lambda run: None, 2, EVAL[:3] + ["--bank", "topics", "--topics", "race", "--resume", "{tmp}/run"]),
    damaged("report of a run with a bad record", edit("items.jsonl", lambda t: "[1, 2]\n" + t), 2, ["report", "{tmp}/run"]),
    damaged("report of a run without a manifest", lambda run: (run / "manifest.json").unlink(), 2, ["report", "{tmp}/run"]),
    case("run folder: --resume of a folder that does not exist", EVAL + ["--resume", "{tmp}/none"], 2),
]

MODELS = [
    case("model: a typo of a named model", ["eval", "--model", "smollm3-nope", "--out", "{out}"], 2),
    case("model: a hub id not in the cache", ["eval", "--model", "no-org/no-such-model", "--out", "{out}"], 2),
    case("model: a folder without a model", ["eval", "--model", "{tmp}", "--out", "{out}"], 2),
    case("model: a file", ["eval", "--model", "{tmp}/file", "--out", "{out}"], 2, write("file", "x")),
    case("model: a folder with a broken config", ["eval", "--model", "{tmp}/m", "--out", "{out}"], 2,
         lambda ws: (Path(ws["tmp"], "m").mkdir(), Path(ws["tmp"], "m", "config.json").write_text("{oops"))),
    case("model: no such folder", ["eval", "--model", "{tmp}/nowhere/m", "--out", "{out}"], 2),
    case("model: --tokenizer that does not exist", ["eval", "--api-base", "http://127.0.0.1:9/v1", "--api-model", "m",
                                                    "--tokenizer", "{tmp}/nowhere", "--out", "{out}"], 2),
]

OUT_FOLDERS = [
    case("--out: an existing file", EVAL + ["--out", "{tmp}/file"], 2, write("file", "x")),
    case("--out: under a file", EVAL + ["--out", "{tmp}/file/run"], 2, write("file", "x")),
    case("--out: a run already there", EVAL + ["--out", "{tmp}/run"], 2,
         lambda ws: shutil.copytree(ws["finished_run"], Path(ws["tmp"]) / "run")),
    case("--out: --overwrite of a run", EVAL + ["--out", "{tmp}/run", "--overwrite"], 0,
         lambda ws: shutil.copytree(ws["finished_run"], Path(ws["tmp"]) / "run")),
    case("--out: --resume of a finished run", EVAL + ["--resume", "{tmp}/run"], 0,
         lambda ws: shutil.copytree(ws["finished_run"], Path(ws["tmp"]) / "run")),
]

QUICK = ["eval", "--model", "{model}", "--bank", "terry9", "--topics", "science", "--out", "{out}"]
PAST_LIMIT = [
    ("eval", "--batch-size", "0"), ("eval", "--batch-size", "-4"), ("eval", "--batch-size", "1e9"),
    ("eval", "--min-mass", "2"), ("eval", "--min-mass", "-1"), ("eval", "--min-mass", "nan"), ("eval", "--min-mass", "inf"),
    ("eval", "--concurrency", "0"), ("eval", "--concurrency", "100000"), ("eval", "--seed", "-1"), ("eval", "--seed", "4294967296"),
    ("compass", "--n-resamples", "99"), ("compare", "--samples", "0"), ("compare", "--max-new-tokens", "0"),
    ("compare", "--radical", "-1"), ("report", "--min-mass", "nan"), ("train control", "--epochs", "inf"),
    ("train control", "--lr", "nan"), ("train control", "--rank", "0"), ("train control", "--max-steps", "0"),
    ("train control", "--threads", "0"), ("train ideology", "--inhibit-top", "101"), ("train ideology", "--beta", "0"),
    ("localize", "--top-k", "0"), ("inhibitft-study", "--steps", "0"), ("inhibitft-study", "--min-mass", "1.5"),
]
AT_LIMIT = [
    ("--min-mass", "0"), ("--min-mass", "1"), ("--batch-size", "1"), ("--seed", "0"), ("--seed", "4294967295"),
]
NUMBERS = [case(f"number: {cmd} {flag} {value}", [*cmd.split(), flag, value, "--out", "{out}"] if cmd != "report" else
                ["report", "{tmp}", flag, value], 2) for cmd, flag, value in PAST_LIMIT]
NUMBERS += [case(f"number at its limit: eval {flag} {value}", QUICK + [flag, value], 0) for flag, value in AT_LIMIT]

API = ["eval", "--api-base", "{api}", "--api-model", "fake-model", "--tokenizer", "{tok}", "--bank", "terry9", "--out", "{out}"]
TOPK = API + ["--api-mode", "topk"]
ENVIRONMENT = [case(f"environment: {var}={value}", TOPK if "TOP_K" in var else API, code, env={var: value})
               for var, value, code in [
    ("POLISTANCE_API_ATTEMPTS", "0", 2), ("POLISTANCE_API_ATTEMPTS", "nan", 2), ("POLISTANCE_API_ATTEMPTS", "many", 2),
    ("POLISTANCE_API_ATTEMPTS", "100000", 2), ("POLISTANCE_API_TIMEOUT", "0", 2), ("POLISTANCE_API_TIMEOUT", "inf", 2),
    ("POLISTANCE_API_BACKOFF", "inf", 2), ("POLISTANCE_API_BACKOFF", "-1", 2), ("POLISTANCE_API_BACKOFF_CAP", "nan", 2),
    ("POLISTANCE_API_MAX_RETRY_AFTER", "1e12", 2), ("POLISTANCE_API_TOP_K", "0", 2), ("POLISTANCE_API_TOP_K", "five", 2),
    ("POLISTANCE_API_ATTEMPTS", "1", 0), ("POLISTANCE_API_TOP_K", "1", 0),
]]
ENVIRONMENT += [
    case("environment: the key only in OPENAI_API_KEY", API, 0, env={"POLISTANCE_API_KEY": None, "OPENAI_API_KEY": "sk-MATRIX-LEAK-CANARY-8c1f0e"}),
    case("environment: POLISTANCE_HOME is a file", ["eval", "--out", "{out}"], 2, write("home", "x"),
         env={"POLISTANCE_HOME": "home"}),
    case("environment: POLISTANCE_API_KEY empty", API, 0, env={"POLISTANCE_API_KEY": ""}),
]

CASES = RUN_FOLDERS + MODELS + OUT_FOLDERS + NUMBERS + ENVIRONMENT
