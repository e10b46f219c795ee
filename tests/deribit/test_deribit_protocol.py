"""Deribit codec: documented frame formats, encoders, heartbeats, errors and fuzzing.

Fixtures follow https://docs.deribit.com (JSON-RPC 2.0 envelope, ``book``/``ticker``/
``deribit_price_index`` notifications, ``public/set_heartbeat`` test requests).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.deribit.codec import DeribitCodec
from engine.model import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    Instrument,
    MarkPrice,
    OptionSummary,
    Quote,
    Trade,
    VenueProtocolError,
)

MS = 1_000_000
EVENT_TYPES = (BookSnapshot, BookDelta, Trade, Quote, MarkPrice, FundingRate, OptionSummary,
               Instrument)


def _note(channel: str, data: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": "subscription",
                         "params": {"channel": channel, "data": data}})


BOOK_SNAPSHOT = {"type": "snapshot", "timestamp": 1626993723632,
                 "instrument_name": "BTC-PERPETUAL", "change_id": 100,
                 "bids": [["new", 30000.0, 1000.0], ["new", 29999.5, 20.0]],
                 "asks": [["new", 30000.5, 500.0]]}
BOOK_CHANGE = {"type": "change", "timestamp": 1626993723700, "prev_change_id": 100,
               "instrument_name": "BTC-PERPETUAL", "change_id": 104,
               "bids": [["delete", 29999.5, 0.0], ["change", 30000.0, 900.0]],
               "asks": [["new", 30001.0, 70.0]]}


def test_book_snapshot_and_change() -> None:
    c = DeribitCodec()
    (snap,) = c.decode(_note("book.BTC-PERPETUAL.100ms", BOOK_SNAPSHOT), 5)
    assert snap == BookSnapshot("deribit:BTC-PERPETUAL", ((30000.0, 1000.0), (29999.5, 20.0)),
                                ((30000.5, 500.0),), 100, 1626993723632 * MS, 5)
    (delta,) = c.decode(_note("book.BTC-PERPETUAL.100ms", BOOK_CHANGE), 6)
    assert delta == BookDelta("deribit:BTC-PERPETUAL", ((29999.5, 0.0), (30000.0, 900.0)),
                              ((30001.0, 70.0),), seq=104, prev_seq=100,
                              ts_event=1626993723700 * MS, ts_recv=6, first_seq=104)
    assert c.last_channel == "book"


def test_grouped_book_is_a_depth_limited_snapshot() -> None:
    data = {"timestamp": 1626993723632, "instrument_name": "ETH-PERPETUAL", "change_id": 7,
            "bids": [[2000.0, 10.0]], "asks": [[2001.0, 5.0], [2002.0, 1.0]]}
    (snap,) = DeribitCodec().decode(_note("book.ETH-PERPETUAL.none.10.100ms", data), 1)
    assert isinstance(snap, BookSnapshot) and snap.depth == 10 and snap.seq == 7
    assert snap.asks == ((2001.0, 5.0), (2002.0, 1.0))


def test_price_index_is_a_mark_price_of_the_index() -> None:
    data = {"timestamp": 1626993723632, "price": 32201.67, "index_name": "btc_usd"}
    (ev,) = DeribitCodec().decode(_note("deribit_price_index.btc_usd", data), 1)
    assert ev.instrument_id == "deribit:btc_usd" and ev.index_price == 32201.67
    assert math.isnan(ev.mark_price)


def test_option_ticker_without_bid() -> None:
    data = {"timestamp": 1, "instrument_name": "BTC-24SEP21-8000-P", "mark_price": 0.0009,
            "index_price": 32201.67, "mark_iv": 142.78, "bid_iv": 0.0, "ask_iv": 150.0,
            "best_bid_price": None, "best_bid_amount": 0.0, "best_ask_price": 0.0015,
            "best_ask_amount": 94.7, "underlying_price": 32366.75, "open_interest": 729.2,
            "greeks": {"delta": -0.00407, "gamma": 0.0, "vega": 1.62145, "theta": -1.82613,
                       "rho": -0.27934}}
    quote, mark, summary = DeribitCodec().decode(_note("ticker.BTC-24SEP21-8000-P.raw", data), 1)
    assert math.isnan(quote.bid_price) and quote.ask_price == 0.0015
    assert isinstance(summary, OptionSummary)
    assert math.isnan(summary.bid_iv) and summary.ask_iv == 1.5
    assert summary.mark_iv == pytest.approx(1.4278)


def test_trades_on_a_kind_channel_take_the_instrument_per_trade() -> None:
    data = [{"trade_seq": 1, "trade_id": "ETH-1", "timestamp": 5, "tick_direction": 0,
             "price": 0.05, "mark_price": 0.05, "iv": 80.1, "instrument_name": "ETH-30JUL21-2800-C",
             "index_price": 2000.0, "direction": "buy", "amount": 3.0},
            {"trade_seq": 2, "trade_id": "BTC-2", "timestamp": 6, "tick_direction": 1,
             "price": 0.1, "mark_price": 0.1, "iv": 70.0, "instrument_name": "BTC-30JUL21-30000-C",
             "index_price": 32000.0, "direction": "sell", "amount": 0.5}]
    ev = DeribitCodec().decode(_note("trades.option.any.raw", data), 9)
    assert [(t.instrument_id, t.aggressor.value, t.size) for t in ev] == [
        ("deribit:ETH-30JUL21-2800-C", "buy", 3.0), ("deribit:BTC-30JUL21-30000-C", "sell", 0.5)]


def test_heartbeat_test_request_sets_the_flag() -> None:
    c = DeribitCodec()
    hb = c.encode_set_heartbeat(10)
    assert json.loads(hb)["method"] == "public/set_heartbeat"
    assert json.loads(hb)["params"] == {"interval": 10}
    assert c.decode(b'{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}',
                    1) == []
    assert not c.pending_test_request
    assert c.decode('{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}',
                    2) == []
    assert c.pending_test_request and c.last_channel == "heartbeat"
    answer = json.loads(c.encode_test())
    assert answer["method"] == "public/test" and not c.pending_test_request
    # the public/test result is an ack
    assert c.decode(orjson.dumps({"jsonrpc": "2.0", "id": answer["id"],
                                  "result": {"version": "1.2.26"}}), 3) == []
    with pytest.raises(ValueError):
        c.encode_set_heartbeat(5)


def test_encoders_use_incrementing_ids_and_track_subscriptions() -> None:
    c = DeribitCodec()
    chans = [c.book_channel("BTC-PERPETUAL"), c.ticker_channel("BTC-PERPETUAL"),
             c.trades_channel("BTC-PERPETUAL", "100ms"), c.index_channel("btc_usd"),
             c.grouped_book_channel("BTC-PERPETUAL", "none", 20, "100ms"),
             c.kind_trades_channel("option", "BTC")]
    assert chans == ["book.BTC-PERPETUAL.raw", "ticker.BTC-PERPETUAL.100ms",
                     "trades.BTC-PERPETUAL.100ms", "deribit_price_index.btc_usd",
                     "book.BTC-PERPETUAL.none.20.100ms", "trades.option.BTC.raw"]
    (sub,) = c.encode_subscribe(chans)
    (priv,) = c.encode_subscribe(["user.orders.any.any.raw"])
    (unsub,) = c.encode_unsubscribe(chans[:1])
    msgs = [json.loads(x) for x in (sub, priv, unsub)]
    assert [m["method"] for m in msgs] == ["public/subscribe", "private/subscribe",
                                           "public/unsubscribe"]
    assert msgs[0]["params"] == {"channels": chans} and msgs[0]["jsonrpc"] == "2.0"
    ids = [m["id"] for m in msgs]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert c.encode_subscribe([]) == []
    c.decode(orjson.dumps({"jsonrpc": "2.0", "id": ids[0], "result": chans}), 1)
    assert c.subscribed == set(chans)
    c.decode(orjson.dumps({"jsonrpc": "2.0", "id": ids[2], "result": chans[:1]}), 1)
    assert c.subscribed == set(chans[1:])
    c.on_open("wss://www.deribit.com/ws/api/v2")
    assert c.subscribed == set() and not c.pending_test_request


def test_ws_instrument_results_by_request_id_and_errors() -> None:
    c = DeribitCodec()
    req = json.loads(c.encode_get_instruments("BTC", "option"))
    assert req["params"] == {"currency": "BTC", "expired": False, "kind": "option"}
    inst = {"tick_size": 0.0005, "taker_commission": 0.0003, "strike": 60000.0,
            "settlement_period": "month", "settlement_currency": "BTC", "quote_currency": "BTC",
            "option_type": "call", "min_trade_amount": 0.1, "maker_commission": 0.0003,
            "kind": "option", "is_active": True, "instrument_name": "BTC-27DEC24-60000-C",
            "instrument_type": "reversed", "counter_currency": "USD",
            "expiration_timestamp": 1735286400000, "contract_size": 1.0, "base_currency": "BTC",
            "tick_size_steps": [{"above_price": 0.12, "tick_size": 0.001}],
            "price_index": "btc_usd"}
    (got,) = c.decode(orjson.dumps({"jsonrpc": "2.0", "id": req["id"], "result": [inst]}), 1)
    assert got.symbol == "BTC-27DEC24-60000-C" and got.strike == 60000.0 and got.inverse
    assert c.tick_size_steps == {"BTC-27DEC24-60000-C": ((0.12, 0.001),)}
    book = json.loads(c.encode_get_order_book("BTC-PERPETUAL", 5))
    err = {"jsonrpc": "2.0", "id": book["id"],
           "error": {"code": 10028, "message": "too_many_requests"}}
    assert c.decode(orjson.dumps(err), 1) == []
    assert c.last_error is not None and c.last_error.method == "public/get_order_book"
    assert c.last_error.request_id == book["id"] and c.error_count == 1


def test_linear_usdc_option_is_not_premium_in_coin() -> None:
    inst = {"tick_size": 0.0001, "taker_commission": 0.0005, "strike": 0.625,
            "settlement_period": "week", "settlement_currency": "USDC", "quote_currency": "USDC",
            "option_type": "call", "min_trade_amount": 1, "maker_commission": 0.0005,
            "kind": "option", "is_active": True, "instrument_name": "XRP_USDC-5JUL24-0d625-C",
            "instrument_type": "linear", "counter_currency": "USDC",
            "expiration_timestamp": 1720166400000, "contract_size": 1, "base_currency": "XRP"}
    (got,) = DeribitCodec().decode_rest("https://x/api/v2/public/get_instruments",
                                        orjson.dumps({"jsonrpc": "2.0", "result": [inst]}), 1)
    assert not got.inverse and not got.premium_in_coin
    assert (got.base, got.quote, got.settle, got.strike) == ("XRP", "USDC", "USDC", 0.625)


@pytest.mark.parametrize("frame", [
    b"", b"not json", b"[]", b"123", b'"x"', b"{",
    _note("book.BTC-PERPETUAL.raw", {**BOOK_CHANGE, "prev_change_id": None}),
    _note("book.BTC-PERPETUAL.raw", {k: v for k, v in BOOK_CHANGE.items() if k != "prev_change_id"}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "type": "weird"}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "bids": [["new", "30000", 1.0]]}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "bids": [["new", 30000.0, True]]}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "bids": [["upsert", 30000.0, 1.0]]}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "bids": [["new", 30000.0]]}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "bids": [["new", 30000.0, -1.0]]}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "bids": {"a": 1}}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "change_id": 1.5}),
    _note("book.BTC-PERPETUAL.raw", {**BOOK_SNAPSHOT, "timestamp": "1"}),
    _note("book..raw", BOOK_SNAPSHOT),
    _note("book.BTC-PERPETUAL.none.x.100ms", BOOK_SNAPSHOT),
    _note("ticker.BTC-PERPETUAL.raw", {"timestamp": 1}),
    _note("trades.BTC-PERPETUAL.raw", {"trade_id": "1"}),
    _note("trades.BTC-PERPETUAL.raw", [{"trade_id": "1", "direction": "up", "amount": 1.0,
                                         "price": 1.0, "timestamp": 1,
                                         "instrument_name": "X"}]),
    b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.X.raw","data":'
    b'[{"trade_id":"1","direction":"buy","amount":1e400,"price":1.0,"timestamp":1,'
    b'"instrument_name":"X"}]}}',
    b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":5,"data":{}}}',
    b'{"jsonrpc":"2.0","method":"heartbeat"}',
    b'{"jsonrpc":"2.0","id":1,"error":{"code":"x"}}',
])
def test_malformed_frames_raise_venue_protocol_error(frame: bytes) -> None:
    with pytest.raises(VenueProtocolError) as info:
        DeribitCodec().decode(frame, 1)
    assert info.value.venue == "deribit"


def test_unknown_but_valid_frames_are_empty() -> None:
    c = DeribitCodec()
    assert c.decode(_note("user.portfolio.btc", {"balance": 1.0}), 1) == []
    assert c.decode(b'{"jsonrpc":"2.0","method":"something_new","params":{}}', 1) == []
    assert c.decode(b'{"jsonrpc":"2.0","id":77,"result":{"whatever":1}}', 1) == []


# -- fuzzing (h11's rule: events or VenueProtocolError, nothing else) -----------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False,
                                                                    allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["new", "change", "delete", "snapshot", "change",
                                             "buy", "sell", "subscription", "test_request"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                               max_size=4),
    max_leaves=20)

_REAL_FRAMES: list[Any] = [
    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "book.BTC-PERPETUAL.raw",
                                                             "data": BOOK_SNAPSHOT}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "book.BTC-PERPETUAL.raw",
                                                             "data": BOOK_CHANGE}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {
        "channel": "ticker.BTC-24SEP21-8000-P.raw",
        "data": {"timestamp": 1, "mark_price": 0.1, "index_price": 2.0, "best_bid_price": 0.1,
                 "best_bid_amount": 1.0, "best_ask_price": 0.2, "best_ask_amount": 1.0,
                 "mark_iv": 50.0, "bid_iv": 40.0, "ask_iv": 60.0, "underlying_price": 1.0,
                 "open_interest": 1.0, "funding_8h": 0.1,
                 "greeks": {"delta": 0.1, "gamma": 0.1, "vega": 0.1, "theta": 0.1}}}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {
        "channel": "trades.BTC-PERPETUAL.raw",
        "data": [{"trade_id": "1", "direction": "buy", "amount": 1.0, "price": 1.0,
                  "timestamp": 1, "instrument_name": "BTC-PERPETUAL"}]}},
    {"jsonrpc": "2.0", "id": 1, "result": [{"kind": "option", "instrument_name": "A-1-1-C",
                                            "base_currency": "A", "quote_currency": "A",
                                            "tick_size": 0.1, "min_trade_amount": 1.0,
                                            "contract_size": 1.0, "strike": 1.0,
                                            "option_type": "call",
                                            "expiration_timestamp": 1}]},
    {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "m"}},
    {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}},
]


def _check(codec: DeribitCodec, data: bytes | str) -> None:
    try:
        events = codec.decode(data, 1)
    except VenueProtocolError:
        return
    assert isinstance(events, list)
    assert all(isinstance(e, EVENT_TYPES) for e in events)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(DeribitCodec(), data)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_fuzz_random_json(value: Any) -> None:
    _check(DeribitCodec(), json.dumps(value))


def _mutate(value: Any, path: list[int], replacement: Any) -> Any:
    """Replace the node reached by following ``path`` (indices into children) with ``replacement``."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return replacement
    if isinstance(value, dict):
        keys = list(value)
        k = keys[path[0] % len(keys)]
        return {**value, k: _mutate(value[k], path[1:], replacement)}
    i = path[0] % len(value)
    return [*value[:i], _mutate(value[i], path[1:], replacement), *value[i + 1:]]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(_REAL_FRAMES), st.lists(st.integers(0, 50), max_size=6), _json)
def test_fuzz_mutated_real_frames(frame: Any, path: list[int], replacement: Any) -> None:
    _check(DeribitCodec(), json.dumps(_mutate(frame, path, replacement)))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_REAL_FRAMES), st.integers(0, 400), st.binary(min_size=1, max_size=3))
def test_fuzz_corrupted_real_bytes(frame: Any, pos: int, junk: bytes) -> None:
    raw = orjson.dumps(frame)
    pos %= len(raw)
    _check(DeribitCodec(), raw[:pos] + junk + raw[pos + 1:])


@pytest.mark.parametrize("field", ["best_bid_amount", "best_ask_amount"])
def test_ticker_with_a_negative_size_is_malformed(field: str) -> None:
    """A quote size below zero is no quote: the frame is rejected, not passed on."""
    data = {"timestamp": 1, "instrument_name": "BTC-24SEP21-8000-P", "mark_price": 0.0009,
            "index_price": 32201.67, "best_bid_price": 0.0005, "best_bid_amount": 3.0,
            "best_ask_price": 0.0015, "best_ask_amount": 94.7}
    data[field] = -1.0
    with pytest.raises(VenueProtocolError, match="negative"):
        DeribitCodec().decode(_note("ticker.BTC-24SEP21-8000-P.raw", data), 1)


@pytest.mark.parametrize("field, value", [
    ("contract_size", 0.0), ("contract_size", -1.0), ("tick_size", 0.0), ("tick_size", -0.5),
    ("min_trade_amount", -0.1), ("min_trade_amount", 0.0),
])
def test_instrument_with_a_nonsense_size_is_malformed(field: str, value: float) -> None:
    """A contract size, tick or minimum amount that is not positive is no instrument (a
    negative contract size would turn every notional and PnL around)."""
    from adapters.deribit.instruments import parse_instrument

    row = {"kind": "option", "instrument_name": "BTC-27DEC24-100000-C", "base_currency": "BTC",
           "quote_currency": "BTC", "counter_currency": "USD", "settlement_currency": "BTC",
           "instrument_type": "reversed", "expiration_timestamp": 1735300800000,
           "strike": 100000.0, "option_type": "call", "min_trade_amount": 0.1,
           "contract_size": 1.0, "tick_size": 0.0001, "price_index": "btc_usd"}
    row[field] = value
    with pytest.raises(VenueProtocolError):
        parse_instrument(row)
