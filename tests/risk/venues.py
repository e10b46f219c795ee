"""Test helpers for several named venues on one kernel: a recording venue per name, and an
order submitted through the gate (and, on request, accepted and filled as the venue would)."""

from __future__ import annotations

import itertools

from engine.kernel import Kernel
from engine.model import Instrument, Liquidity, OrderAccepted, OrderFilled, Side, SubmitOrder
from tests.engine.conftest import RecordingVenue

_ids = itertools.count(1)


def add_venue(k: Kernel, name: str, insts: list[Instrument]) -> None:
    v = RecordingVenue(name, insts)
    k.add_adapter(v)
    k.add_instruments(v.instruments())


def submit(k: Kernel, inst: Instrument, side: Side, qty: float, px: float, fill: bool = False) -> str | None:
    """The gate's denial reason (None: approved; filled in full at ``px`` when ``fill``)."""
    n = next(_ids)
    cmd = SubmitOrder(client_order_id=f"o{n}", strategy_id="t", instrument_id=inst.id, side=side,
                      quantity=qty, price=px)
    d = k.router.submit(cmd)
    if d is None and fill:
        k.bus.publish(OrderAccepted(client_order_id=cmd.client_order_id, venue_order_id="v",
                                    instrument_id=inst.id, ts_event=0, ts_recv=0))
        k.bus.publish(OrderFilled(client_order_id=cmd.client_order_id, venue_order_id="v",
                                  instrument_id=inst.id, trade_id=f"tr{n}", side=side, price=px,
                                  quantity=qty, remaining=0.0, liquidity=Liquidity.TAKER, fee=0.0,
                                  fee_currency=inst.settle, ts_event=0, ts_recv=0))
    return None if d is None else d.reason
