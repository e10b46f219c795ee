"""Amend races on the replay exchange and the simulated venue, through the engine's order table.

With order-entry and response latency, an amend can be sent before the venue acknowledged the
order, while a fill is on its way, or next to a cancel; and the engine cancels its open orders
just before it stops its venues. Each race must end with every order in a final state the venue
agrees with, no illegal transition, and nothing left pending.
"""

from __future__ import annotations

import asyncio

from adapters.sim.adapter import SimVenue
from adapters.sim.params import SimVenueParams
from backtest.exchange import ReplayExchange
from backtest.schema import ExchangeParams, InstrumentSpec, LatencyModel, QueueModel
from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import OrderStatus, OrderType, Side, SubmitOrder, TimeInForce
from engine.orders import Order
from engine.risk import RiskLimits
from tests.backtest.helpers import IID, MS, T0, delta, snapshot, trade

S = OrderStatus
ORDER_MS, RESPONSE_MS = 20.0, 10.0


def _replay_node() -> tuple[Kernel, ReplayExchange, VirtualClock]:
    clock = VirtualClock(T0)
    kernel = Kernel(clock, RiskLimits())
    ex = ReplayExchange(ExchangeParams(
        venue="x", queue=QueueModel(model="worst"),  # type: ignore[arg-type]
        order_latency=LatencyModel(ms=ORDER_MS), response_latency=LatencyModel(ms=RESPONSE_MS),
        instruments=[InstrumentSpec(symbol="PERP", tick_size=0.5, lot_size=0.1, min_size=0.1,
                                    quote="USD", settle="USD")],
        maker_fee=0.0, taker_fee=0.0))
    kernel.add_adapter(ex)
    kernel.add_instruments(ex.instruments())
    asyncio.run(ex.start())
    ex.on_market(snapshot([(100.0, 5.0)], [(101.0, 5.0)], T0))
    return kernel, ex, clock


def _buy(kernel: Kernel, coid: str, price: float, qty: float = 1.0) -> Order:
    cmd = SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=IID, side=Side.BUY,
                      quantity=qty, order_type=OrderType.LIMIT, price=price,
                      time_in_force=TimeInForce.GTC, post_only=True)
    assert kernel.router.submit(cmd) is None
    order = kernel.orders.get(coid)
    assert order is not None
    return order


def _run_for(clock: VirtualClock, ms: float) -> None:
    clock.advance_to(clock.now_ns() + int(ms * MS))


def _clean(kernel: Kernel) -> None:
    # a late answer to an order already final is absorbed by the execution core (counted as
    # ``late_rejects``), never an illegal transition
    assert kernel.orders.illegal_transitions == 0
    assert not [o for o in kernel.orders if o.status in (S.PENDING_AMEND, S.PENDING_CANCEL,
                                                         S.SUBMITTED)]


def test_amend_sent_before_the_acknowledgement_ends_accepted_at_the_new_price() -> None:
    kernel, ex, clock = _replay_node()
    order = _buy(kernel, "a1", 99.0)
    _run_for(clock, 1.0)  # the submit is still on its way: the venue has not seen it
    assert order.status is S.SUBMITTED
    assert kernel.router.amend(order, 99.5, 2.0) is None
    _run_for(clock, 100.0)
    assert order.status is S.ACCEPTED
    assert (order.price, order.quantity) == (99.5, 2.0)
    assert (ex.orders["a1"].price, ex.orders["a1"].qty) == (99.5, 2.0)
    _clean(kernel)


def test_refused_amend_sent_before_the_acknowledgement_restores_accepted_not_submitted() -> None:
    kernel, ex, clock = _replay_node()
    order = _buy(kernel, "a1", 99.0)
    _run_for(clock, 1.0)
    assert kernel.router.amend(order, 101.0, None) is None  # post-only through the ask: refused
    _run_for(clock, 100.0)
    assert order.status is S.ACCEPTED  # (the venue acknowledged it: it is working at 99)
    assert order.price == 99.0 and order.reject_reason == "post_only_would_cross"
    assert "a1" in ex.orders
    _clean(kernel)


def test_amend_that_crosses_a_fill_in_flight_ends_filled() -> None:
    kernel, ex, clock = _replay_node()
    order = _buy(kernel, "a1", 100.0)
    _run_for(clock, 100.0)
    assert order.status is S.ACCEPTED
    assert kernel.router.amend(order, 99.5, None) is None
    # while the amend travels, sellers take the 5 ahead of us and our 1: we are filled
    ex.on_market(trade(100.0, 6.0, Side.SELL, clock.now_ns()))
    _run_for(clock, 100.0)  # the amend reaches a venue that no longer knows the order
    assert order.status is S.FILLED and order.filled == 1.0
    assert kernel.counters["late_rejects"] == 1
    assert kernel.portfolio.position(IID).qty == 1.0
    _clean(kernel)


def test_cancel_right_after_an_amend_ends_cancelled() -> None:
    kernel, ex, clock = _replay_node()
    order = _buy(kernel, "a1", 99.0)
    _run_for(clock, 100.0)
    assert kernel.router.amend(order, 99.5, None) is None
    assert kernel.router.cancel(order)
    assert order.status is S.PENDING_CANCEL
    _run_for(clock, 100.0)
    assert order.status is S.CANCELLED and not ex.orders
    _clean(kernel)


def test_amend_and_cancel_before_the_acknowledgement_end_cancelled() -> None:
    kernel, ex, clock = _replay_node()
    order = _buy(kernel, "a1", 99.0)
    assert kernel.router.amend(order, 99.5, None) is None
    assert kernel.router.cancel(order)
    _run_for(clock, 100.0)
    assert order.status is S.CANCELLED and not ex.orders
    _clean(kernel)


def test_stop_answers_the_cancels_and_amends_still_in_flight() -> None:
    kernel, ex, clock = _replay_node()
    resting = _buy(kernel, "a1", 99.0)
    _run_for(clock, 100.0)
    moving = _buy(kernel, "a2", 98.0)
    _run_for(clock, 1.0)
    assert kernel.router.amend(moving, 98.5, None) is None  # sent before its acknowledgement
    assert kernel.router.cancel_all() == 2  # what Node.stop does, then it stops the venues
    asyncio.run(ex.stop())  # the engine's clock does not move any more
    assert resting.status is S.CANCELLED and moving.status is S.CANCELLED
    assert not ex.orders
    _clean(kernel)


def test_market_moving_through_while_an_amend_travels_fills_at_the_old_price() -> None:
    kernel, ex, clock = _replay_node()
    order = _buy(kernel, "a1", 100.0)
    _run_for(clock, 100.0)
    assert kernel.router.amend(order, 99.0, None) is None
    ex.on_market(delta([], [(101.0, 0.0), (100.0, 3.0)], 2, clock.now_ns()))  # ask down to us
    _run_for(clock, 100.0)
    assert order.status is S.FILLED and order.avg_fill_price == 100.0
    _clean(kernel)


# -- the simulated venue --------------------------------------------------------------------

def _sim_node() -> tuple[Kernel, SimVenue, VirtualClock]:
    clock = VirtualClock(T0)
    kernel = Kernel(clock, RiskLimits())
    venue = SimVenue(SimVenueParams(latency_ms=ORDER_MS, seed=3))
    kernel.add_adapter(venue)
    kernel.add_instruments(venue.instruments())
    asyncio.run(venue.start())
    _run_for(clock, 500.0)
    return kernel, venue, clock


def _sim_buy(kernel: Kernel, venue: SimVenue, coid: str) -> tuple[Order, str]:
    iid = next(i.id for i in venue.instruments() if i.symbol == "BTC-PERP")
    book = kernel.books[iid]
    inst = kernel.instruments[iid]
    price = book.best_bid_price() - 20 * inst.tick_size
    cmd = SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=iid, side=Side.BUY,
                      quantity=inst.min_size, order_type=OrderType.LIMIT, price=price,
                      time_in_force=TimeInForce.GTC, post_only=True)
    assert kernel.router.submit(cmd) is None
    order = kernel.orders.get(coid)
    assert order is not None
    return order, iid


def test_sim_venue_amend_before_the_acknowledgement() -> None:
    kernel, venue, clock = _sim_node()
    order, iid = _sim_buy(kernel, venue, "s1")
    tick = kernel.instruments[iid].tick_size
    new_price = order.price - tick
    assert kernel.router.amend(order, new_price, None) is None
    _run_for(clock, 200.0)
    assert order.status in (S.ACCEPTED, S.FILLED) and order.price == new_price
    _clean(kernel)
    asyncio.run(venue.stop())


def test_sim_venue_stop_answers_the_cancels_in_flight() -> None:
    kernel, venue, clock = _sim_node()
    order, _ = _sim_buy(kernel, venue, "s1")
    _run_for(clock, 200.0)
    other, _ = _sim_buy(kernel, venue, "s2")
    assert kernel.router.cancel_all() == 2
    asyncio.run(venue.stop())
    assert order.status is S.CANCELLED and other.status is S.CANCELLED
    assert venue.open_orders() == []
    _clean(kernel)
