"""The simulated venue and the replay exchange refuse the same orders with the same codes."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.sim.rules import Reject
from backtest.exchange import ReplayExchange
from backtest.schema import ExchangeParams
from engine.clock import VirtualClock
from engine.model import (
    AmendOrder,
    BookSnapshot,
    OrderRejected,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
)
from tests.sim.test_matching import ASKS, BIDS, START, Sim


def _replay_like(sim: Sim) -> tuple[ReplayExchange, list[Any]]:
    """A replay exchange listing the simulated venue's instruments, fed its perp book."""
    ex = ReplayExchange(ExchangeParams(venue="sim"))
    ex.add_instruments(sim.venue.instruments())
    out: list[Any] = []
    ex.bind(out.append, VirtualClock(START))
    asyncio.run(ex.start())
    ex.on_market(BookSnapshot(sim.perp, tuple(BIDS), tuple(ASKS), 1, START, START))
    return ex, out


def _cases(perp: str) -> list[tuple[Any, str]]:
    def limit(coid: str, qty: float, price: float | None, **kw: Any) -> SubmitOrder:
        kw.setdefault("order_type", OrderType.LIMIT)
        return SubmitOrder(client_order_id=coid, strategy_id="s",
                           instrument_id=kw.pop("iid", perp), side=kw.pop("side", Side.BUY),
                           quantity=qty, price=price, **kw)
    return [
        (limit("c1", 1.0, 60000.0, iid="sim:NOPE"), Reject.UNKNOWN_INSTRUMENT),
        (limit("c2", 0.0015, 60000.0), Reject.QUANTITY_NOT_ON_LOT),
        (limit("c3", 0.0, 60000.0), Reject.INVALID_QUANTITY),
        (limit("c3b", 0.005, 60000.0), Reject.QUANTITY_BELOW_MIN),
        (limit("c4", float("nan"), 60000.0), Reject.INVALID_QUANTITY),
        (limit("c5", 1.0, 60000.2), Reject.PRICE_NOT_ON_TICK),
        (limit("c6", 1.0, -5.0), Reject.INVALID_PRICE),
        (limit("c7", 1.0, None), Reject.PRICE_REQUIRED),
        (limit("c8", 1.0, None, order_type=OrderType.MARKET, post_only=True,
               time_in_force=TimeInForce.IOC), Reject.POST_ONLY_REQUIRES_GTC_LIMIT),
        (limit("c9", 1.0, 59000.0, post_only=True, time_in_force=TimeInForce.IOC),
         Reject.POST_ONLY_REQUIRES_GTC_LIMIT),
        (limit("c10", 1.0, 60010.0, post_only=True), Reject.POST_ONLY_WOULD_CROSS),
        (limit("c11", 1.0, 59990.0, side=Side.SELL, post_only=True), Reject.POST_ONLY_WOULD_CROSS),
        (AmendOrder(client_order_id="nope", strategy_id="s", instrument_id=perp, price=1.0),
         Reject.UNKNOWN_ORDER),
    ]


def test_same_reject_codes_on_both_simulators() -> None:
    sim = Sim(perp_min_size=0.01)
    ex, out = _replay_like(sim)
    for cmd, reason in _cases(sim.perp):
        if isinstance(cmd, SubmitOrder):
            sim.venue.submit(cmd)
            ex.submit(cmd)
        else:
            sim.venue.amend(cmd)
            ex.amend(cmd)
        (sim_ev,) = [e for e in sim.new() if isinstance(e, OrderRejected)]
        ex_ev = out.pop()
        assert isinstance(ex_ev, OrderRejected)
        assert (sim_ev.reason, ex_ev.reason) == (reason, reason), cmd
