"""Binance USD-M order entry against the fake venue: acks, fills, rejects, unknown fates.

The cases Binance and Bybit share are in ``tests/live_rest_cases/`` (imported below, run
here); this module adds the venue's own.
"""

from __future__ import annotations

import asyncio

from engine.model import OrderAccepted, OrderRejected, OrderStatus, Side, VenueStatusChanged
from tests.binance_live.conftest import IID, Live
from tests.live_rest_cases import far_bid, order, ready
from tests.live_rest_cases.orders import *  # noqa: F403 -- the shared cases, run on this suite's fixtures


async def test_rate_limit_reply_rejects_reports_and_throttles(live: Live) -> None:
    await ready(live)
    live.fake.rate_limit(1, retry_after_s=0.3)
    live.adapter.submit(order(live, "rl-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: bool(live.of(OrderRejected)))
    assert "-1003" in live.of(OrderRejected)[0].reason
    assert ("rate_limited", "HTTP 429 -1003") in [(e.status, e.reason) for e in live.of(VenueStatusChanged)]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    live.adapter.submit(order(live, "rl-2", Side.BUY, 0.01, far_bid(live)))  # held back by Retry-After
    await live.until(lambda: any(e.client_order_id == "rl-2" for e in live.of(OrderAccepted)))
    assert loop.time() - t0 >= 0.2
    assert "rl-1" not in live.fake.matcher.orders  # never executed, and never resent


async def test_dead_man_switch_cancels_at_the_venue_when_we_go_quiet(live: Live) -> None:
    await ready(live)
    live.kernel.router.submit(order(live, "dms-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: live.kernel.orders.get("dms-1").status is OrderStatus.ACCEPTED)
    live.adapter.enable_cancel_on_disconnect(0.3)
    await live.until(lambda: "BTCUSDT" in live.fake.countdowns)
    assert live.adapter.orders._dms_task is not None
    live.adapter.orders._dms_task.cancel()  # the process froze: no more re-arming
    await live.until(lambda: live.kernel.orders.get("dms-1").status is OrderStatus.CANCELLED, timeout=3)


async def test_a_bad_secret_is_refused_by_the_venue_and_never_logged(fake, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.config.secrets import Secret
    lv = Live(fake, Live.make_adapter(fake, api_secret=Secret("wrong-secret-value")))
    await lv.adapter.start()
    try:
        await lv.until(lambda: IID in lv.kernel.books and lv.book.is_live)
        lv.adapter.submit(order(lv, "sig-1", Side.BUY, 0.01, 60_000.0))
        await lv.until(lambda: bool(lv.of(OrderRejected)))
        assert "-1022" in lv.of(OrderRejected)[0].reason
    finally:
        await lv.adapter.stop()
    out = capsys.readouterr()
    assert "wrong-secret-value" not in out.out + out.err


async def test_backend_timeout_leaves_the_order_in_doubt_instead_of_rejecting_it(live: Live) -> None:
    # Binance answers 408 / -1007 "execution status unknown" when its gateway gave up waiting
    # for the matching engine: the order may be working. Rejecting it would leave an order at
    # the venue that the engine believes dead; it is in doubt until the venue's word settles it.
    await ready(live)
    live.fake.backend_timeouts(1)
    live.fake.quiet_private = True  # only the status query can tell
    live.kernel.router.submit(order(live, "bt-1", Side.BUY, 0.01, far_bid(live)))
    await live.until(lambda: live.adapter.unknown_orders() == ["bt-1"], timeout=2)
    assert not [e for e in live.of(OrderRejected) if e.client_order_id == "bt-1"]
    assert live.fake.matcher.orders["bt-1"].status == "new"  # working at the venue
    live.fake.quiet_private = False
    live.adapter.query_order("bt-1", live.IID)
    await live.until(lambda: live.kernel.orders.get("bt-1").status is OrderStatus.ACCEPTED)
    assert live.adapter.unknown_orders() == []
