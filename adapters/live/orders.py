"""``TrackedOrders``: the venue-neutral part of a live session's order entry.

Theory of operation. Each venue's orders mixin (``adapters.<venue>.orders``) speaks its venue's
order protocol; what does not depend on the protocol is here, once:

* ``_emit``: every order event goes through the session's ``OrderTracker`` first, which
  swallows what was already published (one answer often arrives twice: reply and stream);
* ``_reject``: an ``OrderRejected`` decided by the session itself (not trading, throttled ...);
* ``unknown_orders``/``_resync_orders``: orders whose fate is unknown, and the status queries
  that settle them after a stream gap (the venue's word, never a resend);
* for the REST venues (Binance, Bybit), which sign a request with a receive window:
  ``_admit_to_wire`` (a request that waited in our rate limiter past the ack timeout is dropped
  unsent: the engine has already asked about it) and ``_settle_in_flight`` (a reconciliation
  waits, bounded by the receive window, for requests the venue may still execute).

A venue implements ``_query(client_order_id, ref)``; ``_query_tracked`` says which reference
(symbol or instrument id) its queries take.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from adapters.live.tracker import OrderTracker, Tracked
from engine.model import OrderRejected, OrderStatusReport

__all__ = ["TrackedOrders"]

_NS = 1_000_000_000


class TrackedOrders:
    """Mixin: needs ``tracker``, ``publish``, ``clock``, ``params`` and the venue's ``_query``."""

    tracker: OrderTracker
    params: Any
    publish: Any
    clock: Any

    def _emit(self, ev: Any) -> None:
        """Publish ``ev`` unless the tracker has already seen it."""
        if self.tracker.admit(ev):
            self.publish(ev)

    def _reject(self, client_order_id: str, instrument_id: str, reason: str) -> None:
        """Reject one of our orders for a reason the session itself decided."""
        now = self.clock.now_ns()
        self._emit(OrderRejected(client_order_id=client_order_id, instrument_id=instrument_id,
                                 reason=reason, ts_event=now, ts_recv=now))

    def unknown_orders(self) -> list[str]:
        """Client ids whose acknowledgement never came (settle them with ``query_order``)."""
        return [t.cmd.client_order_id for t in self.tracker.unknown()]

    async def _query(self, client_order_id: str, ref: str) -> OrderStatusReport | None:
        raise NotImplementedError

    async def _query_tracked(self, t: Tracked) -> OrderStatusReport | None:
        """Ask the venue about a tracked order (REST venues query by symbol)."""
        return await self._query(t.cmd.client_order_id, t.symbol)

    async def _resync_orders(self) -> None:
        """After a private-stream gap: ask the venue about every order not known to be final."""
        for t in self.tracker.open():
            await self._query_tracked(t)

    # ------------------------------------------------------------------ REST venues
    def _admit_to_wire(self, client_order_id: str) -> bool:
        """The order passed our rate limiter. If it waited there longer than the ack timeout,
        the engine has already asked about it (and may have reconciled it away): drop it."""
        t = self.tracker.get(client_order_id)
        if t is None:
            return True
        now = time.time_ns()
        if now - t.created_ns > self.params.ack_timeout_s * _NS:
            return False
        t.sent_ns = now
        return True

    def _receive_window_ns(self) -> int:
        """How long after it went out a request may still be executed by the venue."""
        return int(max(self.params.recv_window_ms / 1000, self.params.ack_timeout_s) * _NS)

    async def _settle_in_flight(self) -> None:
        """A reconciliation must see every order we sent: wait (bounded by the receive window)
        for requests the venue may still execute, then ask about those whose answer was lost."""
        window_ns = self._receive_window_ns()
        deadline = time.monotonic() + window_ns / _NS + 1.0
        while self.tracker.in_flight(time.time_ns(), window_ns) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for t in self.tracker.unknown():
            await self._query_tracked(t)
