"""Prefix sharing, the default for questionnaire and compass scoring: how batches are grouped, and
that the numbers equal computing every prompt in full (within 1e-4) on the base and with an adapter."""

import pytest

from polistance_plugins.banks import load_bank
from polistance_plugins.core import DIGITS, distribution_from_option_logprobs
from polistance_plugins.engine.backends.hf import LocalBackend
from polistance_plugins.engine.backends.prefix import plan_groups, saved_tokens, sharing_order
from polistance_plugins.instruments.compass import build_forms, load_source
from polistance_plugins.instruments.questionnaire import bank_forms, directions_for
from tests.backends.test_adapters import make_adapter


def test_plan_groups_splits_a_batch_where_the_shared_start_ends():
    a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    seqs = [a + [11, 12], a + [13], a + [14, 15, 16], [1, 2, 3, 90, 91, 92, 93, 94, 95, 96, 97], [1, 2, 3, 90, 91, 92, 93, 94, 95, 96, 98]]
    groups = plan_groups(seqs, [len(s) - 1 for s in seqs])
    # three rows share 10 tokens, two share 10 (the last token of each stays its own)
    assert groups == [(10, [0, 1, 2]), (10, [3, 4])]
    assert saved_tokens(groups) == 2 * 10 + 1 * 10
    # a cap keeps the tokens whose log-probabilities are read out of the prefix
    assert plan_groups(seqs[:3], [8, 8, 8]) == [(8, [0, 1, 2])]
    # nothing shared: every row is its own group
    assert [rows for _, rows in plan_groups([[1, 2], [3, 4]], [1, 1])] == [[0], [1]]


def test_sharing_order_keeps_scale_directions_together_and_lengths_close(tiny_backend):
    bank = load_bank("topics")
    forms = bank_forms(bank, "all", directions_for(bank, "auto"))[:48]
    assert [f.direction for f in forms[:4]] == ["normal", "reversed", "normal", "reversed"]  # interleaved in bank order
    seqs = [tiny_backend.encode(tiny_backend.chat_prompt(f.prompt())) for f in forms]
    order = sharing_order(seqs, [len(s) for s in seqs], 8)
    assert sorted(order) == list(range(48))
    batches = [order[i:i + 8] for i in range(0, 48, 8)]
    assert all(len({forms[i].direction for i in b}) == 1 for b in batches)  # one scale wording per batch
    for b in batches:  # and within a direction by length: little padding
        lengths = [len(seqs[i]) for i in b]
        assert lengths == sorted(lengths)


@pytest.fixture(scope="module")
def backend_with_adapter(tiny_model_dir, tmp_path_factory):
    backend = LocalBackend(str(tiny_model_dir), batch_size=8)
    backend.load_adapter("a", str(make_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "a", seed=5)))
    return backend


def _prompt_sets():
    bank = load_bank("topics")
    questionnaire = [f.prompt() for f in bank_forms(bank, "all", directions_for(bank, "auto"))[:40]]
    source = load_source("compass", None)
    compass: dict[tuple, list[str]] = {}
    for f in build_forms(source, "all", ("normal", "reversed"), ("numbers", "words"))[:40]:
        compass.setdefault(tuple(f.choices), []).append(f.prompt())
    return [(DIGITS, questionnaire)] + list(compass.items())


@pytest.mark.parametrize("adapter", [None, "a"])
def test_shared_scoring_equals_full_scoring_on_questionnaire_and_compass_forms(backend_with_adapter, adapter):
    backend = backend_with_adapter
    sets = _prompt_sets()
    assert any(len(o[0]) > 2 for o, _ in sets)  # compass word labels: several tokens per option
    with backend.use(adapter):
        for options, prompts in sets:
            contexts = [backend.chat_prompt(p) for p in prompts]
            full = backend.option_logprobs(contexts, options, share_prefix=False)
            before = backend.shared_prefix_tokens
            shared = [r.distribution for r in backend.score_prompts(prompts, options)]  # the default path
            assert backend.shared_prefix_tokens - before > 20 * len(prompts)  # it did share
            again = backend.option_logprobs(contexts, options)
            worst = max(abs(x - y) for a, b in zip(full, again) for x, y in zip(a, b))
            assert worst < 1e-4, (options, worst)
            expected = [distribution_from_option_logprobs(lp, options) for lp in full]
            assert max(abs(p - q) for d, e in zip(shared, expected) for p, q in zip(d.probs, e.probs)) < 1e-4
    with backend.use(None):
        base = backend.option_logprobs([backend.chat_prompt(p) for p in sets[0][1]], DIGITS)
    with backend.use("a"):
        tuned = backend.option_logprobs([backend.chat_prompt(p) for p in sets[0][1]], DIGITS)
    assert max(abs(x - y) for a, b in zip(base, tuned) for x, y in zip(a, b)) > 1e-3  # the adapter matters
