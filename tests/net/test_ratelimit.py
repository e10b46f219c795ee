"""Rate limiters under a fake clock: burst, refill, windows, multi-limits, venue headers."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.ratelimit import (VENUE_LIMITS, LimitSpec, MultiBucket, RateLimiter, RateLimitUpdate,
                                SlidingWindow, TokenBucket, parse_rate_limit_headers,
                                parse_retry_after)


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def test_token_bucket_burst_then_refill() -> None:
    clock = FakeClock()
    b = TokenBucket(rate=10, burst=5, clock=clock)
    assert all(b.try_acquire() for _ in range(5))
    assert not b.try_acquire()
    assert b.delay_until_available(1) == pytest.approx(0.1)
    assert b.delay_until_available(3) == pytest.approx(0.3)
    clock.advance(0.1)
    assert b.try_acquire() and not b.try_acquire()
    clock.advance(100)
    assert b.tokens == 5  # refill stops at the burst
    with pytest.raises(ValueError):
        b.delay_until_available(6)


def test_token_bucket_ignores_a_clock_stepping_back() -> None:
    clock = FakeClock()
    b = TokenBucket(rate=1, burst=2, clock=clock)
    b.consume(2)
    clock.advance(-50)
    assert b.tokens == 0
    clock.advance(51)
    assert b.tokens == pytest.approx(1)


def test_token_bucket_set_used_and_block_for() -> None:
    clock = FakeClock()
    b = TokenBucket(rate=100, burst=1000, clock=clock)
    b.set_used(990)  # the venue says we have used more than we thought
    assert b.tokens == pytest.approx(10)
    assert not b.try_acquire(11) and b.try_acquire(10)
    clock.advance(100)
    b.block_for(2.5)
    assert b.delay_until_available() == pytest.approx(2.5)
    clock.advance(2.5)
    assert b.try_acquire()


def test_sliding_window_admits_limit_per_window_whatever_the_alignment() -> None:
    clock = FakeClock()
    w = SlidingWindow(limit=3, window_s=2.0, clock=clock)
    assert w.try_acquire() and w.try_acquire()
    clock.advance(1.5)
    assert w.try_acquire() and not w.try_acquire()
    assert w.delay_until_available() == pytest.approx(0.5)  # the first two expire at t+2
    assert w.delay_until_available(2) == pytest.approx(0.5)
    assert w.delay_until_available(3) == pytest.approx(2.0)  # needs the third gone too
    clock.advance(0.5)
    assert w.used == 1 and w.try_acquire(2) and not w.try_acquire()


def test_sliding_window_set_used_follows_the_venue_both_ways() -> None:
    clock = FakeClock()
    w = SlidingWindow(limit=100, window_s=60, clock=clock)
    for _ in range(10):
        w.consume(5)
        clock.advance(1)
    w.set_used(80)  # other processes on the same IP
    assert w.used == 80 and not w.try_acquire(21) and w.try_acquire(20)
    w.set_used(30)  # the venue's minute rolled over: forget our oldest entries
    assert w.used == 30 and w.try_acquire(70)


def test_multibucket_is_all_or_nothing() -> None:
    clock = FakeClock()
    weight = SlidingWindow(100, 60, clock=clock, name="weight")
    orders = SlidingWindow(2, 10, clock=clock, name="orders")
    multi = MultiBucket({"weight": weight, "orders": orders})
    order = {"weight": 1, "orders": 1}
    assert multi.try_acquire(costs=order) and multi.try_acquire(costs=order)
    assert not multi.try_acquire(costs=order)
    assert weight.used == 2  # the refused request took nothing
    assert multi.try_acquire(costs={"weight": 20})  # a depth request is not an order
    assert multi.delay_until_available(costs=order) == pytest.approx(10)
    clock.advance(10)
    assert multi.try_acquire(costs=order) and weight.used == 23
    with pytest.raises(KeyError):
        multi.try_acquire(costs={"nope": 1})
    assert MultiBucket({"a": TokenBucket(1, 1, clock=clock)}).try_acquire(1)


async def test_acquire_sleeps_for_the_needed_delay() -> None:
    b = TokenBucket(rate=50, burst=1)
    await b.acquire()
    t0 = time.monotonic()
    await b.acquire()
    await b.acquire()
    assert time.monotonic() - t0 >= 0.035  # two refills of 20 ms each
    multi = MultiBucket({"a": SlidingWindow(1, 0.03)})
    await multi.acquire()
    t1 = time.monotonic()
    await asyncio.wait_for(multi.acquire(), 2)
    assert time.monotonic() - t1 >= 0.025


def test_registry_binance_order_spends_weight_and_order_count() -> None:
    clock = FakeClock()
    rl = RateLimiter(VENUE_LIMITS["binance_usdm"], clock=clock)
    for _ in range(300):
        assert rl.try_acquire("POST /fapi/v1/order")
    assert not rl.try_acquire("POST /fapi/v1/order")  # 300 orders per 10 s
    assert rl.try_acquire("GET /fapi/v1/depth")  # weight still has room
    assert rl.limiter("weight_1m").used == 320
    assert rl.try_acquire("GET /fapi/v1/unknown")  # default cost: weight 1
    assert rl.delay_until_available("POST /fapi/v1/order") == pytest.approx(10)


def test_registry_okx_limits_are_per_instrument() -> None:
    clock = FakeClock()
    rl = RateLimiter(VENUE_LIMITS["okx"], clock=clock)
    for _ in range(60):
        assert rl.try_acquire("POST /api/v5/trade/order", key="BTC-USD-SWAP")
    assert not rl.try_acquire("POST /api/v5/trade/order", key="BTC-USD-SWAP")
    assert rl.try_acquire("POST /api/v5/trade/order", key="ETH-USD-SWAP")
    clock.advance(2.0)
    assert rl.try_acquire("POST /api/v5/trade/order", key="BTC-USD-SWAP")


def test_registry_deribit_credits_and_matching_pool() -> None:
    clock = FakeClock()
    rl = RateLimiter(VENUE_LIMITS["deribit"], clock=clock)
    assert sum(rl.try_acquire("public/get_order_book") for _ in range(150)) == 100  # 50k / 500
    assert rl.delay_until_available("public/get_order_book") == pytest.approx(0.05)
    assert sum(rl.try_acquire("private/buy") for _ in range(30)) == 20  # separate matching pool
    clock.advance(1.0)
    assert sum(rl.try_acquire("private/sell") for _ in range(30)) == 5


def test_binance_headers_update_used_weight_and_order_counts() -> None:
    clock = FakeClock()
    rl = RateLimiter(VENUE_LIMITS["binance_spot"], clock=clock)
    headers = {"X-MBX-USED-WEIGHT-1M": "5990", "x-mbx-order-count-10s": "7",
               "X-MBX-ORDER-COUNT-1D": "bad", "Content-Type": "application/json"}
    update = parse_rate_limit_headers("binance_spot", headers)
    assert update.used == {"weight_1m": 5990.0, "orders_10s": 7.0}
    rl.apply(update)
    assert rl.limiter("weight_1m").used == 5990
    assert not rl.try_acquire("GET /api/v3/exchangeInfo")  # weight 20 > 10 left
    assert rl.try_acquire("GET /api/v3/depth")  # weight 10: exactly fits
    assert not rl.try_acquire("POST /api/v3/order")
    assert rl.limiter("orders_10s").used == 7


def test_retry_after_blocks_the_endpoint_limits() -> None:
    clock = FakeClock()
    rl = RateLimiter(VENUE_LIMITS["binance_usdm"], clock=clock)
    update = parse_rate_limit_headers("binance_usdm", {"Retry-After": "7"})
    assert update.retry_after_s == 7 and update.used == {}
    rl.apply(update, endpoint="GET /fapi/v1/depth")
    assert rl.delay_until_available("GET /fapi/v1/depth") == pytest.approx(7)
    assert rl.try_acquire("POST /fapi/v1/order") is False  # shares weight_1m
    clock.advance(7)
    assert rl.try_acquire("GET /fapi/v1/depth")


def test_bybit_limit_status_sets_the_endpoint_usage() -> None:
    clock = FakeClock()
    rl = RateLimiter(VENUE_LIMITS["bybit"], clock=clock)
    ep = "POST /v5/order/create"
    update = parse_rate_limit_headers("bybit", {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "1"},
                                      endpoint=ep)
    assert update.used == {ep: 9.0}
    rl.apply(update, endpoint=ep)
    assert rl.try_acquire(ep) and not rl.try_acquire(ep)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("2.5") == 2.5 and parse_retry_after("-3") == 0.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now_epoch_s=now) == pytest.approx(30)


def test_every_venue_table_is_consistent() -> None:
    for venue, table in VENUE_LIMITS.items():
        assert table.venue == venue
        for endpoint, costs in {**table.endpoints, "(default)": table.default_cost}.items():
            for name, cost in costs.items():
                spec = table.limits[name]
                assert cost <= (spec.burst if spec.kind == "bucket" else spec.limit), (venue, endpoint)
        for spec in table.limits.values():
            assert spec.source, venue
        rl = RateLimiter(table, clock=FakeClock())
        for endpoint in table.endpoints:
            assert rl.try_acquire(endpoint, key="K")


def test_apply_ignores_limits_the_table_does_not_know() -> None:
    rl = RateLimiter(VENUE_LIMITS["okx"], clock=FakeClock())
    rl.apply(RateLimitUpdate(used={"weight_1m": 5}))
    assert LimitSpec.window(1, 1).make(FakeClock(), "x").try_acquire()


# ---------------------------------------------------------------------------- properties

steps = st.lists(st.tuples(st.integers(0, 400), st.integers(1, 5)), min_size=1, max_size=120)


@settings(max_examples=150, deadline=None)
@given(rate=st.integers(1, 50), burst=st.integers(5, 40), steps=steps)
def test_token_bucket_never_admits_more_than_rate_t_plus_burst(rate: int, burst: int,
                                                                 steps: list[tuple[int, int]]) -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate, burst, clock=clock)
    admitted: list[tuple[float, int]] = []
    for dt_ms, cost in steps:
        clock.advance(dt_ms / 1000)
        if bucket.try_acquire(cost):
            admitted.append((clock.t, cost))
    for i in range(len(admitted)):
        total = 0
        for j in range(i, len(admitted)):
            total += admitted[j][1]
            span = admitted[j][0] - admitted[i][0]
            assert total <= rate * span + burst + 1e-6


@settings(max_examples=150, deadline=None)
@given(limit=st.integers(5, 40), window_ms=st.integers(50, 2000), steps=steps)
def test_sliding_window_never_exceeds_the_limit_in_any_window(limit: int, window_ms: int,
                                                               steps: list[tuple[int, int]]) -> None:
    clock = FakeClock(0.0)
    window = window_ms / 1000
    w = SlidingWindow(limit, window, clock=clock)
    admitted: list[tuple[float, int]] = []
    for dt_ms, cost in steps:
        clock.advance(dt_ms / 1000)
        if w.delay_until_available(cost) == 0.0:
            assert w.try_acquire(cost)
            admitted.append((clock.t, cost))
        else:
            assert not w.try_acquire(cost)
    for t0, _ in admitted:
        in_window = sum(c for t, c in admitted if t0 <= t and not t0 + window <= t)
        assert in_window <= limit
