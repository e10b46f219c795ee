"""Bybit v5 session against the fake venue: market-data faults, through the real kernel.

The cases Binance and Bybit share are in ``tests/live_rest_cases/`` (imported below, run
here); this module adds the venue's own.
"""

from __future__ import annotations

import asyncio

from engine.model import BookStatus
from tests.bybit_live.conftest import Live
from tests.live_rest_cases.faults import *  # noqa: F403 -- the shared cases, run on this suite's fixtures


async def test_pings_keep_a_quiet_connection_alive(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.paused = True  # no market data at all: only the pongs arrive
    await asyncio.sleep(1.2)  # more than twice stale_after_s
    md = live.adapter.streams._md
    assert md is not None and md.stats.watchdog_trips == 0 and live.adapter.stats["md_connects"] == 1
    assert md.stats.heartbeats_sent >= 5
    live.fake.paused = False
    await live.assert_book_matches()


async def test_venue_refusing_a_subscription_is_reported_not_fatal(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    md = live.adapter.streams._md
    assert md is not None
    md.send_nowait('{"op":"subscribe","args":["orderbook.50.NOTACOIN"],"req_id":"x"}')
    await live.until(lambda: live.adapter.stats["venue_errors"] >= 1)
    await live.assert_book_matches()
