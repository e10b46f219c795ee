"""One asset mapping everywhere: every venue's instrument parser, the backtest importer's symbol
resolver, option routing and the cluster's exposure report all name an underlying by
``Instrument.asset`` (``engine.model.assets.canonical_asset``), and each keeps the venue's own
spelling in ``venue_underlying``.

Instruments are built from the venues' documented instrument formats (Deribit
``public/get_instruments``, OKX ``/api/v5/public/instruments``, Binance ``exchangeInfo``, Bybit
``/v5/market/instruments-info``, Derive ``public/get_instruments``).
"""

from __future__ import annotations

import pytest

from adapters.bybit.instruments import parse_instrument as bybit_instrument
from adapters.deribit.instruments import parse_instrument as deribit_instrument
from adapters.derive.instruments import parse_instrument as derive_instrument
from adapters.okx.instruments import parse_instrument as okx_instrument
from backtest.importers.symbols import SymbolResolver
from cluster.exposure import build_report
from engine.model import Instrument, OptionType, Side
from engine.option_routing import option_key
from engine.risk import RiskLimits
from tests.risk.test_canonical_assets import (
    BINANCE_COINM,
    BINANCE_PERP,
    DERIBIT_PUT,
    F,
    OKX_SWAP,
    _fill,
    _kernel,
)

EXPIRY_S = 1_703_145_600  # 2023-12-21 08:00 UTC, the venues' expiry hour
STRIKE = 2_000.0

DERIBIT_ETH = deribit_instrument({
    "kind": "option", "instrument_name": "ETH-21DEC23-2000-C", "base_currency": "ETH",
    "quote_currency": "ETH", "counter_currency": "USD", "settlement_currency": "ETH",
    "instrument_type": "reversed", "expiration_timestamp": EXPIRY_S * 1000, "strike": 2000,
    "option_type": "call", "min_trade_amount": 1, "tick_size": 0.0005, "contract_size": 1,
    "price_index": "eth_usd", "maker_commission": 0.0003, "taker_commission": 0.0003,
    "is_active": True})[0]
OKX_ETH = okx_instrument({
    "instType": "OPTION", "instId": "ETH-USD-231221-2000-C", "uly": "ETH-USD",
    "instFamily": "ETH-USD", "settleCcy": "ETH", "ctVal": "0.1", "ctMult": "1", "ctValCcy": "ETH",
    "optType": "C", "stk": "2000", "expTime": str(EXPIRY_S * 1000), "tickSz": "0.0005",
    "lotSz": "1", "minSz": "1", "state": "live"})
BYBIT_ETH = bybit_instrument({
    "symbol": "ETH-21DEC23-2000-C", "status": "Trading", "baseCoin": "ETH", "quoteCoin": "USD",
    "settleCoin": "USDC", "optionsType": "Call", "deliveryTime": str(EXPIRY_S * 1000),
    "priceFilter": {"tickSize": "0.1"}, "lotSizeFilter": {"qtyStep": "0.1", "minOrderQty": "0.1"}},
    "option")
DERIVE_ETH = derive_instrument({
    "instrument_name": "ETH-20231221-2000-C", "instrument_type": "option", "base_currency": "ETH",
    "quote_currency": "USDC", "tick_size": "0.1", "amount_step": "0.01", "minimum_amount": "0.1",
    "maker_fee_rate": "0.0003", "taker_fee_rate": "0.0003", "is_active": True,
    "base_asset_address": "0x4BB4C3CDc7B7C79Ad0Ae2bF1e8f34C4A8f0A3e2d",
    "base_asset_sub_id": "1",
    "option_details": {"index": "ETH-USD", "expiry": EXPIRY_S, "strike": "2000",
                       "option_type": "C"}})[0]
DERIVE_PERP = derive_instrument({
    "instrument_name": "BTC-PERP", "instrument_type": "perp", "base_currency": "BTC",
    "quote_currency": "USDC", "tick_size": "0.1", "amount_step": "0.001",
    "minimum_amount": "0.01", "maker_fee_rate": "0", "taker_fee_rate": "0.0003",
    "base_asset_address": "0xAFB6Bb95cd70D5367e2C39e9dbEb422B9815339D", "base_asset_sub_id": "0",
    "perp_details": {"index": "BTC-USD"}})[0]


def test_every_venue_parser_names_the_same_asset_and_keeps_its_own_spelling() -> None:
    assert isinstance(BYBIT_ETH, Instrument)
    got = {i.id: (i.asset, i.underlying, i.venue_underlying) for i in (
        DERIBIT_PUT, OKX_SWAP, BINANCE_PERP, BINANCE_COINM, DERIVE_PERP,
        DERIBIT_ETH, OKX_ETH, BYBIT_ETH, DERIVE_ETH)}
    assert got == {
        DERIBIT_PUT.id: ("BTC", "BTC", "btc_usd"),
        OKX_SWAP.id: ("BTC", "BTC", "BTC-USD"),
        BINANCE_PERP.id: ("BTC", "BTC", "BTCUSDT"),
        BINANCE_COINM.id: ("BTC", "BTC", "BTCUSD"),
        DERIVE_PERP.id: ("BTC", "BTC", "BTC-USD"),
        DERIBIT_ETH.id: ("ETH", "ETH", "eth_usd"),
        OKX_ETH.id: ("ETH", "ETH", "ETH-USD"),
        BYBIT_ETH.id: ("ETH", "ETH", "ETH"),
        DERIVE_ETH.id: ("ETH", "ETH", "ETH-USD"),
    }


def test_one_option_is_one_key_on_every_venue() -> None:
    day_ns = EXPIRY_S // 86_400 * 86_400 * 10**9  # the expiry's UTC day at 00:00
    want = ("ETH", day_ns, STRIKE, OptionType.CALL)
    for inst in (DERIBIT_ETH, OKX_ETH, BYBIT_ETH, DERIVE_ETH):
        assert tuple(option_key(inst)) == want, inst.id  # type: ignore[arg-type]
    resolved = SymbolResolver().resolve("binance-options", "ETH-231221-2000-C")
    assert tuple(option_key(resolved)) == want  # type: ignore[arg-type]
    assert resolved.venue_underlying == "ETHUSDT"


@pytest.mark.parametrize(("venue", "symbol", "adapter_inst"), [
    ("deribit", "BTC-15DEC23-28000-P", DERIBIT_PUT),
    ("deribit", "ETH-21DEC23-2000-C", DERIBIT_ETH),
    ("okx", "BTC-USD-SWAP", OKX_SWAP),
    ("okx", "ETH-USD-231221-2000-C", OKX_ETH),
    ("binance-usdm", "BTCUSDT", BINANCE_PERP),
    ("binance-coinm", "BTCUSD_PERP", BINANCE_COINM),
    ("bybit", "ETH-21DEC23-2000-C", BYBIT_ETH),
])
def test_backtest_resolver_builds_the_adapters_asset(venue: str, symbol: str,
                                                     adapter_inst: Instrument) -> None:
    """A symbol resolved from imported data (no definitions file) carries the same canonical
    asset and venue spelling as the venue's live codec gives it."""
    inst = SymbolResolver().resolve(venue, symbol)
    assert (inst.asset, inst.underlying, inst.venue_underlying) == (
        adapter_inst.asset, adapter_inst.underlying, adapter_inst.venue_underlying)


def test_spot_pairs_resolve_to_their_base_coin() -> None:
    r = SymbolResolver()
    assert r.resolve("binance-spot", "BTCUSDT").asset == "BTC"
    assert r.resolve("okx", "BTC-USDT").asset == "BTC"
    assert r.resolve("okx", "BTC-USDT").venue_underlying == "BTC-USDT"


def test_option_router_prices_with_the_index_of_any_venue_spelling() -> None:
    """The router's index is the portfolio's canonical price, whoever set it and however the
    venue spells its index (here Deribit's ``btc_usd``)."""
    k = _kernel(RiskLimits(max_position_qty=1e6, max_order_qty=1e6, max_order_notional_usd=1e9))
    key = option_key(DERIBIT_PUT)
    assert key is not None and key.asset == "BTC"
    parent = k.option_router.route("p1", "s", key, Side.BUY, 1.0, lambda: "c1")
    assert parent.excluded == {}
    assert parent.children == ["c1"]
    assert k.orders.get("c1").price == 0.03  # type: ignore[union-attr]
    k.portfolio.underlying_prices.pop("BTC")  # no index on any venue: unpriced, never 0
    parent = k.option_router.route("p2", "s", key, Side.BUY, 1.0, lambda: "c2")
    assert parent.children == [] and parent.excluded == {
        DERIBIT_PUT.id: "unpriced: no index price for the fee/premium"}


def test_exposure_report_nets_every_venue_into_one_asset_row() -> None:
    k = _kernel(RiskLimits(max_position_qty=1e6, max_order_qty=1e6, max_order_notional_usd=1e9))
    _fill(k, OKX_SWAP, Side.SELL, 30, 30_000.0)       # 30 x 100 USD short: -0.1 BTC
    _fill(k, BINANCE_PERP, Side.BUY, 0.5, 30_000.0)   # +0.5 BTC
    rep = build_report(k, "n", 1, 1, 0, 0)
    assert [t.underlying for t in rep.totals] == ["BTC"]
    delta = -30 * 100 / 30_000.0 + 0.5
    assert rep.totals[0].delta == pytest.approx(delta, rel=1e-12)
    assert rep.totals[0].delta_usd == pytest.approx(delta * F, rel=1e-12)
    assert {b.underlying for b in rep.greeks} == {"BTC"}
    venues = {v.venue: v for v in rep.venues}
    assert venues["okx"].gross_notional_usd == pytest.approx(3_000.0)  # USD face value
    assert venues["binance-usdm"].gross_notional_usd == pytest.approx(0.5 * F)
