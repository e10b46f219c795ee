"""Binance USD-M session against the fake venue: market-data faults, through the real kernel.

Every case is shared with Bybit (``tests/live_rest_cases/faults.py``) and runs here on this
suite's fixtures; Binance-specific faults would follow the import."""

from __future__ import annotations

from tests.live_rest_cases.faults import *  # noqa: F403 -- the shared cases, run on this suite's fixtures
