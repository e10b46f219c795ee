"""The journal's write-ahead log file: preallocated, memory-mapped, appended by copying.

Theory of operation. A group commit must be in the page cache before any command of its batch
leaves (that is what survives a process crash or SIGKILL), and nothing more in ``NORMAL``
durability. ``write`` does exactly that, but on the order path a cold system call costs
20-40 µs; a copy into a shared memory map of the same file puts the bytes in the same page
cache in a few. So the log is a file whose space is reserved up front (``posix_fallocate``,
or zeros written where it does not exist) and mapped whole:

* ``write`` appends a batch at the write position in one C call (the map's own ``write``,
  which keeps the position: no Python frame on the order path) or raises ``ValueError`` when
  it does not fit; ``copy`` is the whole step (``msync`` of the pages it touched in ``FULL``
  durability: on the device before anything is sent; a batch larger than what is left grows
  the file, reserved first, doubling, and the map).
* ``prepare`` (off the order path: the execution core's 200 ms timer) writes a zero over the
  zero at the start of each page ahead of the write position, so that the page's first fault
  is paid there, not by a commit, and zeros over the first ``LOG_TOUCH_BYTES`` after the
  write position, so that the next commit finds its lines in the cache (never a byte a
  reader could take for a record: past the write position the file is zeros, the log's end).
* ``reset`` starts the log over, empty (the journal calls it once every record in the log is
  in its indexed store): truncated, reserved again, remapped.

Because the space is reserved, a full device fails an open, a growth or a reset with an
``OSError`` (the journal turns it into a ``JournalError`` and halts trading), never a copy
into the map. The unwritten rest of the file is zeros: ``read_log`` returns the bytes before
the first NUL (JSON text never holds a raw NUL), and a torn last copy is a line that does not
decode, which the journal drops.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Callable
from pathlib import Path

LOG_MAP_BYTES = 16 << 20
"""Size of the log file reserved when it is (re)started."""
LOG_PREPARE_BYTES = 256 << 10
"""How far ahead of the write position ``prepare`` keeps the log's pages faulted in."""
LOG_TOUCH_BYTES = 2048
"""How much of the log just after the write position ``prepare`` warms (a few commits)."""
_PAGE = mmap.PAGESIZE
_ZEROS = memoryview(bytes(LOG_TOUCH_BYTES))


def reserve(fd: int, size: int) -> None:
    """Allocate the file's first ``size`` bytes on the device (zeros where nothing was written),
    so that a copy into its map never needs space the device may not have."""
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is not None:
        allocate(fd, 0, size)
        return
    have = os.fstat(fd).st_size  # (no posix_fallocate, e.g. macOS: write the zeros)
    zeros = bytes(1 << 16)
    while have < size:
        have += os.pwrite(fd, zeros[:size - have], have)


def read_log(path: Path) -> bytes:
    """The log's written bytes (empty when there is no log)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    end = data.find(b"\0")  # (the reserved, never written rest)
    return data if end < 0 else data[:end]


class MappedLog:
    """One log file, opened empty (its previous records must have been moved elsewhere)."""

    __slots__ = ("path", "_fd", "_map", "size", "write", "_prepared")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self.size = 0
        self.write: Callable[[bytes | bytearray], int] = _closed
        """``write(data)``: append ``data`` at the write position if it fits in the reserved
        space (else ``ValueError``, nothing written: ``copy`` grows the file); no sync."""
        self._prepared = 0  # pages below this offset are faulted in
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self.reset()
        except BaseException:
            self.close()
            raise

    def reset(self) -> None:
        """Start over, empty: zeros, space reserved, mapped, the first pages faulted in."""
        if self._map is not None:
            self._map.close()
            self._map = None
            self.write = _closed
        os.ftruncate(self._fd, 0)
        reserve(self._fd, LOG_MAP_BYTES)
        self._map = mmap.mmap(self._fd, LOG_MAP_BYTES)
        self.write = self._map.write  # (the map keeps the write position: ``written``)
        self.size = LOG_MAP_BYTES
        self._prepared = 0
        self.prepare()

    @property
    def written(self) -> int:
        """Bytes copied in since the log was last started over (the write position)."""
        m = self._map
        return 0 if m is None else m.tell()

    def prepare(self) -> None:
        """Fault in the pages after the write position (a zero written over a zero) and warm
        the bytes right after it (zeros written over zeros)."""
        m = self._map
        if m is None:
            return
        written = m.tell()
        # The next commit's lines warmed too (zeros over the zeros there: the log's end and
        # the map's write position do not move): a requote after a quiet spell otherwise
        # finds them and their page's mapping cold, ~1 us of its commit.
        touch = min(written + LOG_TOUCH_BYTES, self.size)
        m[written:touch] = _ZEROS[:touch - written]
        start = max(self._prepared, -(-written // _PAGE) * _PAGE)  # (never the page in use)
        end = min(written + LOG_PREPARE_BYTES, self.size)
        for offset in range(start, end, _PAGE):
            m[offset] = 0
        self._prepared = max(self._prepared, end)

    def copy(self, data: bytes | bytearray, sync: bool) -> None:
        """Append ``data`` (one group commit); with ``sync``, on the device on return."""
        m = self._map
        if m is None:
            raise ValueError("closed")
        start = m.tell()
        end = start + len(data)
        if end > self.size:
            self._grow(end)
        m.write(data)
        if sync:
            page = start - start % _PAGE
            m.flush(page, end - page)  # msync(MS_SYNC)

    def reader(self, start: int, end: int) -> LogRange:
        """The bytes at ``[start, end)`` to read later, from any thread (see ``LogRange``)."""
        return LogRange(os.dup(self._fd), start, end)

    def read(self, start: int, end: int) -> bytes:
        """A copy of the bytes at ``[start, end)`` (records committed but not yet stored)."""
        m = self._map
        return b"" if m is None or end <= start else m[start:end]

    def _grow(self, end: int) -> None:
        """A batch outran the reserved space: reserve and map more (doubling)."""
        size = self.size
        while size < end + LOG_PREPARE_BYTES:
            size *= 2
        reserve(self._fd, size)
        assert self._map is not None
        self._map.resize(size)
        self.size = size

    def close(self) -> None:
        if self._map is not None:
            with contextlib.suppress(OSError, ValueError, BufferError):
                self._map.close()
            self._map = None
        self.write = _closed
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def _closed(data: bytes | bytearray) -> int:
    raise ValueError("closed")


class LogRange:
    """Bytes ``[start, end)`` of a log file, read when needed through a descriptor of its own:
    the store writer reads what it was handed (``pread``, which releases the interpreter's
    lock) instead of the event loop copying it at the hand-over, and a rename of the file
    (set aside) or the close of its map changes nothing. The owner closes it (once no thread
    can read it any more)."""

    __slots__ = ("_fd", "start", "end")

    def __init__(self, fd: int, start: int, end: int) -> None:
        self._fd = fd
        self.start = start
        self.end = end

    def read(self) -> bytes:
        chunks = []
        at, end = self.start, self.end
        while at < end:
            chunk = os.pread(self._fd, end - at, at)
            if not chunk:
                raise OSError(f"log ends at {at}, {end - at} bytes short")
            chunks.append(chunk)
            at += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
