"""A live session's own record of every order it sent: de-duplication and unknown fates.

Shared by every live venue (Binance, Bybit, Deribit, OKX): the state machine is the same for
all of them; only how an answer reaches the session differs, and that stays in the venue.

Theory of operation: one venue answer can reach us several times (the REST/RPC response *and*
the user stream both announce a new order; a reconnect or a status query replays fills), and an
answer can also never come (a timeout, a dropped connection). ``OrderTracker`` keeps, per client
order id, a small state machine in ``TRANSITIONS`` and decides whether an event is news:

    state      accepted    fill (not final)   fill (final) / terminal   ack lost
    SENDING    ACCEPTED    ACCEPTED           DONE                      UNKNOWN
    UNKNOWN    ACCEPTED    ACCEPTED           DONE                      UNKNOWN
    ACCEPTED   (dup)       ACCEPTED           DONE                      ACCEPTED
    DONE       (dup)       (dup: same id)     (dup)                     DONE

A duplicate acceptance or terminal event is swallowed; a fill is swallowed only when its venue
trade id was already published (a fill is a fact: it is never dropped for arriving in an odd
state). UNKNOWN is never resolved by resending: only the venue's own answer (a stream event,
a status query) moves an order on. Events for orders this process did not send pass through.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.model import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)

SENDING = "sending"
UNKNOWN = "unknown"
ACCEPTED = "accepted"
DONE = "done"

TRANSITIONS: dict[str, dict[str, str]] = {
    SENDING: {"accepted": ACCEPTED, "fill": ACCEPTED, "final": DONE, "lost": UNKNOWN},
    UNKNOWN: {"accepted": ACCEPTED, "fill": ACCEPTED, "final": DONE, "lost": UNKNOWN},
    ACCEPTED: {"fill": ACCEPTED, "final": DONE, "lost": ACCEPTED},
    DONE: {"final_fill": DONE},
}
"""state -> trigger -> next state; a trigger missing here means "already known: swallow"."""

_TERMINAL = (OrderCancelled, OrderExpired)


@dataclass(slots=True)
class Tracked:
    """What the session knows about one of its orders."""

    cmd: SubmitOrder
    symbol: str
    sent_ns: int
    """When the request went on the wire (0 while it still waits for the rate limiter)."""
    state: str = SENDING
    created_ns: int = 0
    """Wall-clock time of ``add`` (Binance/Bybit measure their acknowledgement timeout from it)."""
    venue_order_id: str = ""
    price: float | None = None
    quantity: float = 0.0
    filled: float = 0.0
    trade_ids: set[str] = field(default_factory=set)


class OrderTracker:
    """Client order id -> ``Tracked``; ``admit(event)`` says whether to publish an event."""

    def __init__(self, max_orders: int = 50_000) -> None:
        self.max_orders = max_orders
        self._orders: dict[str, Tracked] = {}
        self._by_venue_id: dict[str, str] = {}
        self.duplicates = 0

    def add(self, cmd: SubmitOrder, symbol: str) -> Tracked:
        """Start tracking an order before its request is sent (state SENDING)."""
        t = Tracked(cmd, symbol, 0, created_ns=time.time_ns(), price=cmd.price,
                    quantity=cmd.quantity)
        self._orders[cmd.client_order_id] = t
        if len(self._orders) > self.max_orders:
            self._prune()
        return t

    def _prune(self) -> None:
        """Forget the oldest finished orders (a long session must not grow without bound)."""
        drop = len(self._orders) - self.max_orders // 2
        for coid in [c for c, t in self._orders.items() if t.state == DONE][:drop]:
            t = self._orders.pop(coid)
            self._by_venue_id.pop(t.venue_order_id, None)

    def in_flight(self, now_ns: int, window_ns: int) -> list[Tracked]:
        """Orders the venue may still execute: requests not answered yet, or lost answers
        whose receive window has not passed."""
        return [t for t in self._orders.values() if t.state == SENDING or
                (t.state == UNKNOWN and now_ns - t.sent_ns < window_ns)]

    def get(self, client_order_id: str) -> Tracked | None:
        """The record of one of our orders, or None if this process did not send it."""
        return self._orders.get(client_order_id)

    def by_venue_id(self, venue_order_id: str) -> Tracked | None:
        """The record of an order by the venue's id (known once an answer carried it)."""
        coid = self._by_venue_id.get(venue_order_id)
        return self._orders.get(coid) if coid is not None else None

    def __iter__(self) -> Iterator[Tracked]:
        return iter(self._orders.values())

    def open(self) -> list[Tracked]:
        """Orders whose fate is not final (sending, unknown or working)."""
        return [t for t in self._orders.values() if t.state != DONE]

    def never_placed(self, client_order_id: str, now_ns: int, window_ns: int) -> bool:
        """True when the venue can no longer execute this order: its request ended without an
        answer (UNKNOWN) and the venue's receive window since it went on the wire has passed
        (the venue rejects a request older than that). Until then "not found" proves nothing:
        the request may still be on its way."""
        t = self._orders.get(client_order_id)
        return (t is not None and t.state == UNKNOWN and t.sent_ns > 0
                and now_ns - t.sent_ns >= window_ns)

    def unknown(self) -> list[Tracked]:
        """Orders whose acknowledgement was lost and that no venue answer has settled yet."""
        return [t for t in self._orders.values() if t.state == UNKNOWN]

    def set_venue_id(self, t: Tracked, venue_order_id: str) -> None:
        """Remember the venue's id of ``t`` (ignored when empty: not every answer carries it)."""
        if venue_order_id:
            t.venue_order_id = venue_order_id
            self._by_venue_id[venue_order_id] = t.cmd.client_order_id

    def mark_lost(self, client_order_id: str) -> bool:
        """The acknowledgement never came: SENDING -> UNKNOWN. True if it changed."""
        t = self._orders.get(client_order_id)
        if t is None or t.state != SENDING:
            return False
        t.state = TRANSITIONS[t.state]["lost"]
        return True

    def admit(self, ev: Any) -> bool:
        """Update the record with ``ev``; True if ``ev`` is news and must be published."""
        t = self._orders.get(ev.client_order_id)
        if t is None:
            return True
        if isinstance(ev, OrderFilled):
            if ev.trade_id in t.trade_ids:
                self.duplicates += 1
                return False
            t.trade_ids.add(ev.trade_id)
            t.filled += ev.quantity
            self.set_venue_id(t, ev.venue_order_id)
            trigger = "final" if ev.remaining <= 1e-12 else "fill"
            t.state = TRANSITIONS[t.state].get(trigger, t.state)
            return True
        if isinstance(ev, OrderAccepted):
            self.set_venue_id(t, ev.venue_order_id)
            return self._step(t, "accepted")
        if isinstance(ev, OrderAmended):
            if t.state == DONE or (t.price == ev.price and t.quantity == ev.quantity):
                self.duplicates += 1  # the REST answer and the stream both report an amend
                return False
            t.price, t.quantity = ev.price, ev.quantity
            return True
        if isinstance(ev, (*_TERMINAL, OrderRejected)):
            return self._step(t, "final")
        return True

    def admit_request_reject(self, ev: OrderRejected) -> bool:
        """A refused cancel/amend: publish it only for an order known to be working.

        The engine reads an ``OrderRejected`` by the order's state; for an order whose
        acceptance we have not seen (or that is finished) it would read as the order itself
        being rejected. Such a refusal is settled by a status query instead."""
        t = self._orders.get(ev.client_order_id)
        return t is not None and t.state == ACCEPTED

    def _step(self, t: Tracked, trigger: str) -> bool:
        nxt = TRANSITIONS[t.state].get(trigger)
        if nxt is None:
            self.duplicates += 1
            return False
        t.state = nxt
        return True
