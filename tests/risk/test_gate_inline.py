"""The gate's per-order shortcuts against the reference they stand for (issue 13): the lot
test skipped for the size last found on the grid, the plain percentage collar worked out
inline; with them the tick test and the global token bucket's decisions. Expected decisions come
from ``Grid.contains`` (tested against Decimal arithmetic in test_gate_fast_path.py) and from
a token bucket written out here with ``min``, never from the gate's own code."""

from __future__ import annotations

import random

from engine.model import Side
from engine.risk import RateLimit, Reason
from engine.risk.facts import Grid
from tests.risk.helpers import PERP, make, order


def test_lot_and_tick_decisions_agree_with_the_grid() -> None:
    k, _ = make()
    lot, tick = Grid(PERP.lot_size), Grid(PERP.tick_size)
    rng = random.Random(5)
    sizes = [0.01, 0.0015, 0.001, 0.0105, 0.002, 0.1 + 0.2, 0.0009, 0.01]
    for i in range(400):
        qty = rng.choice(sizes) if i % 3 else sizes[i % len(sizes)]  # the same size again and again
        price = 60_000.0 + rng.choice([0.0, 0.5, 0.25, 1.0, 0.1 + 0.2, -3.5, 2.75])
        if not lot.contains(qty):
            want: str | None = Reason.OFF_LOT
        elif qty < PERP.min_size:
            want = Reason.BELOW_MIN_SIZE
        elif not tick.contains(price):
            want = Reason.OFF_TICK
        else:
            want = None
        d = k.gate.check(order(qty=qty, price=price, side=Side.BUY if i % 2 else Side.SELL))
        assert (None if d is None else d.reason) == want, (qty, price)


def test_inline_band_gives_the_collar_denial() -> None:
    k, _ = make()  # band 5 % around the mid 60 000
    assert k.gate.check(order(price=63_000.0)) is None
    d = k.gate.check(order(price=63_000.5))
    assert d is not None and d.reason == Reason.PRICE_BAND
    assert d.detail == "price 63000.5 is 5.00% from mid 60000.0 (band 5.0%)"
    assert d.value == abs(63_000.5 - 60_000.0) / 60_000.0 * 100.0 and d.limit == 5.0
    d = k.gate.check(order(price=56_999.5, side=Side.SELL))
    assert d is not None and d.reason == Reason.PRICE_BAND


def test_global_bucket_matches_a_written_out_token_bucket() -> None:
    rate, burst = 3.0, 2.0
    k, _ = make(global_rate=RateLimit(rate=rate, burst=burst))
    gb = k.gate.global_bucket
    assert gb is not None
    tokens, last = burst, k.clock.now_ns()  # the reference: min(burst, tokens + dt * rate)
    rng = random.Random(11)
    for i in range(600):
        now = k.clock.now_ns() + rng.choice([0, 0, 1, 1_000, 100_000_000, 333_333_333, 2_000_000_000])
        k.clock.advance_to(now)
        if now > last:
            tokens = min(burst, tokens + (now - last) * (rate / 1e9))
            last = now
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        d = k.gate.check(order(price=60_000.0 + 0.5 * (i % 7)))
        assert (d is None) is ok
        assert d is None or d.reason == Reason.RATE_LIMIT_GLOBAL
        assert gb.snapshot() == (tokens, last)


def test_an_order_refused_after_the_duplicate_filter_is_not_remembered() -> None:
    k, _ = make(duplicate_window_ms=500.0, global_rate=RateLimit(rate=1.0, burst=1.0))
    first, again = order(price=60_000.0), order(price=60_000.0)
    assert k.gate.check(first) is None
    d = k.gate.check(again)  # the same order: a duplicate (checked before the rate)
    assert d is not None and d.reason == Reason.DUPLICATE_ORDER
    other = order(price=60_000.5)
    d = k.gate.check(other)  # refused by the rate limit after the duplicate filter admitted it
    assert d is not None and d.reason == Reason.RATE_LIMIT_GLOBAL
    k.clock.advance_to(k.clock.now_ns() + 100_000_000)  # 0.1 s: inside the window, bucket empty
    assert k.gate.check(order(price=60_000.5)).reason == Reason.RATE_LIMIT_GLOBAL  # type: ignore[union-attr]
    k.clock.advance_to(k.clock.now_ns() + 1_000_000_000)  # a token again; 60 000.5 never approved
    assert k.gate.check(order(price=60_000.5)) is None
    snap = k.gate.snapshot().duplicates
    assert [(p, q) for _, _, _, _, p, q in snap] == [(60_000.5, 0.01)]


def test_band_after_a_model_without_price_reads_the_configured_reference() -> None:
    """The model collar hands over to the percentage band (``refusals.BAND``) when its chain has
    no model price: the band then measures from the configured reference (the mark here), with
    the reference named in the text; an option without a chain likewise."""
    import math
    import types

    import numpy as np

    from tests.engine.conftest import CALL
    from tests.risk.helpers import PUT

    k, _ = make(option_collar_vega_k=2.0, option_price_band_pct=1.0, collar_reference="mark")
    k.option_chains.chain_of[CALL.id] = types.SimpleNamespace(  # type: ignore[assignment]
        surface=object(), index={CALL.id: 0}, model_price=np.array([math.nan]),
        vega=np.array([2_000.0]), forward=np.array([60_000.0]))
    k.marks[CALL.id] = k.marks[PUT.id] = 1_000.0
    assert k.gate.check(order(CALL, price=1_010.0)) is None  # 1 % from the mark (the mid is 1 050)
    for inst in (CALL, PUT):
        d = k.gate.check(order(inst, price=1_050.0))
        assert d is not None and d.reason == Reason.PRICE_BAND
        assert d.detail == "price 1050.0 is 5.00% from mark 1000.0 (band 1.0%)"
        assert (d.value, d.limit) == (5.0, 1.0)


def test_open_order_cap_texts_name_the_scope() -> None:
    from tests.engine.conftest import CALL

    k, _ = make(max_open_orders=3, max_open_orders_per_instrument=1, max_open_orders_per_strategy=1)
    assert k.router.submit(order(strategy="a")) is None
    d = k.gate.check(order(strategy="b", price=59_990.0))
    assert d is not None and d.detail == f"1 open orders on {PERP.id} >= max 1" and (d.value, d.limit) == (1, 1)
    d = k.gate.check(order(CALL, strategy="a", price=1_050.0))
    assert d is not None and d.detail == "1 open orders of a >= max 1"
    k2, _ = make(max_open_orders=1)
    assert k2.router.submit(order(strategy="a")) is None
    d = k2.gate.check(order(CALL, strategy="b", price=1_050.0))
    assert d is not None and d.detail == "1 open orders >= max 1"
