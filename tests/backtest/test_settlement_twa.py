"""Delivery prices weighted by time, per venue rules (issue 12, point 6)."""

from __future__ import annotations

import math

import pytest

from engine.settlement import (
    IndexHistory,
    settlement_rule,
    time_weighted_average,
)

S = 1_000_000_000
MIN = 60 * S
EXPIRY = 1_700_000_000 * S  # after nothing in particular; OKX window below uses its own dates


def test_time_weighted_not_sample_weighted() -> None:
    # 40 min before expiry 100 (carries into the window), then 110 at -20 min, 120 at -10 min,
    # and a burst of three ticks in the last minute
    obs = [(EXPIRY - 40 * MIN, 100.0), (EXPIRY - 20 * MIN, 110.0), (EXPIRY - 10 * MIN, 120.0),
           (EXPIRY - 60 * S, 130.0), (EXPIRY - 59 * S, 130.5), (EXPIRY - 58 * S, 131.0)]
    # by hand, over the 30-minute window [-30 min, 0]:
    # 100 for 10 min, 110 for 10 min, 120 for 9 min, 130 for 1 s, 130.5 for 1 s, 131 for 58 s
    area = 100 * 600 + 110 * 600 + 120 * 540 + 130 * 1 + 130.5 * 1 + 131 * 58
    expected = area / 1800
    got = time_weighted_average(obs, EXPIRY - 30 * MIN, EXPIRY)
    assert got == pytest.approx(expected, rel=1e-15)
    in_window = [p for t, p in obs if t >= EXPIRY - 30 * MIN]
    assert abs(got - sum(in_window) / len(in_window)) > 5.0  # a plain mean is far off
    hist = IndexHistory()
    for t, p in obs:
        hist.add(t, p)
    assert hist.delivery_price(settlement_rule("deribit"), EXPIRY, EXPIRY) == pytest.approx(expected)


def test_venue_windows() -> None:
    assert settlement_rule("deribit").window_ns(EXPIRY) == 30 * MIN
    assert settlement_rule("binance-coinm").window_ns(EXPIRY) == 30 * MIN
    assert settlement_rule("bybit").window_ns(EXPIRY) == 30 * MIN
    okx = settlement_rule("okx")
    assert okx.window_ns(1_653_638_400 * S) == 60 * MIN  # 2022 delivery: last hour
    assert okx.window_ns(1_790_000_000 * S) == 30 * MIN  # after 2026-03-18: last 30 minutes
    obs = [(EXPIRY - 50 * MIN, 100.0), (EXPIRY - 20 * MIN, 130.0)]
    # one hour: 100 for 40 min (from -60 min the first observation is only at -50 min: covered
    # part only), 130 for 20 min -> (100*30 + 130*20) / 50
    assert time_weighted_average(obs, EXPIRY - 60 * MIN, EXPIRY) == pytest.approx((3000 + 2600) / 50)


def test_edges() -> None:
    assert math.isnan(time_weighted_average([], 0, 10))
    assert time_weighted_average([(10, 5.0)], 0, 10) == 5.0
    assert math.isnan(time_weighted_average([(11, 5.0)], 0, 10))
    hist = IndexHistory()
    for i in range(10_000):
        hist.add(i * 10 * S, float(i))
    assert len(hist.obs) <= 362  # only the longest window (plus the carried observation) kept


def test_inverse_future_settles_at_the_time_weighted_delivery_price() -> None:
    from backtest.schema import InstrumentSpec
    from engine.model import MarkPrice, PositionSettled, Side
    from engine.portfolio import Position
    from tests.backtest.helpers import T0, make_exchange, order, snapshot

    expiry = T0 + 40 * MIN
    spec = InstrumentSpec(symbol="BTC-USD-X", kind="future", base="BTC", quote="USD", settle="BTC",
                          inverse=True, contract_size=100.0, tick_size=0.1, lot_size=1.0, min_size=1.0,
                          underlying="BTC-USD", expiry_ns=expiry)
    ex, clock, out = make_exchange(instruments=[spec])
    iid = ex.instruments()[0].id
    idx = "x:BTC-USD"  # an index event: its id names the index
    ex.on_market(snapshot([(29_999.9, 50.0)], [(30_000.0, 50.0)], T0, iid=iid))
    ex.on_market(MarkPrice(idx, float("nan"), 30_000.0, T0, T0))
    ex.submit(order("buy", Side.BUY, 10.0, None, iid=iid))
    clock.advance_to(expiry - 20 * MIN)
    ex.on_market(MarkPrice(idx, float("nan"), 31_000.0, expiry - 20 * MIN, expiry - 20 * MIN))
    clock.advance_to(expiry - 1 * MIN)
    ex.on_market(MarkPrice(idx, float("nan"), 40_000.0, expiry - 1 * MIN, expiry - 1 * MIN))
    clock.advance_to(expiry + 1)
    (rep,) = [e for e in out if isinstance(e, PositionSettled)]
    # 30,000 for 10 min, 31,000 for 19 min, 40,000 for 1 min of the 30-minute window
    expected = (30_000 * 10 + 31_000 * 19 + 40_000 * 1) / 30
    assert rep.delivery_price == pytest.approx(expected, rel=1e-12)
    assert rep.settlement_price == rep.delivery_price and rep.quantity == 10.0
    pos = Position(ex.instruments()[0])
    pos.apply_fill(+1, 10.0, 30_000.0, 0.0)
    assert pos.apply_fill(-1, 10.0, rep.settlement_price, 0.0) == pytest.approx(10 * 100 * (1 / 30_000 - 1 / expected))
