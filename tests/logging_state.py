"""An autouse fixture for tests that configure logging as the commands do (``volta`` CLI,
``engine.logging.configure_logging``): the root logger's handlers and level, and structlog's
configuration, are put back after each test. Import it into a test module or ``conftest.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
