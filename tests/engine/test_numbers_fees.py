"""Fees as a desk books them: each fee in the currency the venue charged it in, a maker
rebate as a negative fee, linear fees on the quote notional, inverse fees in the coin. Every
expected figure is worked out by hand from the fill, not read back from the code."""

from __future__ import annotations

import math

import msgspec
import pytest

from engine.accounts import AccountBook, AccountSpec
from engine.model import Instrument, InstrumentKind, Liquidity, OrderFilled, Side
from engine.portfolio import Portfolio
from engine.portfolio_state import PortfolioState

SPOT = Instrument(venue="bybit", symbol="BTCUSDT", kind=InstrumentKind.SPOT, base="BTC",
                  quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.000001)
LIN = Instrument(venue="binance", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                 quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001)
INV = Instrument(venue="deribit", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL,
                 base="BTC", quote="USD", settle="BTC", inverse=True, contract_size=1.0,
                 tick_size=0.5, lot_size=10.0)

_n = 0


def _fill(inst: Instrument, side: Side, qty: float, px: float, fee: float, fee_ccy: str,
          liquidity: Liquidity = Liquidity.TAKER) -> OrderFilled:
    global _n
    _n += 1
    return OrderFilled(client_order_id="c", venue_order_id="v", instrument_id=inst.id,
                       trade_id=str(_n), side=side, price=px, quantity=qty, remaining=0.0,
                       liquidity=liquidity, fee=fee, fee_currency=fee_ccy, ts_event=0, ts_recv=0)


def test_a_spot_buy_fee_charged_in_the_coin_is_booked_in_the_coin() -> None:
    # Bybit and OKX charge a spot buy's fee in the coin bought (Binance: also BNB): 1 BTC
    # bought at 50,000 USDT with a 0.1 % fee costs 0.001 BTC = 50 USD, not 0.001 USDT.
    pf = Portfolio([SPOT])
    pf.on_fill(_fill(SPOT, Side.BUY, 1.0, 50_000.0, 0.001, "BTC"))
    pf.set_underlying_price("BTC", 50_000.0)
    pf.set_mark(SPOT.id, 50_000.0)
    pnl = pf.pnl_usd()
    assert pnl["fees"] == pytest.approx(0.001 * 50_000.0)  # 50 USD
    assert pnl["total"] == pytest.approx(-50.0)
    assert pf.pnl_coin() == {"USDT": 0.0, "BTC": pytest.approx(-0.001)}
    # the sell's fee is in USDT (what the sale paid): 51,000 x 0.1 % = 51 USDT
    pf.on_fill(_fill(SPOT, Side.SELL, 1.0, 51_000.0, 51.0, "USDT"))
    pnl = pf.pnl_usd()
    assert pnl["realized"] == pytest.approx(1_000.0)
    assert pnl["fees"] == pytest.approx(50.0 + 51.0)
    assert pnl["total"] == pytest.approx(1_000.0 - 101.0)


def test_a_fee_in_a_coin_with_no_usd_price_is_unpriced_not_zero() -> None:
    # Binance's BNB fee discount: the fee is in BNB; with no BNB price it is left out, named
    pf = Portfolio([LIN])
    pf.on_fill(_fill(LIN, Side.BUY, 0.5, 40_000.0, 0.0123, "BNB"))
    pnl = pf.pnl_usd()
    assert pnl["unpriced"] == {"BNB": pytest.approx(-0.0123)}
    # nothing else has an amount: the fees and the total are unknown (NaN), never 0
    assert math.isnan(pnl["fees"]) and math.isnan(pnl["total"]) and pnl["partial"] is False
    pf.set_underlying_price("BNB", 600.0)
    assert pf.pnl_usd()["fees"] == pytest.approx(0.0123 * 600.0)


def test_maker_rebates_are_negative_fees_linear_and_inverse() -> None:
    # linear: 2 BTC at 30,000 USDT, maker rebate -0.01 %: fee = -2 x 30,000 x 0.0001 = -6 USDT
    # inverse: 30,000 USD face at 60,000, rebate -0.01 %: 30,000 / 60,000 x -0.0001 = -0.00005 BTC
    pf = Portfolio([LIN, INV])
    pf.set_underlying_price("BTC", 60_000.0)
    pf.on_fill(_fill(LIN, Side.BUY, 2.0, 30_000.0, -6.0, "USDT", Liquidity.MAKER))
    pf.on_fill(_fill(INV, Side.BUY, 30_000.0, 60_000.0, -0.00005, "BTC", Liquidity.MAKER))
    pf.set_mark(LIN.id, 30_000.0)
    coin = pf.pnl_coin()
    assert coin["USDT"] == pytest.approx(6.0) and coin["BTC"] == pytest.approx(0.00005)
    pnl = pf.pnl_usd()
    assert pnl["fees"] == pytest.approx(-6.0 - 0.00005 * 60_000.0)  # -9 USD: received
    assert pnl["total"] == pytest.approx(9.0)


def test_a_fee_in_another_currency_survives_a_snapshot() -> None:
    pf = Portfolio([SPOT])
    pf.on_fill(_fill(SPOT, Side.BUY, 1.0, 50_000.0, 0.001, "BTC"))
    state = msgspec.json.decode(msgspec.json.encode(pf.snapshot(10)), type=PortfolioState)
    back = Portfolio([SPOT])
    back.restore(state)
    back.set_underlying_price("BTC", 50_000.0)
    assert back.pnl_usd()["fees"] == pytest.approx(50.0)


def test_a_usd_stablecoin_fee_counts_against_its_usd_account() -> None:
    # A USDC fee on a USDT-settled position is in the venue's one USD pool (docs/risk.md):
    # equity = 10,000 balance - 4 USDC fee; a BTC fee belongs to no USD account of the model.
    pf = Portfolio([LIN])
    book = AccountBook(pf, {"binance": AccountSpec("binance", {"USDT": 10_000.0})})
    pf.on_fill(_fill(LIN, Side.BUY, 0.1, 40_000.0, 4.0, "USDC"))
    pf.set_mark(LIN.id, 40_000.0)
    assert book.state("binance", "USD").equity == pytest.approx(10_000.0 - 4.0)
