"""Item banks: data files in this folder, validated on load.

``load_bank("terry9")`` loads a bundled bank by name; ``load_bank("path/to/file.jsonl")``
loads the user's own. Every problem is reported as a ``BankError`` naming file, line and field.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import PolistanceError
from .schema import Item

BANK_DIR = Path(__file__).parent
SURROGATE = re.compile("[\ud800-\udfff]")
RATED_BANKS = ("terry9", "topics")
M = TypeVar("M", bound=BaseModel)


class BankError(PolistanceError):
    """A bank file that does not satisfy its schema."""


@dataclass(frozen=True)
class Bank:
    """A validated bank: its name, where it came from, a content hash, and its items in file order."""

    name: str
    path: Path
    sha256: str
    items: tuple

    def __iter__(self) -> Iterator:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def where(self, item_id: str) -> str:
        """``file:line`` of an item (for messages about it)."""
        line = item_line(self.path, item_id)
        return f"{self.path}:{line}" if line else str(self.path)

    @property
    def topics(self) -> list[str]:
        seen: dict[str, None] = {}
        for it in self.items:
            seen.setdefault(getattr(it, "topic", None) or getattr(it, "axis"), None)
        return list(seen)


def item_line(path: Path, item_id: str) -> int | None:
    """The line of a JSON Lines file whose object has ``"id": item_id`` (None if none has)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for lineno, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict) and obj.get("id") == item_id:
            return lineno
    return None


def available_banks() -> list[str]:
    """Names of the banks bundled with the package."""
    return sorted(p.stem for p in BANK_DIR.glob("*.jsonl"))


def bank_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".jsonl", ".json") or p.exists():
        if not p.is_file():
            raise BankError(f"{p}: no such bank file")
        return p
    bundled = BANK_DIR / f"{name_or_path}.jsonl"
    if not bundled.is_file():
        raise BankError(f"unknown bank {str(name_or_path)!r}; bundled banks: {', '.join(available_banks())}")
    return bundled


def _format_validation(path: Path, line: int, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(item)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"field '{loc}': {msg}")
    return f"{path}:{line}: " + "; ".join(parts)


def surrogate_field(value, where: str = "") -> str | None:
    """The dotted field of the first string holding a lone surrogate (which no encoder accepts), or None."""
    if isinstance(value, str):
        return (where or "(item)") if SURROGATE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        if isinstance(key, str) and SURROGATE.search(key):
            return f"{where}.{key!r}".lstrip(".")
        found = surrogate_field(inner, f"{where}.{key}".lstrip("."))
        if found is not None:
            return found
    return None


def load_jsonl_models(path: Path, model: type[M]) -> list[M]:
    """Parse a JSON Lines file into ``model`` instances, rejecting bad lines and duplicate ids."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise BankError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise BankError(f"{path}: cannot read ({e.strerror})") from None
    items: list[M] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise BankError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
        except ValueError as e:  # e.g. an integer longer than Python converts
            raise BankError(f"{path}:{lineno}: invalid JSON ({str(e).splitlines()[0][:120]})") from None
        except RecursionError:
            raise BankError(f"{path}:{lineno}: invalid JSON (nested too deeply)") from None
        if not isinstance(obj, dict):
            raise BankError(f"{path}:{lineno}: each line must be a JSON object, got {type(obj).__name__}")
        broken = surrogate_field(obj)
        if broken is not None:
            raise BankError(f"{path}:{lineno}: field '{broken}': lone surrogate (a \\ud800-\\udfff escape that is not "
                            "half of a pair is no Unicode character)")
        try:
            item = model.model_validate(obj, strict=False)
        except ValidationError as e:
            raise BankError(_format_validation(path, lineno, e)) from None
        item_id = getattr(item, "id", None)
        if item_id is not None:
            if item_id in seen:
                raise BankError(f"{path}:{lineno}: field 'id': duplicate id {item_id!r} (first on line {seen[item_id]})")
            seen[item_id] = lineno
        items.append(item)
    if not items:
        raise BankError(f"{path}: the bank holds no items")
    return items


def load_bank(name_or_path: str | Path, model: type[BaseModel] = Item) -> Bank:
    """Load and validate a bank by bundled name (``terry9``, ``topics``, ...) or by file path."""
    path = bank_path(name_or_path)
    items = load_jsonl_models(path, model)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    name = path.stem if path.parent == BANK_DIR else str(path)
    return Bank(name=name, path=path, sha256=sha, items=tuple(items))
