"""Inverse (coin-margined) accounting on real data and by hand (issue 12, points 2 and 3).

Expected numbers are written here from first principles: for inverse contracts the coin PnL of
any sequence of fills, marked at M, is sum(side * qty * face / price) - position * face / M
(the harmonic-average identity), whatever average-price bookkeeping the code uses; notional is
contracts x face value in USD, never x price.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.binance.instruments import parse_exchange_info
from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
from engine.model import Instrument, InstrumentKind
from engine.portfolio import Portfolio, Position

ROOT = Path(__file__).resolve().parents[2]
MARKETDATA = Path(os.environ.get("VOLTA_MARKETDATA", ROOT / ".." / "shared" / "marketdata"))
OKX = MARKETDATA / "okx" / "okx-books-2022-05-13.jsonl.gz"

# Binance COIN-M BTCUSD_PERP as its exchangeInfo lists it (100 USD per contract, margin in BTC)
COINM = parse_exchange_info({"symbols": [{
    "symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL", "baseAsset": "BTC",
    "quoteAsset": "USD", "marginAsset": "BTC", "contractSize": 100, "contractStatus": "TRADING",
    "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1"}]}]}, "coinm", "binance-coinm")[0]


def test_binance_coinm_position_by_hand() -> None:
    """Buy 10 @ 40,000, buy 30 @ 50,000, sell 25 @ 45,000, mark 44,000; fees in BTC."""
    assert COINM.inverse and COINM.contract_size == 100.0 and COINM.settle == "BTC"
    assert COINM.underlying == "BTC"
    pos = Position(COINM)
    pos.apply_fill(+1, 10, 40_000.0, 0.000005)
    pos.apply_fill(+1, 30, 50_000.0, 0.000012)
    # harmonic average entry: 40 contracts / (10/40,000 + 30/50,000) per contract-face
    avg = 40 / (10 / 40_000 + 30 / 50_000)
    assert pos.avg_price == pytest.approx(avg, rel=1e-12)
    realized = pos.apply_fill(-1, 25, 45_000.0, 0.0000111)
    assert realized == pytest.approx(25 * 100 * (1 / avg - 1 / 45_000), rel=1e-12)
    pos.mark = 44_000.0
    total_coin = pos.realized + pos.unrealized()
    flows = 10 * 100 / 40_000 + 30 * 100 / 50_000 - 25 * 100 / 45_000 - 15 * 100 / 44_000
    assert total_coin == pytest.approx(flows, rel=1e-12)
    assert pos.qty == 15.0 and str(pos.exact_qty) == "15.0"
    # notional: contracts x 100 USD face
    assert COINM.notional_usd(25, 45_000.0, 45_000.0) == 2_500.0
    pf = Portfolio([COINM])
    pf._positions[COINM.id] = pos
    assert pf.pnl_usd()["unpriced"] == {"BTC": pytest.approx(flows - pos.fees)}
    pf.set_underlying_price("BTCUSD", 44_000.0)
    usd = pf.pnl_usd()
    assert usd["unpriced"] == {}
    assert usd["total"] == pytest.approx((flows - (0.000005 + 0.000012 + 0.0000111)) * 44_000.0, rel=1e-12)


def test_exact_positions_are_exactly_flat() -> None:
    inst = Instrument(venue="x", symbol="BTC-OPT", kind=InstrumentKind.OPTION, base="BTC", quote="USD",
                      settle="BTC", tick_size=0.0005, lot_size=0.1, min_size=0.1, underlying="BTC",
                      strike=30_000.0, expiry_ns=10**19, premium_in_coin=True, inverse=True)
    pos = Position(inst)
    for q in (0.1, 0.2, 0.7):
        pos.apply_fill(+1, q, 0.01, 0.0)
    for q in (0.3, 0.6, 0.1):
        pos.apply_fill(-1, q, 0.01, 0.0)
    assert 0.1 + 0.2 + 0.7 - 0.3 - 0.6 - 0.1 != 0.0  # what float summing would leave
    assert pos.qty == 0.0 and pos.exact_qty == 0 and pos.avg_price == 0.0
    pos.apply_fill(-1, 0.05, 0.02, 0.0)
    pos.apply_fill(+1, 0.28, 0.02, 0.0)
    assert pos.qty == 0.23 and str(pos.exact_qty) == "0.23"


@pytest.mark.skipif(not OKX.is_file(), reason=f"real capture not present: {OKX}")
def test_okx_inverse_backtest_pnl_and_turnover_from_first_principles() -> None:
    config, _ = load_with_overrides(ROOT / "config" / "backtest-okx-inverse.toml",
                                    [("backtest.data.files", [str(OKX)])])
    result = run_backtest(config)
    s, ledger = result.summary, result.ledger
    fills = ledger.fills
    assert len(fills) > 5
    face = {"okx:BTC-USD-220527": 100.0, "okx:UNI-USD-SWAP": 10.0}
    turnover = sum(f["quantity"] * face[f["instrument"]] for f in fills)
    assert s["turnover_usd"] == pytest.approx(turnover, abs=1e-6)
    for f in fills:
        assert f["notional_usd"] == pytest.approx(f["quantity"] * face[f["instrument"]])
    # coin PnL per instrument: cash flows in coin minus the open position at the final mid
    total_usd = 0.0
    for iid, pos in ledger.positions.items():
        own = [f for f in fills if f["instrument"] == iid]
        sign = {"buy": 1.0, "sell": -1.0}
        flows = sum(sign[f["side"]] * f["quantity"] * face[iid] / f["price"] for f in own)
        qty = sum(sign[f["side"]] * f["quantity"] for f in own)
        mark = ledger.mids[iid][-1]
        fees = sum(f["fee"] for f in own)
        coin = flows - qty * face[iid] / mark - fees
        assert pos.qty == qty
        assert ledger.native[pos.pnl_currency] == pytest.approx(coin, abs=1e-12)
        # the coin's USD price: no index in this capture, so the contract's own mid (USD per coin)
        total_usd += coin * mark
    assert s["pnl"]["unpriced"] == {}
    assert s["pnl"]["total_usd"] == pytest.approx(total_usd, abs=1e-3)
    # the capture's BTC-USDT book has no definition (the config defines the two traded ones)
    assert s["data"]["not_replayed"] == {"undefined": ["okx:BTC-USDT"]}
    assert s["pnl"]["total_usd"] != 0.0
