"""`--api-mode auto`: top-k first, where it is exact; echo only for the items whose options were not
all among the top log-probabilities; the method of every item recorded. And served adapters:
``use(name)`` sends the adapter's served model name."""

import pytest

from polistance_plugins.core import DIGITS

from .fake_openai import FakeOpenAIServer, Fault
from .test_openai_api import (  # noqa: F401 - fixtures
    LIKERT, TARGET, client, digit_backend, digit_cache, digit_dir, forms, prompts, target_index,
)


def _echoed(srv) -> list[str]:
    """The form prompts sent as echo requests (the probes' fixed text left out)."""
    out = []
    for r in srv.requests:
        if r.body and r.body.get("echo"):
            texts = r.body["prompt"] if isinstance(r.body["prompt"], list) else [r.body["prompt"]]
            out += [t for t in texts if "how much do you like tea" not in t]
    return out


def test_auto_reads_topk_and_echoes_only_the_items_it_did_not_cover(digit_backend, digit_dir, digit_cache, prompts, target_index):
    exact = digit_backend.distributions(prompts, DIGITS, share_prefix=False)
    hide = Fault("non_digits", times=None, match=TARGET)  # this item's top log-probabilities hold no digit
    messages = []
    with FakeOpenAIServer(digit_backend, max_top_k=None, faults=[hide], cache=digit_cache) as srv:
        api = client(srv, digit_dir, "auto", messages)
        results = api.score_prompts(prompts, DIGITS)
        echoed = _echoed(srv)
        topk = [r.body["prompt"] for r in srv.requests if r.body and r.body.get("logprobs") == 100 and not r.body.get("echo")]
    assert api.chosen == "auto" and api.top_k == 100 and "mode auto" in messages[0]
    asked = [t for p in topk for t in (p if isinstance(p, list) else [p]) if "how much do you like tea" not in t]
    assert len(asked) == len(prompts) and any(isinstance(p, list) and len(p) > 1 for p in topk)  # several per request
    assert [r.method for r in results] == ["exact" if i == target_index else "topk" for i in range(len(prompts))]
    assert echoed and all(TARGET in t for t in echoed) and len(echoed) == len(DIGITS)  # one item, its ten options
    for res, ex in zip(results, exact):  # full top-k coverage is exact: the same numbers as echo / local weights
        assert res.distribution.coverage == 10
        assert res.distribution.probs == pytest.approx(ex.probs, abs=1e-5)
        assert res.distribution.mass == pytest.approx(ex.mass, rel=1e-4)


def test_auto_with_a_small_top_k_falls_back_to_echo_and_stays_exact(digit_backend, digit_dir, digit_cache, prompts):
    exact = digit_backend.distributions(prompts, DIGITS, share_prefix=False)
    with FakeOpenAIServer(digit_backend, max_top_k=5, cache=digit_cache) as srv:
        api = client(srv, digit_dir, "auto")
        results = api.score_prompts(prompts, DIGITS)
        likert = api.score_prompts(prompts[:2], LIKERT)  # several tokens per option: top-k cannot read them
        echoed = _echoed(srv)
    assert api.chosen == "auto" and api.top_k == 5
    assert {r.method for r in results} == {"exact"} and {r.method for r in likert} == {"exact"}
    assert len(echoed) == len(prompts) * len(DIGITS) + 2 * len(LIKERT)
    for res, ex in zip(results, exact):
        assert res.distribution.coverage == 10 and res.distribution.probs == pytest.approx(ex.probs, abs=1e-5)
    local = digit_backend.distributions(prompts[:2], LIKERT, share_prefix=False)
    for res, ex in zip(likert, local):
        assert res.distribution.probs == pytest.approx(ex.probs, abs=1e-5)


def test_served_adapters_are_model_names_on_the_server(digit_backend, digit_dir, digit_cache, prompts):
    with FakeOpenAIServer(digit_backend, model="base", served={"base": None, "left": None}) as srv:
        api = client(srv, digit_dir, "exact", model="base")
        api.load_adapter("lefty", "left")
        with api.use("lefty"):
            api.score_prompts(prompts[:1], DIGITS)
        with api.use(None):
            api.score_prompts(prompts[:1], DIGITS)
        scored = [r.body["model"] for r in srv.requests if r.body and r.body.get("echo")][-2:]
    assert scored == ["left", "base"] and api.model == "base" and api.describe()["model"] == "base"
