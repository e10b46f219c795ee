"""Binance codec: documented payloads, real samples and recordings, REST, fuzzing."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.binance.codec import BinanceCodec
from engine.model import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    Instrument,
    InstrumentKind,
    MarkPrice,
    Quote,
    Side,
    Trade,
    VenueProtocolError,
)
from tests.marketdata import marketdata_dir

ROOT = Path(__file__).resolve().parents[2]


def marketdata() -> Path:
    path = marketdata_dir()
    if not path.is_dir():
        pytest.skip(f"real market data not found at {path} (set VOLTA_MARKETDATA)")
    return path


def sample(venue: str, name: str) -> str:
    path = marketdata() / "samples" / venue / name
    if not path.is_file():
        pytest.skip(f"sample {path} not found")
    return path.read_text()


def first_records(rel: str, kind: str, needle: str = "", limit: int = 1) -> list[dict]:
    path = marketdata() / rel
    if not path.is_file():
        pytest.skip(f"recording {path} not found")
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["kind"] == kind and needle in rec["url"] + rec["data"]:
                out.append(rec)
                if len(out) == limit:
                    break
    return out


# -- documented payloads --------------------------------------------------------------------
SPOT_DEPTH = ('{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,'
              '"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0.00000000"]]}')


def test_spot_depth_raw_stream_sequence() -> None:
    (ev,) = BinanceCodec("spot").decode(SPOT_DEPTH, 7)
    assert isinstance(ev, BookDelta)
    assert ev.instrument_id == "binance-spot:BNBBTC"
    assert (ev.first_seq, ev.seq, ev.prev_seq) == (157, 160, 156)
    assert ev.bids == ((0.0024, 10.0),) and ev.asks == ((0.0026, 100.0), (0.0027, 0.0))
    assert ev.ts_event == 1672515782136 * 1_000_000 and ev.ts_recv == 7


def test_futures_depth_sample_uses_pu() -> None:
    codec = BinanceCodec("usdm")
    (ev,) = codec.decode(sample("binance-usdm", "ws_futures_depth_update.json"), 1)
    assert (ev.first_seq, ev.seq, ev.prev_seq) == (390497796, 390497878, 390497794)
    assert ev.ts_event == 1571889248276 * 1_000_000      # T, the transaction time
    assert ev.bids[0] == (7403.89, 0.002) and len(ev.asks) == 5
    assert codec.last_channel == "depth"


def test_envelope_and_raw_give_the_same_events() -> None:
    codec = BinanceCodec("spot")
    raw = codec.decode(SPOT_DEPTH, 1)
    env = codec.decode('{"stream":"bnbbtc@depth@100ms","data":' + SPOT_DEPTH + "}", 1)
    assert raw == env


def test_fast_depth_path_equals_generic_path_on_real_frames() -> None:
    """The msgspec fast path must give exactly what float() on each string gives."""
    recs = first_records("binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz", "ws",
                         '"depthUpdate"', limit=300)
    codec = BinanceCodec("usdm")
    for rec in recs:
        fast = codec.decode(rec["data"], 1)
        generic = codec.decode(rec["data"].encode(), 1)   # bytes take the generic path
        assert fast == generic
        d = json.loads(rec["data"])["data"]
        assert fast[0].bids == tuple((float(p), float(q)) for p, q in d["b"])
        assert all(type(x) is float for lv in fast[0].bids + fast[0].asks for x in lv)


def test_fast_path_falls_back_on_unexpected_layout() -> None:
    codec = BinanceCodec("spot")
    odd = ('{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1.5","2"]],"a":[],'
           '"x":"later field"}')
    (ev,) = codec.decode(odd, 0)
    assert ev.bids == ((1.5, 2.0),)
    ints = '{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2"]],"a":[["3","4"]]}'
    (ev,) = codec.decode(ints, 0)
    assert ev.bids == ((1.0, 2.0),) and type(ev.bids[0][0]) is float
    with pytest.raises(VenueProtocolError):
        codec.decode('{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["x","2"]],"a":[]}', 0)
    with pytest.raises(VenueProtocolError):
        codec.decode('{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[[null,"2"]],"a":[]}', 0)
    with pytest.raises(VenueProtocolError):
        codec.decode('{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2","3"]],"a":[]}', 0)
    for bad in ('[["1.5",["2.5"]]]', '[["1.5","true"]]', '[["1.5","2.5","3.5"],["4.5"]]',
                '[[1.5,2.5]]', '[["1.5","null"]]', '[["1.5.1","2.5"]]'):
        frame = '{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":' + bad + ',"a":[]}'
        try:
            (ev,) = codec.decode(frame, 0)
        except VenueProtocolError:
            continue
        assert ev.bids == ((1.5, 2.5),)       # JSON numbers are accepted by the generic path


def test_futures_partial_depth_is_a_snapshot() -> None:
    frame = ('{"stream":"btcusdt@depth5@100ms","data":{"e":"depthUpdate","E":2,"T":1,'
             '"s":"BTCUSDT","U":10,"u":20,"pu":9,"b":[["100.0","1"]],"a":[["101.0","2"]]}}')
    (ev,) = BinanceCodec("usdm").decode(frame, 0)
    assert isinstance(ev, BookSnapshot) and ev.depth == 5 and ev.seq == 20


def test_spot_partial_depth_is_a_snapshot() -> None:
    frame = ('{"stream":"bnbbtc@depth10","data":{"lastUpdateId":160,'
             '"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}}')
    (ev,) = BinanceCodec("spot").decode(frame, 5)
    assert isinstance(ev, BookSnapshot)
    assert ev.instrument_id == "binance-spot:BNBBTC" and ev.depth == 10 and ev.seq == 160


def test_book_ticker_futures_and_spot() -> None:
    (q,) = BinanceCodec("usdm").decode(sample("binance-usdm", "ws_futures_book_ticker.json"), 9)
    assert isinstance(q, Quote)
    assert (q.bid_price, q.bid_size, q.ask_price, q.ask_size) == (25.3519, 31.21, 25.3652, 40.66)
    assert q.seq == 400900217 and q.ts_event == 1568014460891 * 1_000_000
    spot = '{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}'
    codec = BinanceCodec("spot")
    (q2,) = codec.decode(spot, 9)
    assert q2.seq == 400900217 and q2.ts_event == 9 and codec.last_channel == "bookTicker"


def test_trades_aggressor() -> None:
    codec = BinanceCodec("spot")
    (t,) = codec.decode(sample("binance-spot", "ws_spot_trade.json"), 3)
    assert isinstance(t, Trade)
    assert t.aggressor is Side.SELL          # m: buyer is maker => seller aggressed
    assert t.trade_id == "705291099" and t.price == 4149.74 and t.size == 0.4387
    assert t.ts_event == 1639351062243 * 1_000_000
    (a,) = codec.decode(sample("binance-spot", "ws_spot_agg_trade.json"), 3)
    assert a.aggressor is Side.BUY and a.trade_id == "226532" and codec.last_channel == "aggTrade"


def test_mark_price_and_funding() -> None:
    evs = BinanceCodec("usdm").decode(sample("binance-usdm", "mark_price_stream.json"), 1)
    mark, funding = evs
    assert isinstance(mark, MarkPrice) and isinstance(funding, FundingRate)
    assert mark.mark_price == 11794.15 and mark.index_price == 11784.62659091
    assert funding.rate == 0.00038167 and funding.next_funding_ns == 1562306400000 * 1_000_000
    delivery = ('{"e":"markPriceUpdate","E":1,"s":"BTCUSD_240927","p":"60000.0","P":"1",'
                '"i":"59990.0","r":"","T":0}')
    (only,) = BinanceCodec("coinm").decode(delivery, 1)
    assert isinstance(only, MarkPrice) and only.instrument_id == "binance-coinm:BTCUSD_240927"


@pytest.mark.parametrize("name,channel", [("kline_stream_open.json", "kline"),
                                          ("ticker_stream.json", "24hrTicker"),
                                          ("liquidation_stream.json", "forceOrder")])
def test_ignored_channels(name: str, channel: str) -> None:
    codec = BinanceCodec("usdm")
    assert codec.decode(sample("binance-usdm", name), 1) == []
    assert codec.last_channel == channel


def test_acks_and_unknown() -> None:
    codec = BinanceCodec("spot")
    assert codec.decode('{"result":null,"id":1}', 0) == [] and codec.last_channel == "ack"
    assert codec.decode('{"error":{"code":2,"msg":"Invalid request"},"id":3}', 0) == []
    assert codec.last_channel == "error" and codec.last_error["code"] == 2
    assert codec.decode('{"e":"somethingNew","E":1}', 0) == []
    assert codec.decode('{"hello":1}', 0) == [] and codec.last_channel == "unknown"


def test_encoders() -> None:
    codec = BinanceCodec("usdm")
    (frame,) = codec.encode_subscribe([codec.book_channel("BTCUSDT", "0ms"),
                                       codec.book_ticker_channel("BTCUSDT")])
    assert orjson.loads(frame) == {"method": "SUBSCRIBE",
                                   "params": ["btcusdt@depth@0ms", "btcusdt@bookTicker"], "id": 1}
    (frame,) = codec.encode_unsubscribe(["btcusdt@trade"])
    assert orjson.loads(frame)["method"] == "UNSUBSCRIBE" and orjson.loads(frame)["id"] == 2
    assert codec.encode_heartbeat() is None
    assert codec.depth_snapshot_url("btcusdt") == \
        "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    assert codec.on_open("wss://fstream.binance.com/stream") == []


# -- REST -------------------------------------------------------------------------------------
def test_rest_depth_snapshot_from_recording() -> None:
    (rec,) = first_records("binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz", "rest")
    (s,) = BinanceCodec("usdm").decode_rest(rec["url"], rec["data"], rec["ts"])
    body = json.loads(rec["data"])
    assert isinstance(s, BookSnapshot) and s.instrument_id == "binance-usdm:BTCUSDT"
    assert s.seq == body["lastUpdateId"] and s.depth == 0
    assert len(s.bids) == len(body["bids"]) == 1000 and s.bids[0] == (61800.2, 2.909)
    assert s.ts_event == body["T"] * 1_000_000


def test_rest_spot_and_coinm_depth() -> None:
    body = '{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}'
    (s,) = BinanceCodec("spot").decode_rest(
        "https://api.binance.com/api/v3/depth?symbol=BNBBTC&limit=5", body, 11)
    assert s.seq == 1027024 and s.ts_event == 11 and s.instrument_id == "binance-spot:BNBBTC"
    cbody = ('{"lastUpdateId":16769853,"symbol":"BTCUSD_PERP","pair":"BTCUSD","E":1591250106370,'
             '"T":1591250106368,"bids":[["9638.0","431"]],"asks":[["9638.2","12"]]}')
    (c,) = BinanceCodec("coinm").decode_rest(
        "https://dapi.binance.com/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000", cbody, 1)
    assert c.instrument_id == "binance-coinm:BTCUSD_PERP" and c.bids == ((9638.0, 431.0),)


def test_rest_errors() -> None:
    codec = BinanceCodec("spot")
    with pytest.raises(VenueProtocolError):
        codec.decode_rest("https://api.binance.com/api/v3/depth?symbol=X", '{"code":-1121,"msg":"Invalid symbol."}', 0)
    with pytest.raises(VenueProtocolError):
        codec.decode_rest("https://api.binance.com/api/v3/depth", '{"lastUpdateId":1,"bids":[],"asks":[]}', 0)
    with pytest.raises(VenueProtocolError):
        codec.decode_rest("https://api.binance.com/api/v3/depth?symbol=X", "{nope", 0)


def test_exchange_info_spot_and_usdm_recordings() -> None:
    (spot,) = first_records("binance-spot/binance-spot-4pairs-2021-10-12.jsonl.gz", "rest",
                            "exchangeInfo")
    instruments = BinanceCodec("spot").decode_rest(spot["url"], spot["data"], 0)
    by_symbol = {i.symbol: i for i in instruments}
    eth = by_symbol["ETHBTC"]
    assert isinstance(eth, Instrument) and eth.kind is InstrumentKind.SPOT
    assert (eth.tick_size, eth.lot_size, eth.min_size) == (0.000001, 0.0001, 0.0001)
    assert eth.id == "binance-spot:ETHBTC" and eth.base == "ETH" and eth.quote == "BTC"
    (fut,) = first_records("binance-usdm/binance-usdm-4alts-2021-07-22.jsonl.gz", "rest",
                           "exchangeInfo")
    futs = {i.symbol: i for i in BinanceCodec("usdm").decode_rest(fut["url"], fut["data"], 0)}
    btc = futs["BTCUSDT"]
    assert btc.kind is InstrumentKind.PERPETUAL and btc.expiry_ns == 0 and not btc.inverse
    assert (btc.tick_size, btc.lot_size, btc.min_size, btc.settle) == (0.01, 0.001, 0.001, "USDT")
    quarterly = [i for i in futs.values() if i.kind is InstrumentKind.FUTURE and i.active]
    assert quarterly and all(i.expiry_ns > 1_600_000_000_000_000_000 for i in quarterly)


def test_exchange_info_coinm_documented_format() -> None:
    body = {"symbols": [{
        "symbol": "BTCUSD_240927", "pair": "BTCUSD", "contractType": "CURRENT_QUARTER",
        "deliveryDate": 1727424000000, "contractStatus": "TRADING", "contractSize": 100,
        "marginAsset": "BTC", "baseAsset": "BTC", "quoteAsset": "USD",
        "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.1", "minPrice": "1000"},
                    {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1", "maxQty": "1000"}]},
        {"symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL",
         "deliveryDate": 4133404800000, "contractStatus": "TRADING", "contractSize": 100,
         "marginAsset": "BTC", "baseAsset": "BTC", "quoteAsset": "USD",
         "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                     {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1"}]}]}
    q, p = BinanceCodec("coinm").decode_rest("https://dapi.binance.com/dapi/v1/exchangeInfo",
                                             json.dumps(body), 0)
    assert q.kind is InstrumentKind.FUTURE and q.expiry_ns == 1727424000000 * 1_000_000
    assert q.inverse and q.contract_size == 100.0 and q.settle == "BTC" and q.tick_size == 0.1
    assert p.kind is InstrumentKind.PERPETUAL and p.expiry_ns == 0 and p.underlying == "BTC" and p.venue_underlying == "BTCUSD"


# -- malformed input and fuzzing ---------------------------------------------------------------
@pytest.mark.parametrize("frame", [
    "", "{", "[1,2]", "null", "42", '"x"', '{"stream":"a","data":5}',
    '{"e":"depthUpdate"}', '{"e":"depthUpdate","E":1,"s":"X","U":"1","u":2,"b":[],"a":[]}',
    '{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"pu":null,"b":[],"a":[]}',
    '{"e":"trade","E":1,"s":"X","t":1,"p":"abc","q":"1","T":1,"m":true}',
    '{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1","T":"1","m":true}',
    '{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1","T":1,"m":"yes"}',
    '{"u":1,"s":"X","b":"1","B":"1","a":"x","A":"1"}',
    '{"u":1,"s":["X"],"b":"1","B":"1","a":"1","A":"1"}',
    '{"e":"markPriceUpdate","E":1,"s":"X","p":"1","r":"0.1","T":"x"}',
    '{"e":5}', '{"e":"bookTicker","u":1,"s":"","b":"1","B":"1","a":"1","A":"1"}',
])
def test_malformed_frames_raise_protocol_error(frame: str) -> None:
    codec = BinanceCodec("usdm")
    with pytest.raises(VenueProtocolError):
        codec.decode(frame, 0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["depthUpdate", "bookTicker", "trade", "aggTrade", "markPriceUpdate",
                       "1.5", "0", "BTCUSDT"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["e", "E", "T", "s", "U", "u", "pu", "b", "a", "B", "A",
                                       "p", "q", "m", "t", "r", "i", "stream", "data",
                                       "lastUpdateId", "bids", "asks", "id", "result"]),
                      children, max_size=10),
    max_leaves=30)


def _check_events(events: list) -> None:
    assert isinstance(events, list)
    for ev in events:
        assert isinstance(ev, (BookDelta, BookSnapshot, Quote, Trade, MarkPrice, FundingRate))
        if isinstance(ev, (BookDelta, BookSnapshot)):
            for p, s in ev.bids + ev.asks:
                assert type(p) is float and type(s) is float


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["spot", "usdm", "coinm"]))
def test_fuzz_random_bytes(data: bytes, market: str) -> None:
    codec = BinanceCodec(market)
    for frame in (data, data.decode("latin-1")):
        try:
            _check_events(codec.decode(frame, 0))
        except VenueProtocolError:
            pass
        try:
            codec.decode_rest("https://api.binance.com/api/v3/depth?symbol=X", frame, 0)
        except VenueProtocolError:
            pass


@settings(max_examples=600, deadline=None)
@given(json_values, st.sampled_from(["spot", "usdm", "coinm"]), st.booleans())
def test_fuzz_random_json(value, market: str, wrap: bool) -> None:
    codec = BinanceCodec(market)
    if wrap:
        value = {"stream": "btcusdt@depth@100ms", "data": value}
    text = json.dumps(value)
    try:
        _check_events(codec.decode(text, 0))
    except VenueProtocolError:
        pass
    for url in ("https://api.binance.com/api/v3/depth?symbol=X",
                "https://fapi.binance.com/fapi/v1/exchangeInfo"):
        try:
            codec.decode_rest(url, text, 0)
        except VenueProtocolError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["1.5", "2", "0.00000000", "nan", "x", "", "1e3"]),
                          st.sampled_from(["1.5", "2", "0", "-1", "abc"])), max_size=4),
       st.booleans())
def test_fuzz_depth_levels(levels, as_bytes: bool) -> None:
    frame = ('{"stream":"x@depth@100ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"X","U":1,'
             '"u":2,"pu":0,"b":' + json.dumps([list(lv) for lv in levels]) + ',"a":[]}}')
    codec = BinanceCodec("usdm")
    try:
        (ev,) = codec.decode(frame.encode() if as_bytes else frame, 0)
    except VenueProtocolError:
        return
    expected = tuple((float(p), float(q)) for p, q in levels)
    assert all(math.isfinite(x) for lv in ev.bids for x in lv)
    assert len(ev.bids) == len(expected)
    for got, want in zip(ev.bids, expected):
        assert all(g == w or (math.isnan(g) and math.isnan(w)) for g, w in zip(got, want))


# -- fast path (msgspec structs) == generic path (orjson + float()) ----------------------------
_FIELD_VALUES = st.sampled_from([
    1, 0, 7, -1, 1723161256313, 5123107839020, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1,
    10**30, "1", "", "BTCUSDT", "X", 1.0, 1.5, True, False, None, [], {}, [1]])
_NUMBERS = st.sampled_from([
    '"61800.20"', '"0.000"', '"2.507"', '"-0.0"', '"-0"', '"1e5"', '"1E-5"', '"1e400"', '"nan"',
    '"NaN"', '"inf"', '"-Infinity"', '" 1.5"', '"1_0"', '"+1"', '".5"', '"5."', '"05.0"',
    '"0x10"', '""', '"x"', '"1.5.1"', '"\\u0031.5"', '"12345678901234567890.123456789012345"',
    '"4.9e-324"', '"2.4703282292062327e-324"', '"1.7976931348623157e308"',
    '"1.7976931348623159e308"', "1.5", "2", "-0", "0", "18446744073709551616", "1e400",
    "true", "false", "null", "[]", '["1"]'])


@st.composite
def _hot_frames(draw):
    kind = draw(st.sampled_from(["depthUpdate", "bookTicker", "trade", "aggTrade", "kline",
                                 "spotBookTicker"]))
    fields: dict[str, str] = {}
    num = lambda: draw(_NUMBERS)  # noqa: E731
    good = {"E": "1723161256313", "T": "1723161256313", "s": '"BTCUSDT"', "U": "100",
            "u": "105", "pu": "99", "t": "5266583935", "m": "false", "a": "26388",
            "k": '{"t":1,"o":"1.5"}'}
    names = {"depthUpdate": ["E", "T", "s", "U", "u", "pu"],
             "bookTicker": ["u", "s", "T", "E"], "spotBookTicker": ["u", "s"],
             "trade": ["E", "T", "s", "t", "m"], "aggTrade": ["E", "T", "s", "a", "m"],
             "kline": ["E", "s", "k"]}[kind]
    for name in names:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue                                    # field missing
        fields[name] = (good[name] if choice > 1 else json.dumps(draw(_FIELD_VALUES)))
    if kind == "depthUpdate":
        for side in ("b", "a"):
            n = draw(st.integers(0, 3))
            levels = []
            for _ in range(n):
                width = draw(st.sampled_from([2, 2, 2, 2, 1, 3]))
                levels.append("[" + ",".join(num() for _ in range(width)) + "]")
            fields[side] = "[" + ",".join(levels) + "]"
    elif kind in ("bookTicker", "spotBookTicker"):
        for name in ("b", "B", "a", "A"):
            fields[name] = num()
    elif kind in ("trade", "aggTrade"):
        fields["p"] = num()
        fields["q"] = num()
    if draw(st.integers(0, 9)) == 0:
        fields["data"] = draw(st.sampled_from(["null", "{}", '{"e":"trade"}']))
    if draw(st.integers(0, 9)) == 0:
        fields["stream"] = '"x@trade"'
    items = [f'"{k}":{v}' for k, v in fields.items()]
    items = draw(st.permutations(items))
    e = f'"e":"{kind}"' if kind != "spotBookTicker" else ""
    e = draw(st.sampled_from([e] * 6 + ['"e":"kline"', '"e":"bookTicker"', '"e":5', '"e":null',
                                        ""]))
    body = "{" + ",".join(([e] if e else []) + list(items)) + "}"
    stream = draw(st.sampled_from(["btcusdt@depth@0ms", "btcusdt@depth5@100ms",
                                   "btcusdt@bookTicker", "btcusdt@trade", "btcusdt@aggTrade",
                                   "btcusdt@kline_1m"]))
    if draw(st.booleans()):
        return '{"stream":"' + stream + '","data":' + body + "}"
    return body


def _comparable(ev) -> tuple:
    """Field values with types; NaN made equal to itself (0.0 == -0.0 already holds)."""
    out = [type(ev)]
    for v in msgspec_fields(ev):
        out.append((type(v), "nan" if v != v else v))
    return tuple(out)


def _decode_or_error(codec: BinanceCodec, frame: str | bytes) -> tuple:
    try:
        events = codec.decode(frame, 5, "wss://fstream.binance.com/ws/btcusdt@depth")
        return ("ok", [_comparable(ev) for ev in events], codec.last_channel)
    except VenueProtocolError:
        return ("error",)


@settings(max_examples=3000, deadline=None)
@given(_hot_frames(), st.sampled_from(["spot", "usdm", "coinm"]))
def test_fast_path_equals_generic_path(frame: str, market: str) -> None:
    """Every str frame takes the msgspec fast path first; bytes take only the generic path. The
    two must agree on every input: the same events (same field types) or both an error."""
    codec = BinanceCodec(market)
    fast = _decode_or_error(codec, frame)
    generic = _decode_or_error(codec, frame.encode())
    assert fast == generic, frame


def msgspec_fields(ev) -> list:
    out = []
    for name in ev.__struct_fields__:
        v = getattr(ev, name)
        out.extend([x for lv in v for x in lv] if name in ("bids", "asks") else [v])
    return out


def test_fast_path_real_frames_every_channel() -> None:
    recs = first_records("binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz", "ws", "",
                         limit=3000)
    codec = BinanceCodec("usdm")
    seen = set()
    for rec in recs:
        fast = codec.decode(rec["data"], 1)
        seen.add(codec.last_channel)
        assert fast == codec.decode(rec["data"].encode(), 1)
    assert {"depth", "bookTicker", "trade"} <= seen


@pytest.mark.parametrize("rel", ["binance-spot/binance-spot-btcusdt-2024-08-08.jsonl.gz",
                                 "binance-spot/binance-spot-4pairs-2021-10-12.jsonl.gz",
                                 "binance-usdm/binance-usdm-4alts-2021-07-22.jsonl.gz"])
def test_fast_path_real_frames_other_captures(rel: str) -> None:
    codec = BinanceCodec("spot" if "spot" in rel else "usdm")
    for rec in first_records(rel, "ws", "", limit=2000):
        fast = codec.decode(rec["data"], 1, rec["url"])
        assert fast == codec.decode(rec["data"].encode(), 1, rec["url"])


def test_level_strings_cannot_restructure_the_levels() -> None:
    """A price string holding JSON punctuation is malformed, never re-read as more levels (the
    former quote-stripping fast path turned ["1.0,2.0],[3.0","4.0"] into two levels)."""
    frame = ('{"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"X","U":1,'
             '"u":2,"pu":0,"b":[["1.0,2.0],[3.0","4.0"]],"a":[]}}')
    with pytest.raises(VenueProtocolError):
        BinanceCodec("usdm").decode(frame, 0)


@pytest.mark.parametrize("frame", [
    # a negative size would delete the level in the book (size <= 0 is a delete): rejected
    '{"e":"depthUpdate","E":1,"T":1,"s":"X","U":1,"u":2,"pu":0,"b":[["1.5","-1"]],"a":[]}',
    '{"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"X","U":1,"u":2,'
    '"pu":0,"b":[],"a":[["1.5","-0.5"]]}}',
    '{"stream":"x@depth5@100ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"X","U":1,"u":2,'
    '"pu":0,"b":[["1.5","-2"]],"a":[]}}',
    # a quote or a trade with an infinite or negative number
    '{"e":"bookTicker","u":1,"s":"X","b":"Infinity","B":"1","a":"2","A":"1","T":1,"E":1}',
    '{"stream":"x@bookTicker","data":{"e":"bookTicker","u":1,"s":"X","b":"1","B":"1e400",'
    '"a":"2","A":"1","T":1,"E":1}}',
    '{"stream":"x@bookTicker","data":{"u":1,"s":"X","b":"1","B":"1","a":"2","A":"-3"}}',
    '{"stream":"x@bookTicker","data":{"u":1,"s":"X","b":"nan","B":"1","a":"2","A":"3"}}',
    '{"e":"trade","E":1,"s":"X","t":1,"p":"inf","q":"1","T":1,"m":true}',
    '{"stream":"x@trade","data":{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"-1","T":1,'
    '"m":true}}',
    '{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"X","a":1,"p":"NaN","q":"1",'
    '"T":1,"m":false}}',
    # a JSON true where a number belongs is not 1.0
    '{"e":"trade","E":1,"s":"X","t":1,"p":true,"q":"1","T":1,"m":true}',
    '{"e":"depthUpdate","E":1,"T":1,"s":"X","U":1,"u":2,"pu":0,"b":[[true,"1"]],"a":[]}',
    '{"e":"markPriceUpdate","E":1,"s":"X","p":"Infinity","i":"1","r":"0.1","T":1}',
    '{"e":"markPriceUpdate","E":1,"s":"X","p":"1","i":"1","r":"nan","T":1}',
])
@pytest.mark.parametrize("market", ["spot", "usdm"])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_non_finite_or_negative_numbers_are_rejected(frame: str, market: str,
                                                     as_bytes: bool) -> None:
    """A size below zero or a price/size that is not a finite number is a malformed frame
    (counted and skipped), on the fast path and the generic one alike, never a book level,
    a quote or a trade."""
    codec = BinanceCodec(market)
    with pytest.raises(VenueProtocolError):
        codec.decode(frame.encode() if as_bytes else frame, 0)


def test_rest_snapshot_with_a_negative_size_is_rejected() -> None:
    codec = BinanceCodec("usdm")
    body = '{"lastUpdateId":5,"E":1,"T":1,"bids":[["1.5","-1"]],"asks":[["2","1"]]}'
    with pytest.raises(VenueProtocolError):
        codec.decode_rest("https://fapi.binance.com/fapi/v1/depth?symbol=X&limit=5", body, 0)


@pytest.mark.parametrize("where, value", [
    ("contractSize", 0), ("contractSize", -100), ("tickSize", "-0.1"), ("tickSize", "NaN"),
    ("stepSize", "-1"), ("minQty", "inf"),
])
def test_exchange_info_with_a_nonsense_size_is_malformed(where: str, value: object) -> None:
    """A contract size that is not positive (a negative one would turn every notional and PnL
    around), or a tick/step/minimum that is negative or not a number, is no instrument."""
    sym = {"symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL",
           "contractStatus": "TRADING", "contractSize": 100, "marginAsset": "BTC",
           "baseAsset": "BTC", "quoteAsset": "USD",
           "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                       {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1"}]}
    if where == "contractSize":
        sym["contractSize"] = value
    else:
        for f in sym["filters"]:
            if where in f:
                f[where] = value
    with pytest.raises(VenueProtocolError):
        BinanceCodec("coinm").decode_rest("https://dapi.binance.com/dapi/v1/exchangeInfo",
                                          json.dumps({"symbols": [sym]}), 0)
