"""OKX order entry against the fake venue: acks, fills, amends, cancels, unknown fates, rate
limits, the dead-man switch and reconciliation, through the real kernel."""

from __future__ import annotations

import asyncio

import pytest

from adapters.okx import private as pv
from adapters.okx.fake import OkxFake
from adapters.okx.session import OkxVenue
from engine.config.secrets import Secret
from engine.model import (
    Liquidity,
    OrderAccepted,
    OrderAmended,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueStatusChanged,
)
from engine.reconcile import reconcile
from tests.okx_live.conftest import IID, INST, Live, params


def _placed(fake: OkxFake, coid: str) -> int:
    cl = pv.cl_ord_id(coid)
    return sum(1 for op, args in fake.ops if op == "order" for a in args if a["clOrdId"] == cl)


async def test_resting_order_accepted_then_filled_as_maker_with_fees(live: Live) -> None:
    live.submit("rest-1", Side.BUY, 5.0, live.best(bid=True) - 2.0)
    await live.until(lambda: live.order("rest-1").status is OrderStatus.ACCEPTED)
    (o,) = live.fake.by_cl_ord_id(pv.cl_ord_id("rest-1"))
    assert pv.cl_ord_id("rest-1") != "rest-1"  # '-' is not allowed in a clOrdId: mapped
    live.fake.fill_resting(o["ordId"], 2)
    await live.until(lambda: live.order("rest-1").status is OrderStatus.PARTIALLY_FILLED)
    live.fake.fill_resting(o["ordId"])
    await live.until(lambda: live.order("rest-1").status is OrderStatus.FILLED)
    fills = live.of(OrderFilled)
    assert [(f.quantity, f.remaining) for f in fills] == [(2.0, 3.0), (3.0, 0.0)]
    assert [f.trade_id for f in fills] == [f["tradeId"] for f in live.fake.fills]
    assert all(f.liquidity is Liquidity.MAKER and f.fee > 0 and f.fee_currency == "BTC"
               for f in fills)
    assert len(live.of(OrderAccepted)) == 1


async def test_aggressive_order_takes_the_book_and_the_book_follows(live: Live) -> None:
    live.submit("take1", Side.SELL, 500.0, live.best(bid=True) - 5.0)
    await live.until(lambda: live.order("take1").status is OrderStatus.FILLED)
    fills = [f for f in live.of(OrderFilled) if f.client_order_id == "take1"]
    assert sum(f.quantity for f in fills) == 500.0 and fills[-1].remaining == 0.0
    assert len({f.trade_id for f in fills}) == len(fills) > 1
    assert live.kernel.portfolio.position(IID).qty == -500.0
    await live.assert_book_matches()


async def test_ioc_remainder_is_cancelled_after_its_fills(live: Live) -> None:
    live.fake.paused = True
    ask = live.best(bid=False)
    size = live.fake.books[INST].asks[live.fake.books[INST].best_ask()]  # type: ignore[index]
    live.submit("ioc1", Side.BUY, float(size + 3), ask, time_in_force=TimeInForce.IOC)
    await live.until(lambda: live.order("ioc1").status is OrderStatus.CANCELLED)
    order = live.order("ioc1")
    assert order.filled == float(size)
    kinds = [type(e).__name__ for e in live.events if getattr(e, "client_order_id", "") == "ioc1"]
    assert kinds.index("OrderCancelled") > kinds.index("OrderFilled")


async def test_amend_then_cancel(live: Live) -> None:
    px = live.best(bid=True) - 3.0
    live.submit("am1", Side.BUY, 5.0, px)
    await live.until(lambda: live.order("am1").status is OrderStatus.ACCEPTED)
    assert live.kernel.router.amend(live.order("am1"), round(px - 1.0, 1), 7.0) is None
    await live.until(lambda: bool(live.of(OrderAmended)))
    (am,) = live.of(OrderAmended)
    assert (am.price, am.quantity) == (round(px - 1.0, 1), 7.0)
    await live.until(lambda: live.order("am1").status is OrderStatus.ACCEPTED)
    live.kernel.router.cancel(live.order("am1"))
    await live.until(lambda: live.order("am1").status is OrderStatus.CANCELLED)
    assert live.fake.by_cl_ord_id("am1")[0]["state"] == "canceled"


async def test_post_only_that_would_cross_is_cancelled_by_the_venue(live: Live) -> None:
    live.fake.paused = True
    live.submit("po1", Side.BUY, 5.0, live.best(bid=False) + 1.0, post_only=True)
    await live.until(lambda: live.order("po1").status is OrderStatus.CANCELLED)  # OKX: canceled
    assert live.fake.ops[-1][1][0]["ordType"] == "post_only"


async def test_a_restarted_session_reusing_a_live_client_id_is_refused(live: Live) -> None:
    live.submit("dup1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: live.order("dup1").status is OrderStatus.ACCEPTED)
    other = Live(live.fake, OkxVenue(params(live.fake)))
    await other.adapter.start()
    other.kernel.add_instruments(other.adapter.instruments())
    try:
        other.submit("dup1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
        await other.until(lambda: other.order("dup1").status is OrderStatus.REJECTED)
        assert "51016" in other.of(OrderRejected)[0].reason
        assert live.order("dup1").status is OrderStatus.ACCEPTED
    finally:
        await other.adapter.stop()


async def test_lost_ack_publishes_nothing_and_the_query_settles_it_without_resend(live: Live) -> None:
    live.fake.lose_acks(1)
    live.submit("lost1", Side.BUY, 50.0, live.best(bid=False) + 5.0)
    await live.until(lambda: live.adapter.stats["acks_unknown"] == 1)
    assert not [e for e in live.events if getattr(e, "client_order_id", "") == "lost1"]
    await live.settle(lambda: live.order("lost1").status is OrderStatus.FILLED)
    assert [r.client_order_id for r in live.of(OrderStatusReport)] == ["lost1"]
    fills = [f for f in live.of(OrderFilled) if f.client_order_id == "lost1"]
    assert sum(f.quantity for f in fills) == 50.0
    assert {f.trade_id for f in fills} == {f["tradeId"] for f in live.fake.fills}
    assert _placed(live.fake, "lost1") == 1


async def test_slow_ack_unknown_then_the_late_answer_settles_it(live: Live) -> None:
    live.fake.ack_delay_s = 0.7
    live.submit("slow1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    # the orders push arrives at once; the operation reply late
    await live.until(lambda: live.order("slow1").status is OrderStatus.ACCEPTED)
    await live.until(lambda: not live.adapter.pending, timeout=3)
    assert len(live.of(OrderAccepted)) == 1 and _placed(live.fake, "slow1") == 1


async def test_connection_lost_with_the_order_pending_is_resolved_by_query(live: Live) -> None:
    live.fake.lose_acks(1)
    live.submit("drop1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: bool(live.fake.by_cl_ord_id("drop1")))
    await live.fake.ws.disconnect()
    await live.until(lambda: live.order("drop1").status is OrderStatus.ACCEPTED, timeout=5)
    assert live.adapter.stats["acks_unknown"] == 1 and _placed(live.fake, "drop1") == 1


async def test_order_that_never_arrived_is_reported_rejected_after_reconnect(live: Live) -> None:
    live.fake.ws.stall(5.0, freeze=True)  # nothing in or out: the request dies with the link
    live.submit("never1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await asyncio.sleep(0.05)
    await live.fake.ws.disconnect()
    await live.settle(lambda: live.order("never1").status is OrderStatus.REJECTED, timeout=8)
    assert not live.fake.by_cl_ord_id("never1")


async def test_dropped_order_request_is_unknown_then_rejected_once_its_connection_is_gone(
        live: Live) -> None:
    live.fake.drop_orders(1)  # the operation is lost on its way: never executed, never answered
    live.submit("drop1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: live.adapter.unknown_orders() == ["drop1"], timeout=2)
    assert live.order("drop1").status is OrderStatus.SUBMITTED  # "not found" proves nothing yet
    await live.fake.ws.disconnect()
    await live.settle(lambda: live.order("drop1").status is OrderStatus.REJECTED, timeout=8)
    assert not live.fake.by_cl_ord_id("drop1") and _placed(live.fake, "drop1") == 1


async def test_rate_limit_reply_rejects_and_reports_the_venue_status(live: Live) -> None:
    live.fake.rate_limit(1)
    live.submit("rl1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: live.order("rl1").status is OrderStatus.REJECTED)
    assert "50011" in live.of(OrderRejected)[0].reason
    assert any(e.status == "rate_limited" for e in live.of(VenueStatusChanged))
    live.submit("rl2", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: live.order("rl2").status is OrderStatus.ACCEPTED, timeout=3)


async def test_order_held_by_the_rate_limiter_is_withdrawn_when_the_engine_reconciles(
        live: Live) -> None:
    # Soak regression: an order still waiting in our rate limiter is not pending at OKX, so a
    # reconciliation called it gone and the limiter placed it afterwards behind the engine.
    live.fake.rate_limit(1)
    live.submit("wdrl", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: live.order("wdrl").status is OrderStatus.REJECTED)  # blocked 1 s
    live.submit("wd1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    live.submit("wd2", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    # a cancel before any answer asks the venue about the order: withdrawn, never sent
    live.kernel.router.cancel(live.order("wd2"))
    await live.until(lambda: live.order("wd2").status is OrderStatus.REJECTED, timeout=0.5)
    assert "WITHDRAWN" in live.order("wd2").reject_reason
    assert live.order("wd1").status is OrderStatus.SUBMITTED  # still held by the limiter
    await reconcile(live.kernel, live.adapter)
    assert live.order("wd1").status is OrderStatus.REJECTED
    assert "WITHDRAWN" in live.order("wd1").reject_reason
    await asyncio.sleep(1.5)  # the limiter let them go: nothing withdrawn goes out
    assert _placed(live.fake, "wd1") == 0 and _placed(live.fake, "wd2") == 0
    live.submit("wd3", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: live.order("wd3").status is OrderStatus.ACCEPTED, timeout=3)


async def test_dead_man_switch_is_armed_refreshed_and_fires_when_we_go_silent(live: Live) -> None:
    live.submit("dm1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: live.order("dm1").status is OrderStatus.ACCEPTED)
    live.adapter.enable_cancel_on_disconnect(0.6)
    await live.until(lambda: live.adapter.stats["dead_man_refreshes"] >= 3, timeout=3)
    assert live.fake.dead_man_fired == 0
    task = live.adapter.orders._dead_man_task
    assert task is not None
    task.cancel()  # the process hangs: no more refreshes
    await live.until(lambda: live.fake.dead_man_fired == 1, timeout=3)
    await live.until(lambda: live.order("dm1").status is OrderStatus.CANCELLED)
    live.adapter.orders._dead_man_task = None


async def test_reconcile_reports_open_orders_fills_and_positions(live: Live) -> None:
    live.submit("rcopen", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    live.submit("rcfill", Side.BUY, 3.0, live.best(bid=False) + 2.0)
    await live.until(lambda: live.order("rcfill").status is OrderStatus.FILLED
                     and live.order("rcopen").status is OrderStatus.ACCEPTED)
    rec = await live.adapter.reconcile(0)
    assert [o.client_order_id for o in rec.open_orders] == ["rcopen"]
    assert {f.client_order_id for f in rec.fills} == {"rcfill"}
    assert [(p.instrument_id, p.quantity) for p in rec.positions] == [(IID, 3.0)]
    live.adapter.cancel_all_orders()
    await live.until(lambda: live.order("rcopen").status is OrderStatus.CANCELLED)


async def test_wrong_secret_fails_start_and_no_credentials_refuse_orders(fake: OkxFake) -> None:
    bad = OkxVenue(params(fake, api_secret=Secret("wrong"), start_timeout_s=2.0))
    Live(fake, bad)
    with pytest.raises(RuntimeError, match="login refused"):
        await bad.start()
    lv = Live(fake, OkxVenue(params(fake, api_key=None, api_secret=None, passphrase=None)))
    await lv.adapter.start()
    lv.kernel.add_instruments(lv.adapter.instruments())
    try:
        lv.submit("md1", Side.BUY, 5.0, lv.best(bid=True) - 3.0)
        await lv.until(lambda: lv.order("md1").status is OrderStatus.REJECTED)
        assert "NOT_TRADING" in lv.of(OrderRejected)[0].reason
    finally:
        await lv.adapter.stop()


async def test_idle_cutoff_never_hits_a_pinging_session() -> None:
    async with OkxFake((INST,), seed=3, step_s=0.5, idle_timeout_s=0.5) as fake:
        lv = Live(fake, OkxVenue(params(fake, heartbeat_interval_s=0.15, stale_after_s=2.0,
                                        private_stale_after_s=2.0)))
        await lv.adapter.start()
        try:
            await asyncio.sleep(1.5)
            assert lv.adapter.stats["md_connects"] == 1 and lv.adapter.stats["private_connects"] == 1
        finally:
            await lv.adapter.stop()


async def test_a_fill_of_an_order_placed_in_the_web_ui_reaches_the_engine(live: Live) -> None:
    """An order without a clOrdId (placed from OKX's web UI) is not ours, but its fill moved the
    account: it is published (under no client id) for the engine to count and apply, never
    dropped; its life cycle (no id to tell it under) is not."""
    before = len(live.of(OrderFilled))
    o = live.fake.place_elsewhere(INST, "buy", 3)
    await live.until(lambda: any(f.venue_order_id == o["ordId"] for f in live.of(OrderFilled)))
    fills = live.of(OrderFilled)[before:]
    assert [(f.client_order_id, f.venue_order_id, f.side, f.quantity) for f in fills] == [
        ("", o["ordId"], Side.BUY, 3.0)]
    assert [f.trade_id for f in fills] == [t["tradeId"] for t in live.fake.fills]
    assert live.kernel.counters["events_for_unknown_orders"] == 1  # counted by the engine
    assert not [e for e in live.of(OrderAccepted) if e.venue_order_id == o["ordId"]]


async def test_orders_refused_for_want_of_credentials_say_so_once_in_the_log(fake: OkxFake) -> None:
    """A session without keys refuses every order (NOT_TRADING): the first refusal is one
    warning naming the venue and the reason, so a strategy started on it is not refused in
    silence; the rest are OrderRejected events only (a quoter's retries flood nothing)."""
    from structlog.testing import capture_logs

    lv = Live(fake, OkxVenue(params(fake, api_key=None, api_secret=None, passphrase=None)))
    await lv.adapter.start()
    lv.kernel.add_instruments(lv.adapter.instruments())
    try:
        with capture_logs() as logs:
            for n in range(3):
                lv.submit(f"nk{n}", Side.BUY, 5.0, lv.best(bid=True) - 3.0)
            await lv.until(lambda: len(lv.of(OrderRejected)) == 3)
    finally:
        await lv.adapter.stop()
    refused = [e for e in logs if e["event"] == "okx.order_refused"]
    assert [(e["log_level"], e["venue"], e["reason"], e["client_order_id"]) for e in refused] == [
        ("warning", "okx", "NOT_TRADING: no credentials", "nk0")]


async def test_cancel_while_the_private_stream_is_down_is_refused_at_once(live: Live) -> None:
    # OKX orders go over the private websocket: while it is down a cancel (or an amend: the
    # same path; the gate halts amends on a venue that is down) cannot be sent. It is refused
    # at once (the strategy can act: retry, hedge elsewhere), not dropped in silence for the
    # engine to find out an ack timeout later.
    live.submit("nc1", Side.BUY, 5.0, live.best(bid=True) - 3.0)
    await live.until(lambda: live.order("nc1").status is OrderStatus.ACCEPTED)
    live.fake.ws.reject_connections(50, status=503)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.adapter.orders._link.logged_in_socket() is None)
    live.kernel.router.cancel(live.order("nc1"))
    await live.until(lambda: len(live.of(OrderRejected)) == 1)  # none came before
    assert live.of(OrderRejected)[0].reason == \
        "cancel not sent: NOT_CONNECTED: private stream down (never sent)"
    await live.until(lambda: live.order("nc1").status is OrderStatus.ACCEPTED)
    assert live.fake.by_cl_ord_id("nc1")[0]["state"] == "live"


async def test_amend_of_an_order_this_session_did_not_send_is_refused_at_once(live: Live) -> None:
    # A restarted process (its orders survived at the venue and were reconciled) cannot amend
    # an order it has no record of: the amend is refused at once with why, as on Binance and
    # Bybit, not dropped in silence (the order blocked PENDING_AMEND until the ack timeout).
    px = live.best(bid=True) - 3.0
    live.submit("old1", Side.BUY, 5.0, px)
    await live.until(lambda: live.order("old1").status is OrderStatus.ACCEPTED)
    other = Live(live.fake, OkxVenue(params(live.fake)))
    await other.adapter.start()
    other.kernel.add_instruments(other.adapter.instruments())
    try:
        await other.until(lambda: IID in other.kernel.books and other.book.is_live)
        o = other.kernel.orders.add_submitted(SubmitOrder(
            client_order_id="old1", strategy_id="t", instrument_id=IID, side=Side.BUY,
            quantity=5.0, price=px))
        other.kernel.orders.transition(o, "accept")
        assert other.kernel.router.amend(o, round(px - 1.0, 1), 7.0) is None
        await other.until(lambda: bool(other.of(OrderRejected)))  # none came before
        assert other.of(OrderRejected)[0].reason == "amend: order not sent by this session"
        await other.until(lambda: o.status is OrderStatus.ACCEPTED)
        assert live.fake.by_cl_ord_id("old1")[0]["sz"] == "5"
    finally:
        await other.adapter.stop()
