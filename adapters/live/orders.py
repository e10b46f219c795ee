"""``OrderDesk``: the venue-neutral part of a live session's order entry, composed into every
venue's order API.

Theory of operation. Each venue's order API (``adapters.<venue>.orders``) speaks its venue's
order protocol; what does not depend on the protocol is here, once:

* ``emit``: every order event goes through the session's ``OrderTracker`` first, which
  swallows what was already published (one answer often arrives twice: reply and stream);
* ``reject``: an ``OrderRejected`` decided by the session itself (not trading, throttled ...);
  the first of each reason (its code, the text before ``:``) is also one warning line, so a
  session that refuses every order (no credentials) does not do it in silence;
* ``unknown_orders``/``resync_orders``: orders whose fate is unknown, and the status queries
  that settle them after a stream gap (the venue's word, never a resend);
* ``withdraw_unsent``/``still_wanted`` (the websocket venues, whose requests may wait in our
  rate limiter as long as it takes): a new order still held there when the engine asks about it
  (status query, reconciliation) is rejected ``WITHDRAWN`` and never sent, because the venue
  cannot list it and the engine would call it gone;
* for the REST venues (Binance, Bybit), which sign a request with a receive window:
  ``admit_to_wire`` (a request that waited in our rate limiter past the ack timeout is dropped
  unsent: the engine has already asked about it) and ``settle_in_flight`` (a reconciliation
  waits, bounded by the receive window, for requests the venue may still execute).

The venue's order API hands its status query (``StatusQuery``: client order id and the
reference its queries take, symbol or instrument id) to the constructor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from adapters.live.rest import NotSent, Unreachable
from adapters.live.session import LiveSession
from adapters.live.tracker import SENDING, UNKNOWN, OrderTracker, Tracked
from engine.model import (
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
)

__all__ = ["NOT_OURS", "WITHDRAWN", "OrderDesk", "StatusQuery"]

_NS = 1_000_000_000

WITHDRAWN = "WITHDRAWN: still held by the rate limiter when the engine asked; never sent"
NOT_OURS = "amend: order not sent by this session"
"""Why an amend of an order the session has no record of is refused (it cannot fill in what
the venue's amend needs: the side, the other of price and quantity, the venue's order id)."""

StatusQuery = Callable[[str, str], Awaitable[OrderStatusReport | None]]
"""``query(client_order_id, ref)``: ask the venue, publish and return its report (or None)."""


class OrderDesk:
    """Tracker-filtered publishing, session rejects and the fate of orders in flight."""

    def __init__(self, session: LiveSession, tracker: OrderTracker, query: StatusQuery, *,
                 ack_timeout_s: float, recv_window_ms: int = 0, by_instrument: bool = False
                 ) -> None:
        self.session = session
        self.tracker = tracker
        self.query = query
        self.ack_timeout_s = ack_timeout_s
        self.recv_window_ms = recv_window_ms
        self.by_instrument = by_instrument
        self._sent_on: dict[str, int] = {}
        self._held: dict[str, tuple[OrderCancelled | OrderExpired | OrderRejected, float]] = {}
        """The venue's status query takes the instrument id (Deribit, OKX), not the symbol."""
        self._refusals_logged: set[str] = set()
        """Reason codes of ``reject`` already logged (each once per session)."""

    def emit(self, ev: Any) -> None:
        """Publish ``ev`` unless the tracker has already seen it."""
        if self.tracker.admit(ev):
            self.session.publish(ev)

    def reject(self, client_order_id: str, instrument_id: str, reason: str) -> None:
        """Reject one of our orders for a reason the session itself decided; the first of
        each reason code is logged (a warning), the others are the events only."""
        code = reason.partition(":")[0]
        if code not in self._refusals_logged:
            self._refusals_logged.add(code)
            s = self.session
            s.log.warning(f"{s.log_name}.order_refused", venue=s.venue, reason=reason,
                          client_order_id=client_order_id,
                          note="first refusal for this reason; later ones are not logged")
        now = self.session.clock.now_ns()
        self.emit(OrderRejected(client_order_id=client_order_id, instrument_id=instrument_id,
                                reason=reason, ts_event=now, ts_recv=now))

    def not_sent(self, client_order_id: str, instrument_id: str, exc: NotSent) -> None:
        """A new order whose request never left this machine: rejected at once with why
        (``VENUE_UNREACHABLE: ...`` naming the venue and the cause, or ``THROTTLED``), since
        the venue cannot have it and no status query can tell more."""
        stats = self.session.stats
        key = "unreachable" if isinstance(exc, Unreachable) else "throttled"
        stats[key] = stats.get(key, 0) + 1
        self.reject(client_order_id, instrument_id, exc.reason)

    def ack_lost(self, client_order_id: str, error: str = "") -> None:
        """No answer we can trust to a new order (timeout, 5xx, an answer that does not name
        the order): its fate is UNKNOWN until the venue's word settles it (counted; logged
        with ``error`` unless the caller already logged it)."""
        if self.tracker.mark_lost(client_order_id):
            s = self.session
            s.stats["acks_unknown"] += 1
            if error:
                s.log.warning(f"{s.log_name}.order_fate_unknown", venue=s.venue,
                              client_order_id=client_order_id, error=error)

    def request_not_sent(self, client_order_id: str, instrument_id: str, what: str,
                         exc: NotSent) -> None:
        """A cancel/amend (``what``) whose request never left this machine: refused at once,
        so the engine restores the order as it was (the venue never saw the request)."""
        self.refuse_request(client_order_id, instrument_id, f"{what} not sent: {exc.reason}")

    def unknown_orders(self) -> list[str]:
        """Client ids whose acknowledgement never came (settle them with ``query_order``)."""
        return [t.cmd.client_order_id for t in self.tracker.unknown()]

    async def query_tracked(self, t: Tracked) -> OrderStatusReport | None:
        """Ask the venue about a tracked order (by symbol, or by instrument id)."""
        return await self.query(t.cmd.client_order_id,
                                t.cmd.instrument_id if self.by_instrument else t.symbol)

    async def resync_orders(self) -> None:
        """After a private-stream gap: ask the venue about every order not known to be final."""
        for t in self.tracker.open():
            await self.query_tracked(t)

    # ------------------------------------------------------------------ websocket venues
    def withdraw_unsent(self, client_order_id: str | None = None) -> None:
        """Reject every new order (or just ``client_order_id``) whose request still waits in
        our rate limiter: the engine is asking about it (a status query, a reconciliation),
        the venue cannot know it, and it must not be placed afterwards behind the engine's
        back (``still_wanted`` then drops it unsent when the limiter lets it go)."""
        ts = [self.tracker.get(client_order_id)] if client_order_id else self.tracker.open()
        stats = self.session.stats
        for t in ts:
            if t is None or t.state != SENDING or t.sent_ns != 0:
                continue
            stats["withdrawn"] = stats.get("withdrawn", 0) + 1
            self.never_placed(t, WITHDRAWN)

    def never_placed(self, t: Tracked, reason: str) -> OrderStatusReport:
        """Settle an order the venue provably never placed (or will never place): an
        ``OrderRejected``, then a REJECTED ``OrderStatusReport``, which settles the order
        whatever the engine's state (a cancel requested before any answer: PENDING_CANCEL,
        which an ``OrderRejected`` alone would restore)."""
        coid, iid = t.cmd.client_order_id, t.cmd.instrument_id
        self.reject(coid, iid, reason)
        now = self.session.clock.now_ns()
        report = OrderStatusReport(
            client_order_id=coid, venue_order_id="", instrument_id=iid, side=t.cmd.side,
            status=str(OrderStatus.REJECTED), price=t.cmd.price, quantity=t.cmd.quantity,
            filled=0.0, avg_fill_price=0.0, ts_event=now, ts_recv=now)
        self.session.publish(report)
        return report

    # -- connection-bound venues (Deribit, OKX, Derive): a request dies with its connection --
    def on_wire(self, client_order_id: str, connection: int) -> None:
        """The request of a new order went out on connection number ``connection``."""
        t = self.tracker.get(client_order_id)
        if t is not None:
            t.sent_ns = self.session.clock.now_ns()
            self._sent_on[client_order_id] = connection

    def lost_with_connection(self, client_order_id: str, connection: int) -> bool:
        """True when the order's fate is UNKNOWN and the connection that carried its request
        is gone (we are on ``connection`` now): "not found" then proves "never placed"."""
        t = self.tracker.get(client_order_id)
        return t is not None and t.state == UNKNOWN and \
            self._sent_on.get(client_order_id, -1) != connection

    # -- the end of an order and refused requests ------------------------------------------------
    def end(self, t: Tracked, ev: OrderCancelled | OrderExpired | OrderRejected,
            venue_filled: float) -> None:
        """The venue says ``t`` ended with ``ev`` after filling ``venue_filled``. Published at
        once if every fill the venue counted has reached us, else held until they have
        (``fill_seen``): the engine never sees a fill after an order's end."""
        coid = t.cmd.client_order_id
        if venue_filled > t.filled + 1e-12:
            self._held[coid] = (ev, venue_filled)  # its fills are on their way
            return
        self._held.pop(coid, None)
        self.emit(ev)

    def working(self, t: Tracked) -> None:
        """The venue says ``t`` is working (an end held earlier is void)."""
        self._held.pop(t.cmd.client_order_id, None)

    def fill_seen(self, t: Tracked) -> None:
        """A fill of ``t`` was published: release its end if it was waiting for it."""
        held = self._held.get(t.cmd.client_order_id)
        if held is not None:
            self.end(t, *held)

    def refuse_request(self, client_order_id: str, instrument_id: str, reason: str,
                       query: Callable[[], Coroutine[Any, Any, Any]] | None = None) -> None:
        """A cancel/amend refused (by the venue or by us): an ``OrderRejected`` for an order
        known to be working (the engine restores it), else ``query()`` the venue, since only
        its answer can tell what the refusal means."""
        now = self.session.clock.now_ns()
        ev = OrderRejected(client_order_id=client_order_id, instrument_id=instrument_id,
                           reason=reason, ts_event=now, ts_recv=now)
        if self.tracker.admit_request_reject(ev):
            self.session.publish(ev)
        elif query is not None:
            self.session.spawn(query())

    def still_wanted(self, client_order_id: str) -> bool:
        """The order passed our rate limiter: False if it was withdrawn meanwhile."""
        t = self.tracker.get(client_order_id)
        return t is None or t.state == SENDING

    # ------------------------------------------------------------------ REST venues
    def admit_to_wire(self, client_order_id: str) -> bool:
        """The order passed our rate limiter. If it waited there longer than the ack timeout,
        the engine has already asked about it (and may have reconciled it away): drop it."""
        t = self.tracker.get(client_order_id)
        if t is None:
            return True
        now = time.time_ns()
        if now - t.created_ns > self.ack_timeout_s * _NS:
            return False
        t.sent_ns = now
        return True

    def receive_window_ns(self) -> int:
        """How long after it went out a request may still be executed by the venue."""
        return int(max(self.recv_window_ms / 1000, self.ack_timeout_s) * _NS)

    async def settle_in_flight(self) -> None:
        """A reconciliation must see every order we sent: wait (bounded by the receive window)
        for requests the venue may still execute, then ask about those whose answer was lost."""
        window_ns = self.receive_window_ns()
        deadline = time.monotonic() + window_ns / _NS + 1.0
        while self.tracker.in_flight(time.time_ns(), window_ns) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for t in self.tracker.unknown():
            await self.query_tracked(t)
