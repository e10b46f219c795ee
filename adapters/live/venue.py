"""``LiveVenue``: a live venue adapter assembled by composition.

Theory of operation. A live venue is four parts, each built with an explicit constructor and
seen here only through a typed protocol:

* the session core (``adapters.live.session.LiveSession``): lifecycle, tasks, status, books;
* the venue's streams (``VenueStreams``: ``adapters.<venue>.session``): its websockets, REST
  client, codec and private-stream decoding, i.e. its connection protocol;
* the venue's order API (``OrderApi``: ``adapters.<venue>.orders``): submit, cancel, amend,
  status queries, reconciliation, cancel-all and the dead-man switch in its protocol;
* the order tracker (``adapters.live.tracker.OrderTracker``) both of them share.

``LiveVenue`` is the ``VenueAdapter`` the engine sees and only forwards: ``bind`` hands the
bus and clock to the session core; orders go to the order API; resync requests to the streams.
Adding a venue means writing its codec, its streams, its order API, its params and its fake;
a venue's ``__init__`` only builds these parts and passes them here.
"""

from __future__ import annotations

from typing import Protocol

from adapters.live.session import LiveSession, SessionHooks
from adapters.live.tracker import OrderTracker
from engine.clock import Clock
from engine.model import (
    AmendOrder,
    CancelOrder,
    Instrument,
    SubmitOrder,
    VenueReconciliation,
)
from engine.venue import Publish, VenueAdapter

__all__ = ["LiveVenue", "OrderApi", "VenueStreams"]


class OrderApi(Protocol):
    """A venue's order entry, in its own protocol."""

    def submit(self, cmd: SubmitOrder) -> None: ...

    def cancel(self, cmd: CancelOrder) -> None: ...

    def amend(self, cmd: AmendOrder) -> None: ...

    def query_order(self, client_order_id: str, instrument_id: str) -> None: ...

    async def reconcile(self, since_ns: int) -> VenueReconciliation: ...

    def cancel_all_orders(self) -> None: ...

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None: ...

    def unknown_orders(self) -> list[str]: ...


class VenueStreams(SessionHooks, Protocol):
    """A venue's connection protocol: the session hooks plus book resynchronisation."""

    def request_resync(self, instrument_id: str) -> None: ...


class LiveVenue(VenueAdapter):
    """The engine-facing adapter of a live venue: forwards to its composed parts."""

    def __init__(self, *, session: LiveSession, streams: VenueStreams, orders: OrderApi,
                 tracker: OrderTracker) -> None:
        self.venue = session.venue
        self.session = session
        self.streams = streams
        self.orders = orders
        self.tracker = tracker
        self.stats = session.stats

    # The bus and the clock live in the session core; tests and the runtime may rebind them.
    @property
    def publish(self) -> Publish:  # type: ignore[override]
        return self.session.publish

    @publish.setter
    def publish(self, fn: Publish) -> None:
        self.session.publish = fn

    @property
    def clock(self) -> Clock:  # type: ignore[override]
        return self.session.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.session.clock = clock

    # ------------------------------------------------------------------ lifecycle
    def instruments(self) -> list[Instrument]:
        """The instruments this session trades or streams (loaded by ``start``)."""
        return list(self.session.instruments.values())

    async def start(self) -> None:
        await self.session.start(self.streams)

    async def run(self) -> None:
        await self.session.run()

    async def stop(self) -> None:
        await self.session.stop(self.streams)

    def request_resync(self, instrument_id: str) -> None:
        self.streams.request_resync(instrument_id)

    # ------------------------------------------------------------------ orders
    def submit(self, cmd: SubmitOrder) -> None:
        self.orders.submit(cmd)

    def cancel(self, cmd: CancelOrder) -> None:
        self.orders.cancel(cmd)

    def amend(self, cmd: AmendOrder) -> None:
        self.orders.amend(cmd)

    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        self.orders.query_order(client_order_id, instrument_id)

    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        return await self.orders.reconcile(since_ns)

    def cancel_all_orders(self) -> None:
        self.orders.cancel_all_orders()

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        self.orders.enable_cancel_on_disconnect(timeout_s)

    def unknown_orders(self) -> list[str]:
        """Client ids whose acknowledgement never came (settle them with ``query_order``)."""
        return self.orders.unknown_orders()
