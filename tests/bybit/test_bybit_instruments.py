"""Bybit ``/v5/market/instruments-info`` rows -> ``Instrument`` for every category.

Row shapes follow https://bybit-exchange.github.io/docs/v5/market/instrument.
"""

from __future__ import annotations

import calendar

import orjson
import pytest

from adapters.bybit import BybitCodec, VenueError
from adapters.bybit.instruments import parse_option_symbol
from engine.model import InstrumentKind, OptionType, VenueProtocolError

BASE = "https://api.bybit.com/v5/market/instruments-info"


def _body(category: str, rows: list[dict]) -> bytes:
    return orjson.dumps({"retCode": 0, "retMsg": "OK",
                         "result": {"category": category, "list": rows, "nextPageCursor": ""},
                         "retExtInfo": {}, "time": 1672712468011})


def _ns(y: int, m: int, d: int, h: int = 8) -> int:
    return calendar.timegm((y, m, d, h, 0, 0)) * 1_000_000_000


def test_spot() -> None:
    row = {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "innovation": "0",
           "status": "Trading", "marginTrading": "both",
           "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001",
                             "minOrderQty": "0.000048", "maxOrderQty": "71.73956243",
                             "minOrderAmt": "1", "maxOrderAmt": "2000000"},
           "priceFilter": {"tickSize": "0.01"}}
    [inst] = BybitCodec().decode_rest(f"{BASE}?category=spot", _body("spot", [row]), 1)
    assert inst.id == "bybit:BTCUSDT-SPOT"
    assert inst.kind is InstrumentKind.SPOT
    assert (inst.base, inst.quote, inst.settle) == ("BTC", "USDT", "USDT")
    assert (inst.tick_size, inst.lot_size, inst.min_size) == (0.01, 0.000001, 0.000048)
    assert inst.active and not inst.inverse


def test_linear_perpetual_and_futures() -> None:
    perp = {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
            "baseCoin": "BTC", "quoteCoin": "USDT", "launchTime": "1585526400000",
            "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "2",
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": "0.10", "maxPrice": "199999.80", "tickSize": "0.10"},
            "lotSizeFilter": {"maxOrderQty": "100.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                              "postOnlyMaxOrderQty": "1000.000"},
            "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT"}
    fut = dict(perp, symbol="BTC-27DEC24", contractType="LinearFutures", quoteCoin="USDC",
               settleCoin="USDC", deliveryTime=str(_ns(2024, 12, 27) // 1_000_000))
    p, f = BybitCodec().decode_rest(f"{BASE}?category=linear", _body("linear", [perp, fut]), 1)
    assert p.id == "bybit:BTCUSDT" and p.kind is InstrumentKind.PERPETUAL
    assert (p.tick_size, p.lot_size, p.min_size, p.contract_size) == (0.1, 0.001, 0.001, 1.0)
    assert p.expiry_ns == 0 and not p.inverse and p.settle == "USDT" and p.underlying == "BTC"
    assert f.kind is InstrumentKind.FUTURE and f.expiry_ns == _ns(2024, 12, 27)
    assert f.settle == "USDC"


def test_inverse() -> None:
    row = {"symbol": "BTCUSD", "contractType": "InversePerpetual", "status": "Trading",
           "baseCoin": "BTC", "quoteCoin": "USD", "settleCoin": "BTC", "deliveryTime": "0",
           "priceFilter": {"tickSize": "0.50"},
           "lotSizeFilter": {"qtyStep": "1", "minOrderQty": "1"}}
    fut = dict(row, symbol="BTCUSDH25", contractType="InverseFutures",
               deliveryTime=str(_ns(2025, 3, 28) // 1_000_000))
    # The category comes from the result object even when the URL has none.
    p, f = BybitCodec().decode_rest(BASE, _body("inverse", [row, fut]), 1)
    assert p.inverse and p.contract_size == 1.0 and p.settle == "BTC" and p.lot_size == 1.0
    assert p.kind is InstrumentKind.PERPETUAL
    assert f.inverse and f.kind is InstrumentKind.FUTURE and f.expiry_ns == _ns(2025, 3, 28)


def test_options_usdt_and_usdc_symbols() -> None:
    usdt = {"symbol": "BTC-27DEC24-60000-C-USDT", "status": "Trading", "baseCoin": "BTC",
            "quoteCoin": "USDT", "settleCoin": "USDT", "optionsType": "Call",
            "launchTime": "1700000000000", "deliveryTime": str(_ns(2024, 12, 27) // 1_000_000),
            "deliveryFeeRate": "0.00015",
            "priceFilter": {"minPrice": "5", "maxPrice": "10000000", "tickSize": "5"},
            "lotSizeFilter": {"maxOrderQty": "500", "minOrderQty": "0.01", "qtyStep": "0.01"}}
    usdc = dict(usdt, symbol="ETH-3JAN23-1250-P", baseCoin="ETH", quoteCoin="USD",
                settleCoin="USDC", optionsType="Put", deliveryTime="")
    c, p = BybitCodec().decode_rest(f"{BASE}?category=option", _body("option", [usdt, usdc]), 1)
    assert c.id == "bybit:BTC-27DEC24-60000-C-USDT"
    assert c.kind is InstrumentKind.OPTION and c.option_type is OptionType.CALL
    assert (c.strike, c.expiry_ns, c.underlying) == (60000.0, _ns(2024, 12, 27), "BTC")
    assert (c.quote, c.settle, c.premium_in_coin, c.inverse) == ("USDT", "USDT", False, False)
    assert (c.tick_size, c.lot_size, c.min_size) == (5.0, 0.01, 0.01)
    # No deliveryTime: the expiry comes from the symbol, 08:00 UTC.
    assert p.option_type is OptionType.PUT and p.strike == 1250.0
    assert p.expiry_ns == _ns(2023, 1, 3) and p.settle == "USDC"


def test_parse_option_symbol() -> None:
    assert parse_option_symbol("BTC-27DEC24-60000-C") == ("BTC", _ns(2024, 12, 27), 60000.0,
                                                          OptionType.CALL)
    assert parse_option_symbol("SOL-3JAN25-187.5-P-USDT")[2] == 187.5
    for bad in ("BTC-27DEC24-60000", "BTC-27XYZ24-60000-C", "BTC-27DEC24-abc-C", "BTCUSDT"):
        with pytest.raises(VenueProtocolError):
            parse_option_symbol(bad)


def test_options_type_must_agree_with_the_symbol() -> None:
    row = {"symbol": "BTC-27DEC24-60000-C", "baseCoin": "BTC", "quoteCoin": "USDC",
           "settleCoin": "USDC", "optionsType": "Put", "deliveryTime": "",
           "priceFilter": {"tickSize": "5"}, "lotSizeFilter": {"qtyStep": "0.01"}}
    with pytest.raises(VenueProtocolError):
        BybitCodec().decode_rest(f"{BASE}?category=option", _body("option", [row]), 1)


def test_unknown_contract_types_are_skipped() -> None:
    row = {"symbol": "XYZUSDT", "contractType": "SomethingNew", "baseCoin": "XYZ",
           "quoteCoin": "USDT", "settleCoin": "USDT", "deliveryTime": "0",
           "priceFilter": {"tickSize": "0.1"}, "lotSizeFilter": {"qtyStep": "1"}}
    assert BybitCodec().decode_rest(f"{BASE}?category=linear", _body("linear", [row]), 1) == []


def test_missing_or_bad_fields_raise() -> None:
    row = {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT",
           "priceFilter": {"tickSize": "abc"}, "lotSizeFilter": {"basePrecision": "0.1"}}
    with pytest.raises(VenueProtocolError):
        BybitCodec().decode_rest(f"{BASE}?category=spot", _body("spot", [row]), 1)
    del row["priceFilter"]
    with pytest.raises(VenueProtocolError):
        BybitCodec().decode_rest(f"{BASE}?category=spot", _body("spot", [row]), 1)
    with pytest.raises(VenueProtocolError):
        BybitCodec().decode_rest(f"{BASE}?category=spot", b'{"retCode":0,"result":{"list":7}}', 1)


def test_rest_error_body_is_a_venue_error() -> None:
    body = b'{"retCode":10001,"retMsg":"params error: symbol invalid","result":{},"time":1}'
    [err] = BybitCodec().decode_rest(f"{BASE}?category=spot", body, 4)
    assert err == VenueError("bybit", "rest", 10001, "params error: symbol invalid", "", 4)
