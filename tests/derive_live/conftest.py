"""Fixtures: a fake Derive venue on 127.0.0.1 and a real kernel with a live Derive session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.derive.fake import FAKE_SESSION_KEY, FAKE_SUBACCOUNT, FAKE_WALLET, DeriveFake
from adapters.derive.session import DeriveParams, DeriveVenue
from engine.risk import RiskLimits
from tests.live_common import LiveHarness, running

PERP = "ETH-PERP"
OPTION = "ETH-20270625-3000-C"
IID = f"derive:{PERP}"
OPT_IID = f"derive:{OPTION}"
ENV = {"DERIVE_SESSION_KEY": FAKE_SESSION_KEY}


def params(fake: DeriveFake, **kw: Any) -> DeriveParams:
    base: dict[str, Any] = dict(
        ws_url=fake.url, wallet=FAKE_WALLET, subaccount_id=FAKE_SUBACCOUNT,
        instruments=[PERP, OPTION], channels=["book", "trades", "ticker"], book_depth=100,
        ticker_interval_ms=100, stale_after_s=0.8, heartbeat_interval_s=0.25,
        ping_interval_s=None, ping_timeout_s=None, backoff_base_s=0.02, backoff_cap_s=0.1,
        ack_timeout_s=0.4, request_timeout_s=2.0, start_timeout_s=10.0,
        resubscribe_timeout_s=1.0, matching_rate=200.0, matching_burst=400.0,
        non_matching_rate=200.0)
    base.update(kw)
    return DeriveParams(**base)


class Live(LiveHarness):
    """A kernel, its Derive session and every event that crossed the bus."""

    IID = IID
    SYMBOL = PERP
    LIMITS = RiskLimits(max_order_qty=1e6, max_position_qty=1e7, max_order_notional_usd=1e9,
                        price_band_pct=50.0, ack_timeout_s=0.3)
    MD_STREAM = "websocket"
    MD_CONNECTS = "connects"

    @classmethod
    def make_adapter(cls, fake: Any, env: dict[str, str] | None = None, **kw: Any) -> DeriveVenue:
        return DeriveVenue(params(fake, **kw), env=ENV if env is None else env)

    def fake_seq(self) -> int:
        return int(self.fake.publish_id)

    def md_ws(self) -> Any:
        return self.adapter.streams.link.ws


@pytest.fixture
async def fake() -> AsyncIterator[DeriveFake]:
    async with DeriveFake((PERP, OPTION), seed=11, step_s=0.01) as f:
        yield f


@pytest.fixture
async def live(fake: DeriveFake) -> AsyncIterator[Live]:
    async with running(Live(fake, Live.make_adapter(fake))) as lv:
        yield lv
