"""Streaming CSV rows out of plain, gzip or zip files, with a progress line and a rate.

Files are read row by row through ``csv.reader`` over a text wrapper of the (decompressing)
binary stream: memory stays flat whatever the file size. Progress is the share of the file's
*on-disk* bytes consumed (the compressed position for gzip and zip), the file's lines read and
their rate, written to stderr at most twice a second.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


class DataImportError(ValueError):
    """A file that cannot be imported (the message names the file and, where known, the line)."""


class Progress:
    """``\\rimport NAME  42%  1,234,567 lines  812,345 lines/s`` on stderr (if enabled): the
    file being read; ``rows`` counts the lines of every file."""

    def __init__(self, enabled: bool = True, stream: Any = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self.rows = 0
        self.t0 = time.perf_counter()
        self.file_lines, self.file_t0 = 0, self.t0
        self._last = 0.0
        self._line: Any = None  # the csv reader of the file being read (its line_num)

    def reading(self, reader: Any) -> None:
        """The csv reader of the file now read: an error asks it for its line, no per-row cost."""
        self._line = reader

    def line(self) -> int:
        """The line of the file read last (the row being imported), 0 before the first."""
        return self._line.line_num if self._line is not None else 0

    def start(self, name: str, size: int, pos: Any) -> None:
        self.name, self.size, self.pos = name, max(size, 1), pos
        self.file_lines, self.file_t0 = 0, time.perf_counter()

    def tick(self, rows: int) -> None:
        self.rows += rows
        self.file_lines += rows
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last >= 0.5:
            self._last = now
            self._print(now)

    def _print(self, now: float) -> None:
        rate = self.file_lines / max(now - self.file_t0, 1e-9)
        try:
            pct = min(100.0, 100.0 * self.pos() / self.size)
        except (ValueError, OSError):  # the file is closed: it was read to the end
            pct = 100.0
        out = self.stream or sys.stderr
        print(f"\rimport {self.name}  {pct:3.0f}%  {self.file_lines:>12,} lines  "
              f"{rate:>10,.0f} lines/s",
              end="", file=out, flush=True)

    def done(self) -> None:
        if self.enabled:
            self._print(time.perf_counter())
            print(file=self.stream or sys.stderr)

    @property
    def rate(self) -> float:
        return self.rows / max(time.perf_counter() - self.t0, 1e-9)


def _members(z: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    out = [i for i in z.infolist() if not i.is_dir() and i.filename.lower().endswith(".csv")]
    if not out:
        raise DataImportError(f"{path}: the zip archive holds no .csv file")
    return out


def rows(path: Path, progress: Progress) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every CSV row of ``path`` (all CSV members of a zip)."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise DataImportError(f"{path}: {exc.strerror or exc}") from None
    with raw:
        size = path.stat().st_size
        progress.start(path.name, size, raw.tell)
        try:
            magic = raw.read(4)
            raw.seek(0)
            if magic[:2] == b"\x1f\x8b":
                yield from _csv(gzip.GzipFile(fileobj=raw), path, progress)
            elif magic == b"PK\x03\x04":
                with zipfile.ZipFile(raw) as z:
                    for info in _members(z, path):
                        with z.open(info) as member:
                            yield from _csv(member, path, progress)
            else:
                yield from _csv(raw, path, progress)
        except (OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, csv.Error) as exc:
            raise DataImportError(f"{path}: unreadable: {exc}") from None


def _csv(binary: IO[bytes], path: Path, progress: Progress) -> Iterator[tuple[int, list[str]]]:
    text = io.TextIOWrapper(binary, encoding="utf-8", newline="")  # type: ignore[arg-type]
    reader = csv.reader(text)
    progress.reading(reader)
    n = 0
    for n, fields in enumerate(reader, 1):
        if not fields:
            continue
        yield n, fields
        if not n & 0x3FF:
            progress.tick(0x400)
    progress.tick(n & 0x3FF)
