"""The interface every venue adapter implements (simulated or live).

An adapter owns its connection(s) and its codec. It publishes normalized events
(``engine.model``) through the ``publish`` callable it is bound to, and it accepts order
commands synchronously: ``submit``/``cancel``/``amend`` only queue the request for sending and
never block; the venue's answer comes back later as events (``OrderAccepted``, ``OrderFilled``,
``OrderRejected`` ...). Timers go through the engine's clock, so a simulated adapter runs
unchanged under the virtual clock of a backtest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from engine.book import OrderBook
from engine.clock import Clock
from engine.model import AmendOrder, CancelOrder, Instrument, SubmitOrder, VenueReconciliation

Publish = Callable[[Any], None]
ChecksumFn = Callable[[OrderBook], int]


class VenueAdapter(ABC):
    """A connection to one venue (account)."""

    venue: str
    checksum_fn: ChecksumFn | None = None
    """The venue's book checksum over a book (OKX: CRC32 of the top 25 levels), if it sends one."""

    def bind(self, publish: Publish, clock: Clock) -> None:
        """Called once by the runtime before ``start``."""
        self.publish = publish
        self.clock = clock

    @abstractmethod
    def instruments(self) -> list[Instrument]:
        """Instruments this adapter trades or streams (known after ``start`` for live venues)."""

    @abstractmethod
    async def start(self) -> None:
        """Connect, authenticate, subscribe and request snapshots; return when streaming."""

    async def run(self) -> None:
        """Long-running work (read loops, heartbeats); owned by the runtime's task group."""

    @abstractmethod
    async def stop(self) -> None:
        """Close connections. Open orders are cancelled by the runtime before this."""

    @abstractmethod
    def submit(self, cmd: SubmitOrder) -> None:
        """Send a new order (non-blocking)."""

    def hold_commands(self) -> None:
        """The execution core is about to hand over a batch of commands (one group commit).

        With ``release_commands``, the seam of a corked socket: an adapter may hold the
        commands that follow and act on them all at ``release_commands`` (the simulated venue
        matches them only then). The default sends each at once."""

    def release_commands(self) -> None:
        """Every command of the batch was handed over (see ``hold_commands``)."""

    @abstractmethod
    def cancel(self, cmd: CancelOrder) -> None:
        """Cancel an order (non-blocking)."""

    @abstractmethod
    def amend(self, cmd: AmendOrder) -> None:
        """Change price and/or quantity (non-blocking)."""

    def request_resync(self, instrument_id: str) -> None:
        """Re-snapshot one book (the integrity layer asks after a gap or bad checksum)."""

    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        """Ask the venue for an order's state (non-blocking).

        The answer arrives as an ``OrderStatusReport`` event. Used to settle orders whose fate
        is unknown (acknowledgement timeout, connection loss, 5xx) instead of resending them.
        """

    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        """Open orders, fills since ``since_ns`` and positions, as the venue sees them now."""
        return VenueReconciliation(venue=self.venue, open_orders=(), fills=(), positions=(),
                                   ts=self.clock.now_ns())

    def cancel_all_orders(self) -> None:
        """Cancel every open order of this account at the venue (kill switch level 2)."""

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        """Arm the venue-side protection where offered (Deribit cancel-on-disconnect,
        Binance/OKX/Bybit dead-man switches); a no-op where the venue has none."""
