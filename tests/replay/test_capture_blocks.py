"""``load_records`` reads a capture in blocks of lines: the same records as the line-by-line
reader across block boundaries, blank lines and a last line without its newline."""

from __future__ import annotations

import gzip
from pathlib import Path

import msgspec
import pytest

from adapters import capture
from adapters.capture import CaptureFormatError, CaptureRecord, iter_records, load_records


@pytest.mark.parametrize("gz", [True, False])
def test_blocks_equal_lines(tmp_path: Path, gz: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "_BLOCK", 257)  # many boundaries, some inside a record
    enc = msgspec.json.Encoder()
    lines = [enc.encode(CaptureRecord(i, "binance-usdm", "ws", "wss://x", '{"k": "%s"}' % ("v" * (i % 50))))
             for i in range(400)]
    body = b"\n".join(lines[:200]) + b"\n\n  \n" + b"\n".join(lines[200:])  # no final newline
    path = tmp_path / ("c.jsonl.gz" if gz else "c.jsonl")
    path.write_bytes(gzip.compress(body) if gz else body)
    got = load_records(path)
    assert got == list(iter_records(path))
    assert [r.ts for r in got] == list(range(400))


def test_a_bad_line_is_still_named(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    good = msgspec.json.encode(CaptureRecord(1, "v", "ws", "", "{}"))
    path.write_bytes(good + b"\n" + good + b"\n{not json\n" + good + b"\n")
    with pytest.raises(CaptureFormatError, match=r"c.jsonl:3: not a capture record"):
        load_records(path)
