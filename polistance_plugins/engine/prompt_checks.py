"""Checks on every prompt of a run before any is scored (so nothing is half-written on refusal):

- item text may not hold the tokenizer's control strings (``<|im_end|>``, ...): tokenised, they
  would become real special tokens and could fake a chat turn. Such items are refused, naming the
  item and its line, rather than encoded some other way, so that every front door (the CLI, an
  OpenAI-compatible server that tokenises the prompt itself, lm-eval, Inspect) sees the same text;
- a prompt longer than the model's context is refused with the item's id, instead of a run that
  grinds through a quarter-million-token attention or fails deep inside the model.
"""

from __future__ import annotations

from ..errors import PolistanceError

SANE_MAX_LENGTH = 10_000_000
"""Tokenizers without a limit report ``model_max_length`` as a huge sentinel: ignore those."""
OPTION_ROOM = 8
"""Tokens left for the answer option after the prompt."""


def control_strings(tokenizer) -> tuple[str, ...]:
    """Every string the tokenizer turns into a special or added token wherever it appears in text."""
    added = list(getattr(tokenizer, "added_tokens_encoder", {}) or {})
    special = list(getattr(tokenizer, "all_special_tokens", []) or [])
    return tuple(sorted({s for s in added + special if isinstance(s, str) and len(s) > 1}, key=len, reverse=True))


def first_control_string(text: str, strings: tuple[str, ...]) -> str | None:
    """The control string that starts first in ``text`` (the longest one at that place), or None."""
    found = [(text.find(s), -len(s), s) for s in strings if s in text]
    return min(found)[2] if found else None


def context_limit(backend) -> int | None:
    """The most tokens a prompt may hold: the model's positions and the tokenizer's own limit, when known."""
    limits = []
    config = getattr(getattr(backend, "model", None), "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    tok_max = getattr(getattr(backend, "tokenizer", None), "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < SANE_MAX_LENGTH:
        limits.append(tok_max)
    return min(limits) if limits else None


def check_formset(backend, formset) -> None:
    """Refuse the run if a form's prompt holds control strings or does not fit the model's context.

    A form set with a ``where(form)`` method gets its errors located as ``file:line``. Backends
    without a local tokenizer (a chat endpoint) are not checked here: the server answers for them."""
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None:
        return
    strings = control_strings(tokenizer)
    system = getattr(backend, "system_prompt", None) or ""
    bad = first_control_string(system, strings)
    if bad:
        raise PolistanceError(f"--system-prompt holds {bad!r}, a control token of the model's tokenizer; reword it")
    forms = list(formset.forms)
    prompts = [formset.prompt(f) for f in forms]
    for form, prompt in zip(forms, prompts):
        bad = first_control_string(prompt, strings)
        if bad:
            whose = f"item {form.item_id}" if bad in form.text else f"the template of item {form.item_id}"
            raise PolistanceError(
                f"{_where(formset, form)}: {whose} holds {bad!r}, a control token of the model's tokenizer: "
                "as text it would become a real chat-control token; reword the item"
            )
    limit = context_limit(backend)
    if limit is None:
        return
    lengths = [len(ids) for ids in tokenizer([backend.chat_prompt(p) for p in prompts], add_special_tokens=False)["input_ids"]]
    for form, n in zip(forms, lengths):
        if n + OPTION_ROOM > limit:
            raise PolistanceError(
                f"{_where(formset, form)}: item {form.item_id}'s prompt is {n} tokens, longer than the model's context "
                f"of {limit} tokens (with room for the answer); shorten the item"
            )


def _where(formset, form) -> str:
    where = getattr(formset, "where", None)
    return where(form) if where is not None else formset.scope
