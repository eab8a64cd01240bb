"""Local Hugging Face backend: one loaded base model, any number of PEFT adapters switched in place.

Scoring a prompt costs one batched forward pass that computes output logits only at the answer
position (``logits_to_keep``), never the full vocabulary at every position. Prompts are padded on
the left with explicit position ids, so a padded row scores exactly as it would alone.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator, Sequence

from ...errors import PolistanceError
from ...core import Distribution, distribution_from_option_logprobs
from .base import ScoreResult


MIN_SHARED_PREFIX = 32
"""Shorter common prefixes are not worth a separate forward pass."""


def common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all sequences share, leaving every sequence at least one of its own."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for i in range(max(n, 0)):
        if any(s[i] != first[i] for s in seqs):
            return i
    return max(n, 0)


def _check_adapter_dir(path: str) -> Path:
    from ..adapter_files import check_adapter_dir

    return check_adapter_dir(path)


class LocalBackend:
    """A causal LM on this machine, optionally with PEFT adapters loaded under names."""

    kind = "local"

    def __init__(self, model_path: str, batch_size: int = 16, system_prompt: str | None = None, dtype: str = "float32"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_path = model_path
        self.batch_size = batch_size
        self.system_prompt = system_prompt
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_path)
            self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        except (OSError, ValueError) as e:
            raise PolistanceError(f"cannot load model {model_path!r}: {(str(e).splitlines() or [type(e).__name__])[0][:300]}") from None
        self.model.eval()
        self._ready()

    @classmethod
    def around(cls, model, tokenizer, name: str, batch_size: int = 16, system_prompt: str | None = None) -> "LocalBackend":
        """A backend over a model already in memory (e.g. the model being trained, PEFT wrapper
        included): nothing is loaded, the caller keeps the model's mode and adapters."""
        self = cls.__new__(cls)
        self.model_path, self.batch_size, self.system_prompt = name, batch_size, system_prompt
        self.tokenizer, self.model = tokenizer, model
        self._ready()
        return self

    def _ready(self) -> None:
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.adapters: dict[str, str] = {}
        self._peft = None
        self._active: str | None = None
        self.shared_prefix_tokens = 0  # prompt tokens not recomputed thanks to share_prefix (for tests and benchmarks)

    # ---- adapters -------------------------------------------------------------------------
    def load_adapter(self, name: str, path: str) -> None:
        """Load a PEFT adapter under ``name`` next to the others; the base weights are not reloaded."""
        from peft import PeftModel

        _check_adapter_dir(path)
        self._check_adapter_base(path)
        try:
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self.model, path, adapter_name=name, is_trainable=False)
                self._peft.eval()
            else:
                self._peft.load_adapter(path, adapter_name=name, is_trainable=False)
        except (RuntimeError, ValueError, KeyError) as e:
            raise PolistanceError(f"adapter {path} does not fit model {self.model_path}: {str(e).splitlines()[0][:300]}") from None
        self.adapters[name] = path

    def _check_adapter_base(self, path: str) -> None:
        """Refuse an adapter whose polistance manifest says it was trained on other base weights."""
        from ..models import weights_hash

        manifest = Path(path) / "polistance.json"
        if not manifest.is_file():
            return
        try:
            trained_on = json.loads(manifest.read_text())["base_model"]["weights_sha256"]
        except (ValueError, KeyError, TypeError):
            return
        ours = weights_hash(self.model_path)
        if trained_on and ours and trained_on != ours:
            raise PolistanceError(
                f"adapter {path} was trained on other base weights (sha256 {trained_on[:12]}...) than "
                f"{self.model_path} ({ours[:12]}...); evaluate it on the model it was trained on"
            )

    @contextlib.contextmanager
    def use(self, adapter: str | None) -> Iterator[None]:
        """Run the block with ``adapter`` active (``None`` = the base model, adapters disabled)."""
        if adapter is None:
            if self._peft is None:
                yield
            else:
                with self._peft.disable_adapter():
                    yield
            return
        if adapter not in self.adapters:
            raise PolistanceError(f"adapter {adapter!r} is not loaded")
        self._peft.set_adapter(adapter)
        yield

    @property
    def net(self):
        """The module to call: the PEFT wrapper when adapters are loaded, else the base model."""
        return self._peft if self._peft is not None else self.model

    # ---- prompts --------------------------------------------------------------------------
    def chat_prompt(self, user_text: str, assistant_prefix: str = "") -> str:
        """The model's chat template applied to one user turn, ending where the answer starts."""
        from ...prompts.chat import chat_text

        return chat_text(self.tokenizer, user_text, self.system_prompt, assistant_prefix)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _continuation(self, context: str, option: str, ctx_ids: list[int]) -> list[int]:
        """Tokens of ``option`` as a continuation of ``context``: encode the whole string and drop the
        context's tokens (lm-eval's split for causal models)."""
        return self.encode(context + option)[len(ctx_ids) :]

    # ---- scoring --------------------------------------------------------------------------
    def _batches(self, order: list[int]) -> Iterator[list[int]]:
        for i in range(0, len(order), self.batch_size):
            yield order[i : i + self.batch_size]

    def forward_last(self, seqs: list[list[int]], keep: int):
        """Left-padded batched forward; returns log-softmax over the vocabulary at the last ``keep`` positions."""
        import torch

        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, width - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[r, width - len(s) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.net(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep, use_cache=False)
        logits = out.logits.float()
        if not torch.isfinite(logits).all():
            raise FloatingPointError("model produced NaN or infinite logits")
        return torch.log_softmax(logits, dim=-1)

    def forward_last_shared(self, seqs: list[list[int]], shared: int):
        """``forward_last(seqs, keep=1)`` for sequences that start with the same ``shared`` tokens:
        the prefix goes through the model once, its KV cache is copied to every row, and only the
        rows' own tokens are computed (padding sits between the prefix and each row's tokens)."""
        import torch

        width = max(len(s) for s in seqs) - shared
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        for r, s in enumerate(seqs):
            own = s[shared:]
            ids[r, width - len(own) :] = torch.tensor(own, dtype=torch.long)
            mask[r, shared + width - len(own) :] = 1
        pos = shared + (mask[:, shared:].cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            cache = self.net(input_ids=torch.tensor([seqs[0][:shared]], dtype=torch.long), use_cache=True).past_key_values
            cache.batch_repeat_interleave(len(seqs))
            out = self.net(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                           logits_to_keep=1, use_cache=True)
        logits = out.logits.float()
        if not torch.isfinite(logits).all():
            raise FloatingPointError("model produced NaN or infinite logits")
        self.shared_prefix_tokens += shared * (len(seqs) - 1)
        return torch.log_softmax(logits, dim=-1)

    def option_logprobs(self, contexts: Sequence[str], options: Sequence[str], progress=None,
                        share_prefix: bool = False) -> list[list[float]]:
        """Exact log P(option | context) for every context and option (natural log).

        When every option is one token after its context (digits, Likert numbers), each context
        costs one forward pass; otherwise each (context, option) pair is scored teacher-forced.
        ``share_prefix``: when the contexts of a batch start with the same tokens (at least
        ``MIN_SHARED_PREFIX``; judge prompts share their long instructions), that prefix is
        computed once per batch instead of once per context. Same results up to float rounding.
        """
        ctx_ids = [self.encode(c) for c in contexts]
        conts = [[self._continuation(c, o, ids) for o in options] for c, ids in zip(contexts, ctx_ids)]
        results: list[list[float] | None] = [None] * len(contexts)
        single = [i for i in range(len(contexts)) if all(len(t) == 1 for t in conts[i])]
        multi = [i for i in range(len(contexts)) if i not in set(single)]
        order = sorted(single, key=lambda i: len(ctx_ids[i]))
        for batch in self._batches(order):
            seqs = [ctx_ids[i] for i in batch]
            shared = common_prefix_length(seqs) if share_prefix and len(seqs) > 1 else 0
            if shared >= MIN_SHARED_PREFIX:
                lp = self.forward_last_shared(seqs, shared)[:, -1, :]
            else:
                lp = self.forward_last(seqs, keep=1)[:, -1, :]
            for r, i in enumerate(batch):
                results[i] = [float(lp[r, conts[i][k][0]]) for k in range(len(options))]
            if progress:
                progress(len(batch))
        pairs = [(i, k) for i in multi for k in range(len(options))]
        pairs.sort(key=lambda p: len(ctx_ids[p[0]]) + len(conts[p[0]][p[1]]))
        partial: dict[int, list[float]] = {i: [0.0] * len(options) for i in multi}
        for batch in self._batches(list(range(len(pairs)))):
            seqs, lens = [], []
            for j in batch:
                i, k = pairs[j]
                seqs.append(ctx_ids[i] + conts[i][k])
                lens.append(len(conts[i][k]))
            keep = max(lens) + 1
            lp = self.forward_last(seqs, keep=keep)
            for r, j in enumerate(batch):
                i, k = pairs[j]
                cont = conts[i][k]
                c = len(cont)
                # position keep-1 predicts the token after the sequence; token t of the continuation
                # is predicted at kept index keep-1-c+t.
                total = sum(float(lp[r, keep - c + t - 1, cont[t]]) for t in range(c))
                partial[i][k] = total
        for i in multi:
            results[i] = partial[i]
            if progress:
                progress(1)
        return results  # type: ignore[return-value]

    def distributions(self, prompts: Sequence[str], options: Sequence[str], progress=None,
                      share_prefix: bool = False) -> list[Distribution]:
        """Answer distributions for user prompts (chat template applied here)."""
        contexts = [self.chat_prompt(p) for p in prompts]
        lps = self.option_logprobs(contexts, options, progress, share_prefix=share_prefix)
        return [distribution_from_option_logprobs(lp, options) for lp in lps]

    def score_prompts(self, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
        """One ``ScoreResult`` per user prompt; a numerical failure marks the whole batch failed."""
        try:
            dists = self.distributions(prompts, options)
        except (FloatingPointError, ValueError) as e:
            return [ScoreResult(error=f"{type(e).__name__}: {e}") for _ in prompts]
        return [ScoreResult(distribution=d, method="exact") for d in dists]

    # ---- identity -------------------------------------------------------------------------
    def describe(self) -> dict:
        from ..models import weights_hash

        return {"kind": self.kind, "model": self.model_path, "weights_sha256": weights_hash(self.model_path)}
