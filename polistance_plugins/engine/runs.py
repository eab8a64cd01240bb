"""Run folders: ``items.jsonl`` appended item by item (flushed and fsynced), summaries and the
manifest written atomically (temp file + rename), and resumption that skips recorded items.

Records are written with sorted keys and no timestamps, so the same inputs on the same machine
give a byte-identical ``items.jsonl``; timestamps live only in ``manifest.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable

from ..errors import PolistanceError

ITEMS = "items.jsonl"
MANIFEST = "manifest.json"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part.
    The file gets the permissions a plain ``open`` would give it (mkstemp's are owner-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def new_run_id(label: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")[:60]
    return f"{stamp}-{safe}"


def dumps_record(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False)


class RunWriter:
    """Appends records to a run folder and remembers which keys are already done."""

    def __init__(self, folder: Path, config: dict, resume: bool = False, overwrite: bool = False):
        self.folder = Path(folder)
        self.config = config
        self.items_path = self.folder / ITEMS
        self.done: set[str] = set()
        manifest_path = self.folder / MANIFEST
        if resume:
            if not manifest_path.is_file():
                raise PolistanceError(f"--resume {self.folder}: no {MANIFEST} there, nothing to resume")
            old = json.loads(manifest_path.read_text())
            diffs = config_differences(old.get("config", {}), config)
            if diffs:
                raise PolistanceError(
                    f"--resume {self.folder}: the run was made with a different configuration: " + "; ".join(diffs)
                )
            self.done = self._recorded_keys()
        else:
            if self.folder.exists() and any(self.folder.iterdir()) and not overwrite:
                raise PolistanceError(f"{self.folder} already holds a run; use --resume {self.folder} or --overwrite")
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.items_path.exists():
                self.items_path.unlink()
        self.write_manifest(status="running")
        self._fh = open(self.items_path, "a", encoding="utf-8")

    def _recorded_keys(self) -> set[str]:
        """Keys of complete records; a torn last line (crash mid-write) is cut off the file."""
        keys: set[str] = set()
        if not self.items_path.exists():
            return keys
        good_bytes = 0
        with open(self.items_path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    rec = json.loads(line)
                except ValueError:
                    break
                keys.add(rec["key"])
                good_bytes += len(line)
        with open(self.items_path, "r+b") as f:
            f.truncate(good_bytes)
        return keys

    def append(self, record: dict) -> None:
        """Append one finished record and make it durable before returning."""
        self._fh.write(dumps_record(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.done.add(record["key"])

    def write_manifest(self, status: str, extra: dict | None = None) -> None:
        manifest = {
            "config": self.config,
            "status": status,
            "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        path = self.folder / MANIFEST
        if path.is_file():
            try:
                manifest["started"] = json.loads(path.read_text()).get("started")
            except ValueError:
                pass
        manifest.setdefault("started", manifest["updated"])
        if manifest["started"] is None:
            manifest["started"] = manifest["updated"]
        if extra:
            manifest.update(extra)
        atomic_write(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def close(self) -> None:
        self._fh.close()


def config_differences(old: dict, new: dict) -> list[str]:
    """Human-readable list of configuration fields that differ between two runs."""
    out = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            out.append(f"{k}: recorded {old.get(k)!r}, now {new.get(k)!r}")
    return out


def read_records(folder: Path | str) -> list[dict]:
    """All complete records of a run folder, in file order."""
    path = Path(folder) / ITEMS
    if not path.is_file():
        raise PolistanceError(f"{folder}: no {ITEMS}")
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out


def sort_records(records: Iterable[dict], order: list[str]) -> list[dict]:
    rank = {k: i for i, k in enumerate(order)}
    return sorted(records, key=lambda r: rank.get(r["key"], len(rank)))
