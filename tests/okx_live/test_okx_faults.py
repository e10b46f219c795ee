"""OKX session against the fake venue: market-data faults, through the real kernel."""

from __future__ import annotations

import orjson

from engine.model import BookStatus, BookStatusChanged, Side, SubmitOrder, VenueStatusChanged
from tests.live_cases import (  # noqa: F401 -- shared cases, run on this suite's fixtures
    test_malformed_frames_are_counted_and_the_session_goes_on,
    test_silent_stream_trips_the_watchdog_and_recovers,
)
from tests.okx_live.conftest import IID, INST, Live


async def test_start_lists_instruments_logs_in_and_the_book_equals_the_venue(live: Live) -> None:
    (inst,) = live.adapter.instruments()
    assert inst.id == IID and inst.tick_size == 0.1 and inst.lot_size == 1.0 and inst.inverse
    assert live.adapter.logged_in
    await live.assert_book_matches()
    assert live.kernel.book_keeper.stats.checksums_verified > 0
    assert live.kernel.book_keeper.stats.checksum_mismatches == 0


async def test_text_pings_keep_the_connection_alive(live: Live) -> None:
    await live.until(lambda: sum(1 for r in live.fake.ws.received if r.data == "ping") >= 4)


async def test_bad_checksum_marks_stale_and_a_resubscription_heals(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    changes: list[BookStatusChanged] = []
    live.kernel.bus.subscribe(BookStatusChanged, changes.append)
    live.fake.bad_checksum()
    await live.until(lambda: any(c.reason == "checksum" for c in changes))
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    assert live.adapter.stats["resubscribes"] >= 1
    unsub = [orjson.loads(r.data) for r in live.fake.ws.received
             if isinstance(r.data, str) and '"unsubscribe"' in r.data]
    assert unsub[0]["args"] == [{"channel": "books", "instId": INST}]
    await live.assert_book_matches()


async def test_gap_marks_stale_the_gate_refuses_then_it_resyncs(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.ws.delay_replies(0.3)
    live.fake.gap()
    await live.until(lambda: live.book.status is BookStatus.STALE)
    denial = live.kernel.router.submit(SubmitOrder(
        client_order_id="while-stale", strategy_id="t", instrument_id=IID, side=Side.BUY,
        quantity=1.0, price=live.book.best_bid_price()))
    assert denial is not None and denial.reason == "BOOK_NOT_LIVE"
    live.fake.ws.delay_replies(0.0)
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    await live.assert_book_matches()


async def test_abrupt_disconnect_reconnects_both_streams_and_reports_status(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.adapter.stats["md_connects"] >= 2
                     and live.adapter.stats["logins"] >= 2)
    statuses = [(e.status, e.reason) for e in live.of(VenueStatusChanged)]
    assert ("disconnected", "public stream: connection_lost") in statuses
    assert ("disconnected", "private stream: connection_lost") in statuses
    assert ("connected", "public stream reconnected") in statuses
    await live.assert_book_matches()


async def test_refused_handshakes_back_off_and_connect_later(live: Live) -> None:
    await live.until(lambda: live.book.status is BookStatus.LIVE)
    live.fake.ws.reject_connections(3, status=429, retry_after_s=0.05)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.adapter.stats["md_connects"] >= 2
                     and live.adapter.stats["logins"] >= 2, timeout=8)
    await live.assert_book_matches()



async def test_a_start_retried_after_a_refused_login_logs_in_once_the_key_works(fake) -> None:  # type: ignore[no-untyped-def]
    """The venue refuses the key at first (not active yet, IP not yet allowed): the start fails
    with 'login refused'. The runtime retries the start on the same session: once the venue
    accepts the key, that start must succeed, not fail on the earlier refusal."""
    import pytest

    from adapters.okx.session import OkxVenue
    from tests.okx_live.conftest import params

    fake.secret = "not-active-yet"
    lv = Live(fake, OkxVenue(params(fake, start_timeout_s=3.0)))
    with pytest.raises(RuntimeError, match="login refused"):
        await lv.adapter.start()
    fake.secret = "fake-secret"
    await lv.adapter.start()
    try:
        assert lv.adapter.streams.logged_in
    finally:
        await lv.adapter.stop()


async def test_a_failed_start_leaves_no_live_book_and_a_later_start_trades_again(fake) -> None:  # type: ignore[no-untyped-def]
    """The public stream delivers the book's snapshot, then the login is refused: the start
    fails and the session closes its streams. The book it published must not stay LIVE (it no
    longer moves: SYNCING, the venue's streams reported down); once the key works the retried
    start re-snapshots it, and after reconciliation the venue trades again."""
    import pytest

    from adapters.okx.session import OkxVenue
    from engine.reconcile import reconcile
    from tests.okx_live.conftest import params

    fake.secret = "not-active-yet"  # the venue refuses the key at first
    lv = Live(fake, OkxVenue(params(fake, start_timeout_s=3.0)))
    with pytest.raises(RuntimeError, match="login refused"):
        await lv.adapter.start()
    assert IID in lv.kernel.books  # the snapshot did arrive before the login was refused
    assert lv.book.status is BookStatus.SYNCING
    assert lv.kernel.trading.venue_halt("okx")
    fake.secret = "fake-secret"
    await lv.adapter.start()
    try:
        lv.kernel.add_instruments(lv.adapter.instruments())
        await lv.until(lambda: lv.book.status is BookStatus.LIVE)
        await reconcile(lv.kernel, lv.adapter)
        assert lv.kernel.trading.venue_halt("okx") == ""
        assert lv.kernel.router.submit(SubmitOrder(
            client_order_id="after", strategy_id="t", instrument_id=IID, side=Side.BUY,
            quantity=1.0, price=lv.best(bid=True) - 5.0)) is None
    finally:
        await lv.adapter.stop()
