"""The CLI tests configure logging as the commands do: restore it after each test."""

from __future__ import annotations

from tests.logging_state import _restore_logging  # noqa: F401 -- autouse, for every CLI test
