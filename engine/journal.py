"""The order journal: every command before it is sent, every venue event when it arrives.

Theory of operation: one SQLite database in WAL mode (standard library ``sqlite3``), one
append-only table ``journal(seq, ts, direction, type, payload)``. A command is inserted and
committed *before* the router hands it to a session, so a crash can never leave an order at
the venue that the journal does not know. Venue events are inserted as they arrive and
committed in batches (``flush``, called on a timer and at shutdown) because losing the tail of
events to a crash is recoverable: reconciliation asks the venue again. Payloads are the
msgspec JSON encoding of the model objects, so a journal can be decoded back into events.
``synchronous=NORMAL`` is durable against a process crash (SIGKILL) in WAL mode: a commit
is in the WAL file (the OS page cache) before ``write_command`` returns. ``FULL`` also
survives power loss and kernel panics at the cost of an fsync per commit (see
benchmarks/bench_risk.py for both costs). Engine records that are not domain events
(``KillSwitchTripped``, ``PositionAdjusted``, ``ReconciliationCompleted``) live here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from engine.model import orders as _orders

_ENCODER = msgspec.json.Encoder()


class KillSwitchTripped(msgspec.Struct, frozen=True, kw_only=True):
    """The kill switch changed level (0 = cleared) and why; journaled for the audit trail."""

    level: int
    reason: str
    source: str
    ts: int


class PositionAdjusted(msgspec.Struct, frozen=True, kw_only=True):
    """Reconciliation set a position to the venue's view (the venue wins)."""

    instrument_id: str
    quantity: float
    avg_price: float
    previous: float
    reason: str
    ts: int


class ReconciliationCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """One venue was reconciled; ``differences`` counts what was found and resolved."""

    venue: str
    differences: int
    ts: int


_TYPES: dict[str, type] = {
    name: obj for name, obj in vars(_orders).items()
    if isinstance(obj, type) and issubclass(obj, msgspec.Struct)
}
_TYPES.update({c.__name__: c for c in (KillSwitchTripped, PositionAdjusted, ReconciliationCompleted)})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    direction TEXT NOT NULL,
    type TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS strategy_state (
    strategy_id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    payload BLOB NOT NULL
);
"""


class Journal:
    """Append-only record of commands (``out``) and venue events (``in``)."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"invalid synchronous mode {synchronous!r}")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
        self.seq: int = row[0]
        self._pending = 0
        self._in_tx = False
        self.written = 0
        self._closed = False

    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True

    def _insert(self, ts: int, direction: str, obj: Any) -> int:
        self._begin()
        self.seq += 1
        self._db.execute(
            "INSERT INTO journal (seq, ts, direction, type, payload) VALUES (?, ?, ?, ?, ?)",
            (self.seq, ts, direction, type(obj).__name__, _ENCODER.encode(obj)),
        )
        self.written += 1
        return self.seq

    def write_command(self, ts: int, command: Any) -> int:
        """Insert a command and commit at once (together with any pending events)."""
        seq = self._insert(ts, "out", command)
        self.flush()
        return seq

    def write_event(self, ts: int, event: Any) -> int:
        """Insert a venue/engine event; committed by the next ``flush`` or command."""
        self._pending += 1
        return self._insert(ts, "in", event)

    def flush(self) -> None:
        if self._in_tx:
            self._db.execute("COMMIT")
            self._in_tx = False
            self._pending = 0

    def save_state(self, strategy_id: str, ts: int, payload: bytes) -> None:
        self._begin()
        self._db.execute(
            "INSERT OR REPLACE INTO strategy_state (strategy_id, ts, payload) VALUES (?, ?, ?)",
            (strategy_id, ts, payload))
        self.flush()

    def load_state(self, strategy_id: str) -> bytes | None:
        row = self._db.execute("SELECT payload FROM strategy_state WHERE strategy_id = ?",
                               (strategy_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def records(self, after_seq: int = 0) -> Iterator[tuple[int, int, str, str, Any]]:
        """Every journaled record, decoded: ``(seq, ts, direction, type, object)``."""
        for seq, ts, direction, type_name, payload in self._db.execute(
                "SELECT seq, ts, direction, type, payload FROM journal WHERE seq > ? ORDER BY seq",
                (after_seq,)):
            cls = _TYPES.get(type_name)
            obj = msgspec.json.decode(payload, type=cls) if cls else msgspec.json.decode(payload)
            yield seq, ts, direction, type_name, obj

    def last_ts(self, type_name: str) -> int:
        """Timestamp of the newest record of ``type_name`` (0 if none)."""
        row = self._db.execute("SELECT COALESCE(MAX(ts), 0) FROM journal WHERE type = ?",
                               (type_name,)).fetchone()
        return int(row[0])

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._db.close()
        self._closed = True
