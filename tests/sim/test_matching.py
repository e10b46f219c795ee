"""Client orders on the simulated venue, against a hand-set (frozen) perp book."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.sim import SimVenue, SimVenueParams
from engine.book import OrderBook
from engine.clock import VirtualClock
from engine.model import (
    AmendOrder,
    BookDelta,
    BookSnapshot,
    CancelOrder,
    Liquidity,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
    Trade,
)

START = 1_795_000_000 * 10**9
BIDS = [(59990.0, 2.0), (59989.5, 1.0)]
ASKS = [(60010.0, 1.0), (60010.5, 2.0), (60011.0, 3.0)]


class Sim:
    """A venue with the perp book fixed to BIDS/ASKS and an event log."""

    def __init__(self, **kw: Any) -> None:
        self.clock = VirtualClock(START)
        self.events: list[Any] = []
        self.venue = SimVenue(SimVenueParams(**kw))
        self.venue.bind(self.events.append, self.clock)
        asyncio.run(self.venue.start())
        self.perp = self.venue.instruments()[0].id
        self.venue.set_book(self.perp, BIDS, ASKS)
        self.book = OrderBook(self.perp)
        self._n = 0
        self.new()

    def new(self) -> list[Any]:
        """Events since the last call (and keep a client-side book in sync)."""
        out = self.events[self._n:]
        self._n = len(self.events)
        for e in out:
            if isinstance(e, BookSnapshot) and e.instrument_id == self.perp:
                self.book.apply_snapshot(e)
            elif isinstance(e, BookDelta) and e.instrument_id == self.perp:
                assert e.prev_seq == self.book.seq
                self.book.apply_delta(e)
        return out

    def submit(self, coid: str, side: Side, qty: float, price: float | None = None, **kw: Any) -> list[Any]:
        otype = OrderType.LIMIT if price is not None else OrderType.MARKET
        self.venue.submit(SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=kw.pop("iid", self.perp),
                                      side=side, quantity=qty, price=price, order_type=otype, **kw))
        return self.new()

    def trade(self, aggressor: Side, size: float) -> list[Any]:
        self.venue.inject_trade(self.perp, aggressor, size)
        return self.new()


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_market_order_walks_the_book_with_vwap_and_fees() -> None:
    s = Sim()
    ev = s.submit("m1", Side.BUY, 2.5)
    assert isinstance(ev[0], OrderAccepted)
    fills = of(ev, OrderFilled)
    assert [(f.price, f.quantity, f.remaining) for f in fills] == [(60010.0, 1.0, 1.5), (60010.5, 1.5, 0.0)]
    assert all(f.liquidity is Liquidity.TAKER and f.fee_currency == "USD" for f in fills)
    vwap = sum(f.price * f.quantity for f in fills) / 2.5
    assert vwap == pytest.approx((60010.0 + 1.5 * 60010.5) / 2.5)
    assert sum(f.fee for f in fills) == pytest.approx(0.0005 * 2.5 * vwap)
    assert len({f.trade_id for f in fills}) == 2
    trades = of(ev, Trade)
    assert [(t.price, t.size, t.aggressor) for t in trades] == [(60010.0, 1.0, Side.BUY), (60010.5, 1.5, Side.BUY)]
    assert isinstance(ev[-1], BookDelta)
    assert s.book.depth_asks() == [(60010.5, 0.5), (60011.0, 3.0)]
    assert not of(ev, OrderCancelled)


def test_market_order_larger_than_the_book_cancels_the_rest() -> None:
    s = Sim()
    ev = s.submit("m2", Side.SELL, 4.0)
    fills = of(ev, OrderFilled)
    assert sum(f.quantity for f in fills) == pytest.approx(3.0)
    (c,) = of(ev, OrderCancelled)
    assert c.reason == "ioc_unfilled" and fills[-1].remaining == pytest.approx(1.0)
    assert not s.book.bids


def test_limit_order_fills_only_after_the_queue_ahead_traded() -> None:
    s = Sim()
    ev = s.submit("b1", Side.BUY, 1.0, 59990.0)
    assert of(ev, OrderAccepted) and not of(ev, OrderFilled)
    assert s.book.depth_bids(1) == [(59990.0, 3.0)]  # own order shows in the public book
    ev = s.trade(Side.SELL, 1.5)  # 2.0 ahead of us: nothing for us yet
    assert not of(ev, OrderFilled) and of(ev, Trade)[0].size == 1.5
    ev = s.trade(Side.SELL, 1.0)  # 0.5 finishes the queue ahead, 0.5 is ours
    (f,) = of(ev, OrderFilled)
    assert (f.price, f.quantity, f.remaining, f.liquidity) == (59990.0, 0.5, 0.5, Liquidity.MAKER)
    assert f.fee == pytest.approx(0.0002 * 0.5 * 59990.0)
    assert s.book.depth_bids(1) == [(59990.0, 0.5)]
    ev = s.trade(Side.SELL, 1.0)  # our last 0.5, then the next level
    (f,) = of(ev, OrderFilled)
    assert f.quantity == 0.5 and f.remaining == 0.0
    assert [(t.price, t.size) for t in of(ev, Trade)] == [(59990.0, 0.5), (59989.5, 0.5)]
    assert s.venue.open_orders() == []


def test_orders_inside_the_spread_are_first_in_line() -> None:
    s = Sim()
    s.submit("b1", Side.BUY, 1.0, 59995.0)
    ev = s.trade(Side.SELL, 0.4)
    (f,) = of(ev, OrderFilled)
    assert (f.price, f.quantity) == (59995.0, 0.4)


def test_market_moving_through_fills_at_the_limit_as_maker() -> None:
    s = Sim()
    s.submit("b1", Side.BUY, 1.0, 59990.0)
    s.venue.set_book(s.perp, [(59980.0, 1.0)], [(59985.0, 1.0)])
    ev = s.new()
    (f,) = of(ev, OrderFilled)
    assert (f.price, f.quantity, f.remaining, f.liquidity) == (59990.0, 1.0, 0.0, Liquidity.MAKER)
    assert not s.book.is_crossed() and s.book.best_bid() == (59980.0, 1.0)


def test_post_only() -> None:
    s = Sim()
    ev = s.submit("p1", Side.BUY, 1.0, 60010.0, post_only=True)
    (r,) = ev
    assert isinstance(r, OrderRejected) and r.reason == "post_only_would_cross"
    ev = s.submit("p2", Side.BUY, 1.0, 60009.5, post_only=True)
    assert of(ev, OrderAccepted) and s.book.best_bid() == (60009.5, 1.0)
    ev = s.submit("p3", Side.SELL, 1.0, 60009.5, post_only=True)  # would cross our own bid
    assert of(ev, OrderRejected)[0].reason == "post_only_would_cross"


def test_ioc_partial_and_fok() -> None:
    s = Sim()
    ev = s.submit("i1", Side.BUY, 3.0, 60010.5, time_in_force=TimeInForce.IOC)
    fills = of(ev, OrderFilled)
    assert sum(f.quantity for f in fills) == pytest.approx(3.0)
    s2 = Sim()
    ev = s2.submit("i2", Side.BUY, 4.0, 60010.5, time_in_force=TimeInForce.IOC)
    assert sum(f.quantity for f in of(ev, OrderFilled)) == pytest.approx(3.0)
    (c,) = of(ev, OrderCancelled)
    assert c.reason == "ioc_unfilled"
    assert s2.venue.open_orders() == [] and s2.book.best_bid() == (59990.0, 2.0)
    ev = s2.submit("f1", Side.SELL, 3.5, 59989.5, time_in_force=TimeInForce.FOK)
    assert not of(ev, OrderFilled) and of(ev, OrderCancelled)[0].reason == "fok_unfilled"
    ev = s2.submit("f2", Side.SELL, 3.0, 59989.5, time_in_force=TimeInForce.FOK)
    assert sum(f.quantity for f in of(ev, OrderFilled)) == pytest.approx(3.0)


def test_cancel_and_unknown_cancel() -> None:
    s = Sim()
    s.submit("c1", Side.SELL, 1.0, 60020.0)
    s.venue.cancel(CancelOrder(client_order_id="c1", strategy_id="s", instrument_id=s.perp))
    ev = s.new()
    assert of(ev, OrderCancelled)[0].reason == "cancelled"
    assert 60020.0 not in s.book.asks
    s.venue.cancel(CancelOrder(client_order_id="c1", strategy_id="s", instrument_id=s.perp))
    (r,) = s.new()
    assert isinstance(r, OrderRejected) and r.reason == "unknown_order"
    s.venue.amend(AmendOrder(client_order_id="nope", strategy_id="s", instrument_id=s.perp, quantity=1.0))
    assert s.new()[0].reason == "unknown_order"


def test_amend_size_down_keeps_queue_position() -> None:
    s = Sim()
    s.submit("a1", Side.BUY, 1.0, 59990.0)
    s.trade(Side.SELL, 1.0)  # 1.0 still ahead
    s.venue.amend(AmendOrder(client_order_id="a1", strategy_id="s", instrument_id=s.perp, quantity=0.5))
    ev = s.new()
    assert (of(ev, OrderAmended)[0].quantity, s.book.depth_bids(1)) == (0.5, [(59990.0, 1.5)])
    ev = s.trade(Side.SELL, 1.2)
    assert of(ev, OrderFilled)[0].quantity == pytest.approx(0.2)


def test_amend_size_up_or_price_loses_queue_position() -> None:
    s = Sim()
    s.submit("a1", Side.BUY, 1.0, 59990.0)  # 2.0 ahead
    s.venue.set_book(s.perp, [(59990.0, 3.0), (59989.5, 1.0)], ASKS)  # new size joins behind
    s.venue.amend(AmendOrder(client_order_id="a1", strategy_id="s", instrument_id=s.perp, quantity=1.5))
    s.new()
    ev = s.trade(Side.SELL, 2.5)  # had it kept its place, 0.5 would have filled
    assert not of(ev, OrderFilled)
    ev = s.trade(Side.SELL, 1.0)
    assert of(ev, OrderFilled)[0].quantity == pytest.approx(0.5)
    # A price change re-queues behind the displayed size at the new price.
    s.venue.amend(AmendOrder(client_order_id="a1", strategy_id="s", instrument_id=s.perp, price=59989.5))
    ev = s.new()
    assert of(ev, OrderAmended)[0].price == 59989.5
    ev = s.trade(Side.SELL, 1.0)
    assert not of(ev, OrderFilled)
    ev = s.trade(Side.SELL, 0.25)
    assert of(ev, OrderFilled)[0].quantity == pytest.approx(0.25)


def test_amend_to_a_crossing_price_executes() -> None:
    s = Sim()
    s.submit("a1", Side.BUY, 2.0, 59990.0)
    s.venue.amend(AmendOrder(client_order_id="a1", strategy_id="s", instrument_id=s.perp, price=60010.0))
    ev = s.new()
    (f,) = of(ev, OrderFilled)
    assert (f.price, f.quantity, f.remaining, f.liquidity) == (60010.0, 1.0, 1.0, Liquidity.TAKER)
    assert s.book.best_bid() == (60010.0, 1.0) and not s.book.is_crossed()


def test_validation_rejects() -> None:
    s = Sim(perp_min_size=0.01)
    cases = [
        (dict(coid="v1", side=Side.BUY, qty=1.0, price=60000.0, iid="sim:NOPE"), "unknown_instrument"),
        (dict(coid="v2", side=Side.BUY, qty=0.0015, price=60000.0), "quantity_not_on_lot"),
        (dict(coid="v3", side=Side.BUY, qty=0.005, price=60000.0), "quantity_below_min"),
        (dict(coid="v4", side=Side.BUY, qty=-1.0, price=60000.0), "invalid_quantity"),
        (dict(coid="v5", side=Side.BUY, qty=0.0, price=60000.0), "invalid_quantity"),
        (dict(coid="v6", side=Side.BUY, qty=1.0, price=60000.2), "price_not_on_tick"),
        (dict(coid="v7", side=Side.BUY, qty=1.0, price=-5.0), "invalid_price"),
    ]
    for kw, reason in cases:
        ev = s.submit(kw.pop("coid"), kw.pop("side"), kw.pop("qty"), kw.pop("price"), **kw)
        assert len(ev) == 1 and isinstance(ev[0], OrderRejected) and ev[0].reason == reason
    s.submit("d1", Side.BUY, 1.0, 59000.0)
    assert s.submit("d1", Side.BUY, 1.0, 59000.0)[0].reason == "duplicate_client_order_id"
    s.venue.amend(AmendOrder(client_order_id="d1", strategy_id="s", instrument_id=s.perp, price=59000.3))
    assert s.new()[0].reason == "price_not_on_tick"


def test_self_trade_prevention_cancels_the_resting_order() -> None:
    s = Sim()
    s.submit("ask", Side.SELL, 1.0, 60005.0)
    ev = s.submit("bid", Side.BUY, 2.0, 60010.0)
    assert of(ev, OrderCancelled)[0].client_order_id == "ask"
    assert of(ev, OrderCancelled)[0].reason == "self_trade_prevention"
    assert [(f.price, f.quantity) for f in of(ev, OrderFilled)] == [(60010.0, 1.0)]
    assert s.book.best_bid() == (60010.0, 1.0) and not s.book.is_crossed()


def test_venue_ids_are_unique() -> None:
    s = Sim()
    ids = [of(s.submit(f"u{k}", Side.BUY, 0.001, 59000.0), OrderAccepted)[0].venue_order_id for k in range(5)]
    assert len(set(ids)) == 5


def test_option_fees_are_capped_by_premium() -> None:
    s = Sim()
    opt = [i for i in s.venue.instruments() if i.is_option]
    cheap = min(opt, key=lambda i: s.venue._need_engine().books[i.id].best_ask() or 10**9)
    ev = s.submit("o1", Side.BUY, 1.0, iid=cheap.id)
    f = of(ev, OrderFilled)[0]
    assert f.fee_currency == "USDC"
    assert f.fee == pytest.approx(min(0.0003 * s.venue.underlying_price(), 0.125 * f.price) * f.quantity)


def test_latency_delays_processing() -> None:
    s = Sim(latency_ms=5.0)
    s.venue.submit(SubmitOrder(client_order_id="l1", strategy_id="s", instrument_id=s.perp,
                               side=Side.BUY, quantity=1.0, price=59000.0))
    assert not s.new()
    s.clock.advance_to(START + 5_000_000)
    ev = s.new()
    assert of(ev, OrderAccepted)[0].ts_event == START + 5_000_000
