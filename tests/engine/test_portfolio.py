from __future__ import annotations

import pytest

from engine.model import Instrument, InstrumentKind, Liquidity, OptionType, OrderFilled, Side
from engine.portfolio import Portfolio

PERP = Instrument(venue="sim", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USD", settle="USD", tick_size=0.5, lot_size=0.001)
INV = Instrument(venue="deribit", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL,
                 base="BTC", quote="USD", settle="BTC", inverse=True, contract_size=10.0,
                 tick_size=0.5, lot_size=1.0)
OPT = Instrument(venue="sim", symbol="BTC-1JAN27-60000-C", kind=InstrumentKind.OPTION, base="BTC",
                 quote="USD", settle="USDC", tick_size=1.0, lot_size=0.01, underlying="BTC",
                 strike=60000.0, option_type=OptionType.CALL, expiry_ns=1)


def _fill(inst: Instrument, side: Side, qty: float, px: float, tid: str, fee: float = 0.0) -> OrderFilled:
    return OrderFilled(client_order_id="c", venue_order_id="v", instrument_id=inst.id, trade_id=tid,
                       side=side, price=px, quantity=qty, remaining=0.0, liquidity=Liquidity.TAKER,
                       fee=fee, fee_currency=inst.settle, ts_event=0, ts_recv=0)


def test_linear_average_price_and_realized_pnl() -> None:
    pf = Portfolio([PERP])
    pf.on_fill(_fill(PERP, Side.BUY, 1.0, 100.0, "1"))
    pf.on_fill(_fill(PERP, Side.BUY, 1.0, 110.0, "2"))
    pos = pf.position(PERP.id)
    assert pos.qty == 2.0 and pos.avg_price == pytest.approx(105.0)
    pf.on_fill(_fill(PERP, Side.SELL, 1.5, 120.0, "3", fee=0.5))
    assert pos.qty == pytest.approx(0.5)
    assert pos.realized == pytest.approx(1.5 * 15.0)
    pf.set_mark(PERP.id, 100.0)
    assert pos.unrealized() == pytest.approx(0.5 * -5.0)
    pnl = pf.pnl_usd()
    assert pnl["total"] == pytest.approx(22.5 - 2.5 - 0.5)


def test_position_flip_reopens_at_fill_price() -> None:
    pf = Portfolio([PERP])
    pf.on_fill(_fill(PERP, Side.BUY, 1.0, 100.0, "1"))
    pf.on_fill(_fill(PERP, Side.SELL, 3.0, 90.0, "2"))
    pos = pf.position(PERP.id)
    assert pos.qty == pytest.approx(-2.0) and pos.avg_price == 90.0
    assert pos.realized == pytest.approx(-10.0)


def test_inverse_pnl_in_coin() -> None:
    pf = Portfolio([INV])
    pf.on_fill(_fill(INV, Side.BUY, 100, 50_000.0, "1"))   # 1000 USD of contracts
    pf.on_fill(_fill(INV, Side.SELL, 100, 55_000.0, "2"))
    pos = pf.position(INV.id)
    expected = 100 * 10.0 * (1 / 50_000 - 1 / 55_000)
    assert pos.realized == pytest.approx(expected) and pos.pnl_currency == "BTC"
    pf.set_underlying_price("BTC", 55_000.0)
    assert pf.pnl_usd()["realized"] == pytest.approx(expected * 55_000.0)


def test_inverse_average_is_harmonic() -> None:
    pf = Portfolio([INV])
    pf.on_fill(_fill(INV, Side.BUY, 100, 40_000.0, "1"))
    pf.on_fill(_fill(INV, Side.BUY, 100, 60_000.0, "2"))
    assert pf.position(INV.id).avg_price == pytest.approx(48_000.0)


def test_duplicate_trade_id_counted_once() -> None:
    pf = Portfolio([PERP])
    assert pf.on_fill(_fill(PERP, Side.BUY, 1.0, 100.0, "1"))
    assert not pf.on_fill(_fill(PERP, Side.BUY, 1.0, 100.0, "1"))
    assert pf.position(PERP.id).qty == 1.0 and pf.duplicate_fills == 1


def test_delta_aggregates_perp_inverse_and_options() -> None:
    pf = Portfolio([PERP, INV, OPT])
    pf.set_underlying_price("BTC", 50_000.0)
    pf.on_fill(_fill(PERP, Side.BUY, 0.5, 50_000.0, "1"))
    pf.on_fill(_fill(INV, Side.SELL, 500, 50_000.0, "2"))   # -5000 USD = -0.1 BTC
    pf.on_fill(_fill(OPT, Side.BUY, 2.0, 1_000.0, "3"))
    pf.set_option_delta(OPT.id, 0.25)
    assert pf.delta("BTC") == pytest.approx(0.5 - 0.1 + 0.5)
