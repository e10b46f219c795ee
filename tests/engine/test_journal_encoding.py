"""The journal's order-path encoding: one line per record, encoded straight into the commit's
buffer, the log format unchanged (journals written before it still open and read)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from engine.journal import Journal, JournalError
from engine.journal_log import read_log
from engine.journal_records import LOG_FORMAT, decode_lines, parse_lines
from engine.journal_writer import Batch
from engine.model.orders import CancelOrder, OrderAccepted, Side, SubmitOrder

TS = 1_767_225_600_000_000_000


def _submit(i: int, price: float | None = 0.0512) -> SubmitOrder:
    return SubmitOrder(client_order_id=f"mm-{i}", strategy_id="mm",
                       instrument_id="deribit:BTC-27DEC26-100000-C", side=Side.BUY,
                       quantity=0.1, price=price, post_only=True, ts=TS + i)


def _cancel(i: int) -> CancelOrder:
    return CancelOrder(client_order_id=f"mm-{i}", strategy_id="mm",
                       instrument_id="deribit:BTC-27DEC26-100000-C", ts=TS + i)


def _accepted(ts: int) -> OrderAccepted:
    return OrderAccepted(client_order_id="mm-1", venue_order_id="v1",
                         instrument_id="deribit:BTC-27DEC26-100000-C", ts_event=ts, ts_recv=ts)


def _old_line(seq: int, ts: int, direction: str, obj: msgspec.Struct) -> bytes:
    """A log line as journals before this encoding wrote it (format 1), built by hand."""
    payload = msgspec.json.encode(obj)
    return b'[%d,%d,"%s","%s",%s]\n' % (seq, ts, direction.encode(), type(obj).__name__.encode(),
                                        payload)


def test_log_lines_are_format_1_byte_for_byte(tmp_path: Path) -> None:
    assert LOG_FORMAT == 1
    j = Journal(tmp_path / "j.sqlite", background=False)
    try:
        objs = [("out", _cancel(1)), ("out", _submit(2)), ("out", _submit(3, None))]
        for n, (direction, obj) in enumerate(objs):
            assert j.append(TS + n, direction, obj) == n + 1
        assert read_log(j.wal_path) == b""  # appended is not written
        j.commit()
        expected = b"".join(_old_line(n + 1, TS + n, d, o) for n, (d, o) in enumerate(objs))
        assert read_log(j.wal_path) == expected
        # each line is plain JSON: [seq, ts, direction, type, object]
        first = json.loads(expected.split(b"\n")[0])
        assert first[:4] == [1, TS, "out", "CancelOrder"]
        assert first[4]["client_order_id"] == "mm-1"
    finally:
        j.close()


def test_a_journal_written_in_the_old_way_opens_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    objs = [("out", _submit(1)), ("in", _accepted(TS + 5)),
            ("out", _cancel(1))]
    lines = b"".join(_old_line(n + 1, TS + n, d, o) for n, (d, o) in enumerate(objs))
    # a crash left the log (and a torn, never committed, half line) and no store rows
    Path(f"{path}.wal").write_bytes(lines + b'[4,5,"out","Cancel')
    j = Journal(path, background=False)
    try:
        got = list(j.records())
        assert [(s, t, d, n) for s, t, d, n, _o in got] == [
            (1, TS, "out", "SubmitOrder"), (2, TS + 1, "in", "OrderAccepted"),
            (3, TS + 2, "out", "CancelOrder")]
        assert [o for *_r, o in got] == [o for _d, o in objs]
        assert j.seq == 3
        assert j.append(TS + 9, "out", _submit(4)) == 4  # numbering goes on after the old ones
        j.commit()
    finally:
        j.close()
    ro = Journal(path, read_only=True)
    try:
        assert [r[0] for r in ro.records()] == [1, 2, 3, 4]
    finally:
        ro.close()


def test_an_object_that_does_not_encode_leaves_nothing(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite", background=False)
    try:
        j.append(TS, "out", _submit(1))
        with pytest.raises(TypeError):
            j.append(TS, "out", object())
        assert j.seq == 1 and j.written == 1
        assert [r[0] for r in j.uncommitted()] == [1]
        j.append(TS + 1, "out", _submit(2))
        j.commit()
        assert [(r[0], r[4]) for r in j.records()] == [(1, _submit(1)), (2, _submit(2))]
        assert parse_lines(read_log(j.wal_path))[-1][0] == 2
    finally:
        j.close()


def test_the_commit_buffer_is_reused_without_carrying_bytes_over(tmp_path: Path) -> None:
    # (the buffer keeps its memory across commits: a short batch after a long one must be
    # exactly its own lines, and a commit with nothing appended writes nothing)
    j = Journal(tmp_path / "j.sqlite", background=False)
    try:
        objs = [("out", _submit(i)) for i in range(1, 6)]
        for n, (d, o) in enumerate(objs):
            j.append(TS + n, d, o)
        j.commit()
        commits, log = j.commits, read_log(j.wal_path)
        j.commit()  # (nothing appended since)
        assert (j.commits, read_log(j.wal_path)) == (commits, log)
        assert j.uncommitted() == []
        j.append(TS + 5, "out", _cancel(1))
        assert [r[0] for r in j.uncommitted()] == [6]
        j.commit()
        objs.append(("out", _cancel(1)))
        assert read_log(j.wal_path) == b"".join(
            _old_line(n + 1, TS + n, d, o) for n, (d, o) in enumerate(objs))
        assert [r[4] for r in j.records()] == [o for _d, o in objs]
    finally:
        j.close()


@pytest.mark.parametrize("where", ["memory", "file"])
def test_an_object_that_does_not_encode_first_after_a_commit_leaves_nothing(
        tmp_path: Path, where: str) -> None:
    j = Journal(":memory:" if where == "memory" else tmp_path / "j.sqlite", background=False)
    try:
        j.append(TS, "out", _submit(1))
        j.commit()
        commits = j.commits
        with pytest.raises(TypeError):
            j.append(TS + 1, "out", object())
        assert j.seq == 1 and j.uncommitted() == []
        j.commit()  # (nothing to commit: the failed line is not a record)
        assert j.commits == commits
        j.append(TS + 2, "out", _submit(2))
        j.commit()
        assert [(r[0], r[4]) for r in j.records()] == [(1, _submit(1)), (2, _submit(2))]
    finally:
        j.close()


@pytest.mark.parametrize("where", ["memory", "no_writer", "writer"])
def test_committed_records_are_readable_before_and_after_the_store(tmp_path: Path,
                                                                  where: str) -> None:
    path: str | Path = ":memory:" if where == "memory" else tmp_path / "j.sqlite"
    j = Journal(path, background=where == "writer")
    try:
        for i in range(1, 6):
            j.append(TS + i, "out", _submit(i))
        j.append(TS + 6, "in", _accepted(TS))
        assert list(j.records()) == [] and j.uncheckpointed == 0  # not committed: not records
        j.commit()
        assert j.uncheckpointed == 6
        assert [r[0] for r in j.records()] == [1, 2, 3, 4, 5, 6]
        assert j.last_ts("OrderAccepted") == TS + 6
        j.checkpoint()
        assert j.uncheckpointed == 0
        assert [r[0] for r in j.records()] == [1, 2, 3, 4, 5, 6]  # (writer: stored or not yet)
        j.append(TS + 7, "out", _cancel(1))
        j.commit()
        assert j.uncheckpointed == 1
        j.drain()
        assert j.store_range() == (1, 6, 6)
        j.checkpoint()
        j.drain()
        assert j.store_range() == (1, 7, 7)
        got = list(j.records())
        assert [r[0] for r in got] == list(range(1, 8))
        assert got[-1][4] == _cancel(1) and got[2][4] == _submit(3)
    finally:
        j.close()


def test_a_log_set_aside_hands_over_its_records_first(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    try:
        j.append(TS, "out", _submit(1))
        j.commit()
        j.checkpoint(set_log_aside=True)  # (a snapshot's hand-over)
        j.append(TS + 1, "out", _submit(2))
        j.commit()
        j.checkpoint(set_log_aside=True)
        j.drain()
        assert j.store_range() == (1, 2, 2)
        assert parse_lines(read_log(j.wal_path)) == []
    finally:
        j.close()
    j = Journal(path)
    try:
        assert [r[0] for r in j.records()] == [1, 2]
    finally:
        j.close()


def test_a_batch_that_does_not_decode_fails_the_store_writer() -> None:
    lines = _old_line(1, TS, "out", _submit(1)) + _old_line(2, TS, "out", _cancel(1))
    assert [r[0] for r in decode_lines(lines)] == [1, 2]
    assert Batch(lines, 2).rows == parse_lines(lines)
    assert Batch(b"", 0).store_rows() == []
    with pytest.raises(ValueError, match="decodes to 2"):
        Batch(lines, 3).store_rows()
    with pytest.raises(ValueError, match="does not decode"):
        Batch(lines + b'[3,1,"out"', 3).store_rows()


def test_a_failed_commit_keeps_nothing_and_stays_failed(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite", background=False)
    j.append(TS, "out", _submit(1))
    j.commit()
    j.abandon()  # (the log's file is released underneath: the next commit cannot write)
    j.append(TS + 1, "out", _submit(2))
    with pytest.raises(JournalError, match="cannot write"):
        j.commit()
    assert j.uncommitted() == []
    with pytest.raises(JournalError):
        j.commit()


def test_one_copy_per_commit_synced_only_in_full_mode(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.journal_log import MappedLog

    # (a commit copies through ``write``, the map's own, or ``copy``: growth, FULL's msync)
    copies: list[tuple[bytes, bool]] = []
    real_copy, real_reset = MappedLog.copy, MappedLog.reset

    def copy(self: MappedLog, data: bytes | bytearray, sync: bool) -> None:
        copies.append((bytes(data), sync))
        real_copy(self, data, sync)

    def reset(self: MappedLog) -> None:
        real_reset(self)
        write = self.write

        def spy(data: bytes | bytearray) -> int:
            copies.append((bytes(data), False))
            return write(data)

        self.write = spy

    monkeypatch.setattr(MappedLog, "copy", copy)
    monkeypatch.setattr(MappedLog, "reset", reset)
    for mode, synced in (("NORMAL", False), ("FULL", True)):
        copies.clear()
        j = Journal(tmp_path / f"{mode}.sqlite", mode, background=False)
        try:
            j.append(TS, "out", _cancel(1))
            j.append(TS + 1, "out", _submit(2))
            j.commit()
            j.commit()  # (nothing new: no copy)
            j.append(TS + 2, "out", _submit(3))
            j.commit()
        finally:
            j.close()
        assert copies == [
            (_old_line(1, TS, "out", _cancel(1)) + _old_line(2, TS + 1, "out", _submit(2)), synced),
            (_old_line(3, TS + 2, "out", _submit(3)), synced)]


def test_a_large_batch_is_decoded_and_stored_in_slices(tmp_path: Path) -> None:
    from engine.journal_writer import CHUNK_BYTES

    j = Journal(tmp_path / "j.sqlite")
    try:
        n = 0
        for group in range(400):
            for _ in range(5):
                n += 1
                j.append(TS + n, "out", _submit(n))
            j.commit()
        lines = read_log(j.wal_path)
        assert len(lines) > 8 * CHUNK_BYTES
        chunks = list(Batch(lines, n).chunks())
        assert len(chunks) > 8 and sum(len(c) for c in chunks) == n
        assert [r[0] for c in chunks for r in c] == list(range(1, n + 1))
        j.checkpoint()
        assert j.drain(30) and not j.failed
        assert j.store_range() == (1, n, n)
        got = list(j.records())
        assert len(got) == n and got[-1][4] == _submit(n) and got[0][4] == _submit(1)
    finally:
        j.close()


def test_a_batch_that_fails_mid_way_stores_none_of_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real_chunks = Batch.chunks

    def chunks(self: Batch):  # type: ignore[no-untyped-def]
        yield from real_chunks(self)
        raise ValueError("a batch of 3 records decodes to 2")

    j = Journal(tmp_path / "j.sqlite")
    try:
        for i in range(1, 4):
            j.append(TS + i, "out", _submit(i))
        j.commit()
        monkeypatch.setattr(Batch, "chunks", chunks)
        j.checkpoint()
        j.drain(30)
        assert "decodes to 2" in j.failed
        assert j.store_range() == (None, None, 0)
        with pytest.raises(JournalError, match="decodes to 2"):
            j.commit()
    finally:
        j.close()
    monkeypatch.undo()
    j = Journal(tmp_path / "j.sqlite")  # the log still holds them: moved at the next open
    try:
        assert [r[0] for r in j.records()] == [1, 2, 3]
        assert j.store_range() == (1, 3, 3)
    finally:
        j.close()


def test_the_writer_reads_handed_lines_from_a_log_renamed_since(tmp_path: Path) -> None:
    import threading

    gate = threading.Event()

    def encode() -> bytes:  # (holds the store writer until the logs have been set aside)
        assert gate.wait(30)
        return b"state"

    j = Journal(tmp_path / "j.sqlite")
    try:
        j.append(TS, "out", _submit(1))
        j.commit()
        j.submit_snapshot(1, TS, encode)
        for i in range(2, 6):  # each handed over as a range of a log that is then renamed
            j.append(TS + i, "out", _submit(i))
            j.commit()
            j.checkpoint(set_log_aside=True)
        assert [r[0] for r in j.records()] == [1, 2, 3, 4, 5]  # (not stored yet: read too)
        gate.set()
        assert j.drain(30) and not j.failed
        assert j.store_range() == (1, 5, 5)
        assert [r[4] for r in j.records()] == [_submit(i) for i in range(1, 6)]
    finally:
        gate.set()
        j.close()


def test_hand_overs_leave_no_open_descriptors(tmp_path: Path) -> None:
    import os

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    if not Path("/proc/self/fd").exists():
        pytest.skip("no /proc/self/fd to count descriptors")
    j = Journal(tmp_path / "j.sqlite")
    try:
        j.append(TS, "out", _submit(0))
        j.checkpoint()
        j.drain(30)
        before = open_fds()
        for i in range(1, 60):
            j.append(TS + i, "out", _submit(i))
            j.checkpoint(set_log_aside=i % 10 == 0)
        j.drain(30)
        assert open_fds() <= before + 1  # (at most the batch handed over last)
        assert j.store_range() == (1, 60, 60)
    finally:
        j.close()


def test_a_writer_far_behind_holds_a_bounded_number_of_descriptors(tmp_path: Path) -> None:
    """A virtual-time run hands batches over faster than SQLite stores them: past MAX_RANGES
    batches in flight the lines are copied, not read later through a descriptor of their own
    (a simulated day once ran out of descriptors)."""
    import os
    import threading

    from engine.journal import MAX_RANGES

    if not Path("/proc/self/fd").exists():
        pytest.skip("no /proc/self/fd to count descriptors")
    gate = threading.Event()

    def encode() -> bytes:  # (holds the store writer)
        assert gate.wait(30)
        return b"state"

    j = Journal(tmp_path / "j.sqlite")
    try:
        j.append(TS, "out", _submit(0))
        j.commit()
        before = len(os.listdir("/proc/self/fd"))
        j.submit_snapshot(1, TS, encode)
        n = 4 * MAX_RANGES
        for i in range(1, n + 1):
            j.append(TS + i, "out", _submit(i))
            j.checkpoint()
        assert len(os.listdir("/proc/self/fd")) <= before + MAX_RANGES + 4  # (+ the writer's own)
        assert [r[0] for r in j.records()] == list(range(1, n + 2))  # every record, in order
        gate.set()
        assert j.drain(30) and not j.failed
        assert j.store_range() == (1, n + 1, n + 1)
    finally:
        gate.set()
        j.close()
