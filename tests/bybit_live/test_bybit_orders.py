"""Bybit v5 order entry against the fake venue: acks, fills, rejects, unknown fates.

The cases Binance and Bybit share are in ``tests/live_rest_cases/`` (imported below, run
here); this module adds the venue's own.
"""

from __future__ import annotations

import pytest

from engine.model import OrderAccepted, OrderRejected, OrderStatus, Side, VenueStatusChanged
from tests.bybit_live.conftest import Live
from tests.live_rest_cases import far_bid, order, ready
from tests.live_rest_cases.orders import *  # noqa: F403 -- the shared cases, run on this suite's fixtures


async def test_rate_limit_reply_rejects_reports_and_throttles(live: Live) -> None:
    await ready(live)
    live.fake.rate_limit(1)
    live.adapter.submit(order(live, "rl-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: bool(live.of(OrderRejected)))
    assert "10006" in live.of(OrderRejected)[0].reason
    assert ("rate_limited", "retCode 10006") in [(e.status, e.reason) for e in live.of(VenueStatusChanged)]
    # X-Bapi-Limit-Status 0 fills the endpoint's 1 s window: rl-2 waits in our limiter longer
    # than the ack timeout (0.4 s), so it is dropped unsent rather than sent stale.
    live.adapter.submit(order(live, "rl-2", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: any(e.client_order_id == "rl-2" for e in live.of(OrderRejected)), timeout=3)
    assert "THROTTLED" in [e for e in live.of(OrderRejected) if e.client_order_id == "rl-2"][0].reason
    live.adapter.submit(order(live, "rl-3", Side.BUY, 0.01, far_bid(live)))  # the window has passed
    await live.until(lambda: any(e.client_order_id == "rl-3" for e in live.of(OrderAccepted)))
    assert "rl-1" not in live.fake.matcher.orders and "rl-2" not in live.fake.matcher.orders


async def test_dcp_cancels_at_the_venue_after_the_private_stream_is_gone(live: Live) -> None:
    await ready(live)
    live.kernel.router.submit(order(live, "dms-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: live.kernel.orders.get("dms-1").status is OrderStatus.ACCEPTED)
    live.adapter.enable_cancel_on_disconnect(0.3)  # Bybit's minimum window is 3 s
    await live.until(lambda: live.fake.dcp_window_s == 3.0)
    live.fake.ws.reject_connections(10_000, status=503)
    await live.fake.ws.disconnect()
    await live.until(lambda: live.fake.matcher.orders["dms-1"].status == "cancelled", timeout=6)
    live.fake.ws._reject.clear()  # the network is back
    await live.until(lambda: live.kernel.orders.get("dms-1").status is OrderStatus.CANCELLED, timeout=6)


async def test_a_bad_secret_fails_the_start_clearly_and_is_never_logged(fake, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.config.secrets import Secret
    lv = Live(fake, Live.make_adapter(fake, api_secret=Secret("wrong-secret-value")))
    with pytest.raises(RuntimeError, match="auth refused"):
        await lv.adapter.start()
    out = capsys.readouterr()
    assert "wrong-secret-value" not in out.out + out.err
    assert lv.adapter.rest._http is None  # a failed start leaves nothing open


async def test_a_signed_rest_call_with_a_bad_secret_is_refused(live: Live) -> None:
    await ready(live)
    live.adapter.rest._secret = "wrong-secret-value"
    live.adapter.submit(order(live, "sig-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: bool(live.of(OrderRejected)))
    assert "10004" in live.of(OrderRejected)[0].reason
