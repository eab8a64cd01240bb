"""The OpenAI-compatible backend against a fake server whose numbers come from local weights.

Exact mode over HTTP must equal scoring the same weights in process; top-k mode must report the
coverage the model's real top-k gives; every injected fault must end in a retried success or a
failed record with its reason; `polistance eval --api-base` must count failures and exit 3.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import random
import time
from pathlib import Path

import pytest
import torch

from polistance_plugins.engine.backends.hf import LocalBackend
from polistance_plugins.engine.backends.api import ApiBackend
from polistance_plugins.engine.backends.api_http import RetryPolicy, redact_url, retry_after_seconds, retry_policy_from_env
from polistance_plugins.banks import load_bank
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.questionnaire import bank_forms, score_record
from polistance_plugins.core import DIGITS

from .fake_openai import FakeOpenAIServer, Fault

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, timeout=20.0)
TARGET = "support abortion?"  # one terry9 item (terry9-03); no other prompt contains it
KEY = "sk-polistance-test-6f1d0c9e2b"


# ---- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def forms():
    return bank_forms(load_bank("terry9"))


@pytest.fixture(scope="module")
def prompts(forms):
    return [f.prompt() for f in forms]


@pytest.fixture(scope="module")
def target_index(prompts):
    hits = [i for i, p in enumerate(prompts) if TARGET in p]
    assert len(hits) == 1
    return hits[0]


@pytest.fixture(scope="module")
def local_exact(tiny_backend, prompts):
    return tiny_backend.distributions(prompts, DIGITS)


@pytest.fixture(scope="module")
def tiny_cache():
    """Answers the fake computed from the tiny model, shared by every server on it."""
    return {}


def build_digit_model(src: Path, out: Path, spread=(2.0, -7.0), seed: int = 0) -> Path:
    """The tiny model with an untied output head whose digit rows point along the answer position's
    hidden state, so digits compete with the top tokens: some fall inside a top-k, some outside."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(src)
    tok = AutoTokenizer.from_pretrained(src)
    ref = LocalBackend(str(src))
    states, tops = [], []
    with torch.no_grad():
        for f in bank_forms(load_bank("terry9")):
            ids = torch.tensor([ref.encode(ref.chat_prompt(f.prompt()))])
            out_ = model(input_ids=ids, output_hidden_states=True)
            states.append(out_.hidden_states[-1][0, -1])
            tops.append(out_.logits[0, -1].max())
    h = torch.stack(states).mean(0)
    u = h / h.norm()
    top = float(torch.stack(tops).mean())
    offsets = torch.linspace(*spread, 10)[torch.randperm(10, generator=torch.Generator().manual_seed(seed))]
    head = model.model.embed_tokens.weight.detach().clone()
    for d, digit in enumerate(DIGITS):
        head[tok(digit, add_special_tokens=False)["input_ids"][0]] = u * (top + float(offsets[d])) / float(h @ u)
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(head)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def digit_dir(tiny_model_dir, tmp_path_factory):
    return build_digit_model(tiny_model_dir, tmp_path_factory.mktemp("digit-llama"))


@pytest.fixture(scope="module")
def digit_backend(digit_dir):
    return LocalBackend(str(digit_dir), batch_size=4)


@pytest.fixture(scope="module")
def digit_cache():
    return {}


def client(srv, tokenizer, mode="auto", messages=None, retry=FAST, model="fake-model", **kw) -> ApiBackend:
    log = messages.append if messages is not None else (lambda m: None)
    return ApiBackend(srv.base_url, model, str(tokenizer) if tokenizer else None, mode, retry=retry, log=log, **kw)


def assert_same(results, reference, skip=()):
    for i, (res, ref) in enumerate(zip(results, reference)):
        if i in skip:
            continue
        assert res.error is None, res.error
        assert res.method == "exact"
        assert res.distribution.probs == pytest.approx(ref.probs, abs=1e-5)
        assert res.distribution.mass == pytest.approx(ref.mass, rel=1e-4, abs=1e-12)


# ---- exact mode ----------------------------------------------------------------------------------
@pytest.mark.parametrize("flavor", ["vllm", "llamacpp"])
def test_exact_over_http_equals_local_weights(flavor, tiny_backend, tiny_model_dir, tiny_cache, prompts, local_exact):
    messages = []
    n = len(prompts) if flavor == "vllm" else 3  # one request per string there: keep it short
    with FakeOpenAIServer(tiny_backend, flavor=flavor, cache=tiny_cache) as srv:
        api = client(srv, tiny_model_dir, "auto", messages)
        results = api.score_prompts(prompts[:n], DIGITS)
        bodies = [r.body for r in srv.requests if r.path.endswith("/completions")]
    assert_same(results, local_exact[:n])
    assert api.describe()["mode"] == "exact" and "mode exact" in messages[0]
    if flavor == "vllm":
        # several prompt strings per request, max_tokens=0 honoured
        assert api.list_prompts and api.echo_max_tokens == 0
        assert max(len(b["prompt"]) for b in bodies if isinstance(b["prompt"], list)) > len(DIGITS)
        assert len(bodies) < len(prompts) * len(DIGITS) / 4
    else:
        # llama-cpp-python: one prompt per request, and max_tokens=0 means "no limit" there
        assert not api.list_prompts and api.echo_max_tokens == 1
        scoring = [b for b in bodies if "like tea" not in json.dumps(b["prompt"])]  # the probes retry the list request
        assert scoring and all(isinstance(b["prompt"], str) or len(b["prompt"]) == 1 for b in scoring)


def test_exact_uses_max_tokens_1_where_0_is_refused(tiny_backend, tiny_model_dir, tiny_cache, prompts, local_exact):
    with FakeOpenAIServer(tiny_backend, zero_max_tokens=False, cache=tiny_cache) as srv:
        api = client(srv, tiny_model_dir, "exact")
        results = api.score_prompts(prompts[:3], DIGITS)
        refused = srv.requests[0]
    assert refused.body["max_tokens"] == 0 and api.echo_max_tokens == 1
    assert_same(results, local_exact[:3])


def test_exact_mode_refuses_a_server_without_echo(tiny_backend, tiny_model_dir, tiny_cache, prompts):
    with FakeOpenAIServer(tiny_backend, echo="refuse", cache=tiny_cache) as srv:
        api = client(srv, tiny_model_dir, "exact")
        with pytest.raises(PolistanceError, match="cannot score given answers.*echo is not supported"):
            api.score_prompts(prompts[:1], DIGITS)


LIKERT = ("Strongly disagree", "Disagree", "Agree", "Strongly agree")


def test_multi_token_options_exact_over_http_and_refused_by_topk(tiny_backend, tiny_model_dir, tiny_cache, prompts):
    local = tiny_backend.distributions(prompts[:2], LIKERT)
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache) as srv:
        exact = client(srv, tiny_model_dir, "exact").score_prompts(prompts[:2], LIKERT)
        topk = client(srv, tiny_model_dir, "topk").score_prompts(prompts[:2], LIKERT)
    for res, ref in zip(exact, local):
        assert res.error is None and res.distribution.options == LIKERT
        assert res.distribution.probs == pytest.approx(ref.probs, abs=1e-5)
    assert all(r.distribution is None and "use exact mode" in r.error for r in topk)


def test_tokenisation_mismatch_is_reported_on_the_item(tiny_backend, tiny_model_dir, tiny_cache, prompts, local_exact, target_index):
    with FakeOpenAIServer(tiny_backend, token_skew="merge_tail", skew_match=TARGET, cache=tiny_cache) as srv:
        results = client(srv, tiny_model_dir, "exact").score_prompts(prompts, DIGITS)
    bad = results[target_index]
    assert bad.distribution is None
    assert "tokenisation mismatch" in bad.error and "'\\n0'" in bad.error
    assert_same(results, local_exact, skip={target_index})


def test_tokenizer_that_does_not_match_the_server_is_a_user_error(tiny_backend, tiny_model_dir, tiny_cache, prompts):
    with FakeOpenAIServer(tiny_backend, token_skew="merge_tail", cache=tiny_cache) as srv:
        with pytest.raises(PolistanceError, match="tokenisation mismatch"):
            client(srv, tiny_model_dir, "auto").score_prompts(prompts[:1], DIGITS)


# ---- top-k mode ----------------------------------------------------------------------------------
def local_top_digits(backend, prompt: str, k: int) -> tuple[bool, ...]:
    """Which digits are among the model's k most likely first answer tokens (computed locally)."""
    ids = torch.tensor([backend.encode(backend.chat_prompt(prompt))])
    with torch.no_grad():
        lp = torch.log_softmax(backend.net(input_ids=ids).logits[0, -1].float(), -1)
    top = set(torch.topk(lp, k).indices.tolist())
    return tuple(backend.encode(d)[0] in top for d in DIGITS)


@pytest.mark.parametrize("limit,expected_k", [(5, 5), (12, 10), (20, 20), (None, 100)])
def test_topk_coverage_and_error_are_real(limit, expected_k, digit_backend, digit_dir, digit_cache, prompts):
    exact = digit_backend.distributions(prompts, DIGITS)
    with FakeOpenAIServer(digit_backend, max_top_k=limit, cache=digit_cache) as srv:
        api = client(srv, digit_dir, "topk")
        results = api.score_prompts(prompts, DIGITS)
    assert api.describe()["top_k"] == expected_k
    for prompt, res, ex in zip(prompts, results, exact):
        d = res.distribution
        assert res.method == "topk" and res.error is None
        assert d.present == local_top_digits(digit_backend, prompt, expected_k)
        kept = sum(p for p, here in zip(ex.probs, d.present) if here)
        want = [p / kept if here else 0.0 for p, here in zip(ex.probs, d.present)]
        assert d.probs == pytest.approx(want, abs=1e-5)
        assert d.mass == pytest.approx(ex.mass * kept, rel=1e-4)
    coverage = {r.distribution.coverage for r in results}
    if expected_k < 50:
        assert max(coverage) < 10
        # renormalising the digits that happened to be present moves the expected value
        shift = max(abs(r.distribution.expected - e.expected) for r, e in zip(results, exact))
        assert shift > (0.01 if expected_k == 5 else 0.0)
    else:
        assert coverage == {10}
        assert results[0].distribution.probs == pytest.approx(exact[0].probs, abs=1e-5)


def test_topk_coverage_reaches_records_and_summary(digit_backend, digit_dir, digit_cache, forms, prompts):
    from polistance_plugins.pipelines.questionnaire import topic_summary

    with FakeOpenAIServer(digit_backend, max_top_k=5, cache=digit_cache) as srv:
        results = client(srv, digit_dir, "topk").score_prompts(prompts, DIGITS)
    records = [{"model": "base", "topic": f.topic, "options": list(DIGITS), **score_record(f, r.distribution)} for f, r in zip(forms, results)]
    assert all(r["coverage"] < 10 and r["present"].count(True) == r["coverage"] for r in records)
    summary = topic_summary(records)
    assert (summary["n_partial_coverage"] == summary["n"]).all()
    assert (summary["mean_coverage"] < 10).all()


@pytest.mark.parametrize("echo", ["refuse", "ignore"])
def test_auto_falls_back_to_topk_when_echo_gives_no_prompt_logprobs(echo, digit_backend, digit_dir, digit_cache, prompts):
    messages = []
    with FakeOpenAIServer(digit_backend, echo=echo, max_top_k=20, cache=digit_cache) as srv:
        api = client(srv, digit_dir, "auto", messages)
        results = api.score_prompts(prompts[:2], DIGITS)
    assert api.chosen == "topk" and api.top_k == 20 and api.endpoint == "completions"
    assert "mode topk because" in messages[0]
    for prompt, r in zip(prompts, results):
        assert r.method == "topk" and r.distribution.present == local_top_digits(digit_backend, prompt, 20)


def test_chat_only_server_is_read_through_chat_top_logprobs(digit_backend, digit_dir, digit_cache, prompts):
    with FakeOpenAIServer(digit_backend, max_top_k=10, cache=digit_cache) as srv:
        via_completions = client(srv, digit_dir, "topk").score_prompts(prompts[:3], DIGITS)
    messages = []
    with FakeOpenAIServer(digit_backend, completions=False, max_top_k=10, cache=digit_cache) as srv:
        api = client(srv, digit_dir, "auto", messages)
        via_chat = api.score_prompts(prompts[:3], DIGITS)
        chat_bodies = [r.body for r in srv.requests if r.path.endswith("/chat/completions")]
    assert api.chosen == "topk" and api.endpoint == "chat" and "no completions endpoint" in messages[0]
    assert chat_bodies[-1]["logprobs"] is True and chat_bodies[-1]["top_logprobs"] == 10
    for a, b in zip(via_chat, via_completions):
        assert a.distribution.present == b.distribution.present
        assert a.distribution.probs == pytest.approx(b.distribution.probs, abs=1e-6)


def test_without_a_tokenizer_auto_uses_chat_and_exact_is_refused(digit_backend, digit_cache, prompts):
    with FakeOpenAIServer(digit_backend, max_top_k=10, cache=digit_cache) as srv:
        api = client(srv, None, "auto", model=None)  # model name taken from /v1/models
        res = api.score_prompts(prompts[:1], DIGITS)
        assert api.model == "fake-model" and api.endpoint == "chat" and api.top_k == 10
        assert res[0].distribution.present == local_top_digits(digit_backend, prompts[0], 10)
        with pytest.raises(PolistanceError, match="--tokenizer"):
            client(srv, None, "exact").score_prompts(prompts[:1], DIGITS)


def test_non_digit_answers_are_scored_records_not_failures(digit_backend, digit_dir, digit_cache, forms, prompts, target_index):
    fault = Fault("non_digits", times=None, match=TARGET)
    with FakeOpenAIServer(digit_backend, faults=[fault], cache=digit_cache) as srv:
        results = client(srv, digit_dir, "topk").score_prompts(prompts, DIGITS)
    res = results[target_index]
    assert res.error is None and res.distribution.coverage == 0 and fault.hits == 1
    assert score_record(forms[target_index], res.distribution)["status"] == "no_options"
    assert all(r.distribution.coverage > 0 for i, r in enumerate(results) if i != target_index)


# ---- faults and retries --------------------------------------------------------------------------
TRANSIENT = ["429", "500", "reset", "truncated", "no_logprobs", "empty_choices", "timeout"]


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_faults_are_retried_to_the_right_answer(kind, tiny_backend, tiny_model_dir, tiny_cache, prompts, local_exact):
    fault = Fault(kind, times=2, match=TARGET)
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache, hang_seconds=1.5) as srv:
        if kind == "timeout":  # answers computed before the short timeout applies
            client(srv, tiny_model_dir, "exact").score_prompts(prompts, DIGITS)
        srv.faults.append(fault)
        retry = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, timeout=0.5 if kind == "timeout" else 20.0)
        results = client(srv, tiny_model_dir, "exact", retry=retry).score_prompts(prompts, DIGITS)
    assert fault.hits == 2
    assert_same(results, local_exact)


PERSISTENT = [
    ("429", "HTTP 429"),
    ("500", "HTTP 500"),
    ("reset", "connection failed"),
    ("truncated", "not valid JSON"),
    ("no_logprobs", "no logprobs"),
    ("empty_choices", "no choices"),
    ("timeout", "timed out"),
]


@pytest.mark.parametrize("kind,reason", PERSISTENT)
@pytest.mark.parametrize("mode", ["exact", "topk"])
def test_persistent_faults_fail_only_their_item_with_the_reason(kind, reason, mode, digit_backend, digit_dir, digit_cache, prompts, target_index):
    fault = Fault(kind, times=None, match=TARGET)
    with FakeOpenAIServer(digit_backend, cache=digit_cache, hang_seconds=1.0) as srv:
        if kind == "timeout":  # answers computed before the short timeout applies
            client(srv, digit_dir, mode).score_prompts(prompts, DIGITS)
        srv.faults.append(fault)
        retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, timeout=0.4 if kind == "timeout" else 20.0)
        results = client(srv, digit_dir, mode, retry=retry).score_prompts(prompts, DIGITS)
    bad = results[target_index]
    assert bad.distribution is None and reason in bad.error and "gave up after 3 attempts" in bad.error
    # exact mode: the request the target shared is tried 3 times, then the target alone 3 times
    assert fault.hits == (6 if mode == "exact" else 3)
    assert all(r.error is None and r.distribution is not None for i, r in enumerate(results) if i != target_index)


@pytest.mark.parametrize("status", ["429", "500"])
def test_retry_after_is_honoured(status, tiny_backend, tiny_model_dir, tiny_cache, prompts, local_exact):
    fault = Fault(status, times=1, match=TARGET, retry_after="1")
    with FakeOpenAIServer(tiny_backend, faults=[fault], cache=tiny_cache) as srv:
        results = client(srv, tiny_model_dir, "exact").score_prompts(prompts, DIGITS)
        hits = [r for r in srv.requests if r.body and TARGET in json.dumps(r.body.get("prompt"))]
    assert_same(results, local_exact)
    faulted = next(i for i, r in enumerate(hits) if r.fault == status)
    # base backoff is 10 ms: the wait before the retry came from the server's Retry-After
    assert hits[faulted + 1].time - hits[faulted].time >= 0.95


def test_backoff_doubles_up_to_its_cap_and_retry_after_wins():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, max_retry_after=30.0)
    rng = random.Random(1)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        for _ in range(20):
            assert 0.5 * full <= policy.delay(attempt, None, rng) <= full
    assert policy.delay(1, 3.0, rng) == 3.0
    assert policy.delay(1, 500.0, rng) == 30.0


def test_retry_after_header_forms():
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.format_datetime(now + dt.timedelta(seconds=7), usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=now) == pytest.approx(7.0)
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_retry_policy_from_environment():
    p = retry_policy_from_env({"POLISTANCE_API_ATTEMPTS": "2", "POLISTANCE_API_TIMEOUT": "1.5"})
    assert p.attempts == 2 and p.timeout == 1.5 and p.base_delay == RetryPolicy().base_delay
    with pytest.raises(PolistanceError, match="POLISTANCE_API_ATTEMPTS"):
        retry_policy_from_env({"POLISTANCE_API_ATTEMPTS": "zero"})


def test_fake_server_is_bounded(tiny_backend):
    with FakeOpenAIServer(tiny_backend, max_requests=1) as srv:
        api = client(srv, None, "topk", retry=RetryPolicy(attempts=1, timeout=5))
        with pytest.raises(PolistanceError, match="503"):
            api.score_prompts(["x"], DIGITS)
    srv = FakeOpenAIServer(tiny_backend, max_seconds=0.2).start()
    time.sleep(0.6)
    assert srv.stopped_by_watchdog and srv._server is None


# ---- identity, adapters, secrets -----------------------------------------------------------------
def test_adapters_must_be_served_as_models(tiny_backend, tiny_model_dir, tiny_cache):
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache) as srv:
        api = client(srv, tiny_model_dir, "exact")
        with api.use(None):
            pass
        with pytest.raises(PolistanceError, match="serve"):
            api.load_adapter("left", "/tmp/adapter")
        with pytest.raises(PolistanceError):
            with api.use("left"):
                pass


def test_describe_names_the_setup_but_never_the_key(tiny_backend, tiny_model_dir, tiny_cache, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache) as srv:
        api = client(srv, tiny_model_dir, "auto")
        info = api.describe()
        api.score_prompts(["Rate 0-9: tea."], DIGITS)
        auth = {r.authorization for r in srv.requests}
    assert auth == {f"Bearer {KEY}"}
    assert info["mode"] == "exact" and info["tokenizer"] == str(tiny_model_dir) and info["chat_template_sha256"]
    assert KEY not in json.dumps(info)
    assert redact_url("http://user:pw@host:8000/v1") == "http://host:8000/v1"


def test_bad_arguments_are_user_errors():
    with pytest.raises(PolistanceError, match="--api-base"):
        ApiBackend("localhost:8000", "m")
    with pytest.raises(PolistanceError, match="--api-mode"):
        ApiBackend("http://127.0.0.1:9/v1", "m", mode="fast")
    with pytest.raises(PolistanceError, match="--tokenizer"):
        ApiBackend("http://127.0.0.1:9/v1", "m", tokenizer="/nonexistent/tokenizer")


# ---- `polistance eval` end to end ----------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_eval_over_api_counts_failures_and_never_writes_the_key(
    tiny_backend, tiny_model_dir, tiny_cache, tmp_path, monkeypatch, capsys
):
    from polistance_plugins.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("POLISTANCE_API_ATTEMPTS", "3")
    monkeypatch.setenv("POLISTANCE_API_BACKOFF", "0.01")
    local_out, api_out, failing_out = tmp_path / "local", tmp_path / "api", tmp_path / "failing"
    assert main(["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(local_out)]) == 0
    base = ["eval", "--api-model", "fake-model", "--tokenizer", str(tiny_model_dir), "--bank", "terry9"]
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache) as srv:
        assert main(base + ["--api-base", srv.base_url, "--out", str(api_out)]) == 0
    assert "mode exact" in capsys.readouterr().err
    with FakeOpenAIServer(tiny_backend, cache=tiny_cache, faults=[Fault("500", times=None, match=TARGET)]) as srv:
        code = main(base + ["--api-base", srv.base_url, "--out", str(failing_out)])
        auth = {r.authorization for r in srv.requests}
    assert code == 3 and auth == {f"Bearer {KEY}"}
    assert "1 prompts failed" in capsys.readouterr().err

    local = {r["key"]: r for r in read_jsonl(local_out / "items.jsonl")}
    over_api = read_jsonl(api_out / "items.jsonl")
    assert len(over_api) == len(local) == 9
    for r in over_api:
        assert r["method"] == "exact" and r["probs"] == pytest.approx(local[r["key"]]["probs"], abs=1e-5)
    failing = read_jsonl(failing_out / "items.jsonl")
    failed = [r for r in failing if r["status"] == "failed"]
    assert len(failing) == 9 and len(failed) == 1
    assert TARGET in failed[0]["prompt"] and "HTTP 500" in failed[0]["error"] and "probs" not in failed[0]
    summary = (failing_out / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    assert {"n_failed", "n_partial_coverage", "mean_coverage"} <= set(header)
    assert sum(int(line.split(",")[header.index("n_failed")]) for line in summary[1:]) == 1
    manifest = json.loads((failing_out / "manifest.json").read_text())
    assert manifest["status"] == "incomplete" and manifest["counts"]["failed"] == 1
    assert manifest["config"]["backend"]["kind"] == "api" and manifest["config"]["backend"]["mode"] == "exact"
    written = [p for folder in (api_out, failing_out) for p in folder.rglob("*") if p.is_file()]
    assert len(written) >= 6
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path


def test_cli_eval_topk_marks_incomplete_coverage(digit_backend, digit_dir, digit_cache, tmp_path, monkeypatch):
    from polistance_plugins.cli import main

    out = tmp_path / "run"
    with FakeOpenAIServer(digit_backend, max_top_k=5, cache=digit_cache) as srv:
        argv = ["eval", "--api-base", srv.base_url, "--api-model", "fake-model", "--tokenizer", str(digit_dir),
                "--api-mode", "topk", "--bank", "terry9", "--out", str(out)]
        assert main(argv) == 0
    records = read_jsonl(out / "items.jsonl")
    assert len(records) == 9
    for r in records:
        expected = local_top_digits(digit_backend, r["prompt"], 5)
        assert r["method"] == "topk" and tuple(r["present"]) == expected and r["coverage"] == sum(expected) < 10
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["backend"]["top_k"] == 5
    summary = (out / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    assert all(line.split(",")[header.index("n_partial_coverage")] == line.split(",")[header.index("n")] for line in summary[1:])


# ---- lm-eval's local-completions against the same server -----------------------------------------
def test_lm_eval_local_completions_reads_the_same_loglikelihoods(tiny_backend, tiny_model_dir, tiny_cache, forms, local_exact):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from polistance_plugins.cli import tasks_path
    from polistance_plugins.core import distribution_from_option_logprobs

    with FakeOpenAIServer(tiny_backend, cache=tiny_cache) as srv:
        out = lm_eval.simple_evaluate(
            model="local-completions",
            model_args=f"base_url={srv.base_url}/completions,model=fake-model,tokenizer={tiny_model_dir},"
            "tokenizer_backend=huggingface,max_retries=1",
            tasks=["polistance_terry9"],
            task_manager=TaskManager(include_path=tasks_path()),
            apply_chat_template=True,
            log_samples=True,
            limit=2,
        )
        bodies = [r.body for r in srv.requests if r.path.endswith("/completions")]
    assert bodies and all(b["echo"] is True and isinstance(b["prompt"][0], list) for b in bodies)
    by_key = {s["doc"]["key"]: s for s in out["samples"]["polistance_terry9"]}
    assert len(by_key) == 2
    for form, ref in zip(forms, local_exact):
        if form.key not in by_key:
            continue
        lls = [float(r[0]) for r in by_key[form.key]["filtered_resps"]]
        assert distribution_from_option_logprobs(lls, DIGITS).probs == pytest.approx(ref.probs, abs=1e-5)
