"""The journal's store writer: one thread for the SQLite store's bulk writes.

Theory of operation: the event loop appends and commits journal records to the write-ahead
log (``engine.journal``: one copy into the mapped log per batch, the order path's only
journal cost). Moving committed records into the indexed store (handed over as the log lines
that hold them, decoded here in one call), storing a snapshot and rotating old records into a
segment file are *jobs* handed to this writer, run one at a time in submission order (FIFO)
on the writer's own SQLite connection (a strategy's saved state, one small row that must be
durable when ``save_state`` returns, is the only store write left on the caller's thread). SQLite releases the GIL while a
statement runs, so the inserts, the segment copy (one ``INSERT ... SELECT`` into an attached
file) and the deletes run beside the event loop instead of pausing it; what holds the GIL (a
snapshot's encoding) is cut into slices by the job itself.

Ordering is what keeps a crash harmless: a job that stores records runs before any later job
(a snapshot covering them, the deletion of the log file that held them), so at any instant the
store holds a prefix of the history and every record above it is still in a log file; the
journal's open moves those first (``Journal._recover_log``).

Failure: a job that raises stops the writer's work for good: ``error`` names the cause,
``on_error`` is called once (in the writer thread; the journal only records the failure, and
the event loop's next commit raises it), and later jobs are skipped, so no log file is deleted
whose records did not reach the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import structlog

from engine.journal_log import LogRange
from engine.journal_records import RawRow, decode_lines

log = structlog.get_logger("volta.journal")
Job = Callable[[sqlite3.Connection], None]

SEGMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS {db}journal (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    direction TEXT NOT NULL,
    type TEXT NOT NULL,
    payload BLOB NOT NULL
)
"""
CHUNK_BYTES = 32 << 10
"""Log lines decoded per call when a batch is stored (about 150 records: well under 100 µs
of the interpreter's lock at a time)."""
DELETE_SLICE = 20_000
"""Records deleted per transaction when a rotation empties the store (short write locks)."""


class StoreWriter:
    """Runs store jobs in submission order on a thread and a connection of its own."""

    def __init__(self, path: Path, synchronous: str, on_error: Callable[[str], None]) -> None:
        self.path = path
        self.synchronous = synchronous
        self.on_error = on_error
        self.error = ""
        self.jobs_done = 0
        self._jobs: deque[Job] = deque()
        self._cv = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- the event loop's side ----------------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._cv:
            if self._stopping:
                raise RuntimeError(f"journal {self.path}: store writer stopped")
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="journal-store",
                                                daemon=True)
                self._thread.start()
            self._cv.notify_all()

    @property
    def idle(self) -> bool:
        """No job queued or running."""
        return not self._jobs and not self._busy

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every job submitted so far is done; False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def stop(self, drain: bool = True) -> None:
        """Finish (``drain``) or drop the queued jobs, then end the thread. The job running
        now always completes (what a SIGKILL leaves is decided by the file system, not here)."""
        with self._cv:
            self._stopping = True
            if not drain:
                self._jobs.clear()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- the writer thread --------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        return db

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            while True:
                with self._cv:
                    self._cv.wait_for(lambda: self._jobs or self._stopping)
                    if not self._jobs:
                        return  # stopping, nothing left
                    job = self._jobs.popleft()
                    self._busy = True
                try:
                    if not self.error:
                        if db is None:
                            db = self._connect()
                        job(db)
                        self.jobs_done += 1
                except Exception as exc:  # noqa: BLE001 - any cause fails the store, once
                    if db is not None:
                        with contextlib.suppress(sqlite3.Error):
                            if db.in_transaction:
                                db.execute("ROLLBACK")
                    self.error = describe(exc)
                    self.on_error(self.error)
                finally:
                    with self._cv:
                        self._busy = False
                        self._cv.notify_all()
        finally:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()


def old_logs(wal_path: Path) -> list[Path]:
    """Log files a snapshot set aside (``<journal>.wal.<last seq>``) and the writer has not
    deleted yet (their records maybe not stored), oldest first."""
    prefix = wal_path.name + "."
    try:
        names = os.listdir(wal_path.parent)
    except OSError:
        return []
    return [wal_path.parent / n for n in sorted(names)
            if n.startswith(prefix) and n[len(prefix):].isdigit()]


def set_log_aside(wal_path: Path, seq: int, sync: bool) -> Path:
    """Rename the log to ``<log>.<seq>`` (the caller opens a fresh one); the old path.
    ``sync`` (FULL): the directory is flushed, so the new name survives a power loss."""
    old = Path(f"{wal_path}.{seq:012d}")
    os.rename(wal_path, old)
    if sync:
        dfd = os.open(wal_path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return old


def describe(exc: BaseException) -> str:
    import errno

    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return str(exc) or type(exc).__name__


def rotate(db: sqlite3.Connection, journal: Path, segments_dir: Path, rotate_records: int) -> None:
    """Move the records at or below the *previous* snapshot's seq into a segment file
    ``<first>-<last>.sqlite`` once there are ``rotate_records`` of them (the journal's
    rotation rule). The segment is written under a temporary name (in SQLite, one statement:
    no Python loop over the records), synced and renamed before the records leave the store,
    so a crash in between leaves them in both places (read once, by seq). A failure is
    logged and leaves the records in the store (the next snapshot tries again)."""
    row = db.execute("SELECT seq FROM snapshot ORDER BY seq DESC LIMIT 1 OFFSET 1").fetchone()
    if row is None:
        return
    upto = row[0]
    first, last, count = db.execute(
        "SELECT MIN(seq), MAX(seq), COUNT(*) FROM journal WHERE seq <= ?", (upto,)).fetchone()
    if count < rotate_records:
        return
    final = segments_dir / f"{first:012d}-{last:012d}.sqlite"
    tmp = segments_dir / f"{first:012d}-{last:012d}.tmp"
    try:
        segments_dir.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # (a rotation a crash interrupted: done again)
        db.execute("ATTACH DATABASE ? AS seg", (str(tmp),))
        try:
            db.execute("PRAGMA seg.journal_mode=DELETE")
            db.execute(SEGMENT_SCHEMA.format(db="seg."))
            db.execute("BEGIN")
            db.execute("INSERT OR IGNORE INTO seg.journal SELECT seq, ts, direction, type, payload "
                       "FROM main.journal WHERE seq <= ?", (upto,))
            db.execute("COMMIT")
        finally:
            with contextlib.suppress(sqlite3.Error):
                if db.in_transaction:
                    db.execute("ROLLBACK")
            db.execute("DETACH DATABASE seg")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        for lo in range(first, upto + 1, DELETE_SLICE):  # short transactions, not one long lock
            db.execute("DELETE FROM journal WHERE seq >= ? AND seq < ? AND seq <= ?",
                       (lo, lo + DELETE_SLICE, upto))
    except (OSError, sqlite3.Error) as exc:
        log.error("journal_rotation_failed", journal=str(journal), error=describe(exc))


class Batch:
    """Committed records handed to the store writer, as the log lines that hold them;
    ``done`` once they are in the store."""

    __slots__ = ("_source", "count", "done")

    def __init__(self, source: bytes | LogRange, count: int) -> None:
        self._source = source  # the lines, or where in the log file they are
        self.count = count
        self.done = False

    @property
    def data(self) -> bytes:
        """The batch's log lines (read from the log file when handed over as a range)."""
        source = self._source
        return source if isinstance(source, bytes) else source.read()

    def close(self) -> None:
        """Release the log file's descriptor (the owner: once no thread reads the batch)."""
        if isinstance(self._source, LogRange):
            self._source.close()

    def chunks(self) -> Iterator[list[RawRow]]:
        """The records, decoded a slice of about ``CHUNK_BYTES`` of lines at a time: each
        slice is one call that holds the interpreter's lock, so the store writer, inserting
        between slices (SQLite releases the lock), never pauses the event loop for long
        however large the batch. Raises ``ValueError`` unless exactly ``count`` decode (never
        for lines the journal wrote: the writer fails rather than store part of a batch)."""
        data, n, start, size = self.data, 0, 0, len(self.data)
        while start < size:
            cut = data.find(b"\n", start + CHUNK_BYTES)
            end = size if cut < 0 else cut + 1
            try:
                rows = decode_lines(data[start:end])
            except msgspec.DecodeError as exc:
                raise ValueError(f"a batch of {self.count} records does not decode: "
                                 f"{exc}") from None
            n += len(rows)
            start = end
            yield rows
        if n != self.count:
            raise ValueError(f"a batch of {self.count} records decodes to {n}")

    def store_rows(self) -> list[RawRow]:
        """Every record, decoded (see ``chunks``)."""
        return [r for rows in self.chunks() for r in rows]

    @property
    def rows(self) -> list[tuple[int, int, str, str, bytes]]:
        """The records as store rows (readers: decoded on each call)."""
        return [(seq, ts, d, t, bytes(raw)) for seq, ts, d, t, raw in self.store_rows()]


def store_snapshot(db: sqlite3.Connection, seq: int, ts: int, payload: bytes, keep: int = 2) -> None:
    """One transaction: the snapshot (with its digest) in, all but the newest ``keep`` out."""
    digest = hashlib.sha256(payload).hexdigest()  # (hashlib releases the GIL on large data)
    db.execute("BEGIN")
    db.execute("INSERT OR REPLACE INTO snapshot (seq, ts, digest, payload) VALUES (?, ?, ?, ?)",
               (seq, ts, digest, payload))
    db.execute("DELETE FROM snapshot WHERE seq NOT IN (SELECT seq FROM snapshot "
               "ORDER BY seq DESC LIMIT ?)", (keep,))
    db.execute("COMMIT")

