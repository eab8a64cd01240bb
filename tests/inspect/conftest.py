"""Fixtures for the Inspect suite: mock outputs with usage set, a tiny model that answers in
digits, a random LoRA adapter on it, and a helper that runs an eval into a temporary log folder."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

MINI_COMPASS = Path(__file__).parents[1] / "compass" / "fixtures" / "mini_compass.jsonl"


def mock_output(text: str, top: list[tuple[str, float]] | None = None):
    """A mockllm output (usage set, so no tokenizer download) with optional first-token top logprobs
    given as (token, probability) pairs."""
    from inspect_ai.model import Logprob, Logprobs, ModelOutput, ModelUsage, TopLogprob

    out = ModelOutput.from_content(model="mockllm/model", content=text)
    out.usage = ModelUsage(input_tokens=10, output_tokens=1, total_tokens=11)
    if top is not None:
        tops = [TopLogprob(token=t, logprob=math.log(p)) for t, p in top]
        out.choices[0].logprobs = Logprobs(content=[Logprob(token=tops[0].token, logprob=tops[0].logprob, top_logprobs=tops)])
    return out


def mock_model(respond):
    """A mockllm model whose reply is ``respond(messages, config)`` (called once per generate)."""
    from inspect_ai.model import get_model

    return get_model("mockllm/model", custom_outputs=lambda messages, tools, tool_choice, config: respond(messages, config), memoize=False)


def run_eval(task, model, log_dir: Path, grader=None, **kwargs):
    """Run one task, assert it succeeded, return its log."""
    from inspect_ai import eval as inspect_eval

    roles = {"grader": grader} if grader is not None else None
    logs = inspect_eval(task, model=model, model_roles=roles, log_dir=str(log_dir), display="none", **kwargs)
    assert len(logs) == 1
    assert logs[0].status == "success", logs[0].error
    return logs[0]


def metrics(log) -> dict[str, float]:
    """name -> value of the first scorer's metrics."""
    return {k: m.value for k, m in log.results.scores[0].metrics.items()}


def scores(log) -> list:
    """Every sample's (and epoch's) first score."""
    return [next(iter(s.scores.values())) for s in log.samples]


def events(log, kind: str, text: str) -> list:
    """The samples' events of ``kind`` ("logger" warnings or "info" notes) whose text holds ``text``."""
    from inspect_ai.log import resolve_sample_attachments

    found = []
    for s in log.samples:
        for e in resolve_sample_attachments(s).events:
            if kind == "logger" and e.event == "logger" and e.message.level == "warning" and text in e.message.message:
                found.append(e)
            elif kind == "info" and e.event == "info" and text in str(e.data):
                found.append(e)
    return found


def terry9_prompts() -> list[str]:
    """The user messages of every terry9 form."""
    from polistance_plugins.banks import load_bank
    from polistance_plugins.instruments.questionnaire import bank_forms

    return [f.prompt() for f in bank_forms(load_bank("terry9"))]


def build_digit_model(src: Path, out: Path, seed: int = 1, prompts: list[str] | None = None, tokens=None) -> Path:
    """The tiny random model with an untied output layer whose rows for ``tokens`` (default the ten
    digits) point along the model's typical final hidden state over ``prompts`` (default the terry9
    prompts), so those prompts put almost all their next-token probability on those tokens, with a
    different spread per prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from polistance_plugins.prompts.chat import chat_text
    from polistance_plugins.core import DIGITS

    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    with torch.no_grad():
        hidden = torch.stack(
            [
                model.model(**tok(chat_text(tok, p), return_tensors="pt", add_special_tokens=False)).last_hidden_state[0, -1]
                for p in (prompts or terry9_prompts())
            ]
        )
        mean = hidden.mean(0)
        top_logit = (hidden @ model.lm_head.weight.T).max(-1).values.mean()
        weight = model.lm_head.weight.detach().clone()
        g = torch.Generator().manual_seed(seed)
        for digit in tokens or DIGITS:
            spread = torch.randn(weight.shape[1], generator=g)
            spread -= (spread @ mean) / mean.norm() ** 2 * mean
            spread *= 1.5 / ((hidden - mean) @ spread).std()
            offset = float(torch.randn(1, generator=g))
            weight[tok.convert_tokens_to_ids(digit)] = mean / mean.norm() ** 2 * (top_logit + offset) + spread
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(weight)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_crowded_model(digit_dir: Path, out: Path, copies: int = 3, boost: float = 0.5, tokens=None) -> Path:
    """The digit model with ``copies`` letter tokens per digit (or per one of ``tokens``) that answer like
    that digit, a little more likely (each letter's output row is its digit's, scaled by 1 + ``boost`` /
    10): on terry9 the 30 letters push all but 2 or 3 digits out of the top 20 log-probabilities (the
    last digit ranks 40th), while the digits keep about 0.09 of the probability, in format."""
    import string

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from polistance_plugins.core import DIGITS

    tok = AutoTokenizer.from_pretrained(digit_dir)
    model = AutoModelForCausalLM.from_pretrained(digit_dir, dtype=torch.float32)
    letters = iter(string.ascii_uppercase + string.ascii_lowercase)
    with torch.no_grad():
        weight = model.lm_head.weight
        for digit in tokens or DIGITS:
            row = weight[tok.convert_tokens_to_ids(digit)].clone()
            for _ in range(copies):
                weight[tok.convert_tokens_to_ids(next(letters))] = row * (1 + boost / 10)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def crowded_model_dir(tmp_path_factory, digit_model_dir) -> Path:
    return build_crowded_model(digit_model_dir, tmp_path_factory.mktemp("tiny-crowded"))


@pytest.fixture(scope="session")
def crowded_labels_model_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """A model answering the mini compass fixture's number-label prompts with "1".."4", each crowded by
    five letters: every form has one to three labels outside its top 20 log-probabilities (none beyond
    the 25th), and the labels hold about 0.05 of the probability."""
    from polistance_plugins.instruments.compass import NUMBERS, build_forms, load_source

    forms = build_forms(load_source(str(MINI_COMPASS)), "all", ("normal", "reversed"), ("numbers",))
    root = tmp_path_factory.mktemp("tiny-labels")
    labels = build_digit_model(tiny_model_dir, root / "labels", prompts=[f.prompt() for f in forms], tokens=NUMBERS)
    return build_crowded_model(labels, root / "crowded", copies=5, tokens=NUMBERS)


@pytest.fixture(scope="session")
def digit_model_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return build_digit_model(tiny_model_dir, tmp_path_factory.mktemp("tiny-digits"))


@pytest.fixture(scope="session")
def lora_dir(tmp_path_factory, digit_model_dir) -> Path:
    """A randomly initialised LoRA adapter on the digit model (it moves the answer distributions)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(digit_model_dir, dtype=torch.float32)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = tmp_path_factory.mktemp("tiny-lora")
    peft.save_pretrained(out)
    return out
