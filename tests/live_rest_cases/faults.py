"""Shared market-data fault cases (Binance, Bybit): streams drop, stall, gap, garble, refuse.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.model import BookStatus, BookStatusChanged, Side, SubmitOrder, VenueStatusChanged
from tests.live_cases import (
    test_refused_handshakes_back_off_and_connect_later,
    test_silent_stream_trips_the_watchdog_and_recovers,
)
from tests.live_rest_cases import Live

__all__ = [
    "test_start_loads_instruments_and_a_live_book_equal_to_the_venue",
    "test_abrupt_disconnect_reconnects_resnapshots_and_reports_status",
    "test_silent_stream_trips_the_watchdog_and_recovers",
    "test_sequence_gap_marks_the_book_stale_the_gate_refuses_then_it_resyncs",
    "test_malformed_frames_are_counted_and_a_swallowed_update_is_healed",
    "test_refused_handshakes_back_off_and_connect_later",
    "test_planned_max_lifetime_reconnect_resyncs",
]


async def test_start_loads_instruments_and_a_live_book_equal_to_the_venue(live: Live) -> None:
    (inst,) = live.adapter.instruments()
    assert inst.id == live.IID and inst.tick_size == 0.1 and inst.lot_size == 0.001
    await live.assert_book_matches()
    assert live.adapter.stats["snapshots"] == 1


async def test_abrupt_disconnect_reconnects_resnapshots_and_reports_status(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.adapter.stats["md_connects"] >= 2
                     and live.adapter.stats[live.PRIVATE_CONNECTS] >= 2)
    await live.until(lambda: live.adapter.stats["snapshots"] >= 2)
    statuses = [(e.status, e.reason) for e in live.of(VenueStatusChanged)]
    assert ("disconnected", f"{live.MD_STREAM}: connection_lost") in statuses
    assert ("connected", f"{live.MD_STREAM} reconnected") in statuses
    await live.assert_book_matches()


async def test_sequence_gap_marks_the_book_stale_the_gate_refuses_then_it_resyncs(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    stale: list[BookStatusChanged] = []
    live.kernel.bus.subscribe(BookStatusChanged, stale.append)
    live.delay_resync(0.3)  # keep the resync in flight long enough to look
    live.fake.gap()
    await live.until(lambda: live.book.status is BookStatus.STALE)
    assert stale and stale[0].reason == "gap"
    bid = live.book.best_bid_price() if live.book.best_bid() else 60_000.0
    denial = live.kernel.router.submit(SubmitOrder(
        client_order_id="while-stale", strategy_id="t", instrument_id=live.IID, side=Side.BUY,
        quantity=0.001, price=round(bid, 1)))
    assert denial is not None and denial.reason == "BOOK_NOT_LIVE"
    await live.until(lambda: live.book.status is BookStatus.LIVE, timeout=5)
    assert live.adapter.stats["resync_requests"] >= 1
    live.delay_resync(0.0)
    await live.assert_book_matches()


async def test_malformed_frames_are_counted_and_a_swallowed_update_is_healed(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.malformed()                 # garbage between updates: nothing lost
    live.fake.malformed(replace=True)     # garbage instead of an update: a gap follows
    await live.until(lambda: live.adapter.stats["malformed"] >= 2)
    await live.until(lambda: live.adapter.stats["resync_requests"] >= 1)
    await live.assert_book_matches()


async def test_planned_max_lifetime_reconnect_resyncs(fake: Any, live_cls: type[Live]) -> None:
    lv = live_cls(fake, live_cls.make_adapter(fake, max_lifetime_s=0.4))
    await lv.adapter.start()
    try:
        await lv.until(lambda: lv.adapter.stats["md_connects"] >= 2, timeout=5)
        await asyncio.sleep(0.05)
        await lv.assert_book_matches()
    finally:
        await lv.adapter.stop()
