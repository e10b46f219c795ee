"""The operator's tape: what happened recently, collected from the bus, fanned out to streams.

Theory of operation: ``Tape`` subscribes to the bus for order events, venue status and book
status only (never per-tick market data). Its handlers do one ``deque.append`` each - the
trading path pays nothing else. A slow timer (``sample``, every 250 ms on the event loop)
drains what was appended, turns it into JSON-ready dicts, keeps bounded histories (recent
orders, fills, denials, alerts, operator actions, venue status changes, PnL over time, message
rates; venue rejects counted per venue and reason category) and puts each item on every
connected stream client's bounded queue. A client that cannot keep up is dropped (it
reconnects and reloads a snapshot), so a slow browser can never grow memory or slow the core.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from engine.model import (
    BookStatus,
    BookStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    VenueStatusChanged,
)
from engine.operator.rejects import reject_category

if TYPE_CHECKING:
    from engine.kernel import Kernel

ORDER_EVENT_TYPES = (OrderDenied, OrderSubmitted, OrderAccepted, OrderRejected, OrderFilled,
                     OrderAmended, OrderCancelled, OrderExpired)
CLIENT_QUEUE = 1000
LINK_STATES = ("connected", "reconnecting", "disconnected")  # (worse to the right)


def _event_dict(ev: Any) -> dict[str, Any]:
    d = msgspec.to_builtins(ev)
    for key, val in d.items():
        if isinstance(val, float) and not math.isfinite(val):
            d[key] = None
    return d


class StreamClient:
    """One connected stream (SSE) client: a bounded queue of JSON-ready messages."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(CLIENT_QUEUE)
        self.dropped = False

    def close(self) -> None:
        """Tell the client the daemon is stopping and end its stream."""
        self.put({"type": "bye"})
        if not self.queue.full():
            self.queue.put_nowait(None)
        else:
            self.dropped = True

    def put(self, msg: dict[str, Any]) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.dropped = True  # the client reconnects and reloads its snapshot


class Tape:
    """Recent orders, fills, denials, alerts and venue/book health, from bus events."""

    def __init__(self, kernel: Kernel, history: int = 500) -> None:
        self.k = kernel
        self._incoming: deque[Any] = deque()
        self.recent_orders: deque[str] = deque(maxlen=history)
        self.fills: deque[dict[str, Any]] = deque(maxlen=history)
        self.denials: deque[dict[str, Any]] = deque(maxlen=history)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=history)
        self.actions: deque[dict[str, Any]] = deque(maxlen=history)
        self.venue_events: deque[dict[str, Any]] = deque(maxlen=history)
        # venue -> reject category (engine.operator.rejects) -> count; venue -> the last one
        self.rejects: dict[str, dict[str, int]] = {}
        self.last_reject: dict[str, dict[str, Any]] = {}
        self.pnl: deque[tuple[int, float | None, float | None, float | None, float | None]] = deque(maxlen=3600)
        self.connection: dict[str, str] = {}  # venue -> the worst of its streams' states
        self.streams: dict[str, dict[str, str]] = {}  # venue -> stream ("": the venue) -> state
        self.rate_limited: dict[str, int] = {}  # venue -> rate-limit answers seen
        self.book_events: dict[str, dict[str, int]] = {}  # venue -> reason -> count
        self.not_live_since: dict[str, int] = {}  # instrument -> first non-LIVE ns (clock)
        self.rates: dict[str, float] = {}
        self._last_updates: dict[str, int] = {}
        self._last_rate_ns = 0
        self.clients: set[StreamClient] = set()
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.events_seen = 0
        self.event_counts: dict[str, int] = {}
        # venue acknowledgement latency: OrderSubmitted.ts -> OrderAccepted.ts_recv (same clock)
        self._submitted_at: dict[str, int] = {}
        self._acked_at: dict[str, int] = {}
        self.on_ack_latency: Callable[[float], None] | None = None
        self.alerts_total = 0
        keep = self._incoming.append
        for cls in ORDER_EVENT_TYPES:
            kernel.bus.subscribe(cls, keep)
        kernel.bus.subscribe(VenueStatusChanged, keep)
        kernel.bus.subscribe(BookStatusChanged, keep)

    # -- draining --------------------------------------------------------------------------
    def drain(self) -> int:
        """Turn appended bus events into history and stream messages; returns how many."""
        n = 0
        incoming = self._incoming
        while incoming:
            ev = incoming.popleft()
            n += 1
            self._digest(ev)
        self.events_seen += n
        return n

    def _digest(self, ev: Any) -> None:
        if isinstance(ev, VenueStatusChanged):
            self._venue_status(ev)
            msg = {"type": "venue", **_event_dict(ev)}
            self.venue_events.append(msg)
            self.publish(msg)
            return
        if isinstance(ev, BookStatusChanged):
            venue = ev.instrument_id.partition(":")[0]
            counts = self.book_events.setdefault(venue, {})
            counts[ev.reason] = counts.get(ev.reason, 0) + 1
            if ev.status is BookStatus.LIVE:
                self.not_live_since.pop(ev.instrument_id, None)
            else:
                self.not_live_since.setdefault(ev.instrument_id, ev.ts)
            self.publish({"type": "book_status", **_event_dict(ev)})
            return
        data = _event_dict(ev)
        kind = type(ev).__name__
        self.event_counts[kind] = self.event_counts.get(kind, 0) + 1
        if isinstance(ev, (OrderSubmitted, OrderAccepted, OrderRejected)):
            self._ack_latency(ev)
        elif isinstance(ev, (OrderCancelled, OrderExpired)):
            self._submitted_at.pop(ev.client_order_id, None)
            self._acked_at.pop(ev.client_order_id, None)
        if isinstance(ev, OrderFilled):
            self.fills.append(data)
        elif isinstance(ev, OrderDenied):
            self.denials.append(data)
        elif isinstance(ev, OrderRejected):
            self._count_reject(ev)
        coid = ev.client_order_id
        if coid in self.recent_orders:
            self.recent_orders.remove(coid)
        self.recent_orders.append(coid)
        order = self.k.orders.get(coid)
        if order is not None:
            data["status"] = str(order.status)
        self.publish({"type": "order", "event": kind, **data})

    def _venue_status(self, ev: VenueStatusChanged) -> None:
        """A venue's connection is the worst state of its streams: its market-data stream
        coming back says nothing of its private stream, still down. ``rate_limited`` is an
        answer the venue gave, not a link state: counted, the links stay as they were."""
        if ev.status not in LINK_STATES:
            self.rate_limited[ev.venue] = self.rate_limited.get(ev.venue, 0) + 1
            self.connection.setdefault(ev.venue, "connected")
            return
        streams = self.streams.setdefault(ev.venue, {})
        if ev.stream:
            streams.pop("", None)
            streams[ev.stream] = ev.status
        else:  # the whole venue (one socket, or all of its streams at once)
            streams.clear()
            streams[""] = ev.status
        self.connection[ev.venue] = next((st for st in LINK_STATES[::-1] if st in streams.values()),
                                         "connected")

    def _count_reject(self, ev: OrderRejected) -> None:
        venue = ev.instrument_id.partition(":")[0]
        why = reject_category(ev.reason)
        counts = self.rejects.setdefault(venue, {})
        counts[why] = counts.get(why, 0) + 1
        self.last_reject[venue] = {"reason": why, "detail": ev.reason[:200],
                                   "client_order_id": ev.client_order_id,
                                   "instrument_id": ev.instrument_id, "ts_ns": ev.ts_recv}

    def _ack_latency(self, ev: Any) -> None:
        """Pair an order's submission with its venue answer, in whichever order the bus
        delivered them (a synchronous venue answers inside ``submit``, before the router
        publishes ``OrderSubmitted``)."""
        coid = ev.client_order_id
        if isinstance(ev, OrderSubmitted):
            answered = self._acked_at.pop(coid, None)
            if answered is None:
                if len(self._submitted_at) < 100_000:  # unanswered orders must not grow it forever
                    self._submitted_at[coid] = ev.ts
                return
            sent = ev.ts
        else:
            answered = ev.ts_recv
            sent = self._submitted_at.pop(coid, None)
            if sent is None:
                if len(self._acked_at) < 100_000:
                    self._acked_at[coid] = answered
                return
        if self.on_ack_latency is not None and answered >= sent:
            self.on_ack_latency((answered - sent) / 1e9)

    def add_alert(self, msg: dict[str, Any]) -> None:
        self.alerts_total += 1
        self.alerts.append(msg)
        self.publish(msg)

    def publish(self, msg: dict[str, Any]) -> None:
        for client in self.clients:
            client.put(msg)
        for fn in self.listeners:
            fn(msg)

    # -- periodic samples ------------------------------------------------------------------
    def sample_rates(self, now_ns: int) -> None:
        """Messages per second per venue, from the books' update counters (no hot-path cost)."""
        totals: dict[str, int] = {}
        for iid, book in self.k.books.items():
            v = iid.partition(":")[0]
            totals[v] = totals.get(v, 0) + book.updates
        dt = (now_ns - self._last_rate_ns) / 1e9
        if self._last_rate_ns and dt > 0:
            self.rates = {v: max(0.0, (t - self._last_updates.get(v, 0)) / dt) for v, t in totals.items()}
        self._last_updates = totals
        self._last_rate_ns = now_ns

    def sample_pnl(self, now_ns: int) -> tuple[int, float | None, float | None, float | None, float | None]:
        pnl = self.k.portfolio.pnl_usd()

        def f(x: float) -> float | None:
            return round(x, 4) if math.isfinite(x) else None

        point = (now_ns, f(pnl["total"]), f(pnl["realized"]), f(pnl["unrealized"]), f(pnl["fees"]))
        self.pnl.append(point)
        return point

    def add_client(self) -> StreamClient:
        c = StreamClient()
        self.clients.add(c)
        return c

    def remove_client(self, c: StreamClient) -> None:
        self.clients.discard(c)
