"""A few checks on the real embedded weights (the tiny model covers the rest)."""

import pytest

from polistance_plugins.engine.backends.hf import LocalBackend
from polistance_plugins.banks import load_bank
from polistance_plugins.instruments.questionnaire import bank_forms, directions_for
from polistance_plugins.core import DIGITS

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def real_backend(embedded_dir):
    return LocalBackend(str(embedded_dir), batch_size=9)


def test_real_model_answers_terry9_in_digits(real_backend):
    forms = bank_forms(load_bank("terry9"))
    dists = real_backend.distributions([f.prompt() for f in forms], DIGITS)
    assert len(dists) == 9
    for d in dists:
        assert d.valid and 0.05 < d.mass < 1.0
        assert abs(sum(d.probs) - 1) < 1e-9


def test_real_model_batched_equals_one_at_a_time(real_backend):
    forms = bank_forms(load_bank("terry9"))[:4]
    prompts = [f.prompt() for f in forms]
    batched = real_backend.distributions(prompts, DIGITS)
    for p, d in zip(prompts, batched):
        single = real_backend.distributions([p], DIGITS)[0]
        assert d.probs == pytest.approx(single.probs, abs=1e-5)
        assert d.mass == pytest.approx(single.mass, abs=1e-5)


def test_real_model_prefix_sharing_equals_full_scoring(real_backend):
    bank = load_bank("topics")
    contexts = [real_backend.chat_prompt(f.prompt()) for f in bank_forms(bank, "all", directions_for(bank, "auto"))[:18]]
    before = real_backend.shared_prefix_tokens
    shared = real_backend.option_logprobs(contexts, DIGITS, share_prefix=True)
    assert real_backend.shared_prefix_tokens - before > 40 * len(contexts)  # the system prompt and scale wording
    full = real_backend.option_logprobs(contexts, DIGITS, share_prefix=False)
    assert max(abs(a - b) for x, y in zip(shared, full) for a, b in zip(x, y)) < 1e-4
