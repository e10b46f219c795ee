"""Reconciliation as a pure function: a venue's report + the engine's state -> corrections.

``plan`` reads the engine's state through ``ReconcileView`` (nothing is changed) and returns
a ``Plan``; ``engine.reconcile.apply_reconciliation`` applies it through the usual entries:
venue events through the bus (so the execution core journals and applies them like any
report), commands to the venue, position adjustments to the portfolio, journaled.

| venue says                    | engine thinks           | correction                                   |
| ----------------------------- | ----------------------- | -------------------------------------------- |
| a fill we have not seen       | -                       | the ``OrderFilled`` (dedup by trade id)      |
| order open                    | open                    | status synced (``OrderStatusReport``), size  |
| order open, we asked a cancel | pending cancel          | the cancel again                             |
| order open                    | finished / never sent   | cancelled at the venue (not ours to keep)    |
| order not open                | open (or in doubt)      | ``OrderCancelled("reconciled: ...")``        |
| position q                    | position p != q (after  | venue wins: ``PositionAdjusted``             |
|                               | the missing fills)      |                                              |

Fills first, so an order that filled while we were away ends FILLED; its "not open" cancel
that follows is absorbed by the core as a second ending. A command sent less than the ack
timeout ago may not be in the venue's list yet: it is left to the ack timer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from engine.model import (
    CancelOrder,
    OrderCancelled,
    OrderStatus,
    VenueReconciliation,
)

QTY_EPS = 1e-9


class ReconcileView(Protocol):
    """What reconciliation reads of the engine (read-only)."""

    def has_trade(self, instrument_id: str, trade_id: str) -> bool: ...
    def order(self, client_order_id: str) -> Any: ...
    def open_orders(self) -> list[Any]: ...
    def position_qty(self, instrument_id: str) -> tuple[float, float] | None: ...
    def venue_positions(self, venue: str) -> list[str]: ...


@dataclass(frozen=True)
class QuantitySync:
    client_order_id: str
    price: float | None
    quantity: float


@dataclass(frozen=True)
class PositionFix:
    instrument_id: str
    quantity: float
    avg_price: float
    previous: float


@dataclass
class Plan:
    venue: str
    events: list[Any] = field(default_factory=list)  # venue reports, through the core
    cancels: list[CancelOrder] = field(default_factory=list)  # commands to the venue
    quantity_syncs: list[QuantitySync] = field(default_factory=list)
    positions: list[PositionFix] = field(default_factory=list)
    notes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return len(self.notes)


def plan(report: VenueReconciliation, view: ReconcileView, now: int, young_ns: int) -> Plan:
    venue = report.venue
    out = Plan(venue)

    def note(kind: str, **fields: Any) -> None:
        out.notes.append((kind, fields))

    # 1. fills the venue has and we lack
    moved: dict[str, float] = {}
    filled_now: dict[str, float] = {}  # client order id -> quantity the missing fills add
    seen: set[str] = set()
    for fill in report.fills:
        if fill.trade_id in seen or view.has_trade(fill.instrument_id, fill.trade_id):
            continue
        seen.add(fill.trade_id)
        note("missing_fill", client_order_id=fill.client_order_id, trade_id=fill.trade_id,
             qty=fill.quantity, price=fill.price)
        out.events.append(fill)
        filled_now[fill.client_order_id] = filled_now.get(fill.client_order_id, 0.0) + fill.quantity
        moved[fill.instrument_id] = moved.get(fill.instrument_id, 0.0) + fill.side.sign * fill.quantity

    # 2. open orders
    venue_open = {r.client_order_id: r for r in report.open_orders}
    for coid, rep in venue_open.items():
        order = view.order(coid) if coid else None
        if order is None or not order.is_open:
            note("unexpected_open_order", client_order_id=coid, venue_order_id=rep.venue_order_id,
                 engine_state=None if order is None else str(order.status))
            if coid:
                out.cancels.append(CancelOrder(client_order_id=coid, strategy_id="reconcile",
                                               instrument_id=rep.instrument_id, ts=now))
            continue
        if abs(rep.quantity - order.quantity) > QTY_EPS and order.status is not OrderStatus.PENDING_AMEND:
            note("order_quantity", client_order_id=coid, at_venue=rep.quantity, engine=order.quantity)
            out.quantity_syncs.append(QuantitySync(coid, rep.price, rep.quantity))
        if abs(rep.filled - order.filled) > QTY_EPS:
            note("order_filled_qty", client_order_id=coid, at_venue=rep.filled, engine=order.filled)
        if order.status is OrderStatus.PENDING_CANCEL:
            out.cancels.append(CancelOrder(client_order_id=coid, strategy_id=order.strategy_id,
                                           instrument_id=order.instrument_id, ts=now))
        elif rep.status in (OrderStatus.ACCEPTED.value, OrderStatus.PARTIALLY_FILLED.value):
            # (the fills of step 1 bring the filled quantity; the report settles the state)
            # (capped at what the engine will know after step 1, so fills the venue did not
            # list never send it round again)
            known = order.filled + filled_now.get(coid, 0.0)
            out.events.append(msgspec.structs.replace(rep, filled=min(rep.filled, known)))
        else:
            try:
                OrderStatus(rep.status)
            except ValueError:
                note("order_status", client_order_id=coid, at_venue=rep.status)

    # 3. orders we think open that the venue does not list
    for order in view.open_orders():
        if order.instrument_id.partition(":")[0] != venue or order.client_order_id in venue_open:
            continue
        if order.sent_ns > 0 and not order.in_doubt and now - order.sent_ns < young_ns:
            continue
        if order.filled + filled_now.get(order.client_order_id, 0.0) >= order.quantity - QTY_EPS:
            continue  # the missing fills complete it: it ends FILLED, not cancelled
        note("order_not_at_venue", client_order_id=order.client_order_id,
             state=str(order.status), filled=order.filled)
        out.events.append(OrderCancelled(client_order_id=order.client_order_id,
                                         instrument_id=order.instrument_id,
                                         reason="reconciled: not open at venue",
                                         ts_event=now, ts_recv=now))

    # 4. positions: the venue wins (compared after the missing fills)
    venue_pos = {p.instrument_id: p for p in report.positions}
    for iid in sorted(set(venue_pos) | set(view.venue_positions(venue))):
        want = venue_pos[iid].quantity if iid in venue_pos else 0.0
        cur = view.position_qty(iid)
        if cur is None:
            if abs(want) > QTY_EPS:
                note("position_unknown_instrument", instrument=iid, at_venue=want)
            continue
        have, have_avg = cur[0] + moved.get(iid, 0.0), cur[1]
        if abs(want - have) <= QTY_EPS:
            continue
        avg = venue_pos[iid].avg_price if iid in venue_pos else 0.0
        if math.isnan(avg) or avg <= 0:
            avg = have_avg
        note("position", instrument=iid, at_venue=want, engine=have)
        out.positions.append(PositionFix(iid, want, avg, have))
    return out
