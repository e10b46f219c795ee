"""The journal's write-ahead log: a preallocated, memory-mapped file (a commit is a copy into
the page cache, no system call), emptied off the order path, grown when a burst outruns it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import engine.journal as ej
import engine.journal_log as jl
from engine.journal import Journal, KillSwitchTripped
from engine.model import CancelOrder, Side, SubmitOrder

ROOT = Path(__file__).resolve().parents[2]


def _cmd(i: int) -> SubmitOrder:
    return SubmitOrder(client_order_id=f"o-{i}", strategy_id="s", instrument_id="sim:BTC-PERP",
                       side=Side.BUY, quantity=0.01 * (i % 7 + 1), price=60_000.0 + i / 2, ts=i)


def _journal_with_log_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                            map_bytes: int | None = None, prepare_bytes: int | None = None,
                            truncate_bytes: int | None = None) -> tuple[Path, Journal]:
    """A new journal (its path, the journal) whose log is reserved ``map_bytes``, prepared
    ``prepare_bytes`` ahead and emptied past ``truncate_bytes`` (each: the default if None)."""
    for module, name, value in ((jl, "LOG_MAP_BYTES", map_bytes), (jl, "LOG_PREPARE_BYTES", prepare_bytes),
                                (ej, "LOG_TRUNCATE_BYTES", truncate_bytes)):
        if value is not None:
            monkeypatch.setattr(module, name, value)
    jp = tmp_path / "j.sqlite"
    return jp, Journal(jp)


def test_committed_records_are_readable_at_once_and_uncommitted_ones_are_not(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    j = Journal(jp)
    j.append(1, "out", _cmd(1))
    j.append(2, "out", CancelOrder(client_order_id="o-1", strategy_id="s", instrument_id="sim:BTC-PERP", ts=2))
    j.commit()
    j.append(3, "out", _cmd(3))  # not committed: not a record yet
    audit = list(Journal(jp, read_only=True).records())
    assert [(r[0], r[1], r[2], r[3]) for r in audit] == [(1, 1, "out", "SubmitOrder"), (2, 2, "out", "CancelOrder")]
    assert audit[0][4] == _cmd(1)  # exact: 0.01 stays 0.01, 60000.5 stays 60000.5
    # the reserved rest of the file is zeros, and the log's size does not change per commit
    size = os.path.getsize(j.wal_path)
    j.commit()
    assert os.path.getsize(j.wal_path) == size == jl.LOG_MAP_BYTES
    j.close()


def test_a_commit_survives_a_sigkill_of_the_writer(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from engine.journal import Journal
        from tests.risk.test_journal_log import _cmd
        j = Journal({str(jp)!r})
        for i in range(1, 201):
            j.append(i, "out", _cmd(i))
            if i % 3 == 0:
                j.commit()
        print("ready", flush=True)  # 198 committed, 2 appended only
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    j = Journal(jp)  # the next process: the log's records move into the store
    records = list(j.records())
    assert [r[0] for r in records] == list(range(1, 199))
    assert [r[4] for r in records] == [_cmd(i) for i in range(1, 199)]
    j.close()


def test_a_torn_last_copy_is_dropped_at_recovery(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    j = Journal(jp)
    for i in range(1, 4):
        j.append(i, "out", _cmd(i))
    j.commit()
    j.abandon()  # what a crash leaves: no checkpoint
    with open(f"{jp}.wal", "r+b") as f:  # a crash in the middle of the next copy
        data = f.read()
        end = data.index(b"\0")
        f.seek(end)
        f.write(b'[4,4,"out","SubmitOrder",{"client_order_id":"o-4","stra')
    j = Journal(jp)
    assert [r[0] for r in j.records()] == [1, 2, 3]
    assert j.seq == 3
    j.append(4, "out", _cmd(4))  # the numbering goes on where the committed records ended
    j.commit()
    j.close()
    assert [r[0] for r in Journal(jp, read_only=True).records()] == [1, 2, 3, 4]


def test_the_log_is_emptied_off_the_order_path_once_every_record_is_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jp, j = _journal_with_log_sizes(tmp_path, monkeypatch, truncate_bytes=4096)
    for i in range(1, 61):
        j.append(i, "out", _cmd(i))
        j.commit()
    j.prepare_log()  # not all in the store yet: the log keeps them
    assert list(Journal(jp, read_only=True).records())[-1][0] == 60
    j.checkpoint()  # into the store; the log is past the mark: emptied
    with open(f"{jp}.wal", "rb") as f:
        assert f.read(16) == b"\0" * 16
    for i in range(61, 71):
        j.append(i, "out", _cmd(i))
        j.commit()
    assert [r[0] for r in Journal(jp, read_only=True).records()] == list(range(1, 71))
    j.abandon()
    assert [r[4] for r in Journal(jp).records()] == [_cmd(i) for i in range(1, 71)]


@pytest.mark.parametrize("sizes", [{}, {"map_bytes": 4096, "prepare_bytes": 1024}],
                         ids=["mid", "near_the_end"])
def test_preparing_the_log_writes_nothing_a_reader_could_take_for_a_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizes: dict[str, int]) -> None:
    # (prepare warms the bytes after the write position: zeros over zeros, the log's end and
    # the next commit's place unchanged, also when the reserved space ends within reach)
    jp, j = _journal_with_log_sizes(tmp_path, monkeypatch, **sizes)
    for i in range(1, 12):
        j.append(i, "out", _cmd(i))
    j.commit()
    before = jl.read_log(j.wal_path)
    j.prepare_log()
    raw = j.wal_path.read_bytes()
    assert raw.startswith(before) and raw[len(before):] == bytes(len(raw) - len(before))
    j.append(12, "out", _cmd(12))
    j.commit()  # (right after the last record: no gap the reader would stop at)
    j.prepare_log()
    assert [r[0] for r in Journal(jp, read_only=True).records()] == list(range(1, 13))
    j.abandon()
    assert [r[4] for r in Journal(jp).records()] == [_cmd(i) for i in range(1, 13)]


def test_a_burst_larger_than_the_reserved_log_grows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jp, j = _journal_with_log_sizes(tmp_path, monkeypatch, map_bytes=8192, prepare_bytes=4096)
    for i in range(1, 101):  # ~25 KB in one batch
        j.append(i, "out", _cmd(i))
    j.append(101, "in", KillSwitchTripped(level=1, reason="é" * 5000, source="test", ts=101))
    j.commit()
    assert os.path.getsize(j.wal_path) >= 8192 * 4
    for i in range(102, 104):  # (the commits after a growth go on at the write position)
        j.append(i, "out", _cmd(i))
        j.commit()
    j.abandon()
    records = list(Journal(jp).records())
    assert [r[0] for r in records] == list(range(1, 104))
    assert records[100][4].reason == "é" * 5000
    assert [r[4] for r in records[101:]] == [_cmd(102), _cmd(103)]


def test_full_durability_commits_to_the_device(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    j = Journal(jp, "FULL")
    for i in range(1, 6):
        j.append(i, "out", _cmd(i))
        j.commit()  # copy + msync of the pages it touched
    j.abandon()
    assert [r[4] for r in Journal(jp, "FULL").records()] == [_cmd(i) for i in range(1, 6)]


def test_without_posix_fallocate_the_space_is_reserved_by_writing_zeros(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "posix_fallocate", raising=False)  # (macOS has none)
    jp, j = _journal_with_log_sizes(tmp_path, monkeypatch, map_bytes=1 << 17)
    assert os.path.getsize(j.wal_path) == 1 << 17
    assert os.stat(j.wal_path).st_blocks * 512 >= 1 << 17  # allocated, not a sparse hole
    j.append(1, "out", _cmd(1))
    j.commit()
    j.abandon()
    assert [r[4] for r in Journal(jp).records()] == [_cmd(1)]
