"""Models behind OpenAI-compatible servers (vLLM, llama.cpp, ...) as a backend.

Two ways to read an answer distribution over HTTP:

- ``exact``: for every option, the log-probability of prompt+option's option tokens, read from a
  completions request with ``echo=true`` and ``logprobs`` (the prompt is scored, nothing needs to
  be generated). Several prompt strings go in one request where the server takes a list, and
  requests run on a bounded thread pool. The prompt is the model's chat template applied here
  with the local ``tokenizer``; the server's echoed tokens of the option are compared with the
  local tokenisation and a difference is reported as the item's error, never scored.
- ``topk``: one request per prompt for the first answer token's top log-probabilities (completions
  with ``logprobs=K``, or chat completions with ``top_logprobs=K`` when there is no completions
  endpoint or no tokenizer), K the largest the server accepts. Options missing from the top K
  are recorded as not present (``Distribution.present``), so incomplete coverage stays visible.
- ``auto`` probes the server once and takes ``exact`` when echo returns prompt log-probabilities.

Every request is retried on rate limits, server errors, timeouts, dropped connections and
malformed bodies, with capped exponential backoff that honours Retry-After; when the attempts run
out the prompt's result carries the reason and no distribution. The API key is read from the
environment (``POLISTANCE_API_KEY``, else ``OPENAI_API_KEY``) and never leaves the HTTP header.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import email.utils
import hashlib
import json
import math
import os
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

from ..errors import PolistanceError
from ..scoring import distribution_from_option_logprobs, option_distribution_from_logprobs
from .base import ScoreResult

API_KEY_VARS = ("POLISTANCE_API_KEY", "OPENAI_API_KEY")
MODES = ("exact", "topk", "auto")
TOP_K_CANDIDATES = (100, 50, 20, 10, 5, 1)
TOP_K_ENV = "POLISTANCE_API_TOP_K"
PROBE_TEXT = "On a scale of 0-9, how much do you like tea? Give only a number, no elaboration."
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
REFUSED_STATUS = frozenset({400, 422})
MISSING_STATUS = frozenset({404, 405, 501})


# ---- requests and retries ------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request: attempts, capped exponential backoff, Retry-After, timeout (s)."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    timeout: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Wait before the next try after failed try ``attempt`` (1-based): the server's Retry-After
        when given (capped at ``max_retry_after``), else base*2^(attempt-1) capped at ``max_delay``,
        jittered to 50-100% so parallel workers do not retry in lockstep."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * (0.5 + 0.5 * rng.random())


RETRY_ENV = {
    "attempts": "POLISTANCE_API_ATTEMPTS",
    "base_delay": "POLISTANCE_API_BACKOFF",
    "max_delay": "POLISTANCE_API_BACKOFF_CAP",
    "max_retry_after": "POLISTANCE_API_MAX_RETRY_AFTER",
    "timeout": "POLISTANCE_API_TIMEOUT",
}


def retry_policy_from_env(environ=None) -> RetryPolicy:
    """The default policy with any ``POLISTANCE_API_*`` overrides from the environment."""
    environ = os.environ if environ is None else environ
    values = {}
    for name, var in RETRY_ENV.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            value = int(raw) if name == "attempts" else float(raw)
        except ValueError:
            raise PolistanceError(f"{var}={raw!r}: expected a number") from None
        if value < (1 if name == "attempts" else 0) or (name == "timeout" and value == 0):
            raise PolistanceError(f"{var}={raw!r}: out of range")
        values[name] = value
    return RetryPolicy(**values)


def _top_k_from_env() -> int:
    """The largest top-logprobs count to ask for: ``POLISTANCE_API_TOP_K`` or 100."""
    raw = os.environ.get(TOP_K_ENV)
    if not raw:
        return TOP_K_CANDIDATES[0]
    try:
        value = int(raw)
    except ValueError:
        raise PolistanceError(f"{TOP_K_ENV}={raw!r}: expected a whole number") from None
    if value < 1:
        raise PolistanceError(f"{TOP_K_ENV}={raw!r}: must be at least 1")
    return value


class RequestFailed(Exception):
    """A request that gave no usable answer; ``retryable`` says whether trying again may help."""

    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class ItemError(Exception):
    """One prompt's answer cannot be scored (e.g. the server tokenises the option differently)."""


def retry_after_seconds(headers, now: _dt.datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return (when - (now or _dt.datetime.now(_dt.timezone.utc))).total_seconds()


def api_key_from_env() -> str | None:
    """The API key: ``POLISTANCE_API_KEY``, else ``OPENAI_API_KEY``, else None."""
    for var in API_KEY_VARS:
        value = os.environ.get(var)
        if value:
            return value
    return None


def redact_url(url: str) -> str:
    """The URL without any user:password part (what may be written to a manifest)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _status_message(e) -> str:
    """The server's own error message from an error response (vLLM, llama.cpp and OpenAI shapes)."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return inner["message"]
    return str(getattr(e, "message", e))


# ---- reading responses ---------------------------------------------------------------------------
def _choices(data, n: int) -> list[dict]:
    """The ``n`` choices of a response ordered by index; a malformed body is a retryable failure."""
    if not isinstance(data, dict):
        raise RequestFailed("response is not a JSON object", True)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise RequestFailed("server returned no choices", True)
    by_index: dict[int, dict] = {}
    for pos, c in enumerate(choices):
        if not isinstance(c, dict):
            raise RequestFailed("a choice is not a JSON object", True)
        idx = c.get("index", pos)
        by_index[idx if isinstance(idx, int) else pos] = c
    if sorted(by_index) != list(range(n)):
        raise RequestFailed(f"server returned {len(choices)} choices for {n} prompts", True)
    return [by_index[i] for i in range(n)]


def _echo_logprobs(choice: dict) -> tuple[list, list]:
    """(tokens, token_logprobs) of an echoed completion; missing logprobs are a retryable failure."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        raise RequestFailed("response has no logprobs", True)
    tokens, values = lp.get("tokens"), lp.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list) or not tokens or len(tokens) != len(values):
        raise RequestFailed("response has no token logprobs", True)
    return tokens, values


def _echoed_choices(data, n: int) -> list[dict]:
    """The ``n`` choices of an echo request, each checked to carry token logprobs."""
    choices = _choices(data, n)
    for c in choices:
        _echo_logprobs(c)
    return choices


def echo_covers(choice: dict, sent: str) -> bool:
    """Whether the response echoed the whole prompt (a server may ignore ``echo``)."""
    text = choice.get("text") if isinstance(choice.get("text"), str) else ""
    lp = choice.get("logprobs") if isinstance(choice.get("logprobs"), dict) else {}
    tokens = lp.get("tokens") if isinstance(lp.get("tokens"), list) else []
    return sent in text or len("".join(t for t in tokens if isinstance(t, str))) >= len(sent)


def option_logprob(choice: dict, context: str, option: str, local_pieces: Sequence[str]) -> float:
    """log P(option | context) from an echoed completion of ``context + option``.

    The option's tokens are found from the end of the echo: the generated text (if any) is peeled
    off, then the last tokens whose text makes up exactly ``option``. Aligning on the end keeps
    this independent of how a server prints special tokens or offsets earlier in the prompt.
    They must equal ``local_pieces`` (the local tokenizer's split), else ``ItemError`` says how
    they differ; a server token that straddles the prompt/option boundary is a mismatch too.
    """
    tokens, values = _echo_logprobs(choice)
    sent = context + option
    text = choice.get("text") if isinstance(choice.get("text"), str) else ""
    at = text.rfind(sent)
    if at < 0:
        raise ItemError("the echoed text does not contain the prompt")
    generated = text[at + len(sent) :]
    end, tail = len(tokens), ""
    while end > 0 and len(tail) < len(generated):
        end -= 1
        tail = str(tokens[end]) + tail
    if tail != generated:
        raise ItemError(f"cannot tell the echoed prompt from the generated text {generated!r}")
    while end > 0 and tokens[end - 1] == "":  # a generated end-of-sequence token prints as nothing
        end -= 1
    first, piece = end, ""
    while first > 0 and len(piece) < len(option):
        first -= 1
        piece = str(tokens[first]) + piece
    if piece != option:
        raise ItemError(
            f"tokenisation mismatch: the server's token {tokens[first]!r} spans the end of the prompt and the "
            f"start of option {option!r} (local tokens {list(local_pieces)!r}); is --tokenizer the served model's?"
        )
    server_pieces = list(tokens[first:end])
    if server_pieces != list(local_pieces):
        raise ItemError(
            f"tokenisation mismatch for option {option!r}: server tokens {server_pieces!r}, local tokens "
            f"{list(local_pieces)!r}; is --tokenizer the served model's?"
        )
    picked = values[first:end]
    if any(not isinstance(v, (int, float)) or math.isnan(v) for v in picked):
        raise ItemError(f"server gave no log-probability for option {option!r} ({picked!r})")
    return float(sum(picked))


def _merge(top: dict[str, float], token: str, logprob: float) -> None:
    """Add one token's log-probability to a token->logprob map (summing duplicate strings)."""
    if token in top:
        a, b = top[token], logprob
        m = max(a, b)
        top[token] = m + math.log(math.exp(a - m) + math.exp(b - m))
    else:
        top[token] = logprob


def first_token_top(choice: dict, endpoint: str) -> dict[str, float]:
    """The first answer token's top log-probabilities as token->logprob; absent ones are retryable."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        raise RequestFailed("response has no logprobs", True)
    top: dict[str, float] = {}
    if endpoint == "chat":
        content = lp.get("content")
        if not isinstance(content, list) or not content or not isinstance(content[0], dict):
            raise RequestFailed("response has no logprobs content", True)
        entries = content[0].get("top_logprobs")
        if not isinstance(entries, list) or not entries:
            raise RequestFailed("response has no top_logprobs", True)
        for e in entries:
            if isinstance(e, dict) and isinstance(e.get("token"), str) and isinstance(e.get("logprob"), (int, float)):
                _merge(top, e["token"], float(e["logprob"]))
    else:
        tops = lp.get("top_logprobs")
        if not isinstance(tops, list) or not tops or not isinstance(tops[0], dict) or not tops[0]:
            raise RequestFailed("response has no top_logprobs", True)
        for tok, v in tops[0].items():
            if isinstance(v, (int, float)):
                _merge(top, tok, float(v))
    if not top:
        raise RequestFailed("response has no usable top_logprobs", True)
    return top


# ---- the backend ---------------------------------------------------------------------------------
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
        import openai

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.mode = mode
        self.concurrency = int(concurrency)
        self.system_prompt = system_prompt
        self.retry = retry or retry_policy_from_env()
        self.max_top_k = int(max_top_k) if max_top_k is not None else _top_k_from_env()
        self.strings_per_request = int(strings_per_request)
        self.log = log or (lambda m: print(m, file=sys.stderr))
        self.tokenizer_name = tokenizer
        self.tokenizer = self._load_tokenizer(tokenizer) if tokenizer else None
        self._key = api_key_from_env()
        self._client = openai.OpenAI(base_url=self.base_url, api_key=self._key or "EMPTY", max_retries=0, timeout=self.retry.timeout)
        self._rng = random.Random(0)
        self._pieces: dict[int, str] = {}
        self._rng_lock = threading.Lock()
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
            return AutoTokenizer.from_pretrained(models.resolve(name))
        except (OSError, ValueError) as e:
            raise PolistanceError(f"--tokenizer {name!r}: cannot load it ({str(e).splitlines()[0][:200]})") from None

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def chat_prompt(self, user_text: str, assistant_prefix: str = "") -> str:
        """The served model's chat template (from the local tokenizer) applied to one user turn."""
        from ..prompts.chat import chat_text

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

    # ---- HTTP -----------------------------------------------------------------------------
    def _post_once(self, endpoint: str, body: dict):
        import openai

        # The client's generic POST (its documented way to reach any endpoint) returns the raw
        # bytes: servers differ in the fields they add, and the shapes are checked here.
        path = "/completions" if endpoint == "completions" else "/chat/completions"
        try:
            text = self._client.post(path, body=body, cast_to=bytes)
        except openai.APITimeoutError:
            raise RequestFailed(f"timed out after {self.retry.timeout:g} s", True) from None
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            raise RequestFailed(f"connection failed ({type(cause).__name__}: {str(cause)[:200]})", True) from None
        except openai.APIStatusError as e:
            status = e.status_code
            message = _status_message(e)
            retryable = status in RETRYABLE_STATUS or status >= 500
            raise RequestFailed(
                f"HTTP {status}: {message[:300]}", retryable, retry_after_seconds(e.response.headers), status
            ) from None
        try:
            return json.loads(text)
        except ValueError as e:
            raise RequestFailed(f"response is not valid JSON ({e}; {len(text)} bytes)", True) from None

    def _request(self, endpoint: str, body: dict, check: Callable, attempts: int | None = None):
        """POST and ``check`` the body, retrying what may succeed later; raises ``RequestFailed``."""
        import time

        total = attempts or self.retry.attempts
        for attempt in range(1, total + 1):
            try:
                return check(self._post_once(endpoint, body))
            except RequestFailed as e:
                if not e.retryable or attempt == total:
                    tries = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
                    raise RequestFailed(self._scrub(e.reason) + tries, False, status=e.status) from None
                with self._rng_lock:
                    wait = self.retry.delay(attempt, e.retry_after, self._rng)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _echo_body(self, strings: list[str] | str) -> dict:
        return {
            "model": self.model,
            "prompt": strings,
            "echo": True,
            "logprobs": 1,
            "max_tokens": self.echo_max_tokens,
            "temperature": 0,
        }

    def _topk_body(self, user_text: str, k: int, endpoint: str) -> dict:
        if endpoint == "chat":
            from ..prompts.chat import chat_messages

            return {
                "model": self.model,
                "messages": chat_messages(user_text, self.system_prompt),
                "logprobs": True,
                "top_logprobs": k,
                "max_tokens": 1,
                "temperature": 0,
            }
        return {"model": self.model, "prompt": self.chat_prompt(user_text), "logprobs": k, "max_tokens": 1, "temperature": 0}

    # ---- probing --------------------------------------------------------------------------
    def _served_model(self) -> str:
        """The only model the server lists (used when --api-model is not given)."""
        import openai

        try:
            names = [m.id for m in self._client.models.list()]
        except (openai.APIError, ValueError) as e:
            raise PolistanceError(f"--api-model not given and {self.base_url}/models failed: {self._scrub(str(e))[:200]}") from None
        if len(names) != 1:
            raise PolistanceError(f"--api-model is needed: the server lists {names or 'no models'}")
        return names[0]

    def _probe_echo(self) -> str | None:
        """Check that echo returns the prompt's log-probabilities; None if it does, else why not.

        Also settles ``max_tokens`` (0 where honoured, else 1) and whether a request may carry a
        list of prompts. A tokenisation mismatch on the probe is a user error (wrong --tokenizer).
        """
        context = self.chat_prompt(PROBE_TEXT)
        pieces = self.option_pieces(context, ["5"])[0]
        data = None
        for max_tokens in (0, 1):
            self.echo_max_tokens = max_tokens
            try:
                data = self._request("completions", self._echo_body([context + "5"]), lambda d: _choices(d, 1))
                break
            except RequestFailed as e:
                if e.status in MISSING_STATUS:
                    return f"the server has no completions endpoint ({e.reason})"
                if e.status in REFUSED_STATUS and max_tokens == 0:
                    continue
                return e.reason
        choice = data[0]
        if not echo_covers(choice, context + "5"):
            return "the server ignored echo (the response does not contain the prompt)"
        try:
            option_logprob(choice, context, "5", pieces)
        except RequestFailed as e:
            return f"echo returned no prompt log-probabilities ({e.reason})"
        except ItemError as e:
            raise PolistanceError(f"{self.base_url}: {e}") from None
        if self.echo_max_tokens == 0 and len(choice.get("text") or "") > len(context) + 1:
            # The server generated despite max_tokens=0 (llama-cpp-python reads 0 as "no limit").
            self.echo_max_tokens = 1
        pair = [context + "5", context + "6"]
        try:
            self._request("completions", self._echo_body(pair), lambda d: _choices(d, 2), attempts=1)
            self.list_prompts = True
        except RequestFailed:
            self.list_prompts = False
        return None

    def _probe_top_k(self, endpoint: str) -> tuple[str, int]:
        """The endpoint and the largest top-logprobs count the server accepts."""
        candidates = [self.max_top_k] + [k for k in TOP_K_CANDIDATES if k < self.max_top_k]
        reasons = []
        for k in candidates:
            try:
                self._request(endpoint, self._topk_body(PROBE_TEXT, k, endpoint), lambda d: first_token_top(_choices(d, 1)[0], endpoint))
                return endpoint, k
            except RequestFailed as e:
                if e.status in MISSING_STATUS and endpoint == "completions":
                    return self._probe_top_k("chat")
                if e.status in REFUSED_STATUS:
                    reasons.append(f"{k}: {e.reason}")
                    continue
                raise PolistanceError(f"{self.base_url}: cannot read top logprobs ({e.reason})") from None
        raise PolistanceError(f"{self.base_url}: the server refused top logprobs at every size tried ({'; '.join(reasons)[:400]})")

    def resolve(self) -> str:
        """Probe the server once and settle the mode; returns "exact" or "topk"."""
        with self._resolve_lock:
            if self._resolved:
                return self.chosen
            if not self.model:
                self.model = self._served_model()
            why = None
            if self.mode in ("exact", "auto"):
                if self.tokenizer is None:
                    why = "no --tokenizer to build completion prompts with"
                else:
                    why = self._probe_echo()
                if why is None:
                    self.chosen, self.endpoint = "exact", "completions"
                    batching = "lists of prompts per request" if self.list_prompts else "one prompt per request"
                    self.log(f"api: {self.model} at {self.base_url}: mode exact (echo returns prompt log-probabilities; "
                             f"max_tokens={self.echo_max_tokens}, {batching}, {self.concurrency} concurrent)")
                elif self.mode == "exact":
                    raise PolistanceError(f"--api-mode exact: {self.base_url} cannot score given answers: {why}; try --api-mode topk")
            if self.chosen is None:
                self.endpoint, self.top_k = self._probe_top_k("completions" if self.tokenizer is not None else "chat")
                self.chosen = "topk"
                note = f" because {why}" if why else ""
                self.log(f"api: {self.model} at {self.base_url}: mode topk{note} (top {self.top_k} logprobs of the first "
                         f"answer token via {self.endpoint}; options outside them are recorded as not present)")
            self._resolved = True
            return self.chosen

    # ---- scoring --------------------------------------------------------------------------
    def _prompts_per_request(self, n: int, n_options: int) -> int:
        if not self.list_prompts:
            return 1
        cap = max(1, self.strings_per_request // max(1, n_options))
        return max(1, min(cap, math.ceil(n / self.concurrency)))

    def _complete(self, strings: list[str]) -> list[dict]:
        """Echoed completions for ``strings`` in order (one request, or one per string)."""
        if self.list_prompts:
            return self._request("completions", self._echo_body(strings), lambda d: _echoed_choices(d, len(strings)))
        return [self._request("completions", self._echo_body(s), lambda d: _echoed_choices(d, 1))[0] for s in strings]

    def _score_exact(self, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
        contexts = [self.chat_prompt(p) for p in prompts]
        per = self._prompts_per_request(len(prompts), len(options))
        groups = [list(range(i, min(i + per, len(prompts)))) for i in range(0, len(prompts), per)]

        def work(group: list[int]) -> list[tuple[int, ScoreResult]]:
            try:
                choices = self._complete([contexts[i] + o for i in group for o in options])
            except RequestFailed as e:
                if len(group) > 1:
                    # One poisoned prompt must not take its request-mates down: ask for each alone.
                    return [pair for i in group for pair in work([i])]
                return [(i, ScoreResult(error=e.reason)) for i in group]
            out = []
            for g, i in enumerate(group):
                pieces = self.option_pieces(contexts[i], options)
                try:
                    lps = [option_logprob(choices[g * len(options) + k], contexts[i], o, pieces[k]) for k, o in enumerate(options)]
                    out.append((i, ScoreResult(distribution=distribution_from_option_logprobs(lps, options), method="exact")))
                except (ItemError, RequestFailed, ValueError) as e:
                    out.append((i, ScoreResult(error=self._scrub(getattr(e, "reason", None) or str(e)))))
            return out

        results: list[ScoreResult | None] = [None] * len(prompts)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for part in pool.map(work, groups):
                for i, res in part:
                    results[i] = res
        return results  # type: ignore[return-value]

    def _score_topk(self, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
        endpoint, k = self.endpoint, self.top_k
        if self.tokenizer is not None and prompts:
            pieces = self.option_pieces(self.chat_prompt(prompts[0]), options)
            long = [o for o, p in zip(options, pieces) if len(p) != 1]
            if long:
                # The first answer token cannot tell "Strongly agree" from "Strongly disagree".
                reason = f"top-k mode reads one answer token, but option {long[0]!r} is {len(pieces[options.index(long[0])])} tokens; use exact mode"
                return [ScoreResult(error=reason) for _ in prompts]

        def work(prompt: str) -> ScoreResult:
            try:
                top = self._request(endpoint, self._topk_body(prompt, k, endpoint), lambda d: first_token_top(_choices(d, 1)[0], endpoint))
                return ScoreResult(distribution=option_distribution_from_logprobs(top, options), method="topk")
            except RequestFailed as e:
                return ScoreResult(error=e.reason)
            except ValueError as e:
                return ScoreResult(error=f"unusable top logprobs: {e}")

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(work, prompts))

    def score_prompts(self, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
        """One ``ScoreResult`` per user prompt; a prompt whose requests failed carries the reason."""
        if not prompts:
            return []
        options = tuple(options)
        if self.resolve() == "exact":
            return self._score_exact(list(prompts), options)
        return self._score_topk(list(prompts), options)

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
