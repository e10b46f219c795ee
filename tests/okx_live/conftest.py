"""Fixtures: a fake OKX venue on 127.0.0.1 and a real kernel with a live session on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.okx.fake import OkxFake
from adapters.okx.session import OkxParams, OkxVenue
from config.secrets import Secret
from engine.clock import LiveClock
from engine.kernel import Kernel
from engine.model import BookStatus, Side, SubmitOrder
from engine.risk import RiskLimits

INST = "BTC-USD-SWAP"
IID = f"okx:{INST}"


def params(fake: OkxFake, **kw: Any) -> OkxParams:
    base: dict[str, Any] = dict(
        public_url=fake.public_url, private_url=fake.private_url, rest_url=fake.rest_url,
        api_key=Secret("fake-key"), api_secret=Secret("fake-secret"),
        passphrase=Secret("fake-pass"), inst_ids=[INST], channels=["books", "trades"],
        heartbeat_interval_s=0.2, stale_after_s=0.6, private_stale_after_s=1.0,
        backoff_base_s=0.02, backoff_cap_s=0.1, ack_timeout_s=0.4, rest_timeout_s=2.0,
        start_timeout_s=10.0, resubscribe_timeout_s=1.0)
    base.update(kw)
    return OkxParams(**base)


class Live:
    """A kernel, its OKX session and every event that crossed the bus."""

    def __init__(self, fake: OkxFake, adapter: OkxVenue) -> None:
        self.fake = fake
        self.adapter = adapter
        self.kernel = Kernel(LiveClock(), RiskLimits(max_order_qty=1e6, max_position_qty=1e7,
                                                     max_order_notional_usd=1e12,
                                                     price_band_pct=50.0, ack_timeout_s=0.3))
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

    def order(self, coid: str) -> Any:
        return self.kernel.orders.get(coid)

    def submit(self, coid: str, side: Side, qty: float, price: float | None, **kw: Any) -> None:
        denial = self.kernel.router.submit(SubmitOrder(
            client_order_id=coid, strategy_id="t", instrument_id=IID, side=side, quantity=qty,
            price=price, **kw))
        assert denial is None, denial

    def best(self, bid: bool) -> float:
        b = self.fake.books[INST]
        return b.price(b.best_bid() if bid else b.best_ask())  # type: ignore[arg-type]

    async def until(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                await asyncio.sleep(0.005)

    async def settle(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                self.kernel.router.check_timeouts(self.kernel.clock.now_ns())
                await asyncio.sleep(0.02)

    async def assert_book_matches(self) -> None:
        self.fake.paused = True
        want = self.fake.books[INST]
        await self.until(lambda: IID in self.kernel.books and self.book.status is BookStatus.LIVE
                         and self.book.seq == want.seq_id)
        bids, asks = self.fake.book_levels(INST)
        assert self.book.depth_bids(10_000) == bids
        assert self.book.depth_asks(10_000) == asks
        self.fake.paused = False


@pytest.fixture
async def fake() -> AsyncIterator[OkxFake]:
    async with OkxFake((INST,), seed=5, step_s=0.005) as f:
        yield f


@pytest.fixture
async def live(fake: OkxFake) -> AsyncIterator[Live]:
    lv = Live(fake, OkxVenue(params(fake)))
    await lv.adapter.start()
    lv.kernel.add_instruments(lv.adapter.instruments())
    try:
        yield lv
    finally:
        await lv.adapter.stop()
