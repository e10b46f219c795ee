"""One in-flight path: a committed batch gives the same event order on the simulated venue and
the replay exchange, with and without order-entry latency, and both answer at stop what is
still in flight.

Both venues list the simulated perpetual (tick 0.5, lot 0.001) over the same book: bids
59990.0 x 2.0, 59989.5 x 1.0; asks 60010.0 x 1.0, 60010.5 x 2.0, 60011.0 x 3.0. One engine
(kernel: bus, risk gate, execution core) runs in front of each. A resting bid ``r`` is placed
first; then, inside one bus dispatch (as a strategy callback would), the engine cancels ``r``,
submits a post-only bid ``b`` at 59980.0 (rests) and a limit buy ``c`` of 0.5 at 60010.0 (takes
0.5 of the 1.0 shown there): one batch. A venue that matched each command as it was handed over
would answer ``r``'s cancel before the engine published ``OrderSubmitted`` for ``b`` and ``c``;
a batch reaches the venue whole (``hold_commands``/``release_commands``), so the engine hears
both ``OrderSubmitted`` first, then the answers in the order the commands were handed over.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.sim.adapter import SimVenue
from adapters.sim.latency import LatencyModel
from adapters.sim.params import SimVenueParams
from adapters.sim.queue_model import QueueModel
from backtest.exchange import ReplayExchange
from backtest.schema import ExchangeParams
from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import (
    BookSnapshot,
    Liquidity,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
)
from engine.orders import OrderStatus
from engine.risk import RiskLimits
from tests.sim.test_matching import ASKS, BIDS, START

MS = 1_000_000


class _Go:
    """The event a strategy reacts to with a batch (any event: the batch forms in its dispatch)."""


def _sim(latency_ms: float) -> tuple[Kernel, Any, VirtualClock, str]:
    clock = VirtualClock(START)
    kernel = Kernel(clock, RiskLimits())
    venue = SimVenue(SimVenueParams(latency_ms=latency_ms, tick_ms=3_600_000))  # (no market ticks)
    kernel.add_adapter(venue)
    kernel.add_instruments(venue.instruments())
    asyncio.run(venue.start())
    perp = venue.instruments()[0].id
    venue.set_book(perp, BIDS, ASKS)
    return kernel, venue, clock, perp


def _replay(latency_ms: float) -> tuple[Kernel, Any, VirtualClock, str]:
    listing = SimVenue(SimVenueParams())
    listing.bind(lambda ev: None, VirtualClock(START))
    clock = VirtualClock(START)
    kernel = Kernel(clock, RiskLimits())
    ex = ReplayExchange(ExchangeParams(venue="sim", queue=QueueModel(model="worst"),
                                       order_latency=LatencyModel(ms=latency_ms)))
    ex.add_instruments(listing.instruments())
    kernel.add_adapter(ex)
    kernel.add_instruments(ex.instruments())
    asyncio.run(ex.start())
    perp = listing.instruments()[0].id
    ex.on_market(BookSnapshot(perp, tuple(BIDS), tuple(ASKS), 1, START, START))
    return kernel, ex, clock, perp


def _order(perp: str, coid: str, qty: float, price: float, post_only: bool) -> SubmitOrder:
    return SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=perp, side=Side.BUY,
                       quantity=qty, order_type=OrderType.LIMIT, price=price,
                       time_in_force=TimeInForce.GTC, post_only=post_only)


def _heard(kernel: Kernel) -> list[tuple[Any, ...]]:
    """The order events the engine's bus dispatches, in order (without ids and times)."""
    heard: list[tuple[Any, ...]] = []
    bus = kernel.bus
    bus.subscribe(OrderSubmitted, lambda e: heard.append(("submitted", e.client_order_id)))
    bus.subscribe(OrderAccepted, lambda e: heard.append(("accepted", e.client_order_id)))
    bus.subscribe(OrderCancelled, lambda e: heard.append(("cancelled", e.client_order_id)))
    bus.subscribe(OrderRejected, lambda e: heard.append(("rejected", e.client_order_id, e.reason)))
    bus.subscribe(OrderFilled, lambda e: heard.append(("filled", e.client_order_id, e.price,
                                                       e.quantity, e.liquidity)))
    return heard


def _run(make: Any, latency_ms: float) -> list[tuple[Any, ...]]:
    kernel, venue, clock, perp = make(latency_ms)
    heard = _heard(kernel)
    assert kernel.router.submit(_order(perp, "r", 0.2, 59985.0, True)) is None
    clock.advance_to(clock.now_ns() + 100 * MS)
    resting = kernel.orders.get("r")
    assert resting is not None and resting.status is OrderStatus.ACCEPTED

    def strategy(_ev: _Go) -> None:
        assert kernel.router.cancel(resting)
        assert kernel.router.submit(_order(perp, "b", 0.1, 59980.0, True)) is None
        assert kernel.router.submit(_order(perp, "c", 0.5, 60010.0, False)) is None

    kernel.bus.subscribe(_Go, strategy)
    kernel.bus.publish(_Go())
    clock.advance_to(clock.now_ns() + 100 * MS)
    asyncio.run(venue.stop())
    return heard


@pytest.mark.parametrize("latency_ms", [0.0, 20.0])
def test_the_same_batch_gives_the_same_event_order_on_both_simulators(latency_ms: float) -> None:
    sim, rep = _run(_sim, latency_ms), _run(_replay, latency_ms)
    assert sim == rep
    assert sim == [
        ("submitted", "r"), ("accepted", "r"),
        # the batch: handed over whole, then the venue's answers in the order of its commands
        ("submitted", "b"), ("submitted", "c"),
        ("cancelled", "r"),
        ("accepted", "b"),
        ("accepted", "c"), ("filled", "c", 60010.0, 0.5, Liquidity.TAKER),
    ]


@pytest.mark.parametrize("make", [_sim, _replay], ids=["sim", "replay"])
def test_stop_answers_a_batch_still_held_or_in_flight(make: Any) -> None:
    kernel, venue, clock, perp = make(20.0)
    heard = _heard(kernel)
    assert kernel.router.submit(_order(perp, "r", 0.2, 59985.0, True)) is None
    clock.advance_to(clock.now_ns() + 100 * MS)
    resting = kernel.orders.get("r")
    assert resting is not None
    assert kernel.router.cancel(resting)  # in flight (20 ms) when the venue stops
    venue.hold_commands()  # and a batch never released (an adapter's stop came first)
    venue.submit(_order(perp, "h", 0.1, 59980.0, True))
    asyncio.run(venue.stop())
    assert heard[-2:] == [("cancelled", "r"), ("accepted", "h")]
    assert resting.status is OrderStatus.CANCELLED
