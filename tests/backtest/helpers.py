"""Shared builders for the backtest tests: a replay exchange on a virtual clock, fed by hand."""

from __future__ import annotations

import asyncio
from typing import Any

from backtest.exchange import ReplayExchange
from backtest.schema import ExchangeParams, InstrumentSpec, LatencyModel, QueueModel
from engine.clock import VirtualClock
from engine.model import (
    BookDelta,
    BookSnapshot,
    OrderFilled,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
    Trade,
)

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
IID = "x:PERP"


def make_exchange(queue: str = "worst", order_ms: float = 0.0, response_ms: float = 0.0,
                  instruments: list[InstrumentSpec] | None = None, **kw: Any
                  ) -> tuple[ReplayExchange, VirtualClock, list[Any]]:
    params = ExchangeParams(
        venue="x", queue=QueueModel(model=queue),  # type: ignore[arg-type]
        order_latency=LatencyModel(ms=order_ms), response_latency=LatencyModel(ms=response_ms),
        instruments=instruments or [InstrumentSpec(symbol="PERP", tick_size=0.5, lot_size=0.1,
                                                   min_size=0.1, quote="USD", settle="USD")],
        maker_fee=0.0, taker_fee=0.001, **kw)
    ex = ReplayExchange(params)
    clock = VirtualClock(T0)
    out: list[Any] = []
    ex.bind(out.append, clock)
    asyncio.run(ex.start())
    return ex, clock, out


def snapshot(bids: list[tuple[float, float]], asks: list[tuple[float, float]], ts: int,
             iid: str = IID, seq: int = 1) -> BookSnapshot:
    return BookSnapshot(iid, tuple(bids), tuple(asks), seq, ts, ts)


def delta(bids: list[tuple[float, float]], asks: list[tuple[float, float]], seq: int, ts: int,
          iid: str = IID) -> BookDelta:
    return BookDelta(iid, tuple(bids), tuple(asks), seq, seq - 1, ts, ts)


def trade(price: float, size: float, aggressor: Side, ts: int, iid: str = IID) -> Trade:
    return Trade(iid, price, size, aggressor, f"t{ts}", ts, ts)


def order(coid: str, side: Side, qty: float, price: float | None, *, post_only: bool = False,
          tif: TimeInForce = TimeInForce.GTC, iid: str = IID) -> SubmitOrder:
    return SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=iid, side=side,
                       quantity=qty, order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
                       price=price, time_in_force=tif if price is not None else TimeInForce.IOC,
                       post_only=post_only)


def fills(out: list[Any], coid: str | None = None) -> list[OrderFilled]:
    return [e for e in out if isinstance(e, OrderFilled)
            and (coid is None or e.client_order_id == coid)]


def filled_qty(out: list[Any], coid: str) -> float:
    return round(sum(f.quantity for f in fills(out, coid)), 9)
