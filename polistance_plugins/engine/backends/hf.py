"""Local Hugging Face backend: one loaded base model, any number of PEFT adapters switched in place.

The model loads on any device (``--device``: CUDA, MPS or the CPU; ``--device-map auto`` spreads a
large one over several GPUs) in any precision (``--dtype``), and every tensor is built on the
model's device. Scoring a prompt costs one batched forward pass that computes output logits only at
the answer position (``logits_to_keep``), never the full vocabulary at every position. Prompts are
padded on the left with explicit position ids, so a padded row scores exactly as it would alone;
prompts that share their first tokens have them computed once per batch (``prefix.py``).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Iterator, Sequence

from ...errors import PolistanceError
from ...core import Distribution, distribution_from_option_logprobs
from ..adapter_files import check_adapter_dir
from ..device import AUTO, AUTO_BATCH_START, Placement, device_kind, largest_fitting_batch, parse_batch_size, resolve
from .base import ScoreResult
from .prefix import MIN_SAVED_TOKENS, common_prefix_length, forward_grouped, plan_groups, saved_tokens, sharing_order

__all__ = ["LocalBackend", "common_prefix_length"]


@contextlib.contextmanager
def _peft_notice_hidden():
    """PEFT reads ``model.is_gradient_checkpointing``, whose FutureWarning (transformers 5) the user can
    do nothing about; only that one notice is hidden, only while an adapter loads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


class LocalBackend:
    """A causal LM on this machine, optionally with PEFT adapters loaded under names."""

    kind = "local"

    def __init__(self, model_path: str, batch_size: int | str = 16, system_prompt: str | None = None,
                 dtype: str = AUTO, device: str = AUTO, device_map: str | None = None, share_prefix: bool = True):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        placement = Placement(device, dtype, device_map)
        target, dtype = resolve(placement)
        kwargs = {"dtype": getattr(torch, dtype)}
        if device_map is not None:
            kwargs["device_map"] = device_map
        elif target != "cpu":
            kwargs["device_map"] = {"": target}  # straight onto the device, never a full copy in CPU memory
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_path)
            model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
        except (OSError, ValueError) as e:
            raise PolistanceError(f"cannot load model {model_path!r}: {(str(e).splitlines() or [type(e).__name__])[0][:300]}") from None
        self._adopt(model, tokenizer, model_path, batch_size, system_prompt, share_prefix, device_map)

    @classmethod
    def from_loaded(cls, model, tokenizer, name: str | None = None, batch_size: int | str = 16,
                    system_prompt: str | None = None, share_prefix: bool = True) -> "LocalBackend":
        """A backend around a model already in memory (on whatever device it is), e.g. one built from a
        config; ``name`` is what ``describe`` reports (a folder's weights are hashed, a name is not)."""
        backend = cls.__new__(cls)
        backend._adopt(model, tokenizer, name, batch_size, system_prompt, share_prefix, None)
        return backend

    @classmethod
    def around(cls, model, tokenizer, name: str, batch_size: int = 16, system_prompt: str | None = None) -> "LocalBackend":
        """A backend over the model being trained (PEFT wrapper included): nothing is loaded, and the
        caller keeps the model's mode and adapters."""
        backend = cls.__new__(cls)
        backend._adopt(model, tokenizer, name, batch_size, system_prompt, True, None, keep_mode=True)
        return backend

    def _adopt(self, model, tokenizer, model_path, batch_size, system_prompt, share_prefix, device_map,
               keep_mode: bool = False) -> None:
        self.model_path = model_path
        self.batch_size = parse_batch_size(batch_size)
        self.system_prompt = system_prompt
        self.share_prefix = share_prefix
        self.device_map = device_map
        self.tokenizer, self.model = tokenizer, model
        self.dtype = str(next(model.parameters()).dtype).replace("torch.", "")
        if not keep_mode:
            self.model.eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.adapters: dict[str, str] = {}
        self._peft = None
        self._active: str | None = None
        self.shared_prefix_tokens = 0  # prompt tokens not recomputed thanks to prefix sharing (tests, benchmarks)
        self.computed_tokens = 0  # prompt tokens that went through the model (padding not counted)

    @property
    def device(self):
        """Where inputs go: the model's device (under a device map, that of its first layer)."""
        return self.model.device

    # ---- adapters -------------------------------------------------------------------------
    def load_adapter(self, name: str, path: str) -> None:
        """Load a PEFT adapter under ``name`` next to the others; the base weights are not reloaded."""
        from peft import PeftModel

        check_adapter_dir(path)
        self._check_adapter_base(path)
        try:
            with _peft_notice_hidden():
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
        ours = weights_hash(self.model_path) if self.model_path else None
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
    def _batches(self, order: list[int], sample: Sequence[Sequence[int]] = ()) -> Iterator[list[int]]:
        size = self.settle_batch_size(sample) if self.batch_size == AUTO else self.batch_size
        for i in range(0, len(order), size):
            yield order[i : i + size]

    def settle_batch_size(self, seqs: Sequence[Sequence[int]] = (), extra_tokens: int = 0, log=None) -> int:
        """Fix ``batch_size`` when it is ``auto``: the largest batch of the longest of ``seqs`` (plus
        ``extra_tokens``, e.g. tokens to generate) that runs without running out of memory,
        starting from ``AUTO_BATCH_START`` for the device and halving. Returns the batch size."""
        if self.batch_size != AUTO:
            return self.batch_size
        longest = max((len(s) for s in seqs), default=128) + extra_tokens
        probe = [[self.tokenizer.pad_token_id] * longest]

        def attempt(size: int) -> None:
            self.forward_last(probe * size, keep=1)

        counted = self.computed_tokens
        self.batch_size = largest_fitting_batch(attempt, AUTO_BATCH_START[device_kind(self.device)], log)
        self.computed_tokens = counted  # the probe is not scoring work
        return self.batch_size

    def _padded(self, seqs: list[list[int]]):
        """Left-padded ids, attention mask and position ids on the model's device."""
        import torch

        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, width - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[r, width - len(s) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        device = self.device
        return ids.to(device), mask.to(device), pos.to(device)

    @staticmethod
    def _log_softmax(logits):
        import torch

        logits = logits.float()
        if not torch.isfinite(logits).all():
            raise FloatingPointError("model produced NaN or infinite logits")
        return torch.log_softmax(logits, dim=-1)

    def forward_last(self, seqs: list[list[int]], keep: int):
        """Left-padded batched forward; returns log-softmax over the vocabulary at the last ``keep`` positions."""
        import torch

        ids, mask, pos = self._padded(seqs)
        with torch.inference_mode():
            out = self.net(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep, use_cache=False)
        self.computed_tokens += sum(len(s) for s in seqs)
        return self._log_softmax(out.logits)

    def forward_shared(self, seqs: list[list[int]], keep: int, caps: Sequence[int]):
        """``forward_last(seqs, keep)``, with the prefixes that rows share computed once (``prefix.py``);
        ``caps[r]``: how many leading tokens row ``r`` may share. Falls back to the plain forward
        when the batch shares too little."""
        groups = plan_groups(seqs, caps)
        saved = saved_tokens(groups)
        if saved < MIN_SAVED_TOKENS or any(p < 1 for p, _ in groups):
            return self.forward_last(seqs, keep)
        logits = forward_grouped(self.net, seqs, groups, keep, self.tokenizer.pad_token_id, self.device)
        self.shared_prefix_tokens += saved
        self.computed_tokens += sum(len(s) for s in seqs) - saved
        return self._log_softmax(logits)

    def option_logprobs(self, contexts: Sequence[str], options: Sequence[str], progress=None,
                        share_prefix: bool | None = None) -> list[list[float]]:
        """Exact log P(option | context) for every context and option (natural log).

        When every option is one token after its context (digits, Likert numbers), each context
        costs one forward pass; otherwise each (context, option) pair is scored teacher-forced.
        ``share_prefix`` (default: the backend's setting, on unless turned off): contexts are sorted
        by their tokens, so a batch holds prompts with a common start, and what a batch's rows share
        (system prompt and scale wording; a context scored with each option) is computed once.
        Same results up to float rounding.
        """
        share = self.share_prefix if share_prefix is None else share_prefix
        ctx_ids = [self.encode(c) for c in contexts]
        conts = [[self._continuation(c, o, ids) for o in options] for c, ids in zip(contexts, ctx_ids)]
        results: list[list[float] | None] = [None] * len(contexts)
        single = [i for i in range(len(contexts)) if all(len(t) == 1 for t in conts[i])]
        multi = [i for i in range(len(contexts)) if i not in set(single)]
        if share:
            self.settle_batch_size([ctx_ids[i] for i in single])
            ranked = sharing_order([ctx_ids[i] for i in single], [len(ctx_ids[i]) for i in single], self.batch_size)
            order = [single[r] for r in ranked]
        else:
            order = sorted(single, key=lambda i: (len(ctx_ids[i]), i))
        for batch in self._batches(order, [ctx_ids[i] for i in order]):
            seqs = [ctx_ids[i] for i in batch]
            if share and len(seqs) > 1:
                lp = self.forward_shared(seqs, 1, [len(s) - 1 for s in seqs])[:, -1, :]
            else:
                lp = self.forward_last(seqs, keep=1)[:, -1, :]
            lp = lp.cpu()
            for r, i in enumerate(batch):
                results[i] = [float(lp[r, conts[i][k][0]]) for k in range(len(options))]
            if progress:
                progress(len(batch))
        pairs = [(i, k) for i in multi for k in range(len(options))]
        if share and pairs:
            joined = [ctx_ids[i] + conts[i][k] for i, k in pairs]
            self.settle_batch_size(joined)
            pairs = [pairs[r] for r in sharing_order(joined, [len(ctx_ids[i]) for i, _ in pairs], self.batch_size)]
        else:
            pairs.sort(key=lambda p: len(ctx_ids[p[0]]) + len(conts[p[0]][p[1]]))
        partial: dict[int, list[float]] = {i: [0.0] * len(options) for i in multi}
        seq_of = [ctx_ids[i] + conts[i][k] for i, k in pairs]
        for batch in self._batches(list(range(len(pairs))), seq_of):
            seqs = [seq_of[j] for j in batch]
            lens = [len(conts[pairs[j][0]][pairs[j][1]]) for j in batch]
            keep = max(lens) + 1
            if share and len(seqs) > 1:
                lp = self.forward_shared(seqs, keep, [len(s) - keep for s in seqs])
            else:
                lp = self.forward_last(seqs, keep=keep)
            lp = lp.cpu()
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
                      share_prefix: bool | None = None) -> list[Distribution]:
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

    def sample_replies(self, conversations, n: int = 1, max_new_tokens: int = 64, temperature: float = 1.0,
                       seed: int = 0, stats: dict | None = None, batch_size: int | None = None, progress=None) -> list[list[str]]:
        """``n`` sampled replies per conversation, many per ``generate`` call (``generate.sample_replies``)."""
        from .generate import sample_replies

        size = batch_size or self.settle_batch_size()
        return sample_replies(self, conversations, n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                              batch_size=size, seed=seed, progress=progress, stats=stats)

    # ---- identity -------------------------------------------------------------------------
    def describe(self) -> dict:
        from ..models import weights_hash

        digest = weights_hash(self.model_path) if self.model_path and Path(self.model_path).is_dir() else None
        return {"kind": self.kind, "model": self.model_path, "weights_sha256": digest, **self.placement()}

    def placement(self) -> dict:
        """Where and how the weights run: device, dtype, device map, prefix sharing (what the manifest records)."""
        info = {"device": str(self.device), "dtype": self.dtype, "device_map": self.device_map,
                "prefix_sharing": self.share_prefix}
        spread = getattr(self.model, "hf_device_map", None)
        if self.device_map is not None and isinstance(spread, dict):
            info["devices"] = sorted({str(v) for v in spread.values()})
        return info
