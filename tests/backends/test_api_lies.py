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
    "lie_positive": ("impossible log-probability of", ": +3 (a log-probability is at most 0)"),
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
