"""Batched sampling of free-text replies from a local backend (elaborations, open answers).

Many samples go through one ``generate`` call: each conversation is repeated ``n`` times and the
copies are packed into left-padded batches, instead of one ``generate`` per sample.
"""

from __future__ import annotations

from typing import Sequence


def conversation_text(tokenizer, messages: Sequence[dict], system_prompt: str | None = None) -> str:
    """A multi-turn conversation rendered with the model's chat template, ready for the next reply."""
    msgs = list(messages)
    if system_prompt and (not msgs or msgs[0]["role"] != "system"):
        msgs = [{"role": "system", "content": system_prompt}, *msgs]
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def sample_replies(
    backend,
    conversations: Sequence[Sequence[dict]],
    n: int = 1,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    seed: int = 0,
    progress=None,
    skip_special_tokens: bool = True,
    stats: dict | None = None,
) -> list[list[str]]:
    """``n`` sampled replies per conversation (greedy when ``temperature`` is 0), in order.

    Sampling is seeded per batch, so the same inputs and batch size give the same replies.
    ``stats``, when given, gets ``generated_tokens`` added up: reply tokens up to and including
    the end-of-sequence token (the padding after a finished reply is not counted).
    """
    import torch

    tok = backend.tokenizer
    texts = [conversation_text(tok, conv, backend.system_prompt) for conv in conversations]
    jobs = [(c, k) for c in range(len(texts)) for k in range(n)]
    encoded = [backend.encode(t) for t in texts]
    out: list[list[str]] = [[""] * n for _ in texts]
    pad = tok.pad_token_id
    for b, start in enumerate(range(0, len(jobs), batch_size)):
        batch = jobs[start : start + batch_size]
        seqs = [encoded[c] for c, _ in batch]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, width - len(s) :] = torch.tensor(s)
            mask[r, width - len(s) :] = 1
        torch.manual_seed(seed * 1_000_003 + b)
        ids, mask = ids.to(backend.device), mask.to(backend.device)
        kwargs = dict(do_sample=False) if temperature == 0 else dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        with torch.inference_mode():
            gen = backend.net.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
                eos_token_id=tok.eos_token_id,
                **kwargs,
            )
        if stats is not None:
            stats["generated_tokens"] = stats.get("generated_tokens", 0) + reply_lengths(gen[:, width:].cpu(), tok.eos_token_id)
        for r, (c, k) in enumerate(batch):
            text = tok.decode(gen[r, width:], skip_special_tokens=skip_special_tokens)
            out[c][k] = text.strip() if skip_special_tokens else text
        if progress:
            progress(len(batch))
    return out


def reply_lengths(replies, eos_token_id) -> int:
    """Total reply tokens in a batch of generated continuations: each row counts up to and
    including its first end-of-sequence token, or in full when it has none."""
    total = 0
    for row in replies.tolist():
        total += row.index(eos_token_id) + 1 if eos_token_id in row else len(row)
    return total
