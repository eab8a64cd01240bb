"""Prompt templates (jinja2), rendered in a sandbox with strict undefined variables.

Item text and other user data are passed as *values*, so template syntax inside an item
("{{ 7*7 }}") is shown literally, never evaluated. User-supplied template files are rendered
by the same sandboxed environment, so they cannot reach Python internals.

A bare name (``digit_question.j2``) is a bundled template and is read from the package only: a
file of that name in the working folder changes nothing. A user template is named by its path
(``./mine.j2``, ``templates/mine.j2``, ``/abs/mine.j2``).
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


def locate(template: str) -> tuple[Path, str]:
    """(folder, file name) of a template: a bare name is bundled, anything with a folder is the user's."""
    path = Path(template)
    if path.name == template:
        if not (PROMPT_DIR / template).is_file():
            raise PolistanceError(f"template {template!r}: no bundled template of that name; name your own by its path, e.g. ./{template}")
        return PROMPT_DIR, template
    if not path.is_file():
        raise PolistanceError(f"template {template}: no such file")
    return path.parent.resolve(), path.name


def render(template: str, **values) -> str:
    """Render a bundled template by name (``digit_question.j2``) or a user template by path."""
    folder, name = locate(template)
    try:
        return _env(str(folder)).get_template(name).render(**values)
    except TemplateError as e:
        raise PolistanceError(f"template {template}: {e}") from None


def template_source(template: str) -> str:
    """The text of a template (for hashing into run manifests)."""
    folder, name = locate(template)
    return (folder / name).read_text(encoding="utf-8")


def fence_tag(text: str) -> str:
    """A marker for fencing ``text`` as data inside a judge prompt, which the text cannot contain in
    advance because it is derived from the text's own hash."""
    return "DATA-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12].upper()
