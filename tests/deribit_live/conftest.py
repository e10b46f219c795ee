"""Fixtures: a fake Deribit venue on 127.0.0.1 and a real kernel with a live session on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.deribit.fake import DeribitFake
from adapters.deribit.session import DeribitParams, DeribitVenue
from engine.config.secrets import Secret
from engine.risk import RiskLimits
from tests.live_common import LiveHarness, running

SYM = "BTC-PERPETUAL"
IID = f"deribit:{SYM}"


def params(fake: DeribitFake, **kw: Any) -> DeribitParams:
    base: dict[str, Any] = dict(
        ws_url=fake.url, client_id=Secret("fake-id"), client_secret=Secret("fake-secret"),
        instruments=[SYM], channels=["book", "trades"], book_interval="raw",
        heartbeat_interval_s=10, stale_after_s=0.6, ping_interval_s=None,
        ping_timeout_s=None, backoff_base_s=0.02, backoff_cap_s=0.1, ack_timeout_s=0.4,
        request_timeout_s=2.0, start_timeout_s=10.0, resubscribe_timeout_s=1.0)
    base.update(kw)
    return DeribitParams(**base)


class Live(LiveHarness):
    """A kernel, its Deribit session and every event that crossed the bus."""

    IID = IID
    SYMBOL = SYM
    LIMITS = RiskLimits(max_order_qty=1e6, max_position_qty=1e7, max_order_notional_usd=1e9,
                        price_band_pct=50.0, ack_timeout_s=0.3)
    MD_STREAM = "websocket"
    MD_CONNECTS = "connects"

    @classmethod
    def make_adapter(cls, fake: Any, **kw: Any) -> DeribitVenue:
        return DeribitVenue(params(fake, **kw))

    def fake_seq(self) -> int:
        return int(self.fake.books[SYM].change_id)

    def md_ws(self) -> Any:
        return self.adapter.streams.link.ws  # one websocket for everything


@pytest.fixture
async def fake() -> AsyncIterator[DeribitFake]:
    async with DeribitFake((SYM,), seed=11, step_s=0.005) as f:
        yield f


@pytest.fixture
async def live(fake: DeribitFake) -> AsyncIterator[Live]:
    async with running(Live(fake, Live.make_adapter(fake))) as lv:
        yield lv
