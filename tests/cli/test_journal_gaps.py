"""``volta journal`` on a history with a hole: the docs allow archiving or deleting a segment
(docs/risk.md, rotation rule). ``ls`` listed the remaining parts as if they were the whole
history and ``show`` skipped the missing records without a word (status 0); both now name the
missing seq range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine.journal as journal_mod
from engine.cli import main
from engine.journal import Journal
from engine.model import SubmitOrder


@pytest.fixture
def rotated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Records 1-20 in four rounds of five, a snapshot after each: segments 1-5, 6-10, 11-15."""
    monkeypatch.setattr(journal_mod, "ROTATE_RECORDS", 5)
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    for seq in range(1, 21):
        j.append(seq, "out", SubmitOrder(client_order_id=f"c{seq}", strategy_id="s",
                                         instrument_id="sim:BTC-PERP", side="buy",
                                         quantity=1.0, price=1.0, ts=seq))
        if seq % 5 == 0:
            j.commit()
            j.save_snapshot(seq, b"state")
    j.close()
    assert [(f, last) for f, last, _p in Journal(path, read_only=True).segments()] == \
        [(1, 5), (6, 10), (11, 15)]
    return path


def test_a_deleted_segment_is_named_by_ls_and_show(rotated: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    segments = Journal(rotated, read_only=True).segments()
    segments[1][2].unlink()  # seq 6-10 archived elsewhere
    assert main(["journal", "ls", str(rotated)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "missing  seq 6-10  5 records in no segment, store or log (archived or deleted?)" in out
    assert out.index("missing  seq 6-10  5 records in no segment, store or log (archived or deleted?)") \
        == 2  # between the segments 1-5 and 11-15
    assert main(["journal", "show", str(rotated)]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(x)["seq"] for x in out.splitlines()] == [*range(1, 6), *range(11, 21)]
    assert err == f"volta journal: seq 6-10 (5 records) not in {rotated} (archived or deleted?)\n"


def test_the_oldest_segment_deleted(rotated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Journal(rotated, read_only=True).segments()[0][2].unlink()
    assert main(["journal", "ls", str(rotated)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "missing  seq 1-5  5 records in no segment, store or log (archived or deleted?)"
    assert main(["journal", "show", str(rotated), "--after", "3"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[0])["seq"] == 6
    assert err == f"volta journal: seq 4-5 (2 records) not in {rotated} (archived or deleted?)\n"


def test_a_whole_history_has_no_missing_line(rotated: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "ls", str(rotated)]) == 0
    assert "missing" not in capsys.readouterr().out
    assert main(["journal", "show", str(rotated)]) == 0
    assert capsys.readouterr().err == ""


def test_an_unreadable_segment_is_named_and_the_listing_goes_on(
        rotated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = Journal(rotated, read_only=True).segments()[1][2]
    broken.write_bytes(b"not a database, " * 64)
    assert main(["journal", "ls", str(rotated)]) == 2  # the history is damaged
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[2] == f"segment  seq 6-10  UNREADABLE (file is not a database)  {broken}"
    assert lines[3].startswith("segment  seq 11-15  5 records")
    assert any(x.startswith("store ") for x in lines) and any(x.startswith("snapshot ") for x in lines)
    assert err == f"volta journal: {rotated}: segment {broken} is unreadable\n"
    assert main(["journal", "show", str(rotated)]) == 2
    err = capsys.readouterr().err
    assert err == (f"volta journal: journal {rotated}: cannot read segment {broken}: "
                   "file is not a database\n")


def test_snapshot_times_are_utc_times_not_bare_nanoseconds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.append(1, "out", SubmitOrder(client_order_id="c", strategy_id="s", instrument_id="sim:X",
                                   side="buy", quantity=1.0, price=1.0, ts=1))
    j.commit()
    j.save_snapshot(1_796_648_052_594_190_860, b"state")
    j.close()
    assert main(["journal", "ls", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "snapshot seq 1  at 2026-12-07T12:54:12.594190860Z  5 bytes  verified"


def test_a_snapshot_that_does_not_verify_is_listed_as_such(
        rotated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    db = sqlite3.connect(rotated)
    db.execute("UPDATE snapshot SET payload = ? WHERE seq = 20", (b"tampered",))
    db.commit()
    db.close()
    assert main(["journal", "ls", str(rotated)]) == 0  # a restart falls back to seq 15
    snaps = [x for x in capsys.readouterr().out.splitlines() if x.startswith("snapshot ")]
    assert len(snaps) == 2, snaps
    assert snaps[0].startswith("snapshot seq 20  at ") and snaps[0].endswith(
        "  8 bytes  NOT VERIFIED (SHA-256 mismatch: a restart skips it)")
    assert snaps[1].startswith("snapshot seq 15  at ") and snaps[1].endswith("  5 bytes  verified")
