"""Fuzz: random bytes and random JSON only ever give events or ``VenueProtocolError`` (h11's rule)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bybit import BybitCodec
from engine.model import VenueProtocolError

URLS = ["", "wss://stream.bybit.com/v5/public/linear", "wss://stream.bybit.com/v5/public/spot",
        "wss://stream.bybit.com/v5/public/option", "wss://stream.bybit.com/v5/public/inverse"]
REST = ["https://api.bybit.com/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=50",
        "https://api.bybit.com/v5/market/instruments-info?category=option",
        "https://api.bybit.com/v5/market/instruments-info?category=spot",
        "https://api.bybit.com/v5/market/instruments-info?category=linear",
        "https://api.bybit.com/v5/market/tickers?category=linear"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["0", "1", "27450.5", "", "Buy", "Sell", "snapshot", "delta", "nan", "inf",
                       "BTCUSDT", "BTC-27DEC24-60000-C", "1709891679000"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)

TEMPLATES: list[dict[str, Any]] = [
    {"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 1, "cts": 1,
     "data": {"s": "BTCUSDT", "b": [["1.5", "2"]], "a": [["2.5", "1"]], "u": 9, "seq": 3}},
    {"topic": "orderbook.1.BTCUSDT", "type": "delta", "ts": 1,
     "data": {"s": "BTCUSDT", "b": [["1.5", "0"]], "a": [], "u": 1, "seq": 3}},
    {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1,
     "data": [{"T": 1, "s": "BTCUSDT", "S": "Buy", "v": "0.1", "p": "1", "i": "x"}]},
    {"topic": "tickers.BTCUSDT", "type": "snapshot", "ts": 1, "cs": 2,
     "data": {"symbol": "BTCUSDT", "bid1Price": "1", "bid1Size": "1", "ask1Price": "2",
              "ask1Size": "1", "markPrice": "1.5", "indexPrice": "1.5", "fundingRate": "0.0001",
              "nextFundingTime": "1673280000000"}},
    {"topic": "tickers.BTC-27DEC24-60000-C", "type": "snapshot", "ts": 1,
     "data": {"symbol": "BTC-27DEC24-60000-C", "bidPrice": "1", "bidSize": "1", "bidIv": "0.5",
              "askPrice": "2", "askSize": "1", "askIv": "0.6", "markPrice": "1.5",
              "markPriceIv": "0.55", "underlyingPrice": "60000", "delta": "0.5"}},
    {"success": False, "ret_msg": "bad", "op": "subscribe", "req_id": "1"},
    {"op": "order.create", "retCode": 1, "retMsg": "x", "reqId": "1"},
]


def _mutate(template: Any, path: list[int], value: Any) -> Any:
    """Replace one node (chosen by ``path``) of ``template`` by ``value``."""
    if not path or not isinstance(template, (dict, list)) or not template:
        return value
    keys = list(template.keys()) if isinstance(template, dict) else list(range(len(template)))
    key = keys[path[0] % len(keys)]
    copy = dict(template) if isinstance(template, dict) else list(template)
    copy[key] = _mutate(template[key], path[1:], value)
    return copy


def _check(codec: BybitCodec, data: bytes | str, url: str) -> None:
    try:
        events = codec.decode(data, 1, url)
    except VenueProtocolError:
        return
    assert isinstance(events, list)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from(URLS))
def test_random_bytes(data: bytes, url: str) -> None:
    _check(BybitCodec(), data, url)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.sampled_from(URLS))
def test_random_json(value: Any, url: str) -> None:
    try:
        data = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return
    _check(BybitCodec(), data, url)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), st.lists(st.integers(0, 7), max_size=4), json_values,
       st.sampled_from(URLS))
def test_mutated_valid_frames(template: dict, path: list[int], value: Any, url: str) -> None:
    try:
        data = orjson.dumps(_mutate(template, path, value))
    except (TypeError, orjson.JSONEncodeError):
        return
    codec = BybitCodec()
    _check(codec, orjson.dumps(TEMPLATES[3]), url)  # some ticker state to merge into
    _check(codec, data, url)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REST), json_values, st.lists(st.integers(0, 7), max_size=5))
def test_random_rest_bodies(url: str, value: Any, path: list[int]) -> None:
    body_template = {"retCode": 0, "retMsg": "OK", "time": 1, "result": {
        "s": "BTCUSDT", "b": [["1", "1"]], "a": [["2", "1"]], "u": 1, "ts": 1, "category": "option",
        "list": [{"symbol": "BTC-27DEC24-60000-C", "baseCoin": "BTC", "quoteCoin": "USDC",
                  "settleCoin": "USDC", "optionsType": "Call", "deliveryTime": "1",
                  "contractType": "LinearPerpetual",
                  "priceFilter": {"tickSize": "5"},
                  "lotSizeFilter": {"qtyStep": "0.01", "basePrecision": "0.01"}}]}}
    try:
        body = orjson.dumps(_mutate(body_template, path, value))
    except (TypeError, orjson.JSONEncodeError):
        return
    try:
        out = BybitCodec().decode_rest(url, body, 1)
    except VenueProtocolError:
        return
    assert isinstance(out, list)
