"""Commands the execution core derives from the ones it is given (pure: no state read or written).

* ``CancelAll``: the cancel-every-open-order command (its orders are the core's to find).
* ``amend_probe``: an amend is checked by the risk gate as the new order it would leave
  working: the order's remaining quantity after the amend, at the new (or kept) price, with
  its reduce-only flag; the core sets the order's own working quantity aside while the gate
  looks, so the order is not counted twice.
* ``sweep_children``: a parent of ``size_base`` underlying units split across venues by the
  consolidated book's sweep, one IOC child per venue at that venue's worst level reached.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from engine.consolidated import ConsolidatedBook
from engine.model import Side, SubmitOrder, TimeInForce
from engine.orders import Order


class CancelAll(msgspec.Struct, frozen=True, kw_only=True):
    """Command: cancel every open order (of one instrument and/or strategy when given)."""

    instrument_id: str | None = None
    strategy_id: str | None = None


def amend_probe(order: Order, price: float | None, new_qty: float) -> SubmitOrder:
    """The order ``order`` would become, amended to ``new_qty`` (and ``price`` when given), as
    a new order for what it would leave working."""
    return SubmitOrder(client_order_id=order.client_order_id + "~amend",
                       strategy_id=order.strategy_id, instrument_id=order.instrument_id,
                       side=order.side, quantity=max(new_qty - order.filled, 0.0),
                       price=price if price is not None else order.price,
                       reduce_only=order.command.reduce_only)


def sweep_children(book: ConsolidatedBook, strategy_id: str, side: Side, size_base: float,
                   new_id: Callable[[], str], now: int, net_of_fees: bool) -> list[SubmitOrder]:
    """The IOC children of a parent of ``size_base`` underlying units, one per venue reached."""
    return [SubmitOrder(client_order_id=new_id(), strategy_id=strategy_id,
                        instrument_id=child.instrument_id, side=side, quantity=child.contracts,
                        price=child.price, time_in_force=TimeInForce.IOC, ts=now)
            for child in book.sweep(side, size_base, net_of_fees)]
