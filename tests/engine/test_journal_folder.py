"""A journal whose folder cannot be created is a JournalError naming it (``volta run`` prints
it as one line, exit 2), not a FileNotFoundError traceback from the mkdir. (A path under a
regular file fails for every user; under /proc it reached the mkdir only as root, whom the
CLI's own check lets through.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.journal import Journal, JournalError


def test_a_journal_folder_that_cannot_be_made_is_a_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(JournalError) as err:
        Journal(blocker / "sub" / "j.sqlite")
    assert str(err.value).startswith(f"journal {blocker / 'sub' / 'j.sqlite'}: cannot create its folder: ")
