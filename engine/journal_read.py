"""The journal's read/audit side: the whole history in ``seq`` order, and the snapshots.

Theory of operation. A journal's history lives in up to four places, oldest first: the
read-only **segments** (``<journal>.segments/<first seq>-<last seq>.sqlite``, records a
rotation moved out of the store), the indexed **store** (``<journal>``), the **log files** a
snapshot set aside (``<journal>.wal.<last seq>``, deleted once their records are stored) and
the **log** (``<journal>.wal``). ``read_records`` merges them, each ``seq`` once, in order:

* The records not in the store yet are taken first (a live journal passes what it handed to
  the store writer and what is committed but not handed over; a read-only one the log files):
  one the writer stores after that point is in the store when the store is read, and a log
  file is deleted only after its records are stored.
* Then the store, then the segments below it: a rotation by the writer between the two moves
  records this reader already holds (never one it has not read yet). A segment is read only
  when it holds records after ``after_seq`` (a restart never opens one its snapshot covers).

A log's unwritten rest is zeros and a torn last line (never committed, never acted on) does
not decode: ``parse_log`` stops there. Snapshots carry a SHA-256 of their payload;
``verified_snapshots`` yields only those that verify, newest first (a restart falls back to
the previous one, or to a full replay). ``Journal`` (``records``, ``segments``,
``snapshots``, ``last_ts``, read-only mode) and ``volta journal`` read through this module.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.journal_log import read_log
from engine.journal_records import JournalError, Row, decode_rows, parse_lines
from engine.journal_writer import describe, old_logs


def parse_log(path: Path) -> list[Row]:
    """The committed records of one log file (none when it does not exist)."""
    return parse_lines(read_log(path))


def read_logs(wal_path: Path) -> list[Row]:
    """The records of the set-aside log files and the log, in seq order, each once."""
    rows: list[Row] = []
    for path in [*old_logs(wal_path), wal_path]:
        rows += [r for r in parse_log(path) if not rows or r[0] > rows[-1][0]]
    return rows


def list_segments(segments_dir: Path) -> list[tuple[int, int, Path]]:
    """Archived segments as ``(first seq, last seq, path)``, oldest first."""
    try:
        names = os.listdir(segments_dir)
    except OSError:
        return []
    out = []
    for name in names:
        stem, _dot, ext = name.partition(".")
        first, dash, last = stem.partition("-")
        if ext == "sqlite" and dash and first.isdigit() and last.isdigit():
            out.append((int(first), int(last), segments_dir / name))
    return sorted(out)


def _read_segment(journal: Path, path: Path, after: int, below: int) -> list[Any]:
    try:
        seg = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return seg.execute("SELECT seq, ts, direction, type, payload FROM journal "
                               "WHERE seq > ? AND seq < ? ORDER BY seq", (after, below)).fetchall()
        finally:
            seg.close()
    except sqlite3.Error as exc:
        raise JournalError(f"journal {journal}: cannot read segment {path}: "
                           f"{describe(exc)}") from None


def segment_records(path: Path) -> int:
    """How many records a segment file holds (``volta journal ls``)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])
    finally:
        db.close()


def read_records(db: sqlite3.Connection, journal: Path, segments_dir: Path | None,
                 tail: list[Row], after_seq: int) -> Iterator[tuple[int, int, str, str, Any]]:
    """Every record after ``after_seq``, decoded: the segments (``segments_dir``; None: an
    in-memory journal has none), the store, then ``tail`` (the records maybe not stored yet,
    taken by the caller *before* this reads the store). Each seq once, in order."""
    rows = db.execute(
        "SELECT seq, ts, direction, type, payload FROM journal WHERE seq > ? ORDER BY seq",
        (after_seq,)).fetchall()
    below = rows[0][0] if rows else None
    seen = after_seq
    for first, last, path in (list_segments(segments_dir) if segments_dir is not None else []):
        if last <= seen or (below is not None and first >= below):
            continue
        old = _read_segment(journal, path, seen, below if below is not None else 1 << 62)
        yield from decode_rows(old)
        if old:
            seen = old[-1][0]
    after = max(seen, rows[-1][0] if rows else 0)  # (log records already stored: once)
    yield from decode_rows(rows + [r for r in tail if r[0] > after])


def missing_ranges(parts: list[tuple[int, int]], last: int) -> list[tuple[int, int]]:
    """The seq ranges of 1..``last`` that no ``(first, last)`` of ``parts`` covers, in order
    (a segment archived or deleted leaves one: ``volta journal`` names it)."""
    holes: list[tuple[int, int]] = []
    expected = 1
    for first, end in sorted(parts):
        if first > expected:
            holes.append((expected, first - 1))
        expected = max(expected, end + 1)
    if last >= expected:
        holes.append((expected, last))
    return holes


def store_range(db: sqlite3.Connection) -> tuple[int | None, int | None, int]:
    """(first seq, last seq, records) of the live store (None, None, 0 when empty)."""
    lo, hi, n = db.execute("SELECT MIN(seq), MAX(seq), COUNT(*) FROM journal").fetchone()
    return lo, hi, int(n)


def last_ts(db: sqlite3.Connection, type_name: str, unstored: list[Row]) -> int:
    """Timestamp of the newest record of ``type_name`` in the store or ``unstored`` (0: none)."""
    row = db.execute("SELECT COALESCE(MAX(ts), 0) FROM journal WHERE type = ?",
                     (type_name,)).fetchone()
    best = int(row[0])
    for _seq, ts, _d, t, _p in unstored:
        if t == type_name and ts > best:
            best = ts
    return best


def max_snapshot_seq(db: sqlite3.Connection) -> int:
    """The newest snapshot's seq, verified or not (0: none)."""
    try:
        return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM snapshot").fetchone()[0])
    except sqlite3.OperationalError:  # (a read-only journal written before snapshots)
        return 0


def stored_snapshots(db: sqlite3.Connection) -> Iterator[tuple[int, int, bytes, bool]]:
    """Every stored snapshot, newest first: ``(seq, ts, payload, verifies)``."""
    try:
        rows = db.execute("SELECT seq, ts, digest, payload FROM snapshot "
                          "ORDER BY seq DESC").fetchall()
    except sqlite3.OperationalError:  # (a read-only journal written before snapshots)
        return
    for seq, ts, digest, payload in rows:
        data = bytes(payload)
        yield seq, ts, data, hashlib.sha256(data).hexdigest() == digest


def verified_snapshots(db: sqlite3.Connection) -> Iterator[tuple[int, int, bytes]]:
    """Stored snapshots that verify, newest first: ``(seq, ts, payload)``."""
    for seq, ts, data, verifies in stored_snapshots(db):
        if verifies:
            yield seq, ts, data
