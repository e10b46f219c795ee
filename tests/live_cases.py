"""Cases every live venue suite can share: they use only ``LiveHarness`` (``MD_STREAM``,
``MD_CONNECTS``, ``md_ws``), so a suite runs one by importing it (``from tests.live_cases import
...``): it runs on that suite's ``live`` fixture. Not a test module itself (no ``test_`` prefix).
"""

from __future__ import annotations

from engine.model import BookStatus, VenueStatusChanged
from tests.live_common import LiveHarness

__all__ = ["test_malformed_frames_are_counted_and_the_session_goes_on",
           "test_refused_handshakes_back_off_and_connect_later",
           "test_silent_stream_trips_the_watchdog_and_recovers"]


async def test_silent_stream_trips_the_watchdog_and_recovers(live: LiveHarness) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.ws.stall(1.5)
    md = live.md_ws()
    assert md is not None
    await live.until(lambda: md.stats.watchdog_trips >= 1, timeout=5)
    await live.until(lambda: md.stats.reconnects >= 1 and live.adapter.stats["snapshots"] >= 2,
                     timeout=5)
    assert ("disconnected", f"{live.MD_STREAM}: stale") in [(e.status, e.reason)
                                                           for e in live.of(VenueStatusChanged)]
    await live.assert_book_matches()


async def test_refused_handshakes_back_off_and_connect_later(live: LiveHarness) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.ws.reject_connections(3, status=503)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.adapter.stats[live.MD_CONNECTS] >= 2, timeout=8)
    md = live.md_ws()
    assert md is not None and md.stats.handshake_failures >= 1
    await live.assert_book_matches()


async def test_malformed_frames_are_counted_and_the_session_goes_on(live: LiveHarness) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.malformed()
    live.fake.malformed()
    await live.until(lambda: live.adapter.stats["malformed"] >= 2)
    assert live.adapter.stats[live.MD_CONNECTS] == 1  # garbage is counted, never a reconnect
    await live.assert_book_matches()
