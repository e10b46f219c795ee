"""Capture files (reader/writer) and the codec registry."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from adapters import registry
from adapters.capture import (
    CaptureFormatError,
    CaptureRecord,
    CaptureWriter,
    is_gzip,
    iter_records,
    load_records,
)


@pytest.mark.parametrize("name,compress", [("cap.jsonl", False), ("cap.jsonl.gz", True),
                                           ("no-suffix", True)])
def test_writer_reader_roundtrip(tmp_path: Path, name: str, compress: bool) -> None:
    path = tmp_path / name
    with CaptureWriter(path, compress=compress) as w:
        w.write(1, "binance-spot", "ws-open", "wss://x")
        w.write(2, "binance-spot", "ws", "wss://x", b'{"a":"\xc3\xa9"}')
        w.flush()
        assert [r.ts for r in iter_records(path, allow_truncated=True)] == [1, 2]
    with CaptureWriter(path, compress=compress) as w:         # append (a new gzip member)
        w.write(3, "binance-spot", "rest", "https://y?symbol=X", "{}")
    assert is_gzip(path) is compress
    recs = load_records(path)
    assert recs == [CaptureRecord(1, "binance-spot", "ws-open", "wss://x", ""),
                    CaptureRecord(2, "binance-spot", "ws", "wss://x", '{"a":"\u00e9"}'),
                    CaptureRecord(3, "binance-spot", "rest", "https://y?symbol=X", "{}")]


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    path = tmp_path / "plain-name.jsonl"
    with gzip.open(path, "wt") as fh:
        fh.write('{"ts":5,"venue":"okx","kind":"ws","url":"u","data":"pong"}\n\n')
    assert [r.data for r in iter_records(path)] == ["pong"]


def test_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"ts":1,"venue":"okx","kind":"ws"}\n{"ts":"x"}\n')
    with pytest.raises(CaptureFormatError, match=":2:"):
        load_records(path)
    with pytest.raises(ValueError):
        CaptureWriter(tmp_path / "w.jsonl").write(1, "okx", "bogus")


def test_registry_is_lazy_and_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = registry.create_codec("binance-coinm")
    assert codec.venue == "binance-coinm"
    assert registry.checksum_fn("binance-spot") is None
    with pytest.raises(registry.CodecUnavailable, match="unknown venue"):
        registry.create_codec("nowhere")
    monkeypatch.setitem(registry.CODECS, "broken", ("adapters.does_not_exist:Codec", {}))
    with pytest.raises(registry.CodecUnavailable, match="cannot load"):
        registry.create_codec("broken")
    assert registry.create_codec("binance-usdm").venue == "binance-usdm"   # others unaffected
    assert set(registry.venues()) >= {"deribit", "okx", "bybit", "binance-spot",
                                      "binance-usdm", "binance-coinm"}


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    with CaptureWriter(path) as w:
        for i in range(50):
            w.write(i, "okx", "ws", "u", "x" * 100)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CaptureFormatError, match="truncated|unreadable"):
        load_records(path)
    partial = list(iter_records(path, allow_truncated=True))
    assert 0 < len(partial) < 50 and [r.ts for r in partial] == list(range(len(partial)))
