"""Output paths checked before any work starts (a backtest's result folder, a run's journal).

A path that can never be written (under a regular file, at an existing file where a folder is
wanted, in a read-only folder) is reported in one line before a backtest computes for minutes
or a daemon connects to its venues; the commands turn ``OutputPathError`` into exit status 2.
Nothing is created here: the check only looks.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OutputPathError", "check_output_dir", "check_output_file"]


class OutputPathError(Exception):
    """An output path that cannot be written; the message is one line naming it."""


def _check_parent_chain(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"{what} {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise OutputPathError(f"{what} {path}: folder {parent} is not writable")
            return
        if parent.is_symlink():  # a dangling link cannot be created through
            raise OutputPathError(f"{what} {path}: {parent} is a broken symbolic link")


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """``path`` is, or can be created as, a writable folder; returns it."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise OutputPathError(f"{what} {p}: exists and is a file, not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputPathError(f"{what} {p}: not writable")
        return p
    _check_parent_chain(p, what)
    return p


def check_output_file(path: str | Path, what: str = "file") -> Path:
    """``path`` is a writable regular file, or one that can be created; returns it."""
    p = Path(path)
    if p.exists():
        if p.is_dir():
            raise OutputPathError(f"{what} {p}: is a folder, not a file")
        if not os.access(p, os.W_OK):
            raise OutputPathError(f"{what} {p}: not writable")
        return p
    _check_parent_chain(p, what)
    return p
