"""One underlying per asset: the same BTC delta from Deribit, OKX and Binance nets and is limited
as one number (issue 12, points 1 and 4).

Instruments come from the venues' own instrument parsers fed their documented instrument
formats; expected deltas are computed here from first principles (Black-76 with math.erf).
"""

from __future__ import annotations

import math

import pytest

from adapters.binance.instruments import parse_exchange_info
from adapters.deribit.instruments import parse_instrument as deribit_instrument
from adapters.okx.instruments import parse_instrument as okx_instrument
from engine.clock import VirtualClock
from engine.config import ConfigError
from engine.kernel import Kernel
from engine.model import (
    BookSnapshot,
    Instrument,
    InstrumentKind,
    MarginType,
    OptionSummary,
    Side,
    SubmitOrder,
    canonical_asset,
)
from engine.risk import Reason, RiskLimits, UnderlyingLimits
from engine.risk.underlyings import canonical_keys, check_known
from tests.risk.venues import add_venue, submit

NOW_NS = 1_700_000_000 * 10**9
EXPIRY_NS = NOW_NS + 30 * 86_400 * 10**9
F = 30_000.0
IV = 0.6

DERIBIT_PUT = deribit_instrument({
    "kind": "option", "instrument_name": "BTC-15DEC23-28000-P", "base_currency": "BTC",
    "quote_currency": "BTC", "counter_currency": "USD", "settlement_currency": "BTC",
    "instrument_type": "reversed", "expiration_timestamp": EXPIRY_NS // 10**6, "strike": 28000,
    "option_type": "put", "min_trade_amount": 0.1, "tick_size": 0.0005, "contract_size": 1,
    "price_index": "btc_usd", "maker_commission": 0.0003, "taker_commission": 0.0003,
    "is_active": True})[0]
OKX_SWAP = okx_instrument({
    "instType": "SWAP", "instId": "BTC-USD-SWAP", "uly": "BTC-USD", "instFamily": "BTC-USD",
    "settleCcy": "BTC", "ctVal": "100", "ctMult": "1", "ctValCcy": "USD", "ctType": "inverse",
    "tickSz": "0.1", "lotSz": "1", "minSz": "1", "state": "live"})
BINANCE_PERP = parse_exchange_info({"symbols": [{
    "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL", "baseAsset": "BTC",
    "quoteAsset": "USDT", "marginAsset": "USDT", "status": "TRADING",
    "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10"},
                {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001"}]}]},
    "usdm", "binance-usdm")[0]
BINANCE_COINM = parse_exchange_info({"symbols": [{
    "symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL", "baseAsset": "BTC",
    "quoteAsset": "USD", "marginAsset": "BTC", "contractSize": 100, "contractStatus": "TRADING",
    "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1"}]}]},
    "coinm", "binance-coinm")[0]


def _n(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _pa_put_delta(f: float, k: float, t: float, v: float) -> float:
    """Coin premium-adjusted delta of a put: N(d1) - 1 - (K N(-d2) - F N(-d1)) / F."""
    d1 = (math.log(f / k) + 0.5 * v * v * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    usd_price = k * _n(-d2) - f * _n(-d1)
    return (_n(d1) - 1.0) - usd_price / f


def test_venue_names_map_to_one_canonical_asset() -> None:
    for name in ("btc_usd", "btc_usdc", "BTC-USD", "BTC-USDT", "BTCUSDT", "BTCUSD", "BTCUSD_PERP",
                 "BTC", "btc", "XBT"):
        assert canonical_asset(name) == "BTC", name
    assert canonical_asset("eth_usd") == "ETH" and canonical_asset("UNI-USD") == "UNI"
    assert canonical_asset("USDC") == "USDC"  # a quote currency stays itself
    for inst, venue_name in ((DERIBIT_PUT, "btc_usd"), (OKX_SWAP, "BTC-USD"),
                             (BINANCE_PERP, "BTCUSDT"), (BINANCE_COINM, "BTCUSD")):
        assert inst.underlying == "BTC" and inst.asset == "BTC"
        assert inst.venue_underlying == venue_name


def test_kind_margin_type_and_contract_unit() -> None:
    assert (DERIBIT_PUT.kind, DERIBIT_PUT.margin_type, DERIBIT_PUT.settle) == (
        InstrumentKind.OPTION, MarginType.INVERSE, "BTC")
    assert DERIBIT_PUT.contract_unit == "BTC" and DERIBIT_PUT.contract_size == 1.0
    assert (OKX_SWAP.kind, OKX_SWAP.margin_type, OKX_SWAP.contract_unit, OKX_SWAP.contract_size) == (
        InstrumentKind.PERPETUAL, MarginType.INVERSE, "USD", 100.0)
    assert (BINANCE_PERP.margin_type, BINANCE_PERP.contract_unit, BINANCE_PERP.settle) == (
        MarginType.LINEAR, "BTC", "USDT")
    assert (BINANCE_COINM.margin_type, BINANCE_COINM.contract_unit, BINANCE_COINM.contract_size) == (
        MarginType.INVERSE, "USD", 100.0)
    # inverse notional is contracts x face value, whatever the price
    assert OKX_SWAP.notional_usd(7, 31_234.5, F) == 700.0


def _kernel(limits: RiskLimits) -> Kernel:
    k = Kernel(VirtualClock(NOW_NS), limits)
    for name, inst in (("deribit", DERIBIT_PUT), ("okx", OKX_SWAP), ("binance-usdm", BINANCE_PERP)):
        add_venue(k, name, [inst])
    pub = k.bus.publish
    pub(BookSnapshot(DERIBIT_PUT.id, ((0.02, 50.0),), ((0.03, 50.0),), 1, 0, 0))
    pub(BookSnapshot(OKX_SWAP.id, ((29_999.9, 500.0),), ((30_000.1, 500.0),), 1, 0, 0))
    pub(BookSnapshot(BINANCE_PERP.id, ((29_999.9, 5.0),), ((30_000.1, 5.0),), 1, 0, 0))
    k.portfolio.set_underlying_price("btc_usd", F)
    return k


def _fill(k: Kernel, inst: Instrument, side: Side, qty: float, price: float) -> None:
    assert submit(k, inst, side, qty, price, fill=True) is None


def test_btc_delta_from_three_venues_nets_into_one_number() -> None:
    k = _kernel(RiskLimits(max_position_qty=1e6, max_order_qty=1e6, max_order_notional_usd=1e9))
    # the venue publishes its plain Black-Scholes delta; the portfolio must not use it
    k.bus.publish(OptionSummary(DERIBIT_PUT.id, mark_price=0.025, mark_iv=IV, bid_iv=math.nan,
                                ask_iv=math.nan, underlying_price=F, delta=-0.30, gamma=0.0,
                                vega=0.0, theta=0.0, open_interest=0.0, ts_event=0, ts_recv=0))
    _fill(k, DERIBIT_PUT, Side.BUY, 2.0, 0.025)
    _fill(k, OKX_SWAP, Side.SELL, 30, 30_000.0)       # 30 x 100 USD short
    _fill(k, BINANCE_PERP, Side.BUY, 0.5, 30_000.0)
    t = (EXPIRY_NS - NOW_NS) / (365 * 86_400 * 10**9)
    put = 2.0 * _pa_put_delta(F, 28_000.0, t, IV)
    swap = -30 * 100 / 30_000.0
    perp = 0.5
    assert put < 2.0 * -0.30  # premium-adjusted: more negative than the plain BS delta
    assert k.portfolio.delta("BTC") == pytest.approx(put + swap + perp, rel=1e-9)
    assert k.portfolio.delta("btc_usd") == k.portfolio.delta("BTC")
    by_venue = k.portfolio.delta_by_venue("BTC")
    assert by_venue == pytest.approx({"deribit": put, "okx": swap, "binance-usdm": perp}, rel=1e-9)
    assert k.portfolio.underlyings() == ["BTC"]
    from engine.status import status_fields
    st = status_fields(k)
    assert set(st["greeks"]) == {"BTC"} and set(st["delta"]) == {"BTC"}
    assert st["greeks"]["BTC"]["delta_by_venue"] == pytest.approx(
        {"binance-usdm": perp, "deribit": put, "okx": swap}, abs=1e-6)


def test_one_btc_delta_limit_stops_orders_on_every_venue() -> None:
    limits = RiskLimits(max_position_qty=1e6, max_order_qty=1e6, max_order_notional_usd=1e9,
                        underlyings=canonical_keys({"btc_usd": UnderlyingLimits(max_delta=0.001)}))
    k = _kernel(limits)
    k.bus.publish(OptionSummary(DERIBIT_PUT.id, mark_price=0.025, mark_iv=IV, bid_iv=math.nan,
                                ask_iv=math.nan, underlying_price=F, delta=-0.30, gamma=0.0,
                                vega=0.0, theta=0.0, open_interest=0.0, ts_event=0, ts_recv=0))
    for inst, side, qty, px in ((DERIBIT_PUT, Side.SELL, 0.1, 0.025), (OKX_SWAP, Side.BUY, 1, 30_000.0),
                                (BINANCE_PERP, Side.BUY, 0.002, 30_000.0)):
        d = k.router.submit(SubmitOrder(client_order_id=f"x-{inst.venue}", strategy_id="t",
                                        instrument_id=inst.id, side=side, quantity=qty, price=px))
        assert d is not None and d.reason == Reason.MAX_DELTA, inst.id


def test_config_key_spellings_and_unknown_underlying() -> None:
    assert set(canonical_keys({"btc_usd": 1, "ETH-USD": 2})) == {"BTC", "ETH"}
    with pytest.raises(ConfigError, match="same underlying BTC"):
        canonical_keys({"BTC": 1, "btc_usd": 2})
    check_known(["btc_usd"], [DERIBIT_PUT, OKX_SWAP])
    with pytest.raises(ConfigError, match="known underlyings: BTC") as err:
        check_known(["SOL"], [DERIBIT_PUT, OKX_SWAP, BINANCE_PERP])
    assert "risk.underlyings.SOL" in str(err.value)


def test_option_order_without_underlying_price_is_unpriced() -> None:
    k = Kernel(VirtualClock(NOW_NS), RiskLimits())
    add_venue(k, "deribit", [DERIBIT_PUT])
    k.bus.publish(BookSnapshot(DERIBIT_PUT.id, ((0.02, 50.0),), ((0.03, 50.0),), 1, 0, 0))
    d = k.router.submit(SubmitOrder(client_order_id="u1", strategy_id="t", instrument_id=DERIBIT_PUT.id,
                                    side=Side.BUY, quantity=0.1, price=0.025))
    assert d is not None and d.reason == Reason.UNPRICED
