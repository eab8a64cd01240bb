"""Matrix cases: every fault kind of the fake OpenAI-compatible server (tests/backends/fake_openai.py),
lying log-probabilities included, in exact and top-k mode, before and after ``--resume``: the first
run and a resume against the still-broken server are incomplete (3), a resume after it heals is
complete (0). One-off faults are retried to a complete run. The server is reached through an
``--api-base`` carrying user:password, with the API key set, so every case also checks for leaks."""

from __future__ import annotations

from pathlib import Path

from ..backends.fake_openai import FAULT_KINDS, Fault
from .harness import case

TARGET = "support abortion?"  # one terry9 item
PROBE = "like tea?"  # the API probe's prompt
API = ["eval", "--api-base", "{api}", "--api-model", "fake-model", "--tokenizer", "{tok}", "--bank", "terry9"]
OUT, RESUME = ["--out", "{out}"], ["--resume", "{out}"]
NOT_FAILURES = {"non_digits"}  # top logprobs without digits: a scored no_options record, not a failure
RETRYABLE = ("429", "500", "timeout", "reset", "truncated", "no_logprobs", "empty_choices", "quote_auth")
MINI_COMPASS = str(Path(__file__).resolve().parent.parent / "compass" / "fixtures" / "mini_compass.jsonl")
COMPASS = ["compass", "--api-base", "{api}", "--api-model", "fake-model", "--tokenizer", "{tok}", "--source", MINI_COMPASS,
           "--paraphrases", "first", "--orders", "normal", "--n-resamples", "100"]
SLOW = {"POLISTANCE_API_TIMEOUT": "1.5"}  # the fake hangs HANG_SECONDS on a timeout fault
HANG_SECONDS = 3.0
UNDETECTABLE = {("lie_shift", "auto")}
"""Exact mode reads the echoed prompt's log-probabilities; on the tiny random model every one of them is
below -4, so all of them shifted by +4 are still possible numbers: a lie no check can see (exit 0).
In top-k mode the same shift makes the returned tokens hold more than all the probability (exit 3)."""


def persistent(kind: str, mode: str):
    argv = API + ["--api-mode", mode]
    first = 0 if kind in NOT_FAILURES or (kind, mode) in UNDETECTABLE else 3
    fault = [Fault(kind, times=None, match=TARGET)]
    return case(f"server {kind} on one item ({mode}), then --resume broken, then healed", argv + OUT, first,
                faults=fault, then=[(argv + RESUME, first, fault), (argv + RESUME, 0, [])],
                env=SLOW if kind == "timeout" else None)


def once(kind: str, mode: str):
    argv = API + ["--api-mode", mode]
    lie = kind.startswith("lie_")
    fault = [Fault(kind, times=1, match=TARGET)]
    # a lie is the item's answer, not a transient fault: it fails the item, and --resume asks again
    then = [(argv + RESUME, 0, [])] if lie else []
    return case(f"server {kind} once ({mode})", argv + OUT, 3 if lie else 0, faults=fault, then=then,
                env=SLOW if kind == "timeout" else None)


CASES = [persistent(kind, mode) for kind in FAULT_KINDS for mode in ("auto", "topk")]
CASES += [once(kind, "auto") for kind in RETRYABLE + ("lie_positive",)]
CASES += [
    case("server: probe answers without logprobs once (exact)", API + ["--api-mode", "exact"] + OUT, 0,
         faults=[Fault("no_logprobs", times=1, match=PROBE)]),
    case("server: probe never gets logprobs (exact)", API + ["--api-mode", "exact"] + OUT, 2,
         faults=[Fault("no_logprobs", times=None, match=PROBE)]),
    case("server: probe never gets logprobs (auto, then top-k)", API + OUT, 2,
         faults=[Fault("no_logprobs", times=None, match=PROBE)]),
    case("server: probe quotes the key", API + OUT, 2, faults=[Fault("quote_auth", times=None, match=PROBE)]),
    case("server: probe lies", API + ["--api-mode", "exact"] + OUT, 2, faults=[Fault("lie_positive", times=None, match=PROBE)]),
    case("server: every scoring request 500, then healed", API + OUT, 3,
         faults=[Fault("500", times=None, exclude=PROBE)], then=[(API + RESUME, 0, [])]),
    case("server: unreachable", ["eval", "--api-base", "http://u:MATRIX-PW-CANARY-41d@127.0.0.1:9/v1", "--api-model", "m",
                                 "--tokenizer", "{tok}", "--bank", "terry9"] + OUT, 2),
    case("server: --api-base without a scheme", ["eval", "--api-base", "127.0.0.1:9/v1", "--api-model", "m"] + OUT, 2),
    case("server: --adapter with --api-base", API + ["--adapter", "{tmp}"] + OUT, 2),
    case("server: compass over the API, broken then healed", COMPASS + OUT, 3,
         faults=[Fault("lie_bool", times=None, match="opening hours")], then=[(COMPASS + RESUME, 0, [])]),
]
