"""The order journal: every command before it is sent, every venue event when it arrives.

Theory of operation: two files, one owner process.

* The **write-ahead log** (``<journal>.wal``, JSON Lines: ``[seq, ts, direction, type, obj]``)
  is the hot path. ``append`` encodes a record's whole line in one call onto the end of a
  reused buffer (nothing else: no row, payload or line object is kept per record, no clock
  read, no system call; the buffer keeps its memory across commits, the first line after a
  commit written over the committed ones); ``commit`` copies the whole buffer into the log
  once (a *group commit*: every command produced while one event was handled, plus the venue
  events received before them, at once). The execution core commits before it hands any of those
  commands to a venue, so a crash can never leave an order at a venue that the journal does
  not know. No other copy of a committed record is kept: the store hand-over gives the
  writer where the committed lines are in the log file, and the writer reads and decodes them.
* The log is a preallocated file mapped into memory (``engine.journal_log``): a commit is a
  copy into the page cache, what ``write`` does, without the system call; its space is
  reserved up front, so a full disk fails an open, a growth or a store checkpoint with a
  ``JournalError``, never a copy. ``prepare_log`` (the core's 200 ms timer) faults in the
  pages ahead of the write position.
* The **indexed store** (the SQLite file at ``<journal>``, WAL mode, table ``journal(seq, ts,
  direction, type, payload)``) is what ``records()``, audits and restarts read. ``checkpoint``
  (a timer, shutdown, and at open) hands the log's committed records to the **store writer**
  (``engine/journal_writer.py``: one thread, its own connection; jobs in submission order),
  which moves them into the store in one transaction (``engine/journal_store.py``). A snapshot
  sets the log aside (renamed ``<journal>.wal.<last seq>``, a fresh log continues) and the
  writer deletes it once its records are stored. A crash anywhere loses nothing: at open the
  records of the set-aside logs and the log with a ``seq`` the store lacks are moved first
  (a torn last line, never committed, is dropped). In-memory journals and
  ``background=False`` write the store on the caller's thread.
* The **read/audit side** (``engine/journal_read.py``: ``records()``, ``segments()``,
  ``snapshots()``, ``last_ts``, read-only mode, ``volta journal``) merges the segments, the
  store and the records not stored yet, each ``seq`` once, in order. What a record is (its
  types and the errors) is ``engine/journal_records.py``.

Durability (config ``risk.journal_synchronous``):

| mode     | a commit is ...                               | survives               | cost per commit |
| -------- | --------------------------------------------- | ---------------------- | --------------- |
| ``NORMAL`` | in the OS page cache (copied into the map)  | process crash, SIGKILL | a few µs        |
| ``FULL``   | on the device (copy + ``msync``)            | also power loss, panic | one device flush (0.1-10 ms) |

One journal, one process (``engine/journal_lock.py``): the journal takes an exclusive
``flock`` on ``<journal>.lock`` (with its pid written in it) for its lifetime; a second writer
is refused with ``JournalLocked`` naming the journal and the holder's pid. ``Journal(path, read_only=True)`` takes no lock and
reads the store plus the log's committed tail (audits while a node runs).

A write that fails (disk full, I/O error, file removed) raises ``JournalError`` naming the
journal and the cause, and the journal stays failed (every later commit raises the same
error): the execution core halts trading on it instead of sending anything unjournaled.
Snapshots and segments (``save_snapshot``, ``submit_snapshot``; the rotation rule and
``ROTATE_RECORDS``): the store's schema and what each write to it is, snapshots included, are
``engine/journal_store.py``.

Engine records that are not domain events (``KillSwitchTripped``, ``PositionAdjusted``,
``ReconciliationCompleted``) are defined in ``engine.journal_records`` and exported here.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog

from engine import journal_lock
from engine.journal_log import MappedLog
from engine.journal_read import (
    list_segments,
    max_snapshot_seq,
    read_logs,
    read_records,
    verified_snapshots,
)
from engine.journal_read import last_ts as _last_ts
from engine.journal_read import store_range as _store_range
from engine.journal_records import (
    JournalError,
    JournalLocked,
    KillSwitchTripped,
    PositionAdjusted,
    ReconciliationCompleted,
    Row,
    parse_lines,
)
from engine.journal_records import encode_line as _encode_line
from engine.journal_store import (
    SnapshotDone,
    insert_rows,
    open_store,
    snapshot_job,
    store_batch,
)
from engine.journal_store import save_snapshot as _store_snapshot
from engine.journal_writer import Batch as _Batch
from engine.journal_writer import StoreWriter, old_logs, rotate, set_log_aside
from engine.journal_writer import describe as _describe

__all__ = ["KEEP_SNAPSHOTS", "LOG_TRUNCATE_BYTES", "ROTATE_RECORDS", "Journal", "JournalError",
           "JournalLocked", "KillSwitchTripped", "PositionAdjusted", "ReconciliationCompleted"]

LOG_TRUNCATE_BYTES = 8 << 20
"""Past this much, ``checkpoint`` empties the log once its records are stored (with a store
writer: sets it aside, deleted once they are stored)."""
KEEP_SNAPSHOTS = 2
"""Snapshots kept in the store (the newest, and one to fall back on if it does not verify)."""
ROTATE_RECORDS = 100_000
MAX_RANGES = 32  # batches in flight that read their lines from the log file (a descriptor each)
"""Records older than the previous snapshot are moved to a segment once there are this many."""


class Journal:
    """Append-only record of commands (``out``) and venue events (``in``)."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL", *,
                 read_only: bool = False, background: bool = True) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"invalid synchronous mode {synchronous!r}")
        # The order path's attributes first: an instance's values are stored in this order,
        # so ``append`` and ``commit`` read one or two cache lines of them, not four.
        self.seq: int = 0
        self._buf = bytearray()  # appended, not yet committed (log lines)
        # Where the next append encodes: 0 when nothing is uncommitted (the bytes there are a
        # committed batch's, overwritten: no freeing at each commit and ~10 reallocations to
        # grow the buffer again), -1 (its end) once something is.
        self._at = 0
        self.failed: str = ""
        self.commits = 0
        self._committed_seq = 0
        self.path = Path(path)
        self.memory = str(path) == ":memory:"
        self.read_only = read_only
        self.synchronous = synchronous.upper()
        self._sync = self.synchronous in ("FULL", "EXTRA")
        # Committed records not yet handed to the store are the log's bytes from
        # ``_handed_at`` to its write position (no copy of them is kept; without a log file,
        # in memory, ``_done`` holds them), the seqs ``_handed_seq`` < seq <= ``_committed_seq``.
        self._done = bytearray()
        self._handed_at = 0
        self._ro_rows: list[Row] = []  # a read-only journal: the log's records at open
        self._closed = False
        self._lock_fd = -1
        self._log: MappedLog | None = None  # (None: in memory, read-only, or released)
        self.wal_path = Path(f"{path}.wal")
        self.lock_path = Path(f"{path}.lock")
        # The store's writer thread (engine/journal_writer.py); None: the store is written
        # on the caller's thread (in-memory and read-only journals, ``background=False``).
        self._writer: StoreWriter | None = None
        self._inflight: list[_Batch] = []  # handed to the writer, maybe not stored yet
        if not self.memory and not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # (a parent that is a file, a read-only or virtual file system)
                raise JournalError(f"journal {path}: cannot create its folder: "
                                   f"{exc.strerror or exc}") from None
            self._lock()
        try:
            self._db = open_store(path, self.synchronous, read_only)
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
            # (after a rotation the store may hold no record: the snapshots and the segments
            # still say how far the numbering went)
            self.seq = max(row[0], max_snapshot_seq(self._db),
                           max((last for _f, last, _p in self.segments()), default=0))
            if not self.memory:
                self._recover_log()
            self._committed_seq = self._handed_seq = self._opened_seq = self.seq
        except (sqlite3.Error, OSError) as exc:
            self._unlock()
            raise JournalError(f"journal {self.path}: cannot open: {_describe(exc)}") from None
        if background and not self.memory and not read_only:
            self._writer = StoreWriter(self.path, self.synchronous, self._store_failed)

    # -- one process ------------------------------------------------------------------------
    def _lock(self) -> None:
        self._lock_fd = journal_lock.acquire(self.lock_path, self.path)

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            journal_lock.release(self._lock_fd)
            self._lock_fd = -1

    def holder_pid(self) -> int | None:
        """The pid written in the lock file (this process's when it holds the journal)."""
        return journal_lock.holder_pid(self.lock_path)

    # -- the write-ahead log ----------------------------------------------------------------
    def _read_logs(self) -> list[Row]:
        """The records of the set-aside logs and the log, in seq order, each once."""
        return [] if self.memory else read_logs(self.wal_path)

    def _recover_log(self) -> None:
        old = old_logs(self.wal_path)
        rows = [r for r in self._read_logs() if r[0] > self.seq]
        if self.read_only:
            self._ro_rows = rows
            if rows:
                self.seq = rows[-1][0]
            return
        if rows:
            insert_rows(self._db, rows)
            self.seq = rows[-1][0]
        for path in old:  # (their records are in the store now)
            path.unlink()
        try:
            self._log = MappedLog(self.wal_path)  # (empty: its records are in the store now)
        except OSError as exc:
            raise JournalError(f"journal {self.path}: cannot open {self.wal_path}: "
                               f"{_describe(exc)}") from None

    @property
    def _log_bytes(self) -> int:
        """Bytes committed to the log since it was last emptied."""
        return self._log.written if self._log is not None else 0

    def prepare_log(self) -> None:
        """Off the order path (a timer): fault in the log's next pages. (The log is emptied by
        ``checkpoint`` once its records are stored, or set aside with a store writer.)"""
        log = self._log
        if log is None or self.failed:
            return
        try:
            log.prepare()
        except (OSError, ValueError) as exc:
            self._fail(exc)

    def _empty_log(self) -> None:
        """Every committed record is in the store: start the log over (at a checkpoint)."""
        log = self._log
        if log is not None and log.written and not self._at:
            try:
                self._handed_at = 0
                log.reset()
            except (OSError, ValueError) as exc:
                self._fail(exc)

    def append(self, ts: int, direction: str, obj: Any) -> int:
        """Add a record to the next commit (nothing is written yet); returns its seq.

        The order path's cost: the line is encoded in one call straight onto the end of the
        commit's buffer (no payload, row or line object is made; a log line holds all the
        store needs)."""
        self.seq = seq = self.seq + 1
        buf = self._buf
        try:
            _encode_line((seq, ts, direction, type(obj).__name__, obj), buf, self._at)
        except BaseException:  # (an object that does not encode: nothing of it is kept)
            if self._at:
                del buf[buf.rfind(10) + 1:]  # (its part line: JSON never holds a raw newline)
            else:
                buf.clear()
            self.seq = seq - 1
            raise
        buf.append(10)  # b"\n"
        self._at = -1
        return seq

    def commit(self) -> None:
        """Commit every appended record: one copy into the mapped log (``msync`` in FULL mode).

        Raises ``JournalError`` (and stays failed) when the log cannot be written.
        """
        if self.failed:
            raise JournalError(self.failed)
        if not self._at:  # (nothing appended since the last commit)
            return
        buf = self._buf
        log = self._log
        if log is None:
            if not self.memory:  # (closed)
                self._fail(ValueError("closed"))
            self._done += buf
        else:
            if self._sync:  # (FULL: msync)
                self._copy(buf)
            else:
                try:  # (the map's own write, one C call: the order path's copy)
                    log.write(buf)
                except ValueError:  # (no room: ``copy`` grows the file; or closed)
                    self._copy(buf)
            self.commits += 1
        self._at = 0  # (the buffer is reused: see ``_at``)
        self._committed_seq = self.seq

    def _copy(self, buf: bytearray) -> None:
        """The whole copy step: the file grown if the batch does not fit, ``msync`` in FULL."""
        try:
            self._log.copy(buf, self._sync)  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            self._fail(exc)

    @property
    def written(self) -> int:
        """Records appended since the journal was opened."""
        return self.seq - self._opened_seq

    @property
    def uncheckpointed(self) -> int:
        """Committed records not yet in the indexed store."""
        return self._committed_seq - self._handed_seq

    def uncommitted(self) -> list[Row]:
        """The records appended since the last commit (crash tests, diagnostics)."""
        return parse_lines(bytes(self._buf)) if self._at else []

    def _committed_lines(self) -> bytes:
        """The log lines of the committed records not yet handed to the store."""
        log = self._log
        return bytes(self._done) if log is None else log.read(self._handed_at, log.written)

    def _take_committed(self) -> _Batch | None:
        """The committed records not yet handed to the store, as a batch; from now on they are
        the store's (or the store writer's) to write. For the store writer, the batch is where
        its lines are in the log file (the writer reads them: no copy on the event loop)."""
        count = self._committed_seq - self._handed_seq
        if not count:
            return None
        log = self._log
        # A range holds a descriptor until the writer has stored it: while the writer is far
        # behind (a virtual-time run hands over faster than SQLite stores), further batches
        # are copied instead, so descriptors stay bounded (the copy is what the hand-over
        # cost before ranges).
        if self._writer is not None and log is not None and len(self._inflight) < MAX_RANGES:
            try:
                batch = _Batch(log.reader(self._handed_at, log.written), count)
            except OSError as exc:
                self._fail(exc)
        else:
            batch = _Batch(self._committed_lines(), count)
        self._handed_seq = self._committed_seq
        self._handed_at = self._log_bytes
        self._done.clear()
        return batch

    def _fail(self, exc: BaseException) -> None:
        self._buf.clear()  # never committed: the caller sends none of it
        self._at = 0
        self.failed = f"journal {self.path}: cannot write: {_describe(exc)}"
        raise JournalError(self.failed) from None

    def checkpoint(self, *, set_log_aside: bool = False) -> None:
        """Commit, then move the committed records into the indexed store (with a store
        writer: hand them to it, off this thread) and now and then empty the log.

        ``set_log_aside`` (a snapshot): start a fresh log file; the current one is deleted
        once its records are in the store, so the next open reads only what came after.
        """
        self.commit()
        if self.read_only:
            return
        if self._writer is not None:
            self._hand_over(set_log_aside or self._log_bytes > LOG_TRUNCATE_BYTES)
            return
        batch = self._take_committed()
        if batch is None:
            if set_log_aside:
                self._empty_log()
            return
        try:
            insert_rows(self._db, batch.store_rows())
        except (sqlite3.Error, ValueError) as exc:
            self._fail(exc)
        if set_log_aside or self._log_bytes > LOG_TRUNCATE_BYTES:
            # Emptied only now and then: writing into freshly freed blocks costs ~10x more
            # than appending to a file that keeps its blocks (records already in the store
            # are skipped at recovery by their seq).
            self._empty_log()

    # -- the store writer (engine/journal_writer.py) -------------------------------------------
    @property
    def background(self) -> bool:
        """The store is written by the writer thread (snapshots are saved off this thread)."""
        return self._writer is not None

    def _hand_over(self, set_log_aside: bool) -> None:
        """Give the committed records to the store writer (and the log file, if set aside,
        to delete once they are stored). Cheap: a list swap and, with a set-aside, a rename
        and an open."""
        self._prune_inflight()
        batch = self._take_committed()  # (before a set-aside: its lines are in this log)
        old = self._set_log_aside() if set_log_aside and self._log_bytes else None
        if batch is None:
            if old is None:
                return
            batch = _Batch(b"", 0)
        self._inflight.append(batch)
        self._submit(functools.partial(store_batch, batch, old))

    def _set_log_aside(self) -> Path:
        """Rename the log to ``<journal>.wal.<last seq>`` and continue in a fresh one."""
        if self._log is not None:  # (unmapped first: the file is renamed under no map)
            self._log.close()
            self._log = None
        try:
            old = set_log_aside(self.wal_path, self.seq, self._sync)
            self._handed_at = 0
            self._log = MappedLog(self.wal_path)
        except OSError as exc:
            self._fail(exc)
        return old

    def _prune_inflight(self) -> None:
        """Forget the batches the writer has stored (this thread only: a reader may still be
        reading one it took from ``_inflight``, on this thread, until now)."""
        keep = []
        for b in self._inflight:
            if b.done:
                b.close()
            else:
                keep.append(b)
        self._inflight = keep

    def _submit(self, job: Callable[[sqlite3.Connection], None]) -> None:
        assert self._writer is not None
        try:
            self._writer.submit(job)
        except RuntimeError as exc:  # (closed underneath: nothing more can be stored)
            self._fail(exc)

    def _store_failed(self, cause: str) -> None:
        """(writer thread) The store cannot be written: the journal fails like a log write
        (the event loop's next commit raises it and the execution core halts)."""
        self.failed = self.failed or f"journal {self.path}: cannot write: {cause}"
        structlog.get_logger("volta.journal").error("journal_store_failed", journal=str(self.path),
                                                    error=cause)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until the store writer has done everything handed to it (tests, audits,
        close); True when it has (at once without a writer)."""
        if self._writer is None:
            return True
        done = self._writer.drain(timeout)
        self._prune_inflight()
        return done

    @property
    def writer_idle(self) -> bool:
        return self._writer is None or self._writer.idle

    # -- the former API (kept for callers outside the execution core) ------------------------
    def write_command(self, ts: int, command: Any) -> int:
        """Append a record and commit at once (together with anything appended before)."""
        seq = self.append(ts, "out", command)
        self.commit()
        return seq

    def write_event(self, ts: int, event: Any) -> int:
        """Append a venue/engine event; committed by the next commit."""
        return self.append(ts, "in", event)

    def flush(self) -> None:
        """Commit and checkpoint (timer, shutdown)."""
        self.checkpoint()

    def save_state(self, strategy_id: str, ts: int, payload: bytes) -> None:
        if self.failed:
            raise JournalError(self.failed)
        # On this thread, durable when it returns (a strategy's or the loss limits' state is
        # not in the log): with a store writer it may wait for the writer's current short
        # transaction (a batch of records, a snapshot, one slice of a rotation's deletes).
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO strategy_state (strategy_id, ts, payload) VALUES (?, ?, ?)",
                (strategy_id, ts, payload))
        except sqlite3.Error as exc:
            self._fail(exc)

    def load_state(self, strategy_id: str) -> bytes | None:
        row = self._db.execute("SELECT payload FROM strategy_state WHERE strategy_id = ?",
                               (strategy_id,)).fetchone()
        return None if row is None else bytes(row[0])

    # -- snapshots and segments --------------------------------------------------------------
    @property
    def segments_dir(self) -> Path:
        return Path(f"{self.path}.segments")

    def segments(self) -> list[tuple[int, int, Path]]:
        """Archived segments as ``(first seq, last seq, path)``, oldest first."""
        return [] if self.memory else list_segments(self.segments_dir)

    def save_snapshot(self, ts: int, payload: bytes) -> int:
        """Checkpoint, then store ``payload`` as the state after every record so far (one
        transaction, on this thread: the store writer, if any, is drained first); older
        snapshots beyond ``KEEP_SNAPSHOTS`` are dropped and the records the previous snapshot
        covers rotated (see the module's rotation rule). Returns the snapshot's seq. Raises
        ``JournalError`` (and the journal stays failed) on a write error.
        """
        if self.read_only:
            raise JournalError(f"journal {self.path}: read-only")
        self.checkpoint(set_log_aside=True)
        self.drain()
        if self.failed:
            raise JournalError(self.failed)
        seq = self.seq
        try:
            _store_snapshot(self._db, seq, ts, payload, KEEP_SNAPSHOTS)
        except sqlite3.Error as exc:
            self._fail(exc)
        if not self.memory:
            rotate(self._db, self.path, self.segments_dir, ROTATE_RECORDS)
        return seq

    def submit_snapshot(self, seq: int, ts: int, encode: Callable[[], bytes],
                        done: SnapshotDone | None = None) -> None:
        """Store a snapshot of the state after record ``seq`` (the last appended) off this
        thread: the committed records and the log are handed to the store writer now, then
        the writer encodes (``encode()``), stores and rotates, and calls ``done(seq, bytes,
        seconds)`` (in the writer thread). Without a writer it is ``save_snapshot``."""
        if seq != self.seq:
            raise ValueError(f"snapshot seq {seq} is not the journal's last record {self.seq}")
        if self._writer is None:
            t0 = time.perf_counter()
            payload = encode()
            self.save_snapshot(ts, payload)
            if done is not None:
                done(seq, len(payload), time.perf_counter() - t0)
            return
        if self.failed:
            raise JournalError(self.failed)
        self.checkpoint(set_log_aside=True)
        # (the rotation threshold is read now: tests lower it on this module)
        self._submit(functools.partial(snapshot_job, self.path, self.segments_dir,
                                       KEEP_SNAPSHOTS, ROTATE_RECORDS, seq, ts, encode, done))

    # -- the read/audit side (engine/journal_read.py) -------------------------------------
    def store_range(self) -> tuple[int | None, int | None, int]:
        """(first seq, last seq, records) of the live store (None, None, 0 when empty)."""
        return _store_range(self._db)

    def snapshots(self) -> Iterator[tuple[int, int, bytes]]:
        """Stored snapshots that verify, newest first: ``(seq, ts, payload)``."""
        return verified_snapshots(self._db)

    def records(self, after_seq: int = 0) -> Iterator[tuple[int, int, str, str, Any]]:
        """Every journaled record, decoded: ``(seq, ts, direction, type, object)``: the
        archived segments (only those holding records after ``after_seq``), the store, then
        what is committed but not yet stored (a live reader sees every committed record;
        uncommitted appends are not records yet). Each seq once, in order."""
        # (the records not stored yet are taken before the store is read: engine.journal_read)
        tail = self._read_logs() if self.read_only else self._unstored()
        yield from read_records(self._db, self.path, None if self.memory else self.segments_dir,
                                tail, after_seq)

    def last_ts(self, type_name: str) -> int:
        """Timestamp of the newest record of ``type_name`` (0 if none)."""
        return _last_ts(self._db, type_name, self._unstored())

    def _unstored(self) -> list[Row]:
        """Committed records maybe not in the store yet (those handed to the writer included,
        stored or not: a batch leaves ``_inflight`` only on this thread), in seq order."""
        if self.read_only:
            return list(self._ro_rows)
        rows = [r for b in self._inflight for r in b.rows]
        return rows + parse_lines(self._committed_lines())

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Checkpoint and release the journal (a failed journal is released as it is)."""
        if self._closed:
            return
        try:
            if not self.failed and not self.read_only:
                self.checkpoint()
        finally:
            if self._writer is not None:
                self._writer.stop(drain=True)  # (everything handed over is stored first)
            self._release()

    def abandon(self) -> None:
        """Drop everything uncommitted and release the files without a checkpoint: what a
        SIGKILL leaves behind (in-process crash tests)."""
        self._buf.clear()
        self._at = 0
        self._done.clear()
        if self._writer is not None:
            self._writer.stop(drain=False)  # (the job running now completes; the rest never runs)
        self._release()

    def _release(self) -> None:
        self._closed = True
        for batch in self._inflight:  # (the writer has stopped: nothing reads them any more)
            batch.close()
        self._inflight = []
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._unlock()

