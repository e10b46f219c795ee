"""Test harness shared by the live-venue suites (``tests/<venue>_live``).

``LiveHarness`` is a real kernel with one live session on a local fake venue and a record of
every event the session published, in order. A venue's ``conftest.py`` subclasses it with its
differences (a small table of class attributes plus ``fake_seq``) and builds its fixtures with
``running``; the cases every venue shares are then written once, against the harness.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from engine.config import load_config_text
from engine.clock import LiveClock
from engine.kernel import Kernel
from engine.model import BookStatus, OrderStatus, Side, SubmitOrder
from engine.risk import RiskLimits
from engine.runtime import build_node
from engine.venue import VenueAdapter
from tests.marketdata import marketdata_dir

ROOT = Path(__file__).resolve().parents[1]

_H = TypeVar("_H", bound="LiveHarness")


def samples_dir(venue: str) -> Path:
    """Where a venue's recorded private-stream samples are (``$VOLTA_MARKETDATA`` or the
    shared market-data checkout next to this repository)."""
    return marketdata_dir() / "samples" / venue


def needs_samples(samples: Path) -> pytest.MarkDecorator:
    """Skip a test when the recorded samples are not on this machine."""
    return pytest.mark.skipif(not samples.is_dir(), reason=f"no samples at {samples}")


class LiveHarness:
    """A kernel, its live session on a fake venue and every event the session published."""

    IID: ClassVar[str]
    """The instrument the suite trades (``venue:SYMBOL``)."""
    SYMBOL: ClassVar[str]
    """Its symbol as the fake venue names it."""
    LIMITS: ClassVar[RiskLimits]
    MD_STREAM: ClassVar[str] = "market data"
    """How the session names its market-data stream in ``VenueStatusChanged`` reasons."""
    MD_CONNECTS: ClassVar[str] = "md_connects"
    """The ``stats`` key counting market-data connections."""

    def __init__(self, fake: Any, adapter: Any) -> None:
        self.fake = fake
        self.adapter = adapter
        self.kernel = Kernel(LiveClock(), self.LIMITS)
        self.events: list[Any] = []
        self.kernel.add_adapter(adapter)
        publish = adapter.publish

        def record(ev: Any) -> None:
            self.events.append(ev)
            publish(ev)
        adapter.publish = record  # see everything the session publishes, in order

    @classmethod
    def make_adapter(cls, fake: Any, **kw: Any) -> VenueAdapter:
        """The venue's session on the fake, with test parameters (``kw`` overrides them)."""
        raise NotImplementedError

    def fake_seq(self) -> int:
        """The fake's current sequence number of the book (what a caught-up client holds)."""
        raise NotImplementedError

    def md_ws(self) -> Any:
        """The session's market-data websocket."""
        return self.adapter.streams._md

    def of(self, cls: type) -> list[Any]:
        """The published events of type ``cls``, in order."""
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def book(self) -> Any:
        return self.kernel.books[self.IID]

    def order(self, coid: str) -> Any:
        return self.kernel.orders.get(coid)

    def submit(self, coid: str, side: Side, qty: float, price: float | None, **kw: Any) -> None:
        """Submit through the engine's router (risk gate included); it must be approved."""
        denial = self.kernel.router.submit(SubmitOrder(
            client_order_id=coid, strategy_id="t", instrument_id=self.IID, side=side, quantity=qty,
            price=price, **kw))
        assert denial is None, denial

    async def until(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                await asyncio.sleep(0.005)

    async def settle(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        """Run the engine's ack-timeout timer (as the runtime does) until ``pred`` holds."""
        async with asyncio.timeout(timeout):
            while not pred():
                self.kernel.router.check_timeouts(self.kernel.clock.now_ns())
                await asyncio.sleep(0.02)

    async def synced(self, timeout: float = 5.0) -> None:
        """Pause the fake and wait until the kernel's book has caught up with it, LIVE."""
        self.fake.paused = True
        await self.until(lambda: self.IID in self.kernel.books and self.book.status is BookStatus.LIVE
                         and self.book.seq == self.fake_seq(), timeout)

    async def assert_book_matches(self) -> None:
        """Pause the fake, wait until the kernel's LIVE book caught up, compare every level."""
        await self.synced()
        bids, asks = self.fake.book_levels(self.SYMBOL)
        assert self.book.depth_bids(10_000) == bids
        assert self.book.depth_asks(10_000) == asks
        self.fake.paused = False


@asynccontextmanager
async def running(harness: _H, *, add_instruments: bool = True) -> AsyncIterator[_H]:
    """Start the harness's session (and register its instruments); stop it on exit."""
    await harness.adapter.start()
    if add_instruments:
        harness.kernel.add_instruments(harness.adapter.instruments())
    try:
        yield harness
    finally:
        await harness.adapter.stop()


async def node_runs_on_fake_config(tmp_path: Path, fake: Any, config: str,
                                   urls: dict[str, str], iid: str, price: Callable[[], float]) -> None:
    """The whole node (``engine.runtime.build_node``) on a shipped ``config/<config>`` pointed
    at ``fake`` (``urls``: the config's address -> the fake's): it recovers, its book goes live,
    an order (at ``price()``, once the book is live) is accepted, and the node stops."""
    text = (ROOT / "config" / config).read_text()
    for shipped, actual in urls.items():
        text = text.replace(shipped, actual)
    node = build_node(load_config_text(text), LiveClock(), tmp_path / "j.sqlite")
    await node.start()
    try:
        k = node.kernel
        assert node.recovered
        async with asyncio.timeout(5):
            while not (iid in k.books and k.books[iid].is_live):
                await asyncio.sleep(0.01)
        denial = k.router.submit(SubmitOrder(client_order_id="n-1", strategy_id="t",
                                             instrument_id=iid, side=Side.BUY, quantity=0.01,
                                             price=price()))
        assert denial is None, denial
        async with asyncio.timeout(5):
            while k.orders.get("n-1").status is not OrderStatus.ACCEPTED:
                await asyncio.sleep(0.01)
    finally:
        await node.stop()
