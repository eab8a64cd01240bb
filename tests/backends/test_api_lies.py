"""Servers that lie or stumble: impossible log-probabilities fail the item with the reason (never a
distribution), probes are retried like every request, and the API key and URL credentials never
reach a message, a record or the terminal, however the server quotes them."""

from __future__ import annotations

import json

import pytest

from polistance_plugins.core import DIGITS
from polistance_plugins.engine.backends.api_http import RetryPolicy
from polistance_plugins.errors import PolistanceError

from .fake_openai import FakeOpenAIServer, Fault
from .test_openai_api import (  # noqa: F401  (module fixtures shared with the main API tests)
    FAST,
    TARGET,
    assert_same,
    client,
    digit_backend,
    digit_cache,
    digit_dir,
    forms,
    local_exact,
    prompts,
    target_index,
    tiny_cache,
)

LIE_REASONS = {
    "lie_positive": ("impossible log-probability", ": +3 (a log-probability is at most 0)"),
    "lie_bool": ("True is not a number",),
    "lie_shift": ("impossible log-probabilit",),
    "lie_nan": ("NaN",),
}


# ---- C: impossible log-probabilities -------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(LIE_REASONS))
@pytest.mark.parametrize("mode", ["exact", "topk"])
def test_lying_server_fails_the_item_with_the_reason(kind, mode, digit_backend, digit_dir, digit_cache, prompts, target_index):
    fault = Fault(kind, times=None, match=TARGET)
    with FakeOpenAIServer(digit_backend, cache=digit_cache) as srv:
        srv.faults.append(fault)
        results = client(srv, digit_dir, mode).score_prompts(prompts, DIGITS)
    bad = results[target_index]
    assert fault.hits >= 1
    assert bad.distribution is None and bad.error, f"{kind} in {mode} mode was scored: {bad}"
    assert all(reason in bad.error for reason in LIE_REASONS[kind]), bad.error
    assert all(r.error is None and r.distribution.mass <= 1.0 for i, r in enumerate(results) if i != target_index)


def test_lies_reach_the_record_as_failed_and_exit_3(tiny_backend, tiny_model_dir, tiny_cache, tmp_path, monkeypatch, capsys):
    from polistance_plugins.cli import main

    monkeypatch.setenv("POLISTANCE_API_ATTEMPTS", "2")
    monkeypatch.setenv("POLISTANCE_API_BACKOFF", "0.01")
    out = tmp_path / "lies"
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache, faults=[Fault("lie_positive", times=None, match=TARGET)]) as srv:
        code = main(["eval", "--api-base", srv.base_url, "--api-model", "fake-model", "--tokenizer", str(tiny_model_dir),
                     "--bank", "terry9", "--out", str(out)])
    assert code == 3
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    failed = [r for r in records if r["status"] == "failed"]
    assert len(records) == 9 and len(failed) == 1
    assert TARGET in failed[0]["prompt"] and "+3 (a log-probability is at most 0)" in failed[0]["error"]
    assert "probs" not in failed[0] and "mass" not in failed[0]
    assert json.loads((out / "manifest.json").read_text())["status"] == "incomplete"


# ---- D: probes are retried like every request ----------------------------------------------------
@pytest.mark.parametrize("mode", ["exact", "auto"])
def test_one_probe_response_without_logprobs_is_retried(mode, tiny_backend, tiny_model_dir, tiny_cache, prompts, local_exact):
    fault = Fault("no_logprobs", times=1)  # the very first request is the echo probe
    messages = []
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache, faults=[fault]) as srv:
        api = client(srv, tiny_model_dir, mode, messages)
        results = api.score_prompts(prompts[:3], DIGITS)
    assert fault.hits == 1
    assert api.chosen == "exact" and "mode exact" in messages[0]
    assert_same(results, local_exact[:3])


def test_one_fault_on_the_list_probe_does_not_turn_batching_off(tiny_backend, tiny_model_dir, tiny_cache, prompts, local_exact):
    fault = Fault("500", times=1, match="assistant\n6")  # the first request holding option 6: the list probe
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache, faults=[fault]) as srv:
        api = client(srv, tiny_model_dir, "exact")
        results = api.score_prompts(prompts, DIGITS)
        n_requests = len(srv.requests)
    assert fault.hits == 1 and api.list_prompts
    assert n_requests < len(prompts) * len(DIGITS) / 2
    assert_same(results, local_exact)


def test_topk_probe_is_retried_and_lies_there_are_a_user_error(digit_backend, digit_dir, digit_cache, prompts):
    fault = Fault("no_logprobs", times=2)
    with FakeOpenAIServer(digit_backend, cache=digit_cache, faults=[fault]) as srv:
        api = client(srv, digit_dir, "topk")
        assert api.score_prompts(prompts[:1], DIGITS)[0].error is None
        assert fault.hits == 2 and api.top_k == 20
        srv.faults[:] = [Fault("lie_bool", times=None)]
        with pytest.raises(PolistanceError, match="cannot read top logprobs.*not a number"):
            client(srv, digit_dir, "topk").score_prompts(prompts[:1], DIGITS)


# ---- E: secrets stay secret ----------------------------------------------------------------------
MARKER = "sk-REDTEAM-MARKER-7f3a9c2d41"


def test_a_server_quoting_the_key_after_padding_leaks_no_part_of_it(tiny_backend, tiny_model_dir, tiny_cache, tmp_path,
                                                                    monkeypatch, capsys):
    from polistance_plugins.cli import main

    monkeypatch.setenv("POLISTANCE_API_KEY", MARKER)
    monkeypatch.setenv("POLISTANCE_API_ATTEMPTS", "2")
    monkeypatch.setenv("POLISTANCE_API_BACKOFF", "0.01")
    out = tmp_path / "run"
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache, faults=[Fault("quote_auth", times=None, match=TARGET)]) as srv:
        code = main(["eval", "--api-base", srv.base_url, "--api-model", "fake-model", "--tokenizer", str(tiny_model_dir),
                     "--bank", "terry9", "--out", str(out)])
        assert {r.authorization for r in srv.requests} == {f"Bearer {MARKER}"}
    printed = capsys.readouterr()
    assert code == 3
    failed = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines() if '"failed"' in line]
    assert len(failed) == 1 and "Authorization: Bearer ***" in failed[0]["error"]
    leaks = [str(p) for p in out.rglob("*") if p.is_file() and b"REDTEAM" in p.read_bytes()]
    assert not leaks and "REDTEAM" not in printed.out + printed.err


def test_url_credentials_never_reach_a_message_or_a_file(tiny_backend, tiny_model_dir, tiny_cache, tmp_path, monkeypatch, capsys):
    from polistance_plugins.cli import main

    monkeypatch.setenv("POLISTANCE_API_ATTEMPTS", "2")
    monkeypatch.setenv("POLISTANCE_API_BACKOFF", "0.01")
    base = ["eval", "--api-model", "fake-model", "--tokenizer", str(tiny_model_dir), "--bank", "terry9"]
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache) as srv:
        url = srv.base_url.replace("http://", "http://alice:pa55-SECRETWORD@")
        assert main(base + ["--api-base", url, "--out", str(tmp_path / "ok")]) == 0
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache, echo="refuse") as srv:
        plain = srv.base_url
        url = plain.replace("http://", "http://alice:pa55-SECRETWORD@")
        assert main(base + ["--api-base", url, "--api-mode", "exact", "--out", str(tmp_path / "refused")]) == 2
    printed = capsys.readouterr()
    assert "cannot score given answers" in printed.err and f"{plain} cannot score" in printed.err
    assert "SECRETWORD" not in printed.out + printed.err and "alice" not in printed.err
    assert not [str(p) for p in tmp_path.rglob("*") if p.is_file() and b"SECRETWORD" in p.read_bytes()]
