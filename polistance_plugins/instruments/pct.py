"""Loader for the user-supplied Political Compass propositions file (CSV: pct_id, pct_prompt, pct_note).

The project does not contain the official propositions; users obtain them (llm-values-pct,
data/templates/pct_propositions.csv, CC BY 4.0) and pass the file. The published weight tables
index propositions by position, so the file must hold exactly 62 rows with ids 1..62 in order
(``pc-01`` .. ``pc-62`` or plain numbers): any other count, a duplicate or an out-of-order id is
an error naming the row, never a silently shifted table.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import PolistanceError

N_PROPOSITIONS = 62
COLUMNS = ("pct_id", "pct_prompt", "pct_note")
ID_RE = re.compile(r"^(?:pc-?)?0*(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class PctProposition:
    """One row of the propositions file: its id as written, its position 1..62, text and note."""

    pct_id: str
    number: int
    text: str
    note: str
    line: int


def _parse_id(raw: str) -> int | None:
    m = ID_RE.match(raw.strip())
    return int(m.group(1)) if m else None


class _rows:
    """A csv reader whose own errors (a field over the csv module's size limit, a NUL byte) are the
    user's error naming the file and line."""

    def __init__(self, path: Path, reader):
        self.path, self.reader = path, reader

    def __iter__(self):
        return self

    def __next__(self) -> list[str]:
        try:
            return next(self.reader)
        except csv.Error as e:
            raise PolistanceError(f"PCT file {self.path}, line {self.reader.line_num}: not a readable CSV row ({e})") from None

    @property
    def line_num(self) -> int:
        return self.reader.line_num


def load_pct_file(path: str | Path) -> list[PctProposition]:
    """Read and check a PCT propositions CSV; raise ``PolistanceError`` naming the file, line and row."""
    p = Path(path)
    if not p.is_file():
        raise PolistanceError(f"PCT file {p}: no such file (see docs/compass.md for how to obtain it)")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PolistanceError(f"PCT file {p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    reader = _rows(p, csv.reader(text.splitlines(keepends=True)))
    try:
        header = next(reader)
    except StopIteration:
        raise PolistanceError(f"PCT file {p}: empty file; expected a header {','.join(COLUMNS)} and 62 rows") from None
    names = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise PolistanceError(
            f"PCT file {p}, line 1 (header): missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}, got {','.join(names)}"
        )
    col = {c: names.index(c) for c in COLUMNS}
    out: list[PctProposition] = []
    first_line: dict[int, int] = {}
    line = reader.line_num + 1
    for row_no, row in enumerate(reader, start=1):
        where = f"PCT file {p}, line {line} (row {row_no})"
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            raise PolistanceError(f"{where}: empty row")
        if len(row) != len(names):
            raise PolistanceError(f"{where}: {len(row)} fields, the header has {len(names)}")
        if row_no > N_PROPOSITIONS:
            raise PolistanceError(
                f"{where}: extra row; the Political Compass test has exactly {N_PROPOSITIONS} propositions "
                "and the weight tables index them by position"
            )
        raw_id = row[col["pct_id"]].strip()
        number = _parse_id(raw_id)
        if number is None:
            raise PolistanceError(f"{where}: pct_id {raw_id!r} is not a proposition number (pc-01 .. pc-62 or 1 .. 62)")
        if number in first_line:
            raise PolistanceError(f"{where}: duplicate pct_id {raw_id!r} (proposition {number} is already on line {first_line[number]})")
        if number != row_no:
            raise PolistanceError(
                f"{where}: pct_id {raw_id!r} is proposition {number} but row {row_no} must hold proposition {row_no}; "
                "ids must run 1..62 in order"
            )
        prompt = row[col["pct_prompt"]].strip()
        if not prompt:
            raise PolistanceError(f"{where}: empty pct_prompt")
        first_line[number] = start
        out.append(PctProposition(raw_id, number, prompt, row[col["pct_note"]].strip(), start))
    if len(out) != N_PROPOSITIONS:
        raise PolistanceError(
            f"PCT file {p}: {len(out)} proposition rows, expected exactly {N_PROPOSITIONS} "
            f"(rows {len(out) + 1}..{N_PROPOSITIONS} are missing; the weight tables index propositions by position)"
        )
    return out


def proposition_line(path: str | Path, pct_id: str) -> int | None:
    """The line of the propositions file that holds ``pct_id`` (None if it cannot be read)."""
    try:
        return next((r.line for r in load_pct_file(path) if r.pct_id == pct_id), None)
    except PolistanceError:
        return None


def file_sha256(path: str | Path) -> str:
    """Content hash of the propositions file, recorded in run manifests."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
