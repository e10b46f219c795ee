"""The numbers an options desk checks, each expected figure worked out by hand in the test:
inverse futures and coin options PnL in coin and in USD, average entry through partial closes
and flips, realized vs unrealized, option expiry cash-settled in coin at the delivery price,
margin units, one underlying netted across venues, and exact quantities after many fills."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from engine.settlement import ExpirySettlement
from engine.accounts import AccountBook, AccountSpec
from engine.model import Instrument, InstrumentKind, Liquidity, OptionType, OrderFilled, Side
from engine.portfolio import Portfolio

NS = 1_000_000_000
EXPIRY = 1_798_704_000 * NS  # 2027-01-01 08:00 UTC
FUT = Instrument(venue="okx", symbol="BTC-USD-270101", kind=InstrumentKind.FUTURE, base="BTC",
                 quote="USD", settle="BTC", inverse=True, contract_size=100.0, tick_size=0.1,
                 lot_size=1.0, underlying="BTC", venue_underlying="BTC-USD", expiry_ns=EXPIRY)
DPERP = Instrument(venue="deribit", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL,
                   base="BTC", quote="USD", settle="BTC", inverse=True, contract_size=1.0,
                   tick_size=0.5, lot_size=10.0, underlying="BTC", venue_underlying="btc_usd")
CALL = Instrument(venue="deribit", symbol="BTC-1JAN27-60000-C", kind=InstrumentKind.OPTION,
                  base="BTC", quote="USD", settle="BTC", inverse=True, premium_in_coin=True,
                  tick_size=0.0005, lot_size=0.1, underlying="BTC", venue_underlying="btc_usd",
                  strike=60_000.0, option_type=OptionType.CALL, expiry_ns=EXPIRY)
PUT = Instrument(venue="deribit", symbol="BTC-1JAN27-50000-P", kind=InstrumentKind.OPTION,
                 base="BTC", quote="USD", settle="BTC", inverse=True, premium_in_coin=True,
                 tick_size=0.0005, lot_size=0.1, underlying="BTC", venue_underlying="btc_usd",
                 strike=50_000.0, option_type=OptionType.PUT, expiry_ns=EXPIRY)
USDM = Instrument(venue="binance", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001,
                  underlying="BTC", venue_underlying="BTCUSDT")
BYOPT = Instrument(venue="bybit", symbol="BTC-1JAN27-60000-C", kind=InstrumentKind.OPTION,
                   base="BTC", quote="USDC", settle="USDC", tick_size=5.0, lot_size=0.01,
                   underlying="BTC", venue_underlying="BTC", strike=60_000.0,
                   option_type=OptionType.CALL, expiry_ns=EXPIRY)
ALL = [FUT, DPERP, CALL, PUT, USDM, BYOPT]

_n = 0


def _fill(inst: Instrument, side: Side, qty: float, px: float, fee: float = 0.0) -> OrderFilled:
    global _n
    _n += 1
    return OrderFilled(client_order_id="c", venue_order_id="v", instrument_id=inst.id,
                       trade_id=f"t{_n}", side=side, price=px, quantity=qty, remaining=0.0,
                       liquidity=Liquidity.TAKER, fee=fee, fee_currency=inst.settle,
                       ts_event=0, ts_recv=0)


def test_inverse_future_partial_closes_and_flip_in_coin_and_usd() -> None:
    pf = Portfolio(ALL)
    # long 30 contracts (3,000 USD) at 40,000 then 10 more (1,000 USD) at 50,000:
    # entry = 4,000 / (3,000/40,000 + 1,000/50,000) = 4,000 / 0.095 = 42,105.263...
    pf.on_fill(_fill(FUT, Side.BUY, 30, 40_000.0))
    pf.on_fill(_fill(FUT, Side.BUY, 10, 50_000.0))
    pos = pf.position(FUT.id)
    assert pos.avg_price == pytest.approx(4_000 / 0.095)
    # sell 25 at 50,000: realized 2,500 x (0.095/4,000 - 1/50,000) = 2,500 x 0.00000375
    # = 0.009375 BTC; the rest keeps its entry
    pf.on_fill(_fill(FUT, Side.SELL, 25, 50_000.0))
    assert pos.realized == pytest.approx(0.009375) and pos.avg_price == pytest.approx(4_000 / 0.095)
    # sell 35 at 38,000: closes 15 (1,500 USD) and opens 20 short at 38,000
    closed = 1_500 * (0.095 / 4_000 - 1 / 38_000)
    pf.on_fill(_fill(FUT, Side.SELL, 35, 38_000.0))
    assert pos.qty == -20 and pos.avg_price == 38_000.0
    assert pos.realized == pytest.approx(0.009375 + closed)
    # unrealized of 2,000 USD short from 38,000 at a 40,000 mark: -2,000 x (1/38,000 - 1/40,000)
    pf.set_mark(FUT.id, 40_000.0)
    unreal = -2_000 * (1 / 38_000 - 1 / 40_000)
    assert pos.unrealized() == pytest.approx(unreal)
    pf.set_underlying_price("BTC", 40_000.0)
    usd = pf.pnl_usd()
    assert usd["realized"] == pytest.approx((0.009375 + closed) * 40_000.0)
    assert usd["unrealized"] == pytest.approx(unreal * 40_000.0)
    assert pf.pnl_coin() == {"BTC": pytest.approx(0.009375 + closed + unreal)}


def test_coin_option_pnl_and_expiry_cash_settled_in_coin_at_the_delivery_price() -> None:
    pf = Portfolio(ALL)
    # 2 calls K 60,000 bought at 0.05 BTC each, 0.0003 BTC fee per contract
    pf.on_fill(_fill(CALL, Side.BUY, 2.0, 0.05, fee=0.0006))
    # delivery price: Deribit's time-weighted index over the 30 minutes before expiry:
    # 70,000 for the first 15 minutes, 72,000 for the last 15 -> 71,000
    st = ExpirySettlement("deribit")
    st.observe("BTC", 70_000.0, EXPIRY - 30 * 60 * NS)
    st.observe("BTC", 72_000.0, EXPIRY - 15 * 60 * NS)
    st.on_fill(CALL.id, 2.0)
    rep = st.settle(CALL, EXPIRY)
    assert rep.delivery_price == pytest.approx(71_000.0) and rep.quantity == 2.0
    # each call pays (71,000 - 60,000) / 71,000 BTC
    assert rep.settlement_price == pytest.approx(11_000 / 71_000)
    pf.adjust_position(CALL.id, 0.0, 0.0, rep.settlement_price, settled=True)
    pos = pf.position(CALL.id)
    assert pos.qty == 0.0 and pos.exact_qty == 0
    assert pos.realized == pytest.approx(2 * (11_000 / 71_000 - 0.05))  # 0.2098... BTC
    pf.set_underlying_price("BTC", 71_000.0)
    usd = pf.pnl_usd()
    # in USD at the delivery price: 2 x (11,000 - 0.05 x 71,000) = 14,900, less 0.0006 BTC fees
    assert usd["realized"] == pytest.approx(14_900.0)
    assert usd["total"] == pytest.approx(14_900.0 - 0.0006 * 71_000.0)
    # an out-of-the-money put settles at 0: the premium is lost
    pf.on_fill(_fill(PUT, Side.BUY, 1.0, 0.01))
    st.on_fill(PUT.id, 1.0)
    rep = st.settle(PUT, EXPIRY)
    assert rep.settlement_price == 0.0
    pf.adjust_position(PUT.id, 0.0, 0.0, rep.settlement_price, settled=True)
    assert pf.position(PUT.id).realized == pytest.approx(-0.01)


def test_margin_figures_carry_their_units() -> None:
    pf = Portfolio(ALL)
    book = AccountBook(pf, {"deribit": AccountSpec("deribit", {"BTC": 1.0}),
                            "binance": AccountSpec("binance", {"USDT": 10_000.0})})
    pf.set_underlying_price("BTC", 50_000.0)
    # short 2 calls K 60,000 at a 0.05 BTC mark, index 50,000 (10,000 USD out of the money):
    # IM per coin = max(0.15 - 10,000/50,000, 0.10) + 0.05 = 0.15 BTC; MM = 0.075 + 0.05
    pf.on_fill(_fill(CALL, Side.SELL, 2.0, 0.05))
    # long 2 BTC USD-M at 50,000, 20x, 0.4 %: IM 100,000 / 20 = 5,000 USDT, MM 400 USDT
    pf.on_fill(_fill(USDM, Side.BUY, 2.0, 50_000.0))
    s = book.summary()
    btc = s["deribit"]["accounts"]["BTC"]
    assert btc["initial_margin"] == pytest.approx(0.30) and btc["maintenance_margin"] == pytest.approx(0.25)
    assert btc["initial_margin_usd"] == pytest.approx(0.30 * 50_000.0)  # 15,000 USD
    usd = s["binance"]["accounts"]["USD"]
    assert usd["initial_margin"] == pytest.approx(5_000.0) and usd["maintenance_margin"] == pytest.approx(400.0)
    assert usd["initial_margin_usd"] == pytest.approx(5_000.0)


def test_one_underlying_netted_across_venues_under_any_spelling() -> None:
    pf = Portfolio(ALL)
    pf.set_underlying_price("btc_usd", 50_000.0)
    pf.on_fill(_fill(USDM, Side.BUY, 1.5, 50_000.0))          # +1.5 BTC
    pf.on_fill(_fill(DPERP, Side.SELL, 25_000.0, 50_000.0))   # -25,000 USD / 50,000 = -0.5 BTC
    pf.on_fill(_fill(FUT, Side.SELL, 50, 50_000.0))           # -5,000 USD / 50,000 = -0.1 BTC
    pf.on_fill(_fill(CALL, Side.BUY, 2.0, 0.02))
    pf.on_fill(_fill(BYOPT, Side.SELL, 1.0, 1_000.0))
    # per unit: Deribit call delta 0.30 (coin, premium-adjusted), vega 20 USD/pt; Bybit 0.32, 21
    pf.set_venue_greeks(CALL.id, 0.30, 0.00002, 20.0, -30.0)
    pf.set_venue_greeks(BYOPT.id, 0.32, 0.00002, 21.0, -31.0)
    delta = 1.5 - 0.5 - 0.1 + 2 * 0.30 - 1 * 0.32
    vega = 2 * 20.0 - 21.0
    for name in ("BTC", "btc_usd", "BTC-USD", "BTCUSDT"):
        assert pf.delta(name) == pytest.approx(delta)
        assert pf.greeks(name)[2] == pytest.approx(vega)
        assert pf.vega_by_expiry(name) == {EXPIRY: pytest.approx(vega)}
        assert pf.expiry_vega(name, EXPIRY) == pytest.approx(vega)
    assert pf.delta_by_venue("btc_usd") == {"binance": pytest.approx(1.5),
                                            "deribit": pytest.approx(-0.5 + 0.6),
                                            "okx": pytest.approx(-0.1),
                                            "bybit": pytest.approx(-0.32)}
    assert pf.greeks_summary("btc_usd")["delta_usd"] == pytest.approx(delta * 50_000.0)


def test_quantities_do_not_drift_after_many_partial_fills() -> None:
    pf = Portfolio(ALL)
    # 10,000 fills of 0.001 BTC (10 BTC) and 7 of 0.1, then out in 0.3s and one 0.1
    for i in range(10_000):
        pf.on_fill(_fill(USDM, Side.BUY, 0.001, 50_000.0 + (i % 7)))
    for _ in range(7):
        pf.on_fill(_fill(USDM, Side.BUY, 0.1, 50_000.0))
    pos = pf.position(USDM.id)
    assert pos.exact_qty == Decimal("10.7") and pos.qty == 10.7
    for _ in range(35):
        pf.on_fill(_fill(USDM, Side.SELL, 0.3, 50_010.0))
    assert pos.exact_qty == Decimal("0.2") and pos.qty == 0.2
    pf.on_fill(_fill(USDM, Side.SELL, 0.1, 50_010.0))
    pf.on_fill(_fill(USDM, Side.SELL, 0.1, 50_010.0))
    assert pos.exact_qty == 0 and pos.qty == 0.0 and pos.avg_price == 0.0
    assert pos.traded_qty == Decimal("21.4")
    # realized: sold 10.7 at 50,010 against the average entry; the entry by hand:
    cost = sum(0.001 * (50_000.0 + (i % 7)) for i in range(10_000)) + 0.7 * 50_000.0
    assert pos.realized == pytest.approx(10.7 * 50_010.0 - cost, abs=1e-6)
    assert pos.unrealized() == 0.0 and not math.isnan(pf.pnl_usd()["total"])


def test_a_coin_account_equity_in_coin_and_usd() -> None:
    # Deribit BTC account, 2 BTC: long 10,000 USD of perpetual from 50,000, marked 40,000
    # (unrealized 10,000 x (1/50,000 - 1/40,000) = -0.05 BTC), 0.0002 BTC fee, funding
    # -0.0001 BTC; equity 2 - 0.05 - 0.0002 - 0.0001 = 1.9497 BTC = 77,988 USD at 40,000
    pf = Portfolio(ALL)
    book = AccountBook(pf, {"deribit": AccountSpec("deribit", {"BTC": 2.0})})
    pf.set_underlying_price("BTC", 40_000.0)
    pf.on_fill(_fill(DPERP, Side.BUY, 10_000.0, 50_000.0, fee=0.0002))
    pf.set_mark(DPERP.id, 40_000.0)
    pf.apply_funding(DPERP.id, -0.0001)
    st = book.state("deribit", "BTC")
    assert st.equity == pytest.approx(1.9497)
    # IM: 10,000 / 40,000 = 0.25 BTC x (2 % + 0.005 % x 0.25)
    assert st.initial_margin == pytest.approx(0.25 * (0.02 + 0.00005 * 0.25))
    acct = book.summary()["deribit"]["accounts"]["BTC"]
    assert acct["equity_usd"] == pytest.approx(1.9497 * 40_000.0)
    assert acct["available"] == pytest.approx(1.9497 - 0.25 * (0.02 + 0.00005 * 0.25))
