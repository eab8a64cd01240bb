"""Run folders: ``items.jsonl`` appended item by item (flushed and fsynced), summaries and the
manifest written atomically (temp file + rename), and resumption that skips recorded items and
asks failed ones again.

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

from ..errors import PolistanceError, redact

ITEMS = "items.jsonl"
MANIFEST = "manifest.json"
FAILURES = "failed_attempts.jsonl"
"""Earlier failed records of items a resume asked again (history; items.jsonl keeps the latest)."""


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
    """Appends records to a run folder and remembers which keys are already done.

    On ``resume`` a key counts as done only when its latest record did not fail: failed records
    move to ``failed_attempts.jsonl`` (their history) and their items are asked again.
    ``finish_records`` then writes ``items.jsonl`` once more in the run's own order, one record
    per key, so a resumed run's file is byte-identical to one that never failed."""

    def __init__(self, folder: Path, config: dict, resume: bool = False, overwrite: bool = False):
        self.folder = Path(folder)
        self.config = config
        self.items_path = self.folder / ITEMS
        self.done: set[str] = set()
        self.retrying: set[str] = set()
        self._fh = None
        check_run_folder(self.folder, resume, overwrite)
        if resume:
            old = read_manifest(self.folder)
            diffs = config_differences(old.get("config") or {}, config)
            if diffs:
                raise PolistanceError(
                    f"--resume {self.folder}: the run was made with a different configuration: " + "; ".join(diffs)
                )
            self._start_resume()
        else:
            _make_folder(self.folder)
            for stale in (self.items_path, self.folder / FAILURES):
                if stale.exists():
                    stale.unlink()
        self.write_manifest(status="running")
        self._fh = open(self.items_path, "a", encoding="utf-8")

    def _start_resume(self) -> None:
        """Keep the latest record of each key; move failed ones to the history file to be retried."""
        latest: dict[str, dict] = {}
        for rec in read_records(self.folder, cut_torn=True, missing_ok=True):
            latest.pop(rec["key"], None)
            latest[rec["key"]] = rec
        failed = [r for r in latest.values() if r.get("status") == "failed"]
        if failed:
            append_history(self.folder / FAILURES, failed)
        kept = [r for r in latest.values() if r.get("status") != "failed"]
        self.retrying = {r["key"] for r in failed}
        self.done = {r["key"] for r in kept}
        if self.items_path.exists():
            atomic_write(self.items_path, "".join(dumps_record(r) + "\n" for r in kept))

    def append(self, record: dict) -> None:
        """Append one finished record and make it durable before returning."""
        self._fh.write(dumps_record(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.done.add(record["key"])

    def finish_records(self, order: list[str]) -> list[dict]:
        """Close the file and rewrite it in run order (``order`` of keys; others after, as written),
        keeping each key's latest record. Returns the records as written."""
        self.close()
        latest: dict[str, dict] = {}
        for rec in read_records(self.folder):
            latest.pop(rec["key"], None)
            latest[rec["key"]] = rec
        records = sort_records(latest.values(), order)
        atomic_write(self.items_path, "".join(dumps_record(r) + "\n" for r in records))
        return records

    def abandon(self, error: BaseException) -> None:
        """Mark the run ``interrupted`` (with the reason) when scoring stopped on an error or Ctrl-C."""
        self.close()
        why = redact(f"{type(error).__name__}: {error}")[:500]
        self.write_manifest(status="interrupted", extra={"error": why})

    def write_manifest(self, status: str, extra: dict | None = None) -> None:
        manifest = {
            "config": self.config,
            "status": status,
            "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        path = self.folder / MANIFEST
        try:
            old = json.loads(path.read_text())
            manifest["started"] = old.get("started") if isinstance(old, dict) else None
        except (OSError, ValueError):
            pass
        if manifest.get("started") is None:
            manifest["started"] = manifest["updated"]
        if extra:
            manifest.update(extra)
        atomic_write(path, json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n")

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()


def check_run_folder(folder: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a run folder that cannot be used, before any model is loaded: a file in its place, a
    run there already (without ``--overwrite``), or nothing to resume."""
    if folder.exists() and not folder.is_dir():
        raise PolistanceError(f"{folder}: exists and is not a folder; choose another --out")
    if resume:
        read_manifest(folder)
        read_records(folder, missing_ok=True)
        return
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise PolistanceError(f"{folder} already holds a run; use --resume {folder} or --overwrite")
    parent = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK)):
        raise PolistanceError(f"{folder}: cannot create the run folder ({parent} is not a writable folder)")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PolistanceError(f"{folder}: cannot create the run folder ({e.strerror})") from None


def read_manifest(folder: Path) -> dict:
    """The manifest of a run folder to resume; a missing or damaged one is the user's error."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise PolistanceError(f"--resume {folder}: no {MANIFEST} there, nothing to resume")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise PolistanceError(f"--resume {folder}: {MANIFEST} is damaged ({e}); start a new run with --out") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config", {}), dict):
        raise PolistanceError(f"--resume {folder}: {MANIFEST} is not a run manifest; start a new run with --out")
    return manifest


def append_history(path: Path, records: list[dict]) -> None:
    """Add records to a history file (durably), skipping any already there (a resume cut short)."""
    seen = set(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else set()
    lines = [line for line in (dumps_record(r) for r in records) if line not in seen]
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
        f.flush()
        os.fsync(f.fileno())


def config_differences(old: dict, new: dict) -> list[str]:
    """Human-readable list of configuration fields that differ between two runs."""
    out = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            out.append(f"{k}: recorded {old.get(k)!r}, now {new.get(k)!r}")
    return out


def read_records(folder: Path | str, cut_torn: bool = False, missing_ok: bool = False) -> list[dict]:
    """All complete records of a run folder, in file order.

    A last line without its newline (a crash mid-write) is skipped, and cut off the file when
    ``cut_torn``; any other line that is not a JSON object with a string ``key`` is the user's
    error, naming the file and line."""
    path = Path(folder) / ITEMS
    if not path.is_file():
        if missing_ok and not path.exists():
            return []
        raise PolistanceError(f"{folder}: no {ITEMS}")
    out, good_bytes = [], 0
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                break
            try:
                rec = json.loads(line)
            except (UnicodeDecodeError, ValueError, RecursionError) as e:
                raise PolistanceError(f"{path}:{lineno}: not a JSON record ({str(e)[:120]})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
                raise PolistanceError(f"{path}:{lineno}: not a run record (a JSON object with a 'key')")
            out.append(rec)
            good_bytes += len(line)
    if cut_torn and path.stat().st_size != good_bytes:
        with open(path, "r+b") as f:
            f.truncate(good_bytes)
    return out


def sort_records(records: Iterable[dict], order: list[str]) -> list[dict]:
    rank = {k: i for i, k in enumerate(order)}
    return sorted(records, key=lambda r: rank.get(r["key"], len(rank)))
