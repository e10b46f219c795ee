"""Snapshots and rotation off the event loop: the journal's store writer thread encodes,
stores and rotates while the order path goes on; a SIGKILL at any point of its work (inside
the snapshot transaction, inside a rotation) leaves a usable journal that loses nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

import engine.journal_writer as writer_mod
from engine.execution import snapshot as snapmod
from engine.journal import Journal
from engine.model import OrderStatus
from tests.risk.helpers import fill, make, order
from tests.risk.test_snapshots import _restart, _snapshotter, _state

ROOT = Path(__file__).resolve().parents[2]


def test_chunked_encoding_is_byte_for_byte_msgpack(tmp_path: Path) -> None:
    k, _ = make(journal=Journal(tmp_path / "j.sqlite"), max_open_orders=1_000,
                max_position_qty=1_000.0)
    for i in range(600):  # more than two slices of orders
        cmd = order(qty=0.01, price=60_000.0 - (i % 50), coid=f"o{i}")
        assert k.router.submit(cmd) is None
        if i % 3 == 0:
            fill(k, cmd, trade_id=f"t{i}")
    snap = snapmod.capture(k.journal.seq, 5, k.orders, k.portfolio, (0, "", ""),
                           execution=k.execution.snapshot(), throttle=k.gate.snapshot())
    assert len(snap.orders) == 600
    pauses: list[float] = []
    data = snapmod.encode(snap, pauses.append)
    assert data == msgspec.msgpack.encode(snap)  # the same bytes as one encoding
    assert len(pauses) == 3  # 256 + 256 + 88 orders, a GIL release after each slice
    assert msgspec.msgpack.decode(data, type=snapmod.Snapshot) == snap
    k.journal.close()


def test_the_order_path_never_waits_for_a_snapshot_in_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store writer is stuck inside the snapshot's transaction; meanwhile orders are
    checked, journaled (committed to the log) and sent, and audits see every record."""
    inside, release = threading.Event(), threading.Event()
    real_connect = writer_mod.StoreWriter._connect

    def connect(self: Any) -> Any:
        db = real_connect(self)

        def trace(stmt: str) -> None:
            if stmt.startswith("DELETE FROM snapshot") and not release.is_set():
                inside.set()
                release.wait(30)
        db.set_trace_callback(trace)
        return db

    monkeypatch.setattr(writer_mod.StoreWriter, "_connect", connect)
    jp = tmp_path / "j.sqlite"
    k, venue = make(journal=Journal(jp))
    cmd = order(coid="before")
    assert k.router.submit(cmd) is None
    snaps = _snapshotter(k)
    seq = snaps.take(k.clock.now_ns())
    assert seq == k.journal.seq and inside.wait(30)  # the writer is inside the transaction
    for i in range(20):  # the loop goes on: orders journaled and sent at once
        assert k.router.submit(order(coid=f"during-{i}")) is None
    assert [c.client_order_id for c in venue.sent][-20:] == [f"during-{i}" for i in range(20)]
    assert k.journal.seq == seq + 20 and k.journal.commits >= 21
    # a reader on the loop sees every committed record, none twice
    assert [r[0] for r in k.journal.records()] == list(range(1, k.journal.seq + 1))
    assert snaps.taken == 0 and not k.journal.writer_idle
    release.set()
    assert k.journal.drain(30) and snaps.taken == 1
    assert next(k.journal.snapshots())[0] == seq
    k.journal.close()
    assert [r[0] for r in Journal(jp, read_only=True).records()] == list(range(1, seq + 21))


_CRASH = textwrap.dedent("""
    import os, signal, sys, threading
    sys.path.insert(0, {root!r})
    import engine.journal as journal_mod
    import engine.journal_writer as writer_mod
    from engine.journal import Journal
    from tests.risk.helpers import make, order
    from tests.risk.test_snapshots import _history, _snapshotter

    journal_mod.ROTATE_RECORDS = {rotate}
    armed, written = threading.Event(), threading.Event()
    real_connect = writer_mod.StoreWriter._connect

    def connect(self):
        db = real_connect(self)

        def trace(stmt):
            if armed.is_set() and stmt.startswith({trigger!r}):
                written.wait(30)  # the loop has committed more records meanwhile
                os.kill(os.getpid(), signal.SIGKILL)
        db.set_trace_callback(trace)
        return db

    writer_mod.StoreWriter._connect = connect
    k, _ = make(journal=Journal({path!r}))
    _history(k)
    k.killswitch.clear()  # (the history ends at kill level 2: orders would be denied)
    armed.set()
    _snapshotter(k).take(k.clock.now_ns() + 1)  # handed to the writer, which dies inside
    for i in range(3):  # the order path goes on while the writer works
        assert k.router.submit(order(coid=f"after-{{i}}")) is None
    k.journal.commit()
    print("LAST", k.journal.seq, flush=True)
    written.set()
    k.journal.drain(30)
    print("writer survived", flush=True)
""")


@pytest.mark.parametrize(("trigger", "rotate"), [
    ("DELETE FROM snapshot", 100_000),  # inside the snapshot's transaction
    ("INSERT OR IGNORE INTO seg.journal", 5),  # writing the segment file
    ("DELETE FROM journal WHERE seq >=", 5),  # the segment renamed, the store not yet emptied
])
def test_sigkill_inside_the_writers_work_leaves_a_usable_journal(
        tmp_path: Path, trigger: str, rotate: int) -> None:
    jp = tmp_path / "j.sqlite"
    proc = subprocess.run([sys.executable, "-c", _CRASH.format(root=str(ROOT), path=str(jp),
                                                              trigger=trigger, rotate=rotate)],
                          cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    out = proc.stdout.decode()
    assert "writer survived" not in out
    last = int(out.split("LAST ")[1].split()[0])  # the last record the loop committed
    # every committed record is there, once, in order (audit reader: segments, store, logs)
    audit = [r[0] for r in Journal(jp, read_only=True).records()]
    assert audit == list(range(1, last + 1))
    full, _ = _restart(jp, use_snapshot=False)
    expected = _state(full)
    assert all(full.orders.get(f"after-{i}").status is OrderStatus.SUBMITTED for i in range(3))
    full.journal.close()
    snap, counts = _restart(jp, use_snapshot=True)
    assert 0 < counts["snapshot_seq"] < last
    assert _state(snap) == expected
    assert snap.journal.seq == last  # the numbering continues after the last committed record
    # and it keeps working: a new record, a new snapshot stored by the writer
    snap.journal.write_command(5, order(coid="after-crash"))
    assert _snapshotter(snap).take(6) == snap.journal.seq == last + 1
    assert snap.journal.drain(30) and next(snap.journal.snapshots())[0] == last + 1
    snap.journal.close()
    again = [r[0] for r in Journal(jp, read_only=True).records()]
    assert again == list(range(1, last + 2))


def test_a_store_failure_in_the_writer_fails_the_journal_and_halts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer cannot store (disk full inside SQLite): the journal fails with one clear
    cause, the next commit raises it, the execution core halts; the records stay in the log
    files and a restart recovers them all."""
    import sqlite3

    class Full(sqlite3.Connection):
        def executemany(self, *a: Any) -> Any:  # type: ignore[override]
            raise sqlite3.OperationalError("database or disk is full")

    def connect(self: Any) -> Any:
        return sqlite3.connect(self.path, isolation_level=None, factory=Full)

    monkeypatch.setattr(writer_mod.StoreWriter, "_connect", connect)
    jp = tmp_path / "j.sqlite"
    k, venue = make(journal=Journal(jp))
    assert k.router.submit(order(coid="a")) is None
    k.execution.checkpoint()  # hands the record to the writer, which fails
    assert k.journal.drain(30)
    assert k.journal.failed == f"journal {jp}: cannot write: database or disk is full"
    assert k.router.submit(order(coid="b")) is None  # accepted by the gate ...
    assert "b" not in [c.client_order_id for c in venue.sent]  # ... never sent unjournaled
    assert str(k.gate.state) == "halted" and k.killswitch.level == 2
    k.journal.abandon()
    monkeypatch.undo()
    j = Journal(jp)
    assert [r[4].client_order_id for r in j.records() if r[3] == "SubmitOrder"] == ["a"]
    j.close()

