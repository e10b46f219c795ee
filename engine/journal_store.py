"""The journal's indexed store: its schema, opening it, and the writes that fill it.

Theory of operation: the store (the SQLite file at ``<journal>``, WAL mode) is what
``records()``, audits and restarts read; ``engine.journal`` owns *when* it is written (a
checkpoint, a snapshot, at open), this module *what* one write is. Each write is one
transaction, so a crash leaves the whole of it or none: a batch of committed log records
(``insert_rows``; the store writer's job ``store_batch`` also deletes the set-aside log that
held them once they are stored), or a snapshot.

Snapshots and segments (recovery in time independent of history): ``Journal.submit_snapshot``
(the node's path) hands the writer a snapshot to encode and store (``snapshot_job``), so the
event loop pays only for the state capture; ``Journal.save_snapshot`` does it all on the
caller's thread (``save_snapshot``). Either stores a checkpoint of the engine's state
(``engine.execution.snapshot``) together with the ``seq`` of the last record it covers, in one
SQLite transaction with a SHA-256 of the payload, so a crash while writing one leaves either
the whole snapshot or none, and a damaged one is skipped at load (``snapshots`` yields the
newest first; the restart falls back to the previous one, or to a full replay). A restart
reads the newest verified snapshot and replays only the records after its ``seq``.
**Rotation rule**: when a snapshot is saved, the records covered by the *previous* snapshot
(``seq`` at or below it) are moved out of the live store into a read-only segment file
``<journal>.segments/<first seq>-<last seq>.sqlite`` (same table) once there are at least
``ROTATE_RECORDS`` of them; the segment is written to a temporary name, flushed and renamed
before the records leave the store, so a crash in between leaves them in both places (read
once, by seq). ``records()`` reads the segments, the store and the log's committed tail in
``seq`` order: audits see the whole history; a restart asks for ``records(after_seq=...)``
and never opens a segment its snapshot covers.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.journal_writer import Batch, rotate, store_snapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    direction TEXT NOT NULL,
    type TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    digest TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS strategy_state (
    strategy_id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    payload BLOB NOT NULL
);
"""
INSERT = "INSERT OR IGNORE INTO journal (seq, ts, direction, type, payload) VALUES (?, ?, ?, ?, ?)"

SnapshotDone = Callable[[int, int, float], None]
"""Called as ``done(seq, payload bytes, seconds)`` once a snapshot is stored."""


def open_store(path: str | Path, synchronous: str, read_only: bool) -> sqlite3.Connection:
    """The store's connection (autocommit: every write says BEGIN itself); a writable store
    gets WAL mode, the durability mode and its tables. Raises ``sqlite3.Error``/``OSError``."""
    uri = f"file:{path}?mode=ro" if read_only else str(path)
    db = sqlite3.connect(uri, isolation_level=None, check_same_thread=False, uri=read_only)
    if not read_only:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(SCHEMA)
    return db


def rollback(db: sqlite3.Connection) -> None:
    """Undo the open transaction, if any (after a failed write; never raises)."""
    with contextlib.suppress(sqlite3.Error):
        if db.in_transaction:
            db.execute("ROLLBACK")


def insert_rows(db: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Records into the store in one transaction (none of them on an error, which is raised)."""
    try:
        db.execute("BEGIN")
        db.executemany(INSERT, rows)
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise


def store_batch(batch: Batch, old_log: Path | None, db: sqlite3.Connection) -> None:
    """(writer thread) A batch's records into the store in one transaction; then the log file
    that held them, if it was set aside, is deleted."""
    if batch.count:
        db.execute("BEGIN")
        try:
            for rows in batch.chunks():  # (decoded here, off the event loop, in slices)
                db.executemany(INSERT, rows)
        except BaseException:
            db.execute("ROLLBACK")  # (none of a batch that does not decode is stored)
            raise
        db.execute("COMMIT")
    batch.done = True
    if old_log is not None:
        old_log.unlink()


def save_snapshot(db: sqlite3.Connection, seq: int, ts: int, payload: bytes, keep: int) -> None:
    """Store a snapshot in one transaction (rolled back and raised on a ``sqlite3.Error``)."""
    try:
        store_snapshot(db, seq, ts, payload, keep)
    except sqlite3.Error:
        rollback(db)
        raise


def snapshot_job(journal: Path, segments_dir: Path, keep: int, rotate_records: int,
                 seq: int, ts: int, encode: Callable[[], bytes], done: SnapshotDone | None,
                 db: sqlite3.Connection) -> None:
    """(writer thread) Encode, store in one transaction, rotate."""
    t0 = time.perf_counter()
    payload = encode()
    store_snapshot(db, seq, ts, payload, keep)
    rotate(db, journal, segments_dir, rotate_records)
    if done is not None:
        done(seq, len(payload), time.perf_counter() - t0)
