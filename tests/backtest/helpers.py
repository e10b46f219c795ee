"""Shared builders for the backtest tests: a replay exchange on a virtual clock, fed by hand."""

from __future__ import annotations

import asyncio
from typing import Any

from backtest.exchange import ReplayExchange
from backtest.ledger import Ledger
from backtest.schema import ExchangeParams, InstrumentSpec, LatencyModel, QueueModel, ReportConfig
from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import (
    BookDelta,
    BookSnapshot,
    Instrument,
    Liquidity,
    OrderFilled,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
    Trade,
)
from engine.risk import RiskLimits

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


class LedgerRig:
    """A backtest ledger on a real kernel with no index price, fed by hand: books (``book``)
    and fills as the replay exchange reports them (``fill``, booked without the risk gate,
    which would refuse an order whose notional has no USD price), sampled with ``sample``."""

    def __init__(self, instruments: list[Instrument], markout_s: list[float] | None = None) -> None:
        from tests.engine.conftest import RecordingVenue

        self.k = k = Kernel(VirtualClock(T0), RiskLimits(), None)
        k.add_adapter(RecordingVenue(instruments[0].venue, instruments))
        k.add_instruments(instruments)
        self.ledger = Ledger(k, ReportConfig(sample_interval_s=1.0, markout_s=markout_s or []), k.books.get,
                             lambda _asset: float("nan"), lambda _tid: None)
        self._n = 0

    def book(self, inst: Instrument, mid: float, half_spread: float) -> None:
        self._n += 1
        self.k.bus.publish(BookSnapshot(inst.id, ((mid - half_spread, 5.0),),
                                        ((mid + half_spread, 5.0),), self._n, T0, T0))

    def fill(self, inst: Instrument, side: Side, qty: float, price: float, fee: float) -> None:
        self._n += 1
        coid = f"o{self._n}"
        self.k.orders.add_submitted(SubmitOrder(
            client_order_id=coid, strategy_id="s", instrument_id=inst.id, side=side,
            quantity=qty, order_type=OrderType.LIMIT, price=price, time_in_force=TimeInForce.GTC))
        self.k.bus.publish(OrderFilled(
            client_order_id=coid, venue_order_id=f"v{self._n}", instrument_id=inst.id,
            trade_id=f"t{self._n}", side=side, price=price, quantity=qty, remaining=0.0,
            liquidity=Liquidity.TAKER, fee=fee, fee_currency=inst.settle, ts_event=T0, ts_recv=T0))

    def sample(self, seconds: int) -> None:
        """Move the clock there (the markout timers due fire) and sample."""
        self.k.clock.advance_to(T0 + seconds * 1_000_000_000)
        self.ledger.sample(T0 + seconds * 1_000_000_000)
