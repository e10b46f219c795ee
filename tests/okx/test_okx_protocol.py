"""OKX codec: documented push formats, sequence ids, events, encoders and fuzzing.

Fixtures follow the OKX v5 docs (https://www.okx.com/docs-v5/en/#public-data-websocket-*,
order-book channel) as quoted in venues.md.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.okx.codec import OkxCodec
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

SNAPSHOT = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot",
            "data": [{"asks": [["8476.98", "415", "0", "13"], ["8477", "7", "0", "2"]],
                      "bids": [["8476.97", "256", "0", "12"], ["8475.55", "101", "0", "1"]],
                      "ts": "1597026383085", "checksum": -855196043, "prevSeqId": -1,
                      "seqId": 123456}]}
UPDATE = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update",
          "data": [{"asks": [["8477", "0", "0", "0"]], "bids": [["8476.98", "1.50", "0", "1"]],
                    "ts": "1597026383185", "checksum": 123, "prevSeqId": 123456,
                    "seqId": 123470}]}
OPT_SUMMARY = {"arg": {"channel": "opt-summary", "instFamily": "BTC-USD"}, "data": [{
    "instType": "OPTION", "instId": "BTC-USD-241013-70000-P", "uly": "BTC-USD",
    "delta": "-1.1180902625", "gamma": "2.2361957091", "vega": "0.0000000001",
    "theta": "0.0000032334", "lever": "8465.11", "markVol": "0.3675220639", "bidVol": "0",
    "askVol": "1.1669998474", "realVol": "", "deltaBS": "-0.9999672034",
    "gammaBS": "0.0000000002", "thetaBS": "28.2649858387", "vegaBS": "0.0000114332",
    "ts": "1728703155650", "fwdPx": "62604.6993093463", "volLv": "0.2044711229"}]}
MARK = {"arg": {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
        "data": [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "markPx": "42310.6",
                  "ts": "1630049139746"}]}
INDEX = {"arg": {"channel": "index-tickers", "instId": "BTC-USDT"},
         "data": [{"instId": "BTC-USDT", "idxPx": "42000.1", "high24h": "43000",
                   "low24h": "41000", "open24h": "41500", "sodUtc0": "41600", "sodUtc8": "41700",
                   "ts": "1597026383085"}]}
FUNDING = {"arg": {"channel": "funding-rate", "instId": "BTC-USD-SWAP"},
           "data": [{"fundingRate": "0.0001875391284828", "fundingTime": "1700726400000",
                     "instId": "BTC-USD-SWAP", "instType": "SWAP", "method": "current_period",
                     "maxFundingRate": "0.00375", "minFundingRate": "-0.00375",
                     "nextFundingRate": "", "nextFundingTime": "1700755200000",
                     "premium": "0.0001233824646391", "settFundingRate": "0.0001699799259033",
                     "settState": "settled", "ts": "1700724675402"}]}
TICKER_NO_BID = {"arg": {"channel": "tickers", "instId": "BTC-USD-220527-60000-C"},
                 "data": [{"instType": "OPTION", "instId": "BTC-USD-220527-60000-C",
                           "last": "", "lastSz": "0", "askPx": "0.0005", "askSz": "10",
                           "bidPx": "", "bidSz": "", "ts": "1652459225464"}]}


def test_books_with_sequence_ids() -> None:
    c = OkxCodec()
    (snap,) = c.decode(orjson.dumps(SNAPSHOT), 1)
    assert isinstance(snap, BookSnapshot)
    assert (snap.seq, snap.depth, snap.checksum) == (123456, 400, -855196043)
    assert snap.raw_bids == (("8476.97", "256"), ("8475.55", "101"))
    (delta,) = c.decode(json.dumps(UPDATE), 2)
    assert isinstance(delta, BookDelta)
    # seqId is increasing but not contiguous: continuity is prevSeqId == previous seqId
    assert (delta.prev_seq, delta.seq, delta.first_seq) == (snap.seq, 123470, 123470)
    assert delta.asks == ((8477.0, 0.0),) and delta.raw_bids == (("8476.98", "1.50"),)
    assert delta.ts_event == 1597026383185 * MS and delta.ts_recv == 2
    assert c.last_channel == "books"


def test_zero_checksum_means_absent_and_depth_channels() -> None:
    c = OkxCodec()
    frame = {**SNAPSHOT, "arg": {"channel": "books50-l2-tbt", "instId": "BTC-USDT"},
             "data": [{**SNAPSHOT["data"][0], "checksum": 0}]}
    (snap,) = c.decode(orjson.dumps(frame), 1)
    assert snap.checksum is None and snap.depth == 50
    five = {"arg": {"channel": "books5", "instId": "BTC-USDT"},
            "data": [{k: v for k, v in SNAPSHOT["data"][0].items() if not k.endswith("eqId")}]}
    for _ in range(2):  # every books5 push is a full snapshot
        (s5,) = c.decode(orjson.dumps(five), 1)
        assert isinstance(s5, BookSnapshot) and s5.depth == 5 and s5.seq == -1


def test_other_channels() -> None:
    c = OkxCodec()
    (summary,) = c.decode(orjson.dumps(OPT_SUMMARY), 1)
    assert summary.instrument_id == "okx:BTC-USD-241013-70000-P"
    assert summary.mark_iv == 0.3675220639 and math.isnan(summary.bid_iv)  # "0": no bid
    assert summary.ask_iv == 1.1669998474 and summary.underlying_price == 62604.6993093463
    # Black-Scholes Greeks (deltaBS...), not OKX's price-adjusted coin Greeks
    assert (summary.delta, summary.gamma, summary.vega, summary.theta) == (
        -0.9999672034, 0.0000000002, 0.0000114332, 28.2649858387)
    assert math.isnan(summary.mark_price) and math.isnan(summary.open_interest)
    assert c.last_channel == "opt-summary"
    (mark,) = c.decode(orjson.dumps(MARK), 1)
    assert mark.mark_price == 42310.6 and math.isnan(mark.index_price)
    (index,) = c.decode(orjson.dumps(INDEX), 1)
    assert index.instrument_id == "okx:BTC-USDT" and index.index_price == 42000.1
    assert math.isnan(index.mark_price)
    (funding,) = c.decode(orjson.dumps(FUNDING), 5)
    assert funding.rate == 0.0001875391284828
    assert funding.next_funding_ns == 1700726400000 * MS
    assert funding.ts_event == 1700724675402 * MS
    (quote,) = c.decode(orjson.dumps(TICKER_NO_BID), 1)
    assert math.isnan(quote.bid_price) and quote.ask_price == 0.0005


def test_events_pong_and_errors() -> None:
    c = OkxCodec()
    assert c.decode(b"pong", 1) == [] and c.last_channel == "pong"
    assert c.decode("pong", 1) == []
    assert c.decode(b'{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},'
                    b'"connId":"a4d3ae55"}', 1) == []
    assert c.subscribed == {"books:BTC-USDT"}
    assert c.decode(b'{"event":"unsubscribe","arg":{"channel":"books","instId":"BTC-USDT"}}',
                    1) == []
    assert c.subscribed == set()
    err = (b'{"event":"error","code":"60012","msg":"Invalid request: {\\"op\\": \\"subscribe\\"}",'
           b'"connId":"a4d3ae55"}')
    assert c.decode(err, 1) == []
    assert c.last_error is not None and c.last_error.code == "60012"
    assert c.error_count == 1 and c.last_channel == "error"
    assert c.decode_rest("https://www.okx.com/api/v5/public/instruments?instType=SPOT",
                         b'{"code":"51000","msg":"Parameter instType error","data":[]}', 1) == []
    assert c.last_error.code == "51000" and c.error_count == 2
    assert c.decode(b'{"arg":{"channel":"orders","instType":"ANY"},"data":[]}', 1) == []


def test_encoders() -> None:
    c = OkxCodec()
    chans = [c.book_channel("BTC-USDT"), c.book_channel("BTC-USDT", "bbo-tbt"),
             c.trades_channel("BTC-USDT"), c.tickers_channel("BTC-USDT-SWAP"),
             c.mark_price_channel("BTC-USDT-SWAP"), c.index_tickers_channel("BTC-USD"),
             c.funding_rate_channel("BTC-USDT-SWAP"), c.opt_summary_channel("BTC-USD"),
             c.instruments_channel("OPTION")]
    (sub,) = c.encode_subscribe(chans)
    assert json.loads(sub) == {"op": "subscribe", "args": [
        {"channel": "books", "instId": "BTC-USDT"}, {"channel": "bbo-tbt", "instId": "BTC-USDT"},
        {"channel": "trades", "instId": "BTC-USDT"},
        {"channel": "tickers", "instId": "BTC-USDT-SWAP"},
        {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
        {"channel": "index-tickers", "instId": "BTC-USD"},
        {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"},
        {"channel": "opt-summary", "instFamily": "BTC-USD"},
        {"channel": "instruments", "instType": "OPTION"}]}
    assert json.loads(c.encode_subscribe(["books:BTC-USDT"])[0]) == {
        "op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}
    (unsub,) = c.encode_unsubscribe(["books:BTC-USDT"])
    assert json.loads(unsub)["op"] == "unsubscribe"
    assert c.encode_heartbeat() == "ping"
    assert c.encode_subscribe([]) == []
    with pytest.raises(ValueError):
        c.encode_subscribe(["books"])
    with pytest.raises(ValueError):
        c.book_channel("BTC-USDT", "books7")


@pytest.mark.parametrize("frame", [
    b"", b"ping", b"not json", b"[1]", b"null", b'{"arg":{"channel":"books"},"data":[]}x',
    {**SNAPSHOT, "action": "partial"},
    {k: v for k, v in SNAPSHOT.items() if k != "action"},
    {**SNAPSHOT, "data": {"asks": []}},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "asks": [[8476.98, "415", "0", "1"]]}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "asks": [["abc", "415", "0", "1"]]}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "asks": [["nan", "415", "0", "1"]]}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "asks": [["1", "inf", "0", "1"]]}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "asks": [["1", "-2", "0", "1"]]}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "asks": [["1"]]}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "checksum": "12"}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "checksum": True}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "seqId": "5"}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "ts": 1597026383085}]},
    {**SNAPSHOT, "data": [{**SNAPSHOT["data"][0], "ts": "-1"}]},
    {**SNAPSHOT, "arg": {"channel": "books", "instId": ""}},
    {**SNAPSHOT, "arg": {"channel": "books"}},
    {**SNAPSHOT, "arg": {"channel": ["books"], "instId": "X"}},
    {"arg": {"channel": "trades", "instId": "X"},
     "data": [{"instId": "X", "tradeId": "1", "px": "1", "sz": "1", "side": "up", "ts": "1"}]},
    {"arg": {"channel": "trades", "instId": "X"},
     "data": [{"instId": "X", "tradeId": 1, "px": "1", "sz": "1", "side": "buy", "ts": "1"}]},
    {"arg": {"channel": "tickers", "instId": "X"}, "data": [{"bidPx": "1"}]},
    {**MARK, "data": [{"instId": "X", "markPx": 1.0, "ts": "1"}]},
    {**OPT_SUMMARY, "data": [{**OPT_SUMMARY["data"][0], "deltaBS": "delta"}]},
    {**FUNDING, "data": [{**FUNDING["data"][0], "fundingTime": ""}]},
    {"arg": {"channel": "instruments", "instType": "SPOT"}, "data": [{"instType": "SPOT"}]},
])
def test_malformed_frames_raise_venue_protocol_error(frame: Any) -> None:
    data = frame if isinstance(frame, bytes) else orjson.dumps(frame)
    with pytest.raises(VenueProtocolError) as info:
        OkxCodec().decode(data, 1)
    assert info.value.venue == "okx"


@pytest.mark.parametrize("body", [b"", b"[]", b'{"code":"0"}', b'{"code":"0","data":[1]}',
                                  b'{"code":"0","data":[{"asks":[["x","1"]],"bids":[],"ts":"1"}]}'])
def test_malformed_rest_bodies(body: bytes) -> None:
    with pytest.raises(VenueProtocolError):
        OkxCodec().decode_rest("https://www.okx.com/api/v5/market/books?instId=BTC-USDT&sz=5"
                               if b"asks" in body else
                               "https://www.okx.com/api/v5/public/instruments?instType=SPOT",
                               body, 1)


# -- fuzzing (h11's rule: events or VenueProtocolError, nothing else) -----------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(["0", "1.5", "-1", "snapshot", "update", "buy", "sell", "books", "C"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                               max_size=4),
    max_leaves=20)

_INST = {"instType": "OPTION", "instId": "BTC-USD-220514-22000-C", "uly": "BTC-USD",
         "ctVal": "1", "ctMult": "0.1", "ctType": "", "settleCcy": "BTC", "tickSz": "0.0005",
         "lotSz": "1", "minSz": "1", "expTime": "1652515200000", "stk": "22000", "optType": "C",
         "state": "live"}
_REAL_FRAMES: list[Any] = [
    SNAPSHOT, UPDATE, OPT_SUMMARY, MARK, INDEX, FUNDING, TICKER_NO_BID,
    {"arg": {"channel": "trades", "instId": "BTC-USDT"},
     "data": [{"instId": "BTC-USDT", "tradeId": "1", "px": "1", "sz": "1", "side": "buy",
               "ts": "1"}]},
    {"arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"},
     "data": [{"asks": [["1", "2", "0", "1"]], "bids": [], "ts": "1", "seqId": 5}]},
    {"arg": {"channel": "instruments", "instType": "OPTION"}, "data": [_INST]},
    {"event": "error", "code": "60012", "msg": "x"},
    {"event": "subscribe", "arg": {"channel": "books", "instId": "BTC-USDT"}},
]


def _check(data: bytes | str) -> None:
    try:
        events = OkxCodec().decode(data, 1)
    except VenueProtocolError:
        return
    assert isinstance(events, list)
    assert all(isinstance(e, EVENT_TYPES) for e in events)


def _mutate(value: Any, path: list[int], replacement: Any) -> Any:
    if not path or not isinstance(value, (dict, list)) or not value:
        return replacement
    if isinstance(value, dict):
        k = list(value)[path[0] % len(value)]
        return {**value, k: _mutate(value[k], path[1:], replacement)}
    i = path[0] % len(value)
    return [*value[:i], _mutate(value[i], path[1:], replacement), *value[i + 1:]]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_fuzz_random_json(value: Any) -> None:
    _check(json.dumps(value))


@settings(max_examples=800, deadline=None)
@given(st.sampled_from(_REAL_FRAMES), st.lists(st.integers(0, 50), max_size=6), _json)
def test_fuzz_mutated_real_frames(frame: Any, path: list[int], replacement: Any) -> None:
    _check(json.dumps(_mutate(frame, path, replacement)))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_REAL_FRAMES), st.integers(0, 400), st.binary(min_size=1, max_size=3))
def test_fuzz_corrupted_real_bytes(frame: Any, pos: int, junk: bytes) -> None:
    raw = orjson.dumps(frame)
    pos %= len(raw)
    _check(raw[:pos] + junk + raw[pos + 1:])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=5), _json)
def test_fuzz_rest_instruments(path: list[int], replacement: Any) -> None:
    body = json.dumps(_mutate({"code": "0", "msg": "", "data": [_INST]}, path, replacement))
    try:
        out = OkxCodec().decode_rest("https://www.okx.com/api/v5/public/instruments", body, 1)
    except VenueProtocolError:
        return
    assert all(isinstance(e, (Instrument, BookSnapshot)) for e in out)


@pytest.mark.parametrize("field", ["bidSz", "askSz"])
def test_ticker_with_a_negative_size_is_malformed(field: str) -> None:
    """A quote size below zero is no quote: the frame is rejected, not passed on."""
    frame = {"arg": {"channel": "tickers", "instId": "BTC-USDT"},
             "data": [{"instType": "SPOT", "instId": "BTC-USDT", "askPx": "30220.1", "askSz": "3",
                       "bidPx": "30210.4", "bidSz": "4", "ts": "1652459223003"}]}
    frame["data"][0][field] = "-1"
    with pytest.raises(VenueProtocolError, match="negative"):
        OkxCodec().decode(orjson.dumps(frame), 1)


@pytest.mark.parametrize("field, value", [
    ("ctVal", "0"), ("ctVal", "-100"), ("ctMult", "-1"), ("tickSz", "0"), ("tickSz", "-0.1"),
    ("lotSz", "-1"), ("minSz", "-1"),
])
def test_instrument_with_a_nonsense_size_is_malformed(field: str, value: str) -> None:
    """A contract size that is not positive (a negative one would turn every notional and PnL
    around), a tick or lot that is not positive or a negative minimum is no instrument."""
    row = {"instType": "SWAP", "instId": "BTC-USD-SWAP", "uly": "BTC-USD", "settleCcy": "BTC",
           "ctVal": "100", "ctMult": "1", "ctType": "inverse", "tickSz": "0.1", "lotSz": "1",
           "minSz": "1", "state": "live"}
    row[field] = value
    with pytest.raises(VenueProtocolError):
        OkxCodec().decode_rest("https://www.okx.com/api/v5/public/instruments?instType=SWAP",
                               orjson.dumps({"code": "0", "msg": "", "data": [row]}), 1)
