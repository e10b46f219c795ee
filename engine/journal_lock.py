"""One journal, one process: an exclusive ``flock`` on ``<journal>.lock`` with the holder's pid.

The lock is held for the journal's lifetime by an open descriptor (the kernel releases it
when the process dies, however it dies, so a crash never leaves a stale lock); the pid
written in the file only names the holder in the refusal a second writer gets
(``JournalLocked``). A read-only journal takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from engine.journal_records import JournalError, JournalLocked
from engine.journal_writer import describe


def acquire(lock_path: Path, journal: Path) -> int:
    """Take the lock (the descriptor that holds it); ``JournalLocked`` names the holder."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalError(f"journal {journal}: cannot create {lock_path}: "
                           f"{describe(exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid = int(os.pread(fd, 32, 0).decode().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        os.close(fd)
        raise JournalLocked(journal, pid or None) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release(fd: int) -> None:
    """Clear the pid and close the descriptor (closing it releases the flock)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.close(fd)


def holder_pid(lock_path: Path) -> int | None:
    """The pid written in the lock file (None: none, or unreadable)."""
    try:
        return int(lock_path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None
