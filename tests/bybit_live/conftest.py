"""Fixtures: a fake Bybit v5 venue on 127.0.0.1 and a real kernel with a live session on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.bybit.fake import BybitFake
from adapters.bybit.session import BybitParams, BybitVenue
from config.secrets import Secret
from engine.clock import LiveClock
from engine.kernel import Kernel
from engine.model import BookStatus
from engine.risk import RiskLimits

IID = "bybit:BTCUSDT"


def params(fake: BybitFake, **kw: Any) -> BybitParams:
    base: dict[str, Any] = dict(
        venue="bybit", ws_url=fake.ws_url, rest_url=fake.rest_url, api_key=Secret("fake-key"),
        api_secret=Secret("fake-secret"), symbols=["BTCUSDT"], heartbeat_interval_s=0.15,
        stale_after_s=0.5, backoff_base_s=0.02, backoff_cap_s=0.1, ack_timeout_s=0.4, recv_window_ms=500,
        rest_timeout_s=2.0, start_timeout_s=10.0, resubscribe_timeout_s=1.0)
    base.update(kw)
    return BybitParams(**base)


class Live:
    """A kernel, its Bybit session and every event the session published, in order."""

    def __init__(self, fake: BybitFake, adapter: BybitVenue) -> None:
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
        adapter.publish = record

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def book(self) -> Any:
        return self.kernel.books[IID]

    async def until(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                await asyncio.sleep(0.005)

    async def assert_book_matches(self) -> None:
        self.fake.paused = True
        await self.until(lambda: IID in self.kernel.books and self.book.status is BookStatus.LIVE
                         and self.book.seq == self.fake.u["BTCUSDT"])
        bids, asks = self.fake.book_levels("BTCUSDT")
        assert self.book.depth_bids(10_000) == bids
        assert self.book.depth_asks(10_000) == asks
        self.fake.paused = False


@pytest.fixture
async def fake() -> AsyncIterator[BybitFake]:
    async with BybitFake(("BTCUSDT",), seed=13, step_s=0.005) as f:
        yield f


@pytest.fixture
async def live(fake: BybitFake) -> AsyncIterator[Live]:
    lv = Live(fake, BybitVenue(params(fake)))
    await lv.adapter.start()
    lv.kernel.add_instruments(lv.adapter.instruments())
    try:
        yield lv
    finally:
        await lv.adapter.stop()
