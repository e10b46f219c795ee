"""Capture files: JSON Lines of ``{"ts","venue","kind","url","data"}``, optionally gzip.

Theory of operation: a capture is the raw material of replay tests and benchmarks, so it holds
frames exactly as received (``data`` is the frame text). Readers detect gzip by its magic bytes
(not the file name) and decode each line into a ``CaptureRecord``; a line that is not a valid
record raises ``CaptureFormatError`` naming the file and line. ``CaptureWriter`` appends (a
gzip file gains a new member per session, which gzip readers concatenate transparently).
Kinds: ``ws`` (frame received), ``ws-sent``, ``ws-open`` (new connection), ``rest`` (body).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

GZIP_MAGIC = b"\x1f\x8b"
KINDS = ("ws", "ws-sent", "ws-open", "rest")


class CaptureRecord(msgspec.Struct, frozen=True, gc=False):
    ts: int
    venue: str
    kind: str
    url: str = ""
    data: str = ""


class CaptureFormatError(ValueError):
    """A capture line that is not a record."""


_decoder = msgspec.json.Decoder(CaptureRecord)
_list_decoder = msgspec.json.Decoder(list[CaptureRecord])
_lines_decode = _decoder.decode_lines
_encoder = msgspec.json.Encoder()


def is_gzip(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_capture(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a capture for binary reading, decompressing if it is gzip."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_records(path: str | os.PathLike[str],
                 allow_truncated: bool = False) -> Iterator[CaptureRecord]:
    """Yield the records of a capture in file order (blank lines are skipped).

    A gzip capture still being written (or left by a crashed recorder) has no end-of-stream
    marker: with ``allow_truncated`` its complete lines are yielded, else that is an error.
    """
    lineno = 0
    try:
        with open_capture(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                if allow_truncated and not line.endswith(b"\n"):
                    return  # a partial last line
                try:
                    yield _decoder.decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise CaptureFormatError(
                        f"{path}:{lineno}: not a capture record: {exc}") from exc
    except EOFError as exc:
        if not allow_truncated:
            raise CaptureFormatError(f"{path}:{lineno + 1}: truncated gzip stream") from exc
    except OSError as exc:  # corrupt gzip data
        raise CaptureFormatError(f"{path}:{lineno + 1}: unreadable capture: {exc}") from exc


def load_records(path: str | os.PathLike[str]) -> list[CaptureRecord]:
    """All records of a capture in memory (benchmarks time nothing but decoding).

    Read in blocks of whole lines, each block decoded as one JSON array (one call into
    msgspec per block, no Python step per record); anything wrong with the file (a bad line,
    a truncated or corrupt gzip stream) is then found and reported line by line by
    ``iter_records``."""
    try:
        try:
            return _load_blocks(path)
        except (OSError, EOFError, msgspec.DecodeError, msgspec.ValidationError):
            return list(iter_records(path))  # (raises ``CaptureFormatError`` naming the line)
    except (OSError, EOFError) as exc:
        raise CaptureFormatError(f"{path}: unreadable capture: {exc}") from exc


_BLOCK = 1 << 16


def _load_blocks(path: str | os.PathLike[str]) -> list[CaptureRecord]:
    out: list[CaptureRecord] = []
    rest = b""
    with open_capture(path) as fh:
        while True:
            block = fh.read(_BLOCK)
            if not block:
                break
            if rest:
                block = rest + block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if not cut:
                continue
            # One call per block, no Python step per line. ``decode_lines`` also skips blank
            # lines and would accept two records run together on one line: one record per
            # newline proves neither happened; otherwise the block is decoded as a JSON array
            # of its non-blank lines (run-together records fail there, named by ``iter_records``).
            got = _lines_decode(memoryview(block)[:cut])
            if len(got) != block.count(b"\n", 0, cut):
                lines = [line for line in block[:cut].split(b"\n") if line.strip()]
                got = _list_decoder.decode(b"[" + b",".join(lines) + b"]")
            out += got
    if rest.strip():
        out.append(_decoder.decode(rest))
    return out


class CaptureWriter:
    """Append records to a capture (``volta record``); gzip when ``compress`` (default: the
    name ends in ``.gz``). ``flush()`` makes what was written durable enough to read back."""

    def __init__(self, path: str | os.PathLike[str], compress: bool | None = None,
                 append: bool = True) -> None:
        self.path = Path(path)
        if compress is None:
            compress = self.path.suffix == ".gz"
        mode = "ab" if append else "wb"
        self._fh: IO[bytes] = gzip.open(self.path, mode) if compress else open(self.path, mode)
        self.records = 0

    def write(self, ts: int, venue: str, kind: str, url: str = "",
              data: bytes | str = "") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown capture kind {kind!r}; expected one of {KINDS}")
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data).decode("utf-8", errors="surrogateescape")
        self._fh.write(_encoder.encode(CaptureRecord(ts, venue, kind, url, data)) + b"\n")
        self.records += 1

    def write_record(self, record: CaptureRecord) -> None:
        self.write(record.ts, record.venue, record.kind, record.url, record.data)

    def flush(self) -> None:
        # GzipFile.flush() ends the deflate block (Z_SYNC_FLUSH): readable up to here.
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "CaptureWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_records(path: str | os.PathLike[str], records: list[CaptureRecord],
                  compress: bool | None = None) -> None:
    """Write a whole capture (tests build modified captures this way)."""
    with CaptureWriter(path, compress=compress, append=False) as writer:
        for record in records:
            writer.write_record(record)


__all__ = ["CaptureFormatError", "CaptureRecord", "CaptureWriter", "GZIP_MAGIC",
           "is_gzip", "iter_records", "load_records", "open_capture", "write_records"]
