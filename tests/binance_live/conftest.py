"""Fixtures: a fake Binance USD-M venue on 127.0.0.1 and a real kernel with a live session on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.binance.fake import BinanceFake
from adapters.binance.session import BinanceParams, BinanceVenue
from engine.config.secrets import Secret
from engine.risk import RiskLimits
from tests.live_common import running
from tests.live_rest_cases import RestLive

IID = "binance:BTCUSDT"


def params(fake: BinanceFake, **kw: Any) -> BinanceParams:
    base: dict[str, Any] = dict(
        venue="binance", ws_url=fake.ws_url, rest_url=fake.rest_url, api_key=Secret("fake-key"),
        api_secret=Secret("fake-secret"), symbols=["BTCUSDT"], ping_interval_s=None,
        ping_timeout_s=None, stale_after_s=0.5, backoff_base_s=0.02, backoff_cap_s=0.1,
        ack_timeout_s=0.4, recv_window_ms=500, rest_timeout_s=2.0, start_timeout_s=10.0)
    base.update(kw)
    return BinanceParams(**base)


class Live(RestLive):
    """A kernel, its Binance session and every event that crossed the bus."""

    IID = IID
    SYMBOL = "BTCUSDT"
    LIMITS = RiskLimits(max_order_qty=5.0, max_position_qty=50.0, max_order_notional_usd=1e9,
                        price_band_pct=50.0)
    PRIVATE_CONNECTS = "user_connects"
    TICK_REJECT_CODE = "-4014"
    ORDER_ENDPOINT = ("POST", "/fapi/v1/order")

    @classmethod
    def make_adapter(cls, fake: Any, **kw: Any) -> BinanceVenue:
        return BinanceVenue(params(fake, **kw))

    def fake_seq(self) -> int:
        return int(self.fake.last_u[self.SYMBOL])

    def delay_resync(self, seconds: float) -> None:
        """Hold the answer to a resync (the REST depth snapshot) for ``seconds``."""
        self.fake.depth_delay_s = seconds


@pytest.fixture
def live_cls() -> type[Live]:
    return Live


@pytest.fixture
async def fake() -> AsyncIterator[BinanceFake]:
    async with BinanceFake(("BTCUSDT",), seed=11, step_s=0.005) as f:
        yield f


@pytest.fixture
async def live(fake: BinanceFake) -> AsyncIterator[Live]:
    async with running(Live(fake, Live.make_adapter(fake))) as lv:
        yield lv
