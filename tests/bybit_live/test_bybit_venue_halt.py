"""A venue's own halt, through a real session: the fake Bybit venue's private stream drops
while its public stream stays up; Bybit orders are denied TRADING_HALTED naming the venue and
the stream while a second venue keeps trading; after the private stream reconnects and the
venue is reconciled (the real REST reconciliation against the fake) both trade again."""

from __future__ import annotations

from engine.model import BookSnapshot, OrderStatus, Side, SubmitOrder, TradingState
from engine.reconcile import reconcile
from engine.risk import Reason
from tests.bybit_live.conftest import Live
from tests.live_rest_cases import far_bid, order, ready
from tests.risk.test_venue_halts import PERP2 as OTHER
from tests.risk.test_venue_halts import OtherVenue


def _other_order(coid: str) -> SubmitOrder:
    return SubmitOrder(client_order_id=coid, strategy_id="t", instrument_id=OTHER.id,
                       side=Side.BUY, quantity=0.01, price=60_000.0)


async def test_private_stream_drop_halts_bybit_only_until_reconciled(live: Live) -> None:
    await ready(live)
    k = live.kernel
    other = OtherVenue()
    k.add_adapter(other)
    k.add_instruments(other.instruments())
    k.bus.publish(BookSnapshot(OTHER.id, ((59_990.0, 1.0),), ((60_010.0, 1.0),), 1, 0, 0))

    # the private stream drops (its reconnection refused for now); the public one stays up
    live.fake.ws.reject_connections(10_000, status=503)
    for conn in list(live.fake._private.values()):
        conn.abort()
    await live.until(lambda: "private down" in k.trading.venue_halt("bybit"))
    assert live.book.is_live and k.gate.state is TradingState.ACTIVE
    denial = k.router.submit(order(live, "by-1", Side.BUY, 0.01, far_bid(live)))
    assert denial is not None and denial.reason == Reason.TRADING_HALTED
    assert denial.detail.startswith("bybit halted: private down: disconnected: private stream")
    assert "by-1" not in live.fake.matcher.orders  # nothing left for the halted venue
    assert k.router.submit(_other_order("ot-1")) is None  # the other venue trades on
    assert [c.client_order_id for c in other.sent] == ["ot-1"]

    # the network is back: the private stream reconnects, the venue waits for reconciliation
    live.fake.ws._reject.clear()
    await live.until(lambda: k.reconcile_requests == ["bybit"], timeout=8)
    assert k.trading.venue_halt("bybit") == "waiting for reconciliation"
    denial = k.router.submit(order(live, "by-2", Side.BUY, 0.01, far_bid(live)))
    assert denial is not None and denial.reason == Reason.TRADING_HALTED
    await reconcile(k, live.adapter)
    assert k.trading.venue_halt("bybit") == "" and k.trading.halted_venues() == {}

    # both trade: the Bybit order is accepted at the fake venue, the other one sent
    assert k.router.submit(order(live, "by-3", Side.BUY, 0.01, far_bid(live))) is None
    await live.until(lambda: live.order("by-3").status is OrderStatus.ACCEPTED)
    assert "by-3" in live.fake.matcher.orders
    assert k.router.submit(_other_order("ot-2")) is None
    assert [c.client_order_id for c in other.sent] == ["ot-1", "ot-2"]
