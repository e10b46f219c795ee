"""Where the recorded exchange data is, for the tests that read it (codecs, samples, fuzzing).

The recordings live outside the repository: wherever ``$VOLTA_MARKETDATA`` points, else the
``shared/marketdata`` folder next to the checkout (``tests/conftest.py`` sets the variable when
that folder exists). A test whose data is absent skips with the path it looked at and how to
point it elsewhere; it never fails for want of data.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["marketdata_dir", "read_jsonl_gz", "read_sample"]

ROOT = Path(__file__).resolve().parents[1]


def marketdata_dir() -> Path:
    """The market-data folder (it may not exist on this machine)."""
    env = os.environ.get("VOLTA_MARKETDATA")
    return Path(env) if env else ROOT / ".." / "shared" / "marketdata"


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real market data not available: {path} (set VOLTA_MARKETDATA)")


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    """Every record of a gzipped JSON-lines recording (skips the test when it is absent)."""
    _need(path)
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def read_sample(path: Path) -> str:
    """One recorded message (skips the test when it is absent)."""
    _need(path)
    return path.read_text()
