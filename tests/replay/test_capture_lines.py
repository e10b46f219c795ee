"""``load_records`` decodes each block of lines in one call (``decode_lines``); what that
decoder would let through that the line reader refuses is still refused, naming the line."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from adapters.capture import CaptureFormatError, CaptureRecord, iter_records, load_records

GOOD = msgspec.json.encode(CaptureRecord(1, "binance-usdm", "ws", "wss://x", '{"e":"trade"}'))


def test_two_records_run_together_on_one_line_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(GOOD + b"\n" + GOOD + GOOD + b"\n" + GOOD + b"\n")
    with pytest.raises(CaptureFormatError, match=r"c.jsonl:2: not a capture record"):
        load_records(path)


def test_a_record_split_over_two_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(GOOD + b"\n" + GOOD.replace(b',"venue"', b',\n"venue"') + b"\n")
    with pytest.raises(CaptureFormatError, match=r"c.jsonl:2: not a capture record"):
        load_records(path)


def test_blank_and_crlf_lines_read_as_the_line_reader_does(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(GOOD + b"\r\n\n   \n" + GOOD + b"\n\n")
    got = load_records(path)
    assert got == list(iter_records(path)) and len(got) == 2
