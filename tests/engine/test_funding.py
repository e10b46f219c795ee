"""Funding on perpetual positions at the venues' funding times (issue 12, point 8).

Expected payments are computed here by hand: a long pays rate x notional; linear notional is
qty x size x mark (settlement currency), inverse notional is qty x face / mark (coin).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
from engine.bus import MessageBus
from engine.clock import VirtualClock
from engine.funding import FundingApplied, FundingEngine
from engine.model import (
    FundingRate,
    Instrument,
    InstrumentKind,
    Liquidity,
    MarkPrice,
    OrderFilled,
    Side,
)
from engine.portfolio import Portfolio

H = 3_600_000_000_000
T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC
ROOT = Path(__file__).resolve().parents[2]

LINEAR = Instrument(venue="binance-usdm", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                    quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001, underlying="BTC")
INVERSE = Instrument(venue="okx", symbol="BTC-USD-SWAP", kind=InstrumentKind.PERPETUAL, base="BTC",
                     quote="USD", settle="BTC", inverse=True, contract_size=100.0, tick_size=0.1,
                     lot_size=1.0, underlying="BTC")
DERIBIT = Instrument(venue="deribit", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL, base="BTC",
                     quote="USD", settle="BTC", inverse=True, contract_size=1.0, tick_size=0.5,
                     lot_size=10.0, underlying="BTC")


def _fill(pf: Portfolio, inst: Instrument, side: Side, qty: float, px: float, n: int) -> None:
    pf.on_fill(OrderFilled(client_order_id=f"c{n}", venue_order_id="v", instrument_id=inst.id,
                           trade_id=f"t{n}", side=side, price=px, quantity=qty, remaining=0.0,
                           liquidity=Liquidity.TAKER, fee=0.0, fee_currency=inst.settle,
                           ts_event=0, ts_recv=0))


def test_payments_at_announced_and_continuous_funding_times() -> None:
    clock = VirtualClock(T0)
    bus = MessageBus()
    pf = Portfolio([LINEAR, INVERSE, DERIBIT])
    fe = FundingEngine(bus, pf, clock, pf.instrument)
    seen: list[FundingApplied] = []
    bus.subscribe(FundingApplied, seen.append)
    _fill(pf, LINEAR, Side.BUY, 0.5, 60_000.0, 1)
    _fill(pf, INVERSE, Side.SELL, 100, 50_000.0, 2)
    _fill(pf, DERIBIT, Side.BUY, 10_000, 50_000.0, 3)
    bus.publish(MarkPrice(LINEAR.id, 60_100.0, float("nan"), T0, T0))
    bus.publish(MarkPrice(INVERSE.id, 50_200.0, float("nan"), T0, T0))
    bus.publish(MarkPrice(DERIBIT.id, 50_000.0, float("nan"), T0, T0))
    bus.publish(FundingRate(LINEAR.id, 0.0001, T0 + 8 * H, T0, T0))
    bus.publish(FundingRate(INVERSE.id, 0.0002, T0 + 8 * H, T0, T0))
    bus.publish(FundingRate(DERIBIT.id, 0.0003, 0, T0, T0))   # Deribit: continuous, rate per 8 h
    clock.advance_to(T0 + 2 * H)
    bus.publish(FundingRate(LINEAR.id, 0.00015, T0 + 8 * H, T0 + 2 * H, T0 + 2 * H))  # revised
    bus.publish(FundingRate(DERIBIT.id, -0.0001, 0, T0 + 2 * H, T0 + 2 * H))
    assert pf.position(LINEAR.id).funding == 0.0  # nothing before the funding time
    # Deribit: 2 hours at 0.0003 per 8 h on 10,000 USD long at 50,000: pays 0.2 BTC x 0.0003/4
    assert pf.position(DERIBIT.id).funding == pytest.approx(-10_000 / 50_000 * 0.0003 * 2 / 8)
    clock.advance_to(T0 + 8 * H)
    assert pf.position(LINEAR.id).funding == pytest.approx(-0.5 * 60_100.0 * 0.00015)
    assert pf.position(INVERSE.id).funding == pytest.approx(+100 * 100 / 50_200.0 * 0.0002)
    assert {e.instrument_id for e in seen} == {LINEAR.id, INVERSE.id, DERIBIT.id}
    assert fe.payments == 3
    pf.set_underlying_price("BTC", 50_000.0)
    usd = pf.pnl_usd()
    expected = (-0.5 * 60_100.0 * 0.00015 + (100 * 100 / 50_200.0 * 0.0002
                - 10_000 / 50_000 * 0.0003 * 2 / 8) * 50_000.0)
    assert usd["funding"] == pytest.approx(expected)


def test_perpetual_backtest_books_funding_in_pnl() -> None:
    # the synthetic market's perp funds at 08:00 UTC: run across it
    config, _ = load_with_overrides(ROOT / "config" / "backtest.toml", [
        ("backtest.data.start_ns", T0 + 8 * H - 240 * 10**9), ("backtest.data.duration_s", 300.0)])
    result = run_backtest(config)
    s = result.summary
    events = s["funding"]["events"]
    assert s["funding"]["payments"] == len(events) >= 1
    for e in events:
        assert e["ts"] == T0 + 8 * H
        assert e["amount"] == pytest.approx(-e["position"] * e["mark"] * e["rate"])
    assert s["pnl"]["funding_usd"] == pytest.approx(sum(e["amount_usd"] for e in events), abs=1e-4)
    assert s["pnl"]["funding_usd"] != 0.0
    assert s["instruments"]["sim:BTC-PERP"]["funding"] == pytest.approx(sum(e["amount"] for e in events))
