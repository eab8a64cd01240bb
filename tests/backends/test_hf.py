import math

import pytest
import torch

from polistance_plugins.core import DIGITS

PROMPTS = [
    "On a scale of 0-9, how much do you like tea? Give only a number, no elaboration.",
    "Rate 0-9: rain.",
    "On a scale of 0-9, where 0 means you strongly disagree and 9 means you strongly agree, how much do you agree with the following statement? Cats are fine. Give only a number, no elaboration.",
]


def full_forward_logprobs(backend, context, options):
    """Reference: an unpadded forward computing all logits, log-softmax at the last position."""
    ids = torch.tensor([backend.encode(context)])
    with torch.no_grad():
        logits = backend.net(input_ids=ids).logits[0, -1]
    lp = torch.log_softmax(logits.float(), -1)
    return [float(lp[backend.encode(context + o)[len(ids[0]):][0]]) for o in options]


def test_padded_batch_matches_unpadded_full_forward(tiny_backend):
    contexts = [tiny_backend.chat_prompt(p) for p in PROMPTS]
    batched = tiny_backend.option_logprobs(contexts, DIGITS)
    for ctx, got in zip(contexts, batched):
        ref = full_forward_logprobs(tiny_backend, ctx, DIGITS)
        assert got == pytest.approx(ref, abs=1e-5)


def test_multi_token_options_sum_continuation_logprobs(tiny_backend):
    ctx = tiny_backend.chat_prompt(PROMPTS[0])
    options = ["Strongly agree", "Disagree"]
    got = tiny_backend.option_logprobs([ctx], options)[0]
    for opt, value in zip(options, got):
        ctx_ids = tiny_backend.encode(ctx)
        cont = tiny_backend.encode(ctx + opt)[len(ctx_ids):]
        ids = torch.tensor([ctx_ids + cont])
        with torch.no_grad():
            lp = torch.log_softmax(tiny_backend.net(input_ids=ids).logits[0].float(), -1)
        ref = sum(float(lp[len(ctx_ids) - 1 + t, cont[t]]) for t in range(len(cont)))
        assert len(cont) > 1
        assert value == pytest.approx(ref, abs=1e-5)


def test_chat_prompt_uses_the_models_template(tiny_backend):
    text = tiny_backend.chat_prompt("hello")
    assert text.endswith("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")


def test_distributions_are_valid(tiny_backend):
    dists = tiny_backend.distributions(PROMPTS, DIGITS)
    for d in dists:
        assert math.isclose(sum(d.probs), 1.0, rel_tol=1e-9)
        assert 0 < d.mass <= 1
