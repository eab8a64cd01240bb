"""Which token positions of a probe prompt enter the PNLAC contrast.

A probe is one user turn put through the model's chat template. Most of its tokens are the template
(system prompt, role markers), the same text for every topic. Contrasting over them measures how
the fine-tuned model reads the chat markup, not the topic. Three choices:

- ``item`` (default): the tokens of the probe's own text, i.e. the topic's words. Every selected
  token carries the topic, and a prompt gives 10-30 of them.
- ``answer``: the last prompt token, where the model's next-token answer is decided. One token per
  prompt, so it rests on few samples, and its context is mostly template text.
- ``all``: every real prompt token, template included (what the method did before; kept for comparison).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import PolistanceError
from ..prompts.chat import chat_text

POSITIONS = ("item", "answer", "all")
DEFAULT_POSITIONS = "item"


@dataclass(frozen=True)
class Probe:
    """A tokenised probe prompt and the indices of its tokens that enter the contrast."""

    ids: tuple[int, ...]
    selected: tuple[int, ...]


def check_positions(positions: str) -> str:
    if positions not in POSITIONS:
        raise PolistanceError(f"--positions {positions!r}: expected one of {', '.join(POSITIONS)}")
    return positions


def item_token_indices(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Indices of the tokens whose character span overlaps ``[start, end)`` (empty spans excluded)."""
    return [i for i, (s, e) in enumerate(offsets) if e > s and s < end and e > start]


def encode_probes(tokenizer, texts: Sequence[str], positions: str = DEFAULT_POSITIONS,
                  system_prompt: str | None = None) -> list[Probe]:
    """Each text as the model sees it when asked (its chat template), with the selected positions.

    The token ids are those of ``tokenizer(prompt, add_special_tokens=False)``, what the backends
    encode. ``item`` finds the text's own tokens through the tokenizer's character offsets.
    """
    check_positions(positions)
    probes = []
    for text in texts:
        prompt = chat_text(tokenizer, text, system_prompt)
        if positions != "item":
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            chosen = [len(ids) - 1] if positions == "answer" else list(range(len(ids)))
            probes.append(Probe(tuple(ids), tuple(chosen)))
            continue
        if not getattr(tokenizer, "is_fast", False):
            raise PolistanceError("--positions item needs a fast tokenizer (character offsets); use --positions answer or all")
        start = prompt.rfind(text)
        if start < 0:
            raise PolistanceError(f"the chat template changed the probe text {text[:60]!r}: cannot find its tokens "
                                  "(use --positions answer or all)")
        enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        chosen = item_token_indices(enc["offset_mapping"], start, start + len(text))
        if not chosen:
            raise PolistanceError(f"probe text {text[:60]!r} has no tokens of its own")
        probes.append(Probe(tuple(enc["input_ids"]), tuple(chosen)))
    return probes
