"""Bybit v5 session against the fake venue: market-data faults, through the real kernel."""

from __future__ import annotations

import asyncio

from engine.model import BookStatus, BookStatusChanged, Side, SubmitOrder, VenueStatusChanged
from tests.bybit_live.conftest import IID, Live


async def test_start_loads_instruments_and_a_live_book_equal_to_the_venue(live: Live) -> None:
    (inst,) = live.adapter.instruments()
    assert inst.id == IID and inst.tick_size == 0.1 and inst.lot_size == 0.001
    await live.assert_book_matches()
    assert live.adapter.stats["snapshots"] == 1


async def test_abrupt_disconnect_reconnects_resnapshots_and_reports_status(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.adapter.stats["md_connects"] >= 2
                     and live.adapter.stats["private_connects"] >= 2)
    await live.until(lambda: live.adapter.stats["snapshots"] >= 2)
    statuses = [(e.status, e.reason) for e in live.of(VenueStatusChanged)]
    assert ("disconnected", "public stream: connection_lost") in statuses
    assert ("connected", "public stream reconnected") in statuses
    await live.assert_book_matches()


async def test_silent_stream_trips_the_watchdog_and_recovers(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.ws.stall(1.5)
    md = live.adapter._md
    assert md is not None
    await live.until(lambda: md.stats.watchdog_trips >= 1, timeout=5)
    await live.until(lambda: md.stats.reconnects >= 1, timeout=5)
    assert ("disconnected", "public stream: stale") in [(e.status, e.reason) for e in live.of(VenueStatusChanged)]
    await live.assert_book_matches()


async def test_sequence_gap_marks_the_book_stale_the_gate_refuses_then_it_resyncs(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    stale: list[BookStatusChanged] = []
    live.kernel.bus.subscribe(BookStatusChanged, stale.append)
    live.fake.snapshot_delay_s = 0.3  # keep the resync in flight long enough to look
    live.fake.gap()
    await live.until(lambda: live.book.status is BookStatus.STALE)
    assert stale and stale[0].reason == "gap"
    bid = live.book.best_bid_price() if live.book.best_bid() else 60_000.0
    denial = live.kernel.router.submit(SubmitOrder(
        client_order_id="while-stale", strategy_id="t", instrument_id=IID, side=Side.BUY,
        quantity=0.001, price=round(bid, 1)))
    assert denial is not None and denial.reason == "BOOK_NOT_LIVE"
    await live.until(lambda: live.book.status is BookStatus.LIVE, timeout=5)
    assert live.adapter.stats["resync_requests"] >= 1
    await live.assert_book_matches()


async def test_malformed_frames_are_counted_and_a_swallowed_update_is_healed(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.malformed()                 # garbage between updates: nothing lost
    live.fake.malformed(replace=True)     # garbage instead of an update: a gap follows
    await live.until(lambda: live.adapter.stats["malformed"] >= 2)
    await live.until(lambda: live.adapter.stats["resync_requests"] >= 1)
    await live.assert_book_matches()


async def test_refused_handshakes_back_off_and_connect_later(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.ws.reject_connections(3, status=503)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.adapter.stats["md_connects"] >= 2, timeout=8)
    md = live.adapter._md
    assert md is not None and md.stats.handshake_failures >= 1
    await live.assert_book_matches()


async def test_planned_max_lifetime_reconnect_resyncs(fake) -> None:  # type: ignore[no-untyped-def]
    from adapters.bybit.session import BybitVenue
    from tests.bybit_live.conftest import params

    lv = Live(fake, BybitVenue(params(fake, max_lifetime_s=0.4)))
    await lv.adapter.start()
    try:
        await lv.until(lambda: lv.adapter.stats["md_connects"] >= 2, timeout=5)
        await asyncio.sleep(0.05)
        await lv.assert_book_matches()
    finally:
        await lv.adapter.stop()


async def test_pings_keep_a_quiet_connection_alive(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.paused = True  # no market data at all: only the pongs arrive
    await asyncio.sleep(1.2)  # more than twice stale_after_s
    md = live.adapter._md
    assert md is not None and md.stats.watchdog_trips == 0 and live.adapter.stats["md_connects"] == 1
    assert md.stats.heartbeats_sent >= 5
    live.fake.paused = False
    await live.assert_book_matches()


async def test_venue_refusing_a_subscription_is_reported_not_fatal(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    md = live.adapter._md
    assert md is not None
    md.send_nowait('{"op":"subscribe","args":["orderbook.50.NOTACOIN"],"req_id":"x"}')
    await live.until(lambda: live.adapter.stats["venue_errors"] >= 1)
    await live.assert_book_matches()
