"""Fixtures: a fake Binance USD-M venue on 127.0.0.1 and a real kernel with a live session on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.binance.fake import BinanceFake
from adapters.binance.session import BinanceParams, BinanceVenue
from config.secrets import Secret
from engine.clock import LiveClock
from engine.kernel import Kernel
from engine.model import BookStatus
from engine.risk import RiskLimits

IID = "binance:BTCUSDT"


def params(fake: BinanceFake, **kw: Any) -> BinanceParams:
    base: dict[str, Any] = dict(
        venue="binance", ws_url=fake.ws_url, rest_url=fake.rest_url, api_key=Secret("fake-key"),
        api_secret=Secret("fake-secret"), symbols=["BTCUSDT"], ping_interval_s=None,
        ping_timeout_s=None, stale_after_s=0.5, backoff_base_s=0.02, backoff_cap_s=0.1,
        ack_timeout_s=0.4, recv_window_ms=500, rest_timeout_s=2.0, start_timeout_s=10.0)
    base.update(kw)
    return BinanceParams(**base)


class Live:
    """A kernel, its Binance session and every event that crossed the bus."""

    def __init__(self, fake: BinanceFake, adapter: BinanceVenue) -> None:
        self.fake = fake
        self.adapter = adapter
        self.kernel = Kernel(LiveClock(), RiskLimits(max_order_qty=5.0, max_position_qty=50.0,
                                                     max_order_notional_usd=1e9, price_band_pct=50.0))
        self.events: list[Any] = []
        self.kernel.add_adapter(adapter)
        publish = adapter.publish

        def record(ev: Any) -> None:
            self.events.append(ev)
            publish(ev)
        adapter.publish = record  # see everything the session publishes, in order

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def book(self) -> Any:
        return self.kernel.books[IID]

    async def until(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                await asyncio.sleep(0.005)

    async def synced(self, timeout: float = 5.0) -> None:
        """Pause the fake and wait until the kernel's book has caught up with it, LIVE."""
        self.fake.paused = True
        await self.until(lambda: IID in self.kernel.books and self.book.status is BookStatus.LIVE
                         and self.book.seq == self.fake.last_u["BTCUSDT"], timeout)

    async def assert_book_matches(self) -> None:
        await self.synced()
        bids, asks = self.fake.book_levels("BTCUSDT")
        assert self.book.depth_bids(10_000) == bids
        assert self.book.depth_asks(10_000) == asks
        self.fake.paused = False


@pytest.fixture
async def fake() -> AsyncIterator[BinanceFake]:
    async with BinanceFake(("BTCUSDT",), seed=11, step_s=0.005) as f:
        yield f


@pytest.fixture
async def live(fake: BinanceFake) -> AsyncIterator[Live]:
    lv = Live(fake, BinanceVenue(params(fake)))
    await lv.adapter.start()
    lv.kernel.add_instruments(lv.adapter.instruments())
    try:
        yield lv
    finally:
        await lv.adapter.stop()
