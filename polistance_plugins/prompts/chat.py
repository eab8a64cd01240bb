"""The chat turn every backend asks: one user message (optionally after a system message), put
through the model's own chat template. Local weights and completion endpoints share this text,
so a served model sees exactly the prompt the local model sees."""

from __future__ import annotations


def chat_messages(user_text: str, system_prompt: str | None = None) -> list[dict]:
    """The message list for one user turn (the form chat-completion endpoints take)."""
    messages = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": user_text})
    return messages


def chat_text(tokenizer, user_text: str, system_prompt: str | None = None, assistant_prefix: str = "") -> str:
    """The tokenizer's chat template applied to one user turn, ending where the answer starts.

    A tokenizer without a chat template gets the bare user text and a newline.
    """
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(chat_messages(user_text, system_prompt), tokenize=False, add_generation_prompt=True)
    else:
        text = user_text + "\n"
    return text + assistant_prefix
