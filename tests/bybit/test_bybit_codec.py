"""Bybit codec: categories, control frames, trades, encoders and strict field checks."""

from __future__ import annotations

import orjson
import pytest

from adapters.bybit import BybitCodec, VenueError
from adapters.bybit.channels import (
    MAX_ARGS_CHARS,
    book_channel,
    category_from_url,
    chunk_topics,
    trades_channel,
    venue_symbol,
)
from engine.model import BookSnapshot, Side, Trade, VenueProtocolError

LINEAR = "wss://stream.bybit.com/v5/public/linear"
SPOT = "wss://stream.bybit.com/v5/public/spot"
OPTION = "wss://stream.bybit.com/v5/public/option"


def _book(depth: int = 50, symbol: str = "BTCUSDT", u: int = 5, kind: str = "snapshot") -> bytes:
    return orjson.dumps({"topic": f"orderbook.{depth}.{symbol}", "type": kind, "ts": 1672304484978,
                         "data": {"s": symbol, "b": [["16493.50", "0.006"]],
                                  "a": [["16611.00", "0.029"]], "u": u, "seq": 7961638724},
                         "cts": 1672304484976})


def test_category_follows_the_url() -> None:
    assert category_from_url(LINEAR) == "linear"
    assert category_from_url("wss://stream-testnet.bybit.com/v5/public/inverse") == "inverse"
    assert category_from_url("https://api.bybit.com/v5/market/orderbook?category=spot&symbol=X") == "spot"
    assert category_from_url("wss://stream.bybit.com/v5/private") is None
    codec = BybitCodec()
    assert codec.category == "linear"
    codec.on_open(SPOT)
    assert codec.category == "spot"
    codec.decode(_book(), 1, OPTION)
    assert codec.category == "option"
    assert BybitCodec(category="inverse").category == "inverse"
    with pytest.raises(ValueError):
        BybitCodec(category="futures")


def test_spot_and_linear_books_get_distinct_instrument_ids() -> None:
    codec = BybitCodec()
    [spot] = codec.decode(_book(), 1, SPOT)
    [perp] = codec.decode(_book(), 1, LINEAR)
    assert spot.instrument_id == "bybit:BTCUSDT-SPOT"
    assert perp.instrument_id == "bybit:BTCUSDT"
    assert venue_symbol("BTCUSDT-SPOT") == "BTCUSDT"
    assert book_channel("BTCUSDT-SPOT", 50, "spot") == "orderbook.50.BTCUSDT"


def test_snapshot_depth_comes_from_the_topic() -> None:
    codec = BybitCodec()
    [snap] = codec.decode(_book(depth=200), 1, LINEAR)
    assert isinstance(snap, BookSnapshot) and snap.depth == 200 and snap.seq == 5
    [snap] = codec.decode(_book(depth=25, symbol="BTC-27DEC24-60000-C"), 1, OPTION)
    assert snap.depth == 25


def test_rpi_books_are_not_modelled() -> None:
    frame = {"topic": "orderbook.rpi.BTCUSDT", "ts": 1752472188075, "type": "delta",
             "data": {"s": "BTCUSDT", "b": [["121975.1", "0.114259", "0"]], "a": [],
                      "u": 2258980, "seq": 79683241099}, "cts": 1752472188067}
    codec = BybitCodec()
    assert codec.decode(orjson.dumps(frame), 1, LINEAR) == []
    assert codec.last_channel == "book-rpi"


def test_public_trades_including_options() -> None:
    frame = {"topic": "publicTrade.BTC", "type": "snapshot", "ts": 1672304486868, "id": "x",
             "data": [{"T": 1672304486865, "s": "BTC-6JAN23-17500-C", "S": "Sell", "v": "0.1",
                       "p": "10", "i": "a1", "BT": False, "mP": "9.5", "iP": "16800",
                       "mIv": "0.49", "iv": "0.5"},
                      {"T": 1672304486866, "s": "BTC-6JAN23-17500-C", "S": "Buy", "v": "0.2",
                       "p": "11", "i": "a2", "BT": False}]}
    codec = BybitCodec()
    t1, t2 = codec.decode(orjson.dumps(frame), 3, OPTION)
    assert t1 == Trade("bybit:BTC-6JAN23-17500-C", 10.0, 0.1, Side.SELL, "a1",
                       1672304486865 * 1_000_000, 3)
    assert t2.aggressor is Side.BUY and t2.size == 0.2
    assert codec.trades_channel("BTC-6JAN23-17500-C") == "publicTrade.BTC"
    assert trades_channel("BTCUSDT") == "publicTrade.BTCUSDT"


def test_control_frames() -> None:
    codec = BybitCodec()
    ok = b'{"success":true,"ret_msg":"","conn_id":"c1","req_id":"7","op":"subscribe"}'
    assert codec.decode(ok, 1) == [] and codec.last_channel == "ack"
    pong = b'{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"","op":"ping"}'
    assert codec.decode(pong, 1) == [] and codec.last_channel == "pong"
    private_pong = b'{"req_id":"t","op":"pong","args":["1675418560633"],"conn_id":"c2"}'
    assert codec.decode(private_pong, 1) == [] and codec.last_channel == "pong"
    fail = b'{"success":false,"ret_msg":"Invalid symbol :[NOTACOINUSDT]","conn_id":"c1","req_id":"8","op":"subscribe"}'
    assert codec.decode(fail, 9) == [
        VenueError("bybit", "subscribe", 0, "Invalid symbol :[NOTACOINUSDT]", "8", 9)]
    assert codec.last_channel == "error"
    rejected = b'{"op":"order.create","retCode":10001,"retMsg":"bad qty","connId":"c","reqId":"r1","data":{}}'
    assert codec.decode(rejected, 2) == [VenueError("bybit", "order.create", 10001, "bad qty", "r1", 2)]
    kline = b'{"topic":"kline.5.BTCUSDT","data":[],"ts":1672324988882,"type":"snapshot"}'
    assert codec.decode(kline, 1) == [] and codec.last_channel == "kline"


def test_encoders() -> None:
    codec = BybitCodec()
    [frame] = codec.encode_subscribe(["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"])
    assert orjson.loads(frame) == {"op": "subscribe", "args": ["orderbook.50.BTCUSDT",
                                                                "publicTrade.BTCUSDT"], "req_id": "1"}
    [frame] = codec.encode_unsubscribe(["tickers.BTCUSDT"])
    assert orjson.loads(frame) == {"op": "unsubscribe", "args": ["tickers.BTCUSDT"], "req_id": "2"}
    assert orjson.loads(codec.encode_heartbeat()) == {"op": "ping", "req_id": "3"}
    assert codec.book_channel("BTCUSDT") == "orderbook.50.BTCUSDT"
    assert codec.ticker_channel("BTCUSDT") == "tickers.BTCUSDT"
    with pytest.raises(ValueError):
        codec.book_channel("BTCUSDT", 25)  # option depth on a linear connection
    with pytest.raises(ValueError):
        book_channel("BTC-27DEC24-60000-C", 50, "option")


def test_spot_subscriptions_are_chunked_by_ten() -> None:
    codec = BybitCodec()
    codec.on_open(SPOT)
    topics = [f"orderbook.50.SYM{i}USDT" for i in range(23)]
    frames = codec.encode_subscribe(topics)
    args = [orjson.loads(f)["args"] for f in frames]
    assert [len(a) for a in args] == [10, 10, 3]
    assert sum(args, []) == topics
    assert len({orjson.loads(f)["req_id"] for f in frames}) == 3


def test_derivative_subscriptions_respect_the_args_length_limit() -> None:
    topics = [f"orderbook.50.SYMBOL{i:05d}USDT" for i in range(2000)]
    chunks = chunk_topics(topics, "linear")
    assert len(chunks) > 1 and sum(chunks, []) == topics
    for chunk in chunks:
        assert len(orjson.dumps(chunk)) <= MAX_ARGS_CHARS


@pytest.mark.parametrize("frame", [
    b"not json",
    b"[1,2,3]",
    b'"text"',
    b'{"topic":5}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[]}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["abc","1"]],"a":[],"u":1}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["nan","1"]],"a":[],"u":1}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["1","-1"]],"a":[],"u":1}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":"","a":[],"u":1}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"weird","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":5}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":"x","data":{"s":"BTCUSDT","b":[],"a":[],"u":5}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":"5"}}',
    b'{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Up","v":"1","p":"1","i":"x"}]}',
    b'{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"0","i":"x"}]}',
    b'{"topic":"publicTrade.BTCUSDT","ts":1,"data":{}}',
    b'{"topic":"tickers.BTCUSDT","type":"delta","ts":1,"data":{"symbol":"BTCUSDT","bid1Price":"x","bid1Size":"1","ask1Price":"1","ask1Size":"1"}}',
    b'{"topic":"tickers.BTCUSDT","type":"delta","ts":1,"data":[1]}',
    b'{"success":"yes","op":"subscribe"}',
])
def test_malformed_frames_raise_venue_protocol_error(frame: bytes) -> None:
    with pytest.raises(VenueProtocolError) as info:
        BybitCodec().decode(frame, 1, LINEAR)
    assert info.value.venue == "bybit"
