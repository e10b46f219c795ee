"""A whole paper node on a virtual clock for the venue-halt tests of the example strategies,
with a spy on what the engine hands each venue adapter.

The node is the real one (``build_node``: kernel, gate, execution core, journal, the simulated
venues, the runtime's reconciliation); only the wire to each adapter is watched. A venue's
halt is the venue's own report (``VenueStatusChanged`` of one stream), its resume the stream
coming back and the runtime reconciling the venue, as in production. While a venue's private
stream is down its session refuses cancels (``OrderRejected NOT_CONNECTED ... (never sent)``):
``Wire.refusing`` does the same, so the order stays working at the simulated venue, which is
what reconciliation then finds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.clock import VirtualClock
from engine.config import VoltaConfig
from engine.model import CancelOrder, OrderRejected, SubmitOrder, VenueStatusChanged
from engine.runtime import Node, build_node

NS = 1_000_000_000
START_NS = 1_767_225_600 * NS


class Wire:
    """Every command handed to a venue adapter: (clock ns, venue, command), in order."""

    def __init__(self, node: Node) -> None:
        self.k = node.kernel
        self.sent: list[tuple[int, str, Any]] = []
        self.refusing: set[str] = set()
        for venue, adapter in self.k.adapters.items():
            for name in ("submit", "cancel", "amend"):
                setattr(adapter, name, self._spy(venue, getattr(adapter, name)))

    def _spy(self, venue: str, real: Callable[[Any], None]) -> Callable[[Any], None]:
        def send(cmd: Any) -> None:
            self.sent.append((self.k.clock.now_ns(), venue, cmd))
            if venue in self.refusing and isinstance(cmd, CancelOrder):
                # what a venue's session answers while its private stream is down
                now = self.k.clock.now_ns()
                self.k.bus.publish(OrderRejected(
                    client_order_id=cmd.client_order_id, instrument_id=cmd.instrument_id,
                    reason="NOT_CONNECTED: private stream down (never sent)",
                    ts_event=now, ts_recv=now))
                return
            real(cmd)
        return send

    def mark(self) -> int:
        """A position in the record (``len(sent)``): what is sent from now on comes after it."""
        return len(self.sent)

    def between(self, venue: str, start: int, end: int | None = None) -> list[Any]:
        """The commands to ``venue`` sent between two marks."""
        return [c for _t, v, c in self.sent[start:end] if v == venue]

    def submits(self, venue: str, start: int = 0, end: int | None = None) -> list[SubmitOrder]:
        return [c for c in self.between(venue, start, end) if isinstance(c, SubmitOrder)]

    def cancels(self, venue: str, start: int = 0, end: int | None = None) -> list[CancelOrder]:
        return [c for c in self.between(venue, start, end) if isinstance(c, CancelOrder)]


class Driver:
    """Steps the node's virtual clock and lets the runtime's tasks run, as ``run_virtual``."""

    def __init__(self, config: VoltaConfig, journal: Path, step_ns: int = NS // 4) -> None:
        self.clock = VirtualClock(START_NS)
        self.node = build_node(config, self.clock, journal)
        self.k = self.node.kernel
        self.step_ns = step_ns
        self.wire: Wire

    async def start(self) -> None:
        await self.node.start()
        self.wire = Wire(self.node)

    async def run(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Advance ``seconds`` of clock (or until ``until()`` holds)."""
        end = self.clock.now_ns() + int(seconds * NS)
        while self.clock.now_ns() < end:
            self.clock.advance_to(min(self.clock.now_ns() + self.step_ns, end))
            for _ in range(3):
                await asyncio.sleep(0)  # adapter and reconciliation tasks
            if until is not None and until():
                return

    def stream(self, venue: str, status: str, stream: str = "private", reason: str = "") -> None:
        """The venue's session reports one stream's state, as it does on a drop or reconnect."""
        self.k.bus.publish(VenueStatusChanged(venue, status, reason, self.clock.now_ns(), stream))

    def now(self) -> int:
        return self.clock.now_ns()


def run_node(config: VoltaConfig, journal: Path, scenario: Callable[[Driver], Any]) -> Driver:
    """Start the node, run ``scenario(driver)`` (a coroutine function), stop the node."""
    driver = Driver(config, journal)

    async def main() -> None:
        await driver.start()
        try:
            await scenario(driver)
        finally:
            await driver.node.stop()

    asyncio.run(main())
    return driver
