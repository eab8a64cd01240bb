"""The project's own error type (every user-facing failure raises it: CLI exit code 2) and the
redaction every message, log line and file goes through: secrets never leave the process."""

from __future__ import annotations

import os
import re

SECRET_ENV_VARS = ("POLISTANCE_API_KEY", "OPENAI_API_KEY")
"""Where the API key is read from (first set one wins); their values are redacted everywhere."""

URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


class PolistanceError(Exception):
    """A problem the user can fix (bad file, bad argument, missing model); shown without a traceback."""


def redact(text: str, extra_secrets: tuple[str, ...] = ()) -> str:
    """``text`` with the API key (from the environment, and ``extra_secrets``), any bearer token and
    the user:password part of URLs replaced by ``***``. Redact before cutting a message short, so
    that no prefix of a secret survives."""
    secrets = {os.environ.get(v) for v in SECRET_ENV_VARS} | set(extra_secrets)
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = BEARER.sub(r"\1***", text)
    return URL_CREDENTIALS.sub(r"\1***@", text)
