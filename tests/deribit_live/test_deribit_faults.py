"""Deribit session against the fake venue: market-data faults, through the real kernel."""

from __future__ import annotations

from engine.model import BookStatus, BookStatusChanged, Side, SubmitOrder, VenueStatusChanged
from tests.deribit_live.conftest import IID, Live
from tests.live_cases import (  # noqa: F401 -- shared cases, run on this suite's fixtures
    test_malformed_frames_are_counted_and_the_session_goes_on,
    test_refused_handshakes_back_off_and_connect_later,
    test_silent_stream_trips_the_watchdog_and_recovers,
)


async def test_start_lists_instruments_and_the_live_book_equals_the_venue(live: Live) -> None:
    (inst,) = live.adapter.instruments()
    assert inst.id == IID and inst.tick_size == 0.5 and inst.lot_size == 10.0 and inst.inverse
    assert live.adapter.authenticated
    await live.assert_book_matches()
    methods = [m for m, _ in live.fake.requests]
    assert methods[:3] == ["public/set_heartbeat", "public/auth", "public/get_time"]
    assert "private/enable_cancel_on_disconnect" in methods


async def test_test_requests_are_answered_with_public_test(live: Live) -> None:
    await live.until(lambda: live.adapter.stats["test_requests"] >= 1)
    await live.until(lambda: any(m == "public/test" for m, _ in live.fake.requests))


async def test_abrupt_disconnect_reconnects_resubscribes_and_reports_status(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.adapter.stats["connects"] >= 2 and live.adapter.authenticated)
    await live.until(lambda: live.adapter.stats["snapshots"] >= 2)
    statuses = [(e.status, e.reason) for e in live.of(VenueStatusChanged)]
    assert ("disconnected", "websocket: connection_lost") in statuses
    assert ("connected", "websocket reconnected") in statuses
    await live.assert_book_matches()


async def test_gap_marks_stale_the_gate_refuses_then_a_resubscription_heals(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    changes: list[BookStatusChanged] = []
    live.kernel.bus.subscribe(BookStatusChanged, changes.append)
    live.fake.ws.delay_replies(0.3)  # keep the resubscription in flight long enough to look
    live.fake.gap()
    await live.until(lambda: live.book.status is BookStatus.STALE)
    assert changes[0].reason == "gap"
    bid = live.book.best_bid_price()
    denial = live.kernel.router.submit(SubmitOrder(
        client_order_id="while-stale", strategy_id="t", instrument_id=IID, side=Side.BUY,
        quantity=10.0, price=bid))
    assert denial is not None and denial.reason == "BOOK_NOT_LIVE"
    live.fake.ws.delay_replies(0.0)
    await live.until(lambda: live.book.status is BookStatus.LIVE, timeout=5)
    assert live.adapter.stats["resubscribes"] >= 1
    assert ("public/unsubscribe", {"channels": [f"book.{IID[8:]}.raw"]}) in live.fake.requests
    await live.assert_book_matches()
