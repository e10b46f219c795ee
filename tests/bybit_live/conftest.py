"""Fixtures: a fake Bybit v5 venue on 127.0.0.1 and a real kernel with a live session on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.bybit.fake import BybitFake
from adapters.bybit.session import BybitParams, BybitVenue
from engine.config.secrets import Secret
from engine.risk import RiskLimits
from tests.live_common import running
from tests.live_rest_cases import RestLive

IID = "bybit:BTCUSDT"


def params(fake: BybitFake, **kw: Any) -> BybitParams:
    base: dict[str, Any] = dict(
        venue="bybit", ws_url=fake.ws_url, rest_url=fake.rest_url, api_key=Secret("fake-key"),
        api_secret=Secret("fake-secret"), symbols=["BTCUSDT"], heartbeat_interval_s=0.15,
        stale_after_s=0.5, backoff_base_s=0.02, backoff_cap_s=0.1, ack_timeout_s=0.4, recv_window_ms=500,
        rest_timeout_s=2.0, start_timeout_s=10.0, resubscribe_timeout_s=1.0)
    base.update(kw)
    return BybitParams(**base)


class Live(RestLive):
    """A kernel, its Bybit session and every event the session published, in order."""

    IID = IID
    SYMBOL = "BTCUSDT"
    LIMITS = RiskLimits(max_order_qty=5.0, max_position_qty=50.0, max_order_notional_usd=1e9,
                        price_band_pct=50.0)
    MD_STREAM = "public stream"
    PRIVATE_CONNECTS = "private_connects"
    TICK_REJECT_CODE = "10001"
    ORDER_ENDPOINT = ("POST", "/v5/order/create")

    @classmethod
    def make_adapter(cls, fake: Any, **kw: Any) -> BybitVenue:
        return BybitVenue(params(fake, **kw))

    def fake_seq(self) -> int:
        return int(self.fake.u[self.SYMBOL])

    def delay_resync(self, seconds: float) -> None:
        """Hold the snapshot that answers a resubscription for ``seconds``."""
        self.fake.snapshot_delay_s = seconds


@pytest.fixture
def live_cls() -> type[Live]:
    return Live


@pytest.fixture
async def fake() -> AsyncIterator[BybitFake]:
    async with BybitFake(("BTCUSDT",), seed=13, step_s=0.005) as f:
        yield f


@pytest.fixture
async def live(fake: BybitFake) -> AsyncIterator[Live]:
    async with running(Live(fake, Live.make_adapter(fake))) as lv:
        yield lv
