"""Binance USD-M order entry against the fake venue: acks, fills, rejects, unknown fates."""

from __future__ import annotations

import asyncio

import pytest

from adapters.binance.session import BinanceVenue
from engine.model import (
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    PositionReport,
    Side,
    SubmitOrder,
    VenueStatusChanged,
)
from tests.binance_live.conftest import IID, Live, params


def order(coid: str, side: Side, qty: float, price: float, **kw) -> SubmitOrder:  # type: ignore[no-untyped-def]
    return SubmitOrder(client_order_id=coid, strategy_id="t", instrument_id=IID, side=side,
                       quantity=qty, price=price, **kw)


def far_bid(live: Live) -> float:
    return round(live.fake.books["BTCUSDT"].center * 0.1 - 200.0, 1)


def taker_buy_px(live: Live) -> float:
    return round(live.fake.books["BTCUSDT"].center * 0.1 + 100.0, 1)


async def ready(live: Live) -> None:
    await live.until(lambda: IID in live.kernel.books and live.book.is_live)


async def test_limit_order_accepted_once_then_cancelled_once(live: Live) -> None:
    await ready(live)
    assert live.kernel.router.submit(order("b-1", Side.BUY, 0.01, far_bid(live))) is None
    await live.until(lambda: live.kernel.orders.get("b-1").status is OrderStatus.ACCEPTED)
    await asyncio.sleep(0.1)  # the REST ack and the stream's NEW both arrived by now
    assert len([e for e in live.of(OrderAccepted) if e.client_order_id == "b-1"]) == 1
    assert live.fake.matcher.orders["b-1"].status == "new"
    live.kernel.router.cancel(live.kernel.orders.get("b-1"))
    await live.until(lambda: live.kernel.orders.get("b-1").status is OrderStatus.CANCELLED)
    await asyncio.sleep(0.1)
    assert len([e for e in live.of(OrderCancelled) if e.client_order_id == "b-1"]) == 1
    assert live.fake.matcher.orders["b-1"].status == "cancelled"
    assert live.adapter.tracker.duplicates >= 2  # the second NEW and the second CANCELED


async def test_marketable_order_fills_with_trade_ids_fees_and_position(live: Live) -> None:
    await ready(live)
    assert live.kernel.router.submit(order("t-1", Side.BUY, 0.5, taker_buy_px(live))) is None
    await live.until(lambda: live.kernel.orders.get("t-1").status is OrderStatus.FILLED)
    fills = [e for e in live.of(OrderFilled) if e.client_order_id == "t-1"]
    venue = live.fake.matcher.orders["t-1"]
    assert [f.trade_id for f in fills] == [f.trade_id for f in venue.fills]
    assert sum(f.quantity for f in fills) == pytest.approx(0.5)
    assert all(f.fee > 0 and f.fee_currency == "USDT" for f in fills)
    assert fills[-1].remaining == 0.0
    await live.until(lambda: bool(live.of(PositionReport)))
    assert live.of(PositionReport)[-1].quantity == pytest.approx(0.5)
    assert live.kernel.portfolio.position(IID).qty == pytest.approx(0.5)


async def test_venue_reject_is_published_with_the_venue_reason(live: Live) -> None:
    await ready(live)
    live.adapter.submit(order("bad-tick", Side.BUY, 0.01, 60_000.05))  # bypass the gate: off tick
    await live.until(lambda: bool(live.of(OrderRejected)))
    (rej,) = live.of(OrderRejected)
    assert rej.client_order_id == "bad-tick" and "-4014" in rej.reason


async def test_rate_limit_reply_rejects_reports_and_throttles(live: Live) -> None:
    await ready(live)
    live.fake.rate_limit(1, retry_after_s=0.3)
    live.adapter.submit(order("rl-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: bool(live.of(OrderRejected)))
    assert "-1003" in live.of(OrderRejected)[0].reason
    assert ("rate_limited", "HTTP 429 -1003") in [(e.status, e.reason) for e in live.of(VenueStatusChanged)]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    live.adapter.submit(order("rl-2", Side.BUY, 0.01, far_bid(live)))  # held back by Retry-After
    await live.until(lambda: any(e.client_order_id == "rl-2" for e in live.of(OrderAccepted)))
    assert loop.time() - t0 >= 0.2
    assert "rl-1" not in live.fake.matcher.orders  # never executed, and never resent


async def test_lost_ack_publishes_nothing_and_a_query_settles_it_exactly_once(live: Live) -> None:
    await ready(live)
    live.fake.lose_acks(1)
    live.kernel.router.submit(order("lost-1", Side.BUY, 0.2, taker_buy_px(live)))
    await live.until(lambda: live.adapter.unknown_orders() == ["lost-1"] or
                     live.kernel.orders.get("lost-1").status is OrderStatus.FILLED, timeout=3)
    # The user stream told the truth even though the REST answer was lost:
    await live.until(lambda: live.kernel.orders.get("lost-1").status is OrderStatus.FILLED)
    live.adapter.query_order("lost-1", IID)
    await live.until(lambda: bool(live.of(OrderStatusReport)))
    (rep,) = live.of(OrderStatusReport)
    assert rep.status == "filled" and rep.filled == pytest.approx(0.2)
    await asyncio.sleep(0.1)
    fills = [e for e in live.of(OrderFilled) if e.client_order_id == "lost-1"]
    assert len(fills) == len(live.fake.matcher.orders["lost-1"].fills)  # none twice
    assert live.fake.requests.count(("POST", "/fapi/v1/order")) == 1    # never resent


async def test_lost_ack_while_the_user_stream_is_down_is_recovered_by_query(live: Live) -> None:
    await ready(live)
    live.fake.lose_acks(1)
    live.fake.quiet_private = True  # the private stream loses the order's events too
    live.adapter.submit(order("lost-2", Side.BUY, 0.01, far_bid(live)))
    live.kernel.orders.add(order("lost-2", Side.BUY, 0.01, far_bid(live)))
    live.kernel.orders.transition(live.kernel.orders.get("lost-2"), "submit")
    await live.until(lambda: live.adapter.unknown_orders() == ["lost-2"], timeout=3)
    assert not [e for e in live.of(OrderAccepted) if e.client_order_id == "lost-2"]
    live.fake.quiet_private = False
    live.adapter.query_order("lost-2", IID)
    await live.until(lambda: live.kernel.orders.get("lost-2").status is OrderStatus.ACCEPTED)
    assert live.of(OrderStatusReport)[0].status == "accepted"
    assert live.adapter.unknown_orders() == []


async def test_order_never_placed_is_rejected_after_the_query(live: Live) -> None:
    await ready(live)
    live.fake.drop_orders(1)
    live.kernel.router.submit(order("drop-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: live.adapter.unknown_orders() == ["drop-1"], timeout=3)
    live.adapter.query_order("drop-1", IID)  # too early: the venue may still execute it
    await live.until(lambda: live.adapter.stats["queries"] >= 1)
    await asyncio.sleep(0.05)
    assert live.kernel.orders.get("drop-1").status is OrderStatus.SUBMITTED
    await asyncio.sleep(0.5)  # the receive window (recv_window_ms=500) has passed: now it is proof
    live.adapter.query_order("drop-1", IID)
    await live.until(lambda: live.kernel.orders.get("drop-1").status is OrderStatus.REJECTED)
    assert "never placed" in live.of(OrderRejected)[0].reason
    assert "drop-1" not in live.fake.matcher.orders


async def test_fill_during_a_user_stream_outage_is_recovered_after_reconnect(live: Live) -> None:
    await ready(live)
    live.kernel.router.submit(order("rest-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: live.kernel.orders.get("rest-1").status is OrderStatus.ACCEPTED)
    live.fake.ws.reject_connections(2, status=503)
    await live.fake.ws.disconnect()
    live.fake.fill_order("rest-1")  # happens while nobody listens
    await live.until(lambda: live.kernel.orders.get("rest-1").status is OrderStatus.FILLED, timeout=8)
    fills = [e for e in live.of(OrderFilled) if e.client_order_id == "rest-1"]
    assert len(fills) == 1 and fills[0].trade_id == live.fake.matcher.orders["rest-1"].fills[0].trade_id


async def test_amend_changes_price_and_quantity_at_the_venue(live: Live) -> None:
    await ready(live)
    px = far_bid(live)
    live.kernel.router.submit(order("am-1", Side.BUY, 0.01, px))
    await live.until(lambda: live.kernel.orders.get("am-1").status is OrderStatus.ACCEPTED)
    assert live.kernel.router.amend(live.kernel.orders.get("am-1"), px - 1.0, 0.02) is None
    await live.until(lambda: live.kernel.orders.get("am-1").status is OrderStatus.ACCEPTED
                     and live.kernel.orders.get("am-1").quantity == 0.02)
    venue = live.fake.matcher.orders["am-1"]
    assert venue.qty == 0.02 and venue.price_ticks == round((px - 1.0) / 0.1)


async def test_dead_man_switch_cancels_at_the_venue_when_we_go_quiet(live: Live) -> None:
    await ready(live)
    live.kernel.router.submit(order("dms-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: live.kernel.orders.get("dms-1").status is OrderStatus.ACCEPTED)
    live.adapter.enable_cancel_on_disconnect(0.3)
    await live.until(lambda: "BTCUSDT" in live.fake.countdowns)
    assert live.adapter._dms_task is not None
    live.adapter._dms_task.cancel()  # the process froze: no more re-arming
    await live.until(lambda: live.kernel.orders.get("dms-1").status is OrderStatus.CANCELLED, timeout=3)


async def test_reconcile_reports_open_orders_fills_and_positions(live: Live) -> None:
    await ready(live)
    t0 = live.kernel.clock.now_ns() - 1_000_000_000
    live.kernel.router.submit(order("rc-open", Side.BUY, 0.01, far_bid(live)))
    live.kernel.router.submit(order("rc-fill", Side.BUY, 0.03, taker_buy_px(live)))
    await live.until(lambda: live.kernel.orders.get("rc-fill").status is OrderStatus.FILLED
                     and live.kernel.orders.get("rc-open").status is OrderStatus.ACCEPTED)
    rec = await live.adapter.reconcile(t0)
    assert [o.client_order_id for o in rec.open_orders] == ["rc-open"]
    assert {f.client_order_id for f in rec.fills} == {"rc-fill"}
    assert sum(f.quantity for f in rec.fills) == pytest.approx(0.03)
    assert rec.positions[0].quantity == pytest.approx(0.03)
    live.adapter.cancel_all_orders()
    await live.until(lambda: live.kernel.orders.get("rc-open").status is OrderStatus.CANCELLED)


async def test_a_bad_secret_is_refused_by_the_venue_and_never_logged(fake, capsys) -> None:  # type: ignore[no-untyped-def]
    from config.secrets import Secret
    lv = Live(fake, BinanceVenue(params(fake, api_secret=Secret("wrong-secret-value"))))
    await lv.adapter.start()
    try:
        await lv.until(lambda: IID in lv.kernel.books and lv.book.is_live)
        lv.adapter.submit(order("sig-1", Side.BUY, 0.01, 60_000.0))
        await lv.until(lambda: bool(lv.of(OrderRejected)))
        assert "-1022" in lv.of(OrderRejected)[0].reason
    finally:
        await lv.adapter.stop()
    out = capsys.readouterr()
    assert "wrong-secret-value" not in out.out + out.err
