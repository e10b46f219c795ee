"""Deribit order entry against the fake venue: acks, fills, amends, cancels, unknown fates,
rate limits, cancel-on-disconnect and reconciliation, through the real kernel."""

from __future__ import annotations

import asyncio

import pytest

from adapters.deribit.fake import DeribitFake
from adapters.deribit.session import DeribitVenue
from engine.config.secrets import Secret
from engine.model import (
    Liquidity,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    Side,
    SubmitOrder,
    VenueStatusChanged,
)
from engine.reconcile import reconcile
from tests.deribit_live.conftest import IID, SYM, Live, params


def _bid_below(live: Live, ticks: int = 20) -> float:
    return live.fake.books[SYM].best_bid() - ticks * 0.5  # type: ignore[operator]


def _labels(fake: DeribitFake, method: str, label: str) -> int:
    return sum(1 for m, p in fake.requests if m == method and p.get("label") == label)


async def test_resting_order_is_accepted_then_filled_as_maker(live: Live) -> None:
    live.submit("rest-1", Side.BUY, 20.0, _bid_below(live))
    await live.until(lambda: live.order("rest-1").status is OrderStatus.ACCEPTED)
    (order,) = live.fake.by_label("rest-1")
    assert live.order("rest-1").venue_order_id == order["order_id"]
    live.fake.fill_resting(order["order_id"], 10.0)
    await live.until(lambda: live.order("rest-1").status is OrderStatus.PARTIALLY_FILLED)
    live.fake.fill_resting(order["order_id"])
    await live.until(lambda: live.order("rest-1").status is OrderStatus.FILLED)
    fills = live.of(OrderFilled)
    assert [f.quantity for f in fills] == [10.0, 10.0]
    assert [f.remaining for f in fills] == [10.0, 0.0]
    assert {f.trade_id for f in fills} == {t["trade_id"] for t in live.fake.trades}
    assert all(f.liquidity is Liquidity.MAKER for f in fills)
    assert len(live.of(OrderAccepted)) == 1  # the RPC answer and user.orders: one event


async def test_aggressive_order_fills_against_the_book_with_fees_and_the_book_follows(live: Live) -> None:
    ask = live.fake.books[SYM].best_ask()
    live.submit("take-1", Side.BUY, 30.0, ask + 5.0)
    await live.until(lambda: live.order("take-1").status is OrderStatus.FILLED)
    fills = [f for f in live.of(OrderFilled) if f.client_order_id == "take-1"]
    assert sum(f.quantity for f in fills) == 30.0 and fills[-1].remaining == 0.0
    assert all(f.fee > 0 and f.fee_currency == "BTC" and f.liquidity is Liquidity.TAKER
               for f in fills)
    assert len({f.trade_id for f in fills}) == len(fills)
    assert live.kernel.portfolio.position(IID).qty == 30.0
    await live.assert_book_matches()


async def test_amend_then_cancel(live: Live) -> None:
    px = _bid_below(live)
    live.submit("am-1", Side.BUY, 20.0, px)
    await live.until(lambda: live.order("am-1").status is OrderStatus.ACCEPTED)
    assert live.kernel.router.amend(live.order("am-1"), px - 1.0, 30.0) is None
    await live.until(lambda: bool(live.of(OrderAmended)))
    (amended,) = live.of(OrderAmended)
    assert (amended.price, amended.quantity) == (px - 1.0, 30.0)
    await live.until(lambda: live.order("am-1").status is OrderStatus.ACCEPTED)
    live.kernel.router.cancel(live.order("am-1"))
    await live.until(lambda: live.order("am-1").status is OrderStatus.CANCELLED)
    assert live.of(OrderCancelled)[0].reason == "user_request"
    assert live.fake.by_label("am-1")[0]["order_state"] == "cancelled"


async def test_venue_rejects_are_reported_with_the_venue_reason(live: Live) -> None:
    live.fake.paused = True
    ask = live.fake.books[SYM].best_ask()
    live.submit("po-1", Side.BUY, 20.0, ask + 1.0, post_only=True)  # would cross: refused
    await live.until(lambda: live.order("po-1").status is OrderStatus.REJECTED)
    assert "11054: post_only_reject" in live.of(OrderRejected)[0].reason
    assert ("private/buy", {"instrument_name": SYM, "amount": 20.0, "label": "po-1",
                            "time_in_force": "good_til_cancelled", "type": "limit",
                            "price": ask + 1.0, "post_only": True, "reject_post_only": True}
            ) in live.fake.requests


async def test_lost_ack_publishes_nothing_and_the_query_settles_it_without_resend(live: Live) -> None:
    live.fake.lose_acks(1)
    ask = live.fake.books[SYM].best_ask()
    live.submit("lost-1", Side.BUY, 20.0, ask + 5.0)  # fills at once, but nobody tells us
    await live.until(lambda: live.adapter.stats["acks_unknown"] == 1)
    assert not [e for e in live.events if getattr(e, "client_order_id", "") == "lost-1"]
    await live.settle(lambda: live.order("lost-1").status is OrderStatus.FILLED)
    assert live.of(OrderStatusReport)[0].client_order_id == "lost-1"
    fills = [f for f in live.of(OrderFilled) if f.client_order_id == "lost-1"]
    assert sum(f.quantity for f in fills) == 20.0 and len(fills) == len(live.fake.trades)
    assert _labels(live.fake, "private/buy", "lost-1") == 1  # never resent


async def test_slow_ack_is_unknown_first_then_the_late_answer_settles_it(fake: DeribitFake) -> None:
    live = Live(fake, DeribitVenue(params(fake, stale_after_s=5.0)))
    await live.adapter.start()
    live.kernel.add_instruments(live.adapter.instruments())
    try:
        live.fake.ws.delay_replies(0.8)  # the answer and the notifications come late
        live.submit("slow-1", Side.BUY, 20.0, _bid_below(live))
        await live.until(lambda: live.adapter.stats["acks_unknown"] == 1)
        assert live.order("slow-1").status is OrderStatus.SUBMITTED
        await live.until(lambda: live.order("slow-1").status is OrderStatus.ACCEPTED, timeout=3)
        live.fake.ws.delay_replies(0.0)
        assert len(live.of(OrderAccepted)) == 1
        assert _labels(live.fake, "private/buy", "slow-1") == 1
        assert len(live.fake.by_label("slow-1")) == 1
    finally:
        await live.adapter.stop()


async def test_connection_lost_after_send_is_resolved_after_reconnect(live: Live) -> None:
    live.fake.lose_acks(1)
    live.submit("drop-1", Side.BUY, 20.0, _bid_below(live))
    await live.until(lambda: bool(live.fake.by_label("drop-1")))
    await live.fake.ws.disconnect()
    # cancel-on-disconnect fires at the venue; the reconnect's order resync tells us.
    await live.until(lambda: live.order("drop-1").status is OrderStatus.CANCELLED, timeout=5)
    assert live.fake.cod_fired == 1
    assert [e.reason for e in live.of(OrderCancelled)] == ["cancel_on_disconnect"]
    assert _labels(live.fake, "private/buy", "drop-1") == 1


async def test_rate_limit_reply_rejects_the_order_and_reports_the_venue_status(live: Live) -> None:
    live.fake.rate_limit(1)
    live.submit("rl-1", Side.BUY, 20.0, _bid_below(live))
    await live.until(lambda: live.order("rl-1").status is OrderStatus.REJECTED)
    assert "10028" in live.of(OrderRejected)[0].reason
    assert any(e.status == "rate_limited" for e in live.of(VenueStatusChanged))
    live.submit("rl-2", Side.BUY, 20.0, _bid_below(live))  # paced, then accepted
    await live.until(lambda: live.order("rl-2").status is OrderStatus.ACCEPTED, timeout=3)


async def test_order_held_by_the_rate_limiter_is_withdrawn_when_the_engine_reconciles(
        live: Live) -> None:
    # Soak regression: an order still waiting in the matching-engine bucket is not at the venue,
    # so a reconciliation called it gone (CANCELLED) and the bucket placed it a moment later:
    # a working order at Deribit that the engine believed finished.
    live.fake.rate_limit(1)
    live.submit("wd-rl", Side.BUY, 20.0, _bid_below(live))
    # the rate-limit answer blocks the matching-engine bucket for a second
    await live.until(lambda: live.order("wd-rl").status is OrderStatus.REJECTED)
    live.submit("wd-1", Side.BUY, 20.0, _bid_below(live))
    live.submit("wd-2", Side.BUY, 20.0, _bid_below(live))
    # a cancel before any answer asks the venue about the order: withdrawn, never sent
    live.kernel.router.cancel(live.order("wd-2"))
    await live.until(lambda: live.order("wd-2").status is OrderStatus.REJECTED, timeout=0.5)
    assert "WITHDRAWN" in live.order("wd-2").reject_reason
    assert live.order("wd-1").status is OrderStatus.SUBMITTED  # still held by the limiter
    await reconcile(live.kernel, live.adapter)
    assert live.order("wd-1").status is OrderStatus.REJECTED
    assert "WITHDRAWN" in live.order("wd-1").reject_reason
    await asyncio.sleep(1.5)  # the bucket refilled: nothing withdrawn goes out
    assert not live.fake.by_label("wd-1") and not live.fake.by_label("wd-2")
    assert _labels(live.fake, "private/buy", "wd-1") == 0
    live.submit("wd-3", Side.BUY, 20.0, _bid_below(live))  # the session trades on
    await live.until(lambda: live.order("wd-3").status is OrderStatus.ACCEPTED, timeout=3)


async def test_order_held_by_the_rate_limiter_is_withdrawn_by_the_engines_status_query(
        live: Live) -> None:
    live.fake.rate_limit(1)
    live.submit("wq-rl", Side.BUY, 20.0, _bid_below(live))
    await live.until(lambda: live.order("wq-rl").status is OrderStatus.REJECTED)
    live.submit("wq-1", Side.BUY, 20.0, _bid_below(live))
    # the engine's ack timeout (0.3 s) runs out while the bucket (blocked 1 s) holds the order
    await live.settle(lambda: live.order("wq-1").status is OrderStatus.REJECTED, timeout=3)
    await asyncio.sleep(1.2)
    assert not live.fake.by_label("wq-1")


async def test_reconcile_reports_open_orders_fills_and_positions(live: Live) -> None:
    live.submit("rc-open", Side.BUY, 20.0, _bid_below(live))
    live.submit("rc-fill", Side.SELL, 10.0, live.fake.books[SYM].best_bid() - 5.0)
    await live.until(lambda: live.order("rc-fill").status is OrderStatus.FILLED
                     and live.order("rc-open").status is OrderStatus.ACCEPTED)
    rec = await live.adapter.reconcile(0)
    assert [o.client_order_id for o in rec.open_orders] == ["rc-open"]
    assert {f.client_order_id for f in rec.fills} == {"rc-fill"}
    assert [(p.instrument_id, p.quantity) for p in rec.positions] == [(IID, -10.0)]


async def test_stop_cancels_everything_explicitly(fake: DeribitFake) -> None:
    lv = Live(fake, DeribitVenue(params(fake)))
    await lv.adapter.start()
    lv.kernel.add_instruments(lv.adapter.instruments())
    lv.submit("st-1", Side.BUY, 20.0, _bid_below(lv))
    await lv.until(lambda: bool(fake.open_orders()))
    await lv.adapter.stop()
    assert not fake.open_orders() and fake.cod_fired <= 1
    assert ("private/cancel_all", {}) in fake.requests


async def test_client_credentials_auth_and_a_wrong_secret_fails_start(fake: DeribitFake) -> None:
    ok = DeribitVenue(params(fake, auth="client_credentials"))
    Live(fake, ok)
    await ok.start()
    assert ok.authenticated
    await ok.stop()
    bad = DeribitVenue(params(fake, client_secret=Secret("wrong"), start_timeout_s=2.0))
    Live(fake, bad)
    with pytest.raises(RuntimeError, match="authentication refused"):
        await bad.start()


async def test_market_data_only_session_refuses_orders(fake: DeribitFake) -> None:
    lv = Live(fake, DeribitVenue(params(fake, client_id=None, client_secret=None,
                                        book_interval="100ms")))
    await lv.adapter.start()
    lv.kernel.add_instruments(lv.adapter.instruments())
    try:
        await lv.assert_book_matches()
        lv.submit("md-1", Side.BUY, 20.0, _bid_below(lv))
        await lv.until(lambda: lv.order("md-1").status is OrderStatus.REJECTED)
        assert "NOT_TRADING" in lv.of(OrderRejected)[0].reason
    finally:
        await lv.adapter.stop()


async def test_order_that_never_arrived_is_reported_rejected_after_reconnect(live: Live) -> None:
    live.fake.ws.stall(5.0, freeze=True)  # nothing in or out: the request dies with the link
    live.submit("never-1", Side.BUY, 20.0, _bid_below(live))
    await asyncio.sleep(0.05)
    await live.fake.ws.disconnect()
    await live.settle(lambda: live.order("never-1").status is OrderStatus.REJECTED, timeout=8)
    assert not live.fake.by_label("never-1")
    assert "NOT_FOUND" in live.of(OrderRejected)[-1].reason


async def test_dropped_order_request_is_unknown_then_rejected_once_its_connection_is_gone(
        live: Live) -> None:
    live.fake.drop_orders(1)  # the request is lost on its way: never executed, never answered
    live.submit("drop-1", Side.BUY, 20.0, _bid_below(live))
    await live.until(lambda: live.adapter.unknown_orders() == ["drop-1"], timeout=2)
    assert live.order("drop-1").status is OrderStatus.SUBMITTED  # "not found" proves nothing yet
    await live.fake.ws.disconnect()
    await live.settle(lambda: live.order("drop-1").status is OrderStatus.REJECTED, timeout=8)
    assert not live.fake.by_label("drop-1") and _labels(live.fake, "private/buy", "drop-1") == 1


async def test_orders_of_an_earlier_run_still_report_their_fills(fake: DeribitFake) -> None:
    first = Live(fake, DeribitVenue(params(fake, cancel_on_disconnect=False,
                                           cancel_all_on_stop=False)))
    await first.adapter.start()
    first.kernel.add_instruments(first.adapter.instruments())
    first.submit("old-1", Side.BUY, 20.0, _bid_below(first))
    await first.until(lambda: first.order("old-1").status is OrderStatus.ACCEPTED)
    await first.adapter.stop()  # the process restarts; the order rests at the venue
    second = Live(fake, DeribitVenue(params(fake)))
    await second.adapter.start()
    try:
        (o,) = fake.open_orders()
        fake.fill_resting(o["order_id"])
        await second.until(lambda: bool(second.of(OrderFilled)))
        (fill,) = second.of(OrderFilled)
        assert (fill.client_order_id, fill.quantity, fill.remaining) == ("old-1", 20.0, 0.0)
        rec = await second.adapter.reconcile(0)
        assert [(f.client_order_id, f.remaining) for f in rec.fills] == [("old-1", 0.0)]
    finally:
        await second.adapter.stop()


async def test_a_start_retried_after_refused_authentication_succeeds_once_the_key_works(
        fake: DeribitFake) -> None:
    """The venue refuses the key at first; the runtime retries the start on the same session:
    once the venue accepts the key, that start must succeed, not fail on the earlier refusal."""
    fake.client_secret = "rotated-later"
    venue = DeribitVenue(params(fake, start_timeout_s=3.0))
    Live(fake, venue)
    with pytest.raises(RuntimeError, match="authentication refused"):
        await venue.start()
    fake.client_secret = "fake-secret"
    await venue.start()
    try:
        assert venue.authenticated
    finally:
        await venue.stop()


async def test_amend_of_an_order_this_session_did_not_send_is_refused_at_once(live: Live) -> None:
    # An order the engine knows but this session has no record of (working since before a
    # restart, reconciled): the amend is refused at once with why, not dropped in silence
    # (the order blocked PENDING_AMEND until the ack timeout).
    await live.until(lambda: IID in live.kernel.books and live.book.is_live)
    o = live.kernel.orders.add_submitted(SubmitOrder(
        client_order_id="old-1", strategy_id="t", instrument_id=IID, side=Side.BUY,
        quantity=20.0, price=_bid_below(live)))
    live.kernel.orders.transition(o, "accept")
    assert live.kernel.router.amend(o, _bid_below(live, 30), 30.0) is None
    await live.until(lambda: bool(live.of(OrderRejected)))  # none came before
    assert live.of(OrderRejected)[0].reason == "amend: order not sent by this session"
    await live.until(lambda: o.status is OrderStatus.ACCEPTED)
