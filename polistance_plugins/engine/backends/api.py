"""Models behind OpenAI-compatible servers (vLLM, llama.cpp, ...) as a backend.

Two ways to read an answer distribution over HTTP (``api_exact``, ``api_topk``):

- ``exact``: every option's log-probability from an echoed completion of prompt + option. The
  prompt is the model's chat template applied here with the local ``tokenizer``.
- ``topk``: the first answer token's top log-probabilities; options outside them are recorded as
  not present, so incomplete coverage stays visible.
- ``auto`` probes the server once and takes ``exact`` when echo returns prompt log-probabilities.

Requests, retries and the API key are ``api_http``'s; response shapes are read by ``api_responses``.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
from typing import Callable, Iterator, Sequence
from urllib.parse import urlsplit

from ...errors import PolistanceError
from .api_exact import probe_echo, score_exact
from .api_http import ApiClient, RetryPolicy, redact_url, retry_policy_from_env
from .api_topk import probe_top_k, score_topk, top_k_from_env
from .base import ScoreResult

MODES = ("exact", "topk", "auto")


class ApiBackend:
    """A model served over an OpenAI-compatible HTTP API; same interface as ``LocalBackend``."""

    kind = "api"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        tokenizer: str | None = None,
        mode: str = "auto",
        concurrency: int = 8,
        system_prompt: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        max_top_k: int | None = None,
        strings_per_request: int = 64,
        log: Callable[[str], None] | None = None,
    ):
        if mode not in MODES:
            raise PolistanceError(f"--api-mode {mode!r}: expected one of {', '.join(MODES)}")
        if concurrency < 1:
            raise PolistanceError(f"--concurrency {concurrency}: must be at least 1")
        parts = urlsplit(base_url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PolistanceError(f"--api-base {redact_url(base_url or '')!r}: expected a URL like http://127.0.0.1:8000/v1")
        self.client = ApiClient(base_url, retry or retry_policy_from_env())
        self.base_url = self.client.base_url
        self.retry = self.client.retry
        self.model = model
        self.mode = mode
        self.concurrency = int(concurrency)
        self.system_prompt = system_prompt
        self.max_top_k = int(max_top_k) if max_top_k is not None else top_k_from_env()
        self.strings_per_request = int(strings_per_request)
        self.log = log or (lambda m: print(m, file=sys.stderr))
        self.tokenizer_name = tokenizer
        self.tokenizer = self._load_tokenizer(tokenizer) if tokenizer else None
        self._pieces: dict[int, str] = {}
        self._resolve_lock = threading.Lock()
        self._resolved = False
        self.chosen: str | None = None
        self.endpoint: str | None = None
        self.top_k: int | None = None
        self.echo_max_tokens = 0
        self.list_prompts = False

    # ---- setup ----------------------------------------------------------------------------
    @staticmethod
    def _load_tokenizer(name: str):
        from transformers import AutoTokenizer

        from .. import models

        try:
            return AutoTokenizer.from_pretrained(models.resolve(name, flag="--tokenizer"))
        except (OSError, ValueError) as e:
            raise PolistanceError(f"--tokenizer {name!r}: cannot load it ({str(e).splitlines()[0][:200]})") from None

    def chat_prompt(self, user_text: str, assistant_prefix: str = "") -> str:
        """The served model's chat template (from the local tokenizer) applied to one user turn."""
        from ...prompts.chat import chat_text

        if self.tokenizer is None:
            raise PolistanceError("completion prompts need the served model's tokenizer: pass --tokenizer NAME_OR_DIR")
        return chat_text(self.tokenizer, user_text, self.system_prompt, assistant_prefix)

    def option_pieces(self, context: str, options: Sequence[str]) -> list[list[str]]:
        """Each option's tokens as text, split as the local tokenizer continues ``context`` with it
        (encode the whole string and drop the context's tokens, as ``LocalBackend`` does)."""
        enc = self.tokenizer([context] + [context + o for o in options], add_special_tokens=False)["input_ids"]
        n = len(enc[0])
        return [[self._piece(t) for t in ids[n:]] for ids in enc[1:]]

    def _piece(self, token_id: int) -> str:
        text = self._pieces.get(token_id)
        if text is None:
            text = self._pieces[token_id] = self.tokenizer.decode([token_id])
        return text

    # ---- probing --------------------------------------------------------------------------
    def _served_model(self) -> str:
        """The only model the server lists (used when --api-model is not given)."""
        import openai

        try:
            names = self.client.served_models()
        except (openai.APIError, ValueError) as e:
            raise PolistanceError(f"--api-model not given and {self.base_url}/models failed: {self.client.scrub(str(e))[:200]}") from None
        if len(names) != 1:
            raise PolistanceError(f"--api-model is needed: the server lists {names or 'no models'}")
        return names[0]

    def resolve(self) -> str:
        """Probe the server once and settle the mode; returns "exact" or "topk"."""
        with self._resolve_lock:
            if self._resolved:
                return self.chosen
            if not self.model:
                self.model = self._served_model()
            why = None
            if self.mode in ("exact", "auto"):
                why = "no --tokenizer to build completion prompts with" if self.tokenizer is None else probe_echo(self)
                if why is None:
                    self.chosen, self.endpoint = "exact", "completions"
                    batching = "lists of prompts per request" if self.list_prompts else "one prompt per request"
                    self.log(f"api: {self.model} at {self.base_url}: mode exact (echo returns prompt log-probabilities; "
                             f"max_tokens={self.echo_max_tokens}, {batching}, {self.concurrency} concurrent)")
                elif self.mode == "exact":
                    raise PolistanceError(f"--api-mode exact: {self.base_url} cannot score given answers: {why}; try --api-mode topk")
            if self.chosen is None:
                self.endpoint, self.top_k = probe_top_k(self, "completions" if self.tokenizer is not None else "chat")
                self.chosen = "topk"
                note = f" because {why}" if why else ""
                self.log(f"api: {self.model} at {self.base_url}: mode topk{note} (top {self.top_k} logprobs of the first "
                         f"answer token via {self.endpoint}; options outside them are recorded as not present)")
            self._resolved = True
            return self.chosen

    # ---- scoring --------------------------------------------------------------------------
    def score_prompts(self, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
        """One ``ScoreResult`` per user prompt; a prompt whose requests failed carries the reason."""
        if not prompts:
            return []
        options = tuple(options)
        if self.resolve() == "exact":
            return score_exact(self, list(prompts), options)
        return score_topk(self, list(prompts), options)

    # ---- adapters (served separately) ---------------------------------------------------------
    def load_adapter(self, name: str, path: str) -> None:
        raise PolistanceError(
            f"adapter {name}={path}: an API model cannot load adapters here; serve the adapter as its own model "
            "(e.g. vLLM --lora-modules NAME=DIR) and pass --api-model NAME"
        )

    @contextlib.contextmanager
    def use(self, adapter: str | None) -> Iterator[None]:
        """Only the served model itself (``None``) can be used."""
        if adapter is not None:
            raise PolistanceError(f"adapter {adapter!r}: an API model has no adapters; serve it as its own model")
        yield

    # ---- identity -------------------------------------------------------------------------
    def describe(self) -> dict:
        """What identifies results from this backend (for run manifests); never the API key."""
        self.resolve()
        template = getattr(self.tokenizer, "chat_template", None) if self.tokenizer is not None else None
        info = {
            "kind": self.kind,
            "base_url": redact_url(self.base_url),
            "model": self.model,
            "mode": self.chosen,
            "requested_mode": self.mode,
            "endpoint": self.endpoint,
            "tokenizer": self.tokenizer_name,
            "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest() if isinstance(template, str) else None,
            "system_prompt": self.system_prompt,
        }
        if self.chosen == "topk":
            info["top_k"] = self.top_k
        return info
