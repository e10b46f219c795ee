"""Shared fixtures for the risk tests: a kernel on a recording venue with live books."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import (
    BookSnapshot,
    Instrument,
    InstrumentKind,
    Liquidity,
    OptionType,
    OrderAccepted,
    OrderFilled,
    Side,
    SubmitOrder,
    VenueReconciliation,
)
from engine.risk import RiskLimits
from tests.engine.conftest import CALL, PERP, RecordingVenue

PUT = Instrument(venue="fake", symbol="BTC-1JAN27-60000-P", kind=InstrumentKind.OPTION, base="BTC",
                 quote="USD", settle="USDC", tick_size=1.0, lot_size=0.01, min_size=0.01,
                 underlying="BTC", strike=60000.0, option_type=OptionType.PUT,
                 expiry_ns=1_900_000_000 * 10**9)
CALL2 = Instrument(venue="fake", symbol="BTC-1FEB27-60000-C", kind=InstrumentKind.OPTION, base="BTC",
                   quote="USD", settle="USDC", tick_size=1.0, lot_size=0.01, min_size=0.01,
                   underlying="BTC", strike=60000.0, option_type=OptionType.CALL,
                   expiry_ns=1_902_000_000 * 10**9)
ALL = [PERP, CALL, PUT, CALL2]


class Venue(RecordingVenue):
    """Records commands; answers queries/reconciliation from what the test scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []
        self.cancel_alls = 0
        self.cod: float | None = None
        self.report: VenueReconciliation | None = None
        self.fail_submit = False

    def instruments(self) -> list[Instrument]:
        return list(ALL)

    def submit(self, cmd: SubmitOrder) -> None:
        if self.fail_submit:
            raise ConnectionError("socket closed")
        super().submit(cmd)

    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        self.queries.append(client_order_id)

    def cancel_all_orders(self) -> None:
        self.cancel_alls += 1

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        self.cod = timeout_s

    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        if self.report is None:
            return VenueReconciliation(venue=self.venue, open_orders=(), fills=(), positions=(), ts=0)
        return self.report


def make(limits: RiskLimits | None = None, journal: Any = None, **overrides: Any) -> tuple[Kernel, Venue]:
    if overrides:
        limits = dataclasses.replace(limits or RiskLimits(), **overrides)
    kernel = Kernel(VirtualClock(1_000_000_000), limits or RiskLimits(), journal)
    venue = Venue()
    kernel.add_adapter(venue)
    kernel.add_instruments(venue.instruments())
    pub = kernel.bus.publish
    pub(BookSnapshot(PERP.id, ((59_990.0, 1.0), (59_980.0, 2.0)), ((60_010.0, 1.0), (60_020.0, 2.0)), 1, 0, 0))
    for opt in (CALL, PUT, CALL2):
        pub(BookSnapshot(opt.id, ((1_000.0, 5.0),), ((1_100.0, 5.0),), 1, 0, 0))
    kernel.portfolio.set_underlying_price("BTC", 60_000.0)
    return kernel, venue


_n = 0


def order(inst: Instrument = PERP, side: Side = Side.BUY, qty: float = 0.01,
          price: float | None = 60_000.0, strategy: str = "t", **kw: Any) -> SubmitOrder:
    global _n
    _n += 1
    return SubmitOrder(client_order_id=kw.pop("coid", f"{strategy}-{_n}"), strategy_id=strategy,
                       instrument_id=inst.id, side=side, quantity=qty, price=price, **kw)


def reason(kernel: Kernel, cmd: SubmitOrder) -> str | None:
    d = kernel.router.submit(cmd)
    return None if d is None else d.reason


_t = 0


def fill(kernel: Kernel, cmd: SubmitOrder, qty: float | None = None, price: float | None = None,
         remaining: float = 0.0, trade_id: str | None = None) -> OrderFilled:
    """Accept (if needed) and fill ``cmd`` through the bus, as the venue would."""
    global _t
    _t += 1
    o = kernel.orders.get(cmd.client_order_id)
    if o is not None and str(o.status) == "submitted":
        kernel.bus.publish(OrderAccepted(client_order_id=cmd.client_order_id, venue_order_id="v",
                                         instrument_id=cmd.instrument_id, ts_event=0, ts_recv=0))
    ev = OrderFilled(client_order_id=cmd.client_order_id, venue_order_id="v",
                     instrument_id=cmd.instrument_id, trade_id=trade_id or f"tr{_t}", side=cmd.side,
                     price=price if price is not None else (cmd.price or 60_000.0),
                     quantity=qty if qty is not None else cmd.quantity, remaining=remaining,
                     liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0)
    kernel.bus.publish(ev)
    return ev


def position(kernel: Kernel, inst: Instrument, qty: float, price: float) -> None:
    """Give the portfolio a position as if filled (an orphan fill)."""
    global _t
    _t += 1
    kernel.portfolio.on_fill(OrderFilled(
        client_order_id="x", venue_order_id="v", instrument_id=inst.id, trade_id=f"p{_t}",
        side=Side.BUY if qty > 0 else Side.SELL, price=price, quantity=abs(qty), remaining=0.0,
        liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))


__all__ = ["ALL", "CALL", "CALL2", "PERP", "PUT", "Venue", "fill", "make", "order", "position", "reason"]
