"""HTTP to an OpenAI-compatible server: one POST with the openai client, retries with capped
exponential backoff (honouring Retry-After), the API key from the environment, and redaction.

Every request is retried on rate limits, server errors, timeouts, dropped connections and
malformed bodies; when the attempts run out the caller gets ``RequestFailed`` with the reason.
The API key is read from the environment (``POLISTANCE_API_KEY``, else ``OPENAI_API_KEY``) and
never leaves the HTTP header: every message is redacted (``errors.redact``: the key, bearer tokens,
URL credentials) before it is cut to length, and ``ApiClient.base_url`` is the URL without its
user:password part (the openai client alone keeps the full one).
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

from ...errors import SECRET_ENV_VARS, PolistanceError, redact

API_KEY_VARS = SECRET_ENV_VARS
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
RETRY_LIMITS = {  # setting -> (lowest, highest, lowest excluded): a finite range, so no setting can hang a run
    "attempts": (1, 100, False),
    "base_delay": (0.0, 600.0, False),
    "max_delay": (0.0, 3600.0, False),
    "max_retry_after": (0.0, 3600.0, False),
    "timeout": (0.0, 3600.0, True),
}


def retry_policy_from_env(environ=None) -> RetryPolicy:
    """The default policy with any ``POLISTANCE_API_*`` overrides from the environment, each checked
    against ``RETRY_LIMITS``."""
    environ = os.environ if environ is None else environ
    values = {}
    for name, var in RETRY_ENV.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            value = int(raw) if name == "attempts" else float(raw)
        except ValueError:
            raise PolistanceError(f"{var}={raw!r}: expected a {'whole ' if name == 'attempts' else ''}number") from None
        low, high, low_open = RETRY_LIMITS[name]
        if not (low < value if low_open else low <= value) or not value <= high:  # NaN fails both
            side = "above" if low_open else "from"
            raise PolistanceError(f"{var}={raw!r}: out of range ({side} {low:g} {'and at most' if low_open else 'to'} {high:g})")
        values[name] = value
    return RetryPolicy(**values)


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
    """The URL without any user:password part (what may be written to a manifest or printed)."""
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



class ApiClient:
    """POSTs JSON bodies to one server and checks the responses, retrying what may succeed later."""

    def __init__(self, base_url: str, retry: RetryPolicy):
        import openai

        self.base_url = redact_url(base_url.rstrip("/"))
        self.retry = retry
        self.key = api_key_from_env()
        self._secrets = tuple(s for s in (self.key, urlsplit(base_url).password, urlsplit(base_url).username) if s)
        self.openai = openai.OpenAI(base_url=base_url.rstrip("/"), api_key=self.key or "EMPTY", max_retries=0, timeout=retry.timeout)
        self._rng = random.Random(0)
        self._rng_lock = threading.Lock()

    def scrub(self, text: str) -> str:
        """``text`` with the API key and the URL's credentials replaced by ``***`` (``errors.redact``)."""
        return redact(text, self._secrets)

    def post_once(self, endpoint: str, body: dict):
        """One POST to ``/completions`` or ``/chat/completions``; the parsed JSON, or ``RequestFailed``."""
        import openai

        # The client's generic POST (its documented way to reach any endpoint) returns the raw
        # bytes: servers differ in the fields they add, and the shapes are checked by the caller.
        path = "/completions" if endpoint == "completions" else "/chat/completions"
        try:
            text = self.openai.post(path, body=body, cast_to=bytes)
        except openai.APITimeoutError:
            raise RequestFailed(f"timed out after {self.retry.timeout:g} s", True) from None
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            raise RequestFailed(f"connection failed ({type(cause).__name__}: {self.scrub(str(cause))[:200]})", True) from None
        except openai.APIStatusError as e:
            status = e.status_code
            message = self.scrub(_status_message(e))
            retryable = status in RETRYABLE_STATUS or status >= 500
            raise RequestFailed(
                f"HTTP {status}: {message[:300]}", retryable, retry_after_seconds(e.response.headers), status
            ) from None
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as e:
            raise RequestFailed(f"response is not valid JSON ({self.scrub(str(e))[:200]}; {len(text)} bytes)", True) from None

    def request(self, endpoint: str, body: dict, check: Callable, attempts: int | None = None):
        """POST and ``check`` the body, retrying what may succeed later; raises ``RequestFailed``."""
        total = attempts or self.retry.attempts
        for attempt in range(1, total + 1):
            try:
                return check(self.post_once(endpoint, body))
            except RequestFailed as e:
                if not e.retryable or attempt == total:
                    tries = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
                    raise RequestFailed(self.scrub(e.reason) + tries, False, status=e.status) from None
                with self._rng_lock:
                    wait = self.retry.delay(attempt, e.retry_after, self._rng)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def served_models(self) -> list[str]:
        """The model names the server lists (``GET /models``)."""
        return [m.id for m in self.openai.models.list()]
