"""Models behind OpenAI-compatible servers (vLLM, llama.cpp, ...) as a backend.

Two ways to read an answer distribution over HTTP (``api_exact``, ``api_topk``):

- ``exact``: every option's log-probability from an echoed completion of prompt + option. The
  prompt is the model's chat template applied here with the local ``tokenizer``.
- ``topk``: the first answer token's top log-probabilities; options outside them are recorded as
  not present, so incomplete coverage stays visible.
- ``auto`` (``api_auto``) reads top-k first: when every option is among an answer's top
  log-probabilities that reading *is* exact (the server's own numbers, renormalised over the
  options); only the other items are sent as echo requests. Each record says which method gave it.

Adapters are served models: ``load_adapter(name, served_model)`` maps an adapter name to a model
name on the same server (vLLM ``--lora-modules NAME=DIR``), and ``use(name)`` sends that name.
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
from .api_auto import score_auto
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
        self.base_model = model
        self.served: dict[str, str] = {}
        self.adapters = self.served  # adapter name -> served model name (what ``load_variants`` looks at)
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
        """Probe the server once (with the base model) and settle the mode: "exact", "topk" or "auto"."""
        with self._resolve_lock:
            if self._resolved:
                return self.chosen
            if not self.model:
                self.model = self._served_model()
            self.base_model = self.model
            why = None
            echo = False
            if self.mode in ("exact", "auto"):
                why = "no --tokenizer to build completion prompts with" if self.tokenizer is None else probe_echo(self)
                echo = why is None
                if self.mode == "exact" and not echo:
                    raise PolistanceError(f"--api-mode exact: {self.base_url} cannot score given answers: {why}; try --api-mode topk")
            topk_why = None
            if self.mode in ("topk", "auto"):
                try:
                    self.endpoint, self.top_k = probe_top_k(self, "completions" if self.tokenizer is not None else "chat")
                except PolistanceError as e:
                    if not echo:
                        raise
                    topk_why = str(e)
            self.chosen = self._settle(echo, why, topk_why)
            self._resolved = True
            return self.chosen

    def _settle(self, echo: bool, why: str | None, topk_why: str | None) -> str:
        """The mode that ``resolve`` found, announced on the log."""
        batching = "lists of prompts per request" if self.list_prompts else "one prompt per request"
        where = f"api: {self.model} at {self.base_url}:"
        if echo and self.mode == "auto" and topk_why is None:
            self.log(f"{where} mode auto (top {self.top_k} logprobs first: exact when every option is among them; "
                     f"echo requests for the other items, max_tokens={self.echo_max_tokens}, {batching}, {self.concurrency} concurrent)")
            return "auto"
        if echo:
            self.endpoint = "completions"
            note = f" (top-k unavailable: {topk_why})" if topk_why else ""
            self.log(f"{where} mode exact{note} (echo returns prompt log-probabilities; max_tokens={self.echo_max_tokens}, "
                     f"{batching}, {self.concurrency} concurrent)")
            return "exact"
        note = f" because {why}" if why else ""
        self.log(f"{where} mode topk{note} (top {self.top_k} logprobs of the first answer token via {self.endpoint}; "
                 "options outside them are recorded as not present)")
        return "topk"

    # ---- scoring --------------------------------------------------------------------------
    def score_prompts(self, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
        """One ``ScoreResult`` per user prompt; a prompt whose requests failed carries the reason."""
        if not prompts:
            return []
        options = tuple(options)
        mode = self.resolve()
        if mode == "exact":
            return score_exact(self, list(prompts), options)
        if mode == "auto":
            return score_auto(self, list(prompts), options)
        return score_topk(self, list(prompts), options)

    def sample_replies(self, conversations, n: int = 1, max_new_tokens: int = 64, temperature: float = 1.0,
                       seed: int = 0, stats: dict | None = None, **_) -> list[list[str]]:
        """``n`` replies per conversation from the completions endpoint (``api_sample``)."""
        from .api_sample import sample_replies

        self.resolve()
        return sample_replies(self, conversations, n, max_new_tokens, temperature, seed, stats)

    # ---- adapters: served models on the same server ---------------------------------------------
    def load_adapter(self, name: str, served_model: str) -> None:
        """Compare ``served_model`` (a model name on this server, e.g. a vLLM ``--lora-modules`` entry)
        under ``name``; a name the server does not list is refused."""
        import openai

        if not served_model or not served_model.strip():
            raise PolistanceError(f"--adapters {name}={served_model!r}: give the served model's name")
        try:
            names = self.client.served_models()
        except (openai.APIError, ValueError):
            names = None  # a server without /models: the first request will say if the name is wrong
        if names is not None and served_model not in names:
            raise PolistanceError(f"--adapters {name}={served_model}: {redact_url(self.base_url)} does not serve "
                                  f"{served_model!r} (it lists {', '.join(names) or 'no models'})")
        self.served[name] = served_model

    @contextlib.contextmanager
    def use(self, adapter: str | None) -> Iterator[None]:
        """Send the requests inside the block to the served adapter ``adapter`` (None = the base)."""
        if adapter is not None and adapter not in self.served:
            raise PolistanceError(f"adapter {adapter!r} is not one of the served adapters ({', '.join(self.served) or 'none'})")
        self.resolve()
        previous = self.model
        self.model = self.base_model if adapter is None else self.served[adapter]
        try:
            yield
        finally:
            self.model = previous

    # ---- identity -------------------------------------------------------------------------
    def describe(self) -> dict:
        """What identifies results from this backend (for run manifests); never the API key."""
        self.resolve()
        template = getattr(self.tokenizer, "chat_template", None) if self.tokenizer is not None else None
        info = {
            "kind": self.kind,
            "base_url": redact_url(self.base_url),
            "model": self.base_model,
            "mode": self.chosen,
            "requested_mode": self.mode,
            "endpoint": self.endpoint,
            "tokenizer": self.tokenizer_name,
            "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest() if isinstance(template, str) else None,
            "system_prompt": self.system_prompt,
        }
        if self.chosen in ("topk", "auto"):
            info["top_k"] = self.top_k
        return info
