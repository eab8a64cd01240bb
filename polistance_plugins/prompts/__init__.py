"""Prompt templates (jinja2), rendered in a sandbox with strict undefined variables.

Item text and other user data are passed as *values*, so template syntax inside an item
("{{ 7*7 }}") is shown literally, never evaluated. User-supplied template files are rendered
by the same sandboxed environment, so they cannot reach Python internals.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import PolistanceError

PROMPT_DIR = Path(__file__).parent


@lru_cache(maxsize=None)
def _env(folder: str) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


def render(template: str, **values) -> str:
    """Render a bundled template by name (``digit_question.j2``) or a user template by path."""
    path = Path(template)
    if path.is_file():
        folder, name = str(path.parent.resolve()), path.name
    else:
        folder, name = str(PROMPT_DIR), template
    try:
        return _env(folder).get_template(name).render(**values)
    except TemplateError as e:
        raise PolistanceError(f"template {template}: {e}") from None


def template_source(template: str) -> str:
    """The text of a template (for hashing into run manifests)."""
    path = Path(template)
    return path.read_text() if path.is_file() else (PROMPT_DIR / template).read_text()


def fence_tag(text: str) -> str:
    """A marker for fencing ``text`` as data inside a judge prompt, which the text cannot contain in
    advance because it is derived from the text's own hash."""
    return "DATA-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12].upper()
