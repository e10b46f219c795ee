"""Fixtures: a fake OKX venue on 127.0.0.1 and a real kernel with a live session on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.okx.fake import OkxFake
from adapters.okx.session import OkxParams, OkxVenue
from engine.config.secrets import Secret
from engine.risk import RiskLimits
from tests.live_common import LiveHarness, running

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


class Live(LiveHarness):
    """A kernel, its OKX session and every event that crossed the bus."""

    IID = IID
    SYMBOL = INST
    LIMITS = RiskLimits(max_order_qty=1e6, max_position_qty=1e7, max_order_notional_usd=1e12,
                        price_band_pct=50.0, ack_timeout_s=0.3)
    MD_STREAM = "public stream"

    @classmethod
    def make_adapter(cls, fake: Any, **kw: Any) -> OkxVenue:
        return OkxVenue(params(fake, **kw))

    def fake_seq(self) -> int:
        return int(self.fake.books[INST].seq_id)

    def best(self, bid: bool) -> float:
        b = self.fake.books[INST]
        return b.price(b.best_bid() if bid else b.best_ask())  # type: ignore[arg-type]


@pytest.fixture
async def fake() -> AsyncIterator[OkxFake]:
    async with OkxFake((INST,), seed=5, step_s=0.005) as f:
        yield f


@pytest.fixture
async def live(fake: OkxFake) -> AsyncIterator[Live]:
    async with running(Live(fake, Live.make_adapter(fake))) as lv:
        yield lv
