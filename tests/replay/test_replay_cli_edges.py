"""``volta replay`` of an empty capture and of a folder (issue 18, item 10)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from adapters.capture import CaptureWriter
from adapters.replay import main

DERIBIT_BOOK = json.dumps({"jsonrpc": "2.0", "method": "subscription", "params": {
    "channel": "book.BTC-PERPETUAL.raw", "data": {
        "type": "snapshot", "timestamp": 1, "instrument_name": "BTC-PERPETUAL", "change_id": 10,
        "bids": [["new", 100.0, 5.0]], "asks": [["new", 101.0, 3.0]]}}})


def _capture(path: Path, kinds: list[tuple[str, str]]) -> Path:
    with CaptureWriter(path) as w:
        for i, (kind, data) in enumerate(kinds):
            w.write(1_000 + i, "deribit", kind, "wss://x/ws/api/v2", data)
    return path


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.jsonl.gz"])
def test_empty_capture_is_not_consistent(tmp_path: Path, name: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wb"):
            pass
    else:
        path.write_bytes(b"")
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert "consistent" not in captured.out
    assert captured.err.strip() == f"volta replay: {path}: empty capture (no records): nothing to check"


def test_capture_without_market_data_is_not_consistent(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = _capture(tmp_path / "sent.jsonl", [("ws-open", ""), ("ws-sent", '{"method":"x"}')])
    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "NO MARKET DATA (nothing checked)" in out and "result           consistent" not in out


def test_folder_replays_every_capture_in_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "captures"
    (folder / "day2").mkdir(parents=True)
    _capture(folder / "a.jsonl", [("ws-open", ""), ("ws", DERIBIT_BOOK)])
    _capture(folder / "day2" / "b.jsonl.gz", [("ws-open", ""), ("ws", DERIBIT_BOOK)])
    (folder / "notes.txt").write_text("not a capture")
    assert main([str(folder), "--json"]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["files"] == [str(folder / "a.jsonl"), str(folder / "day2" / "b.jsonl.gz")]
    assert summary["messages"] == 2 and summary["consistent"] is True


def test_folder_without_captures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "a folder with no capture files" in capsys.readouterr().err


def test_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
