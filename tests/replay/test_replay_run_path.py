"""``Replayer.run`` (the inlined path ``volta replay`` takes) has exactly the effects of feeding
the same records one by one through ``Replayer.feed`` (the reference path): the same counts per
channel, frames, instruments, venue-quote comparisons, malformed frames and books. Frames follow
Binance's USD-M documented formats (REST depth snapshot, ``depthUpdate`` with ``pu``,
``bookTicker``, ``trade``), plus frames the codec rejects and frames it does not normalize."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.capture import CaptureRecord
from adapters.replay import Replayer, ReplayError

URL = "wss://fstream.binance.com/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker/btcusdt@trade"
REST = "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000"


def _ws(ts: int, stream: str, data: dict[str, Any]) -> CaptureRecord:
    return CaptureRecord(ts, "binance-usdm", "ws", URL, json.dumps({"stream": stream, "data": data}))


def _depth(u: int, pu: int, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": 1_700_000_000_000 + u, "T": 1_700_000_000_000 + u,
            "s": "BTCUSDT", "U": pu + 1, "u": u, "pu": pu, "b": bids, "a": asks}


def _ticker(u: int, bid: str, bid_qty: str, ask: str, ask_qty: str) -> dict[str, Any]:
    return {"e": "bookTicker", "u": u, "s": "BTCUSDT", "b": bid, "B": bid_qty, "a": ask,
            "A": ask_qty, "T": 1_700_000_000_000 + u, "E": 1_700_000_000_000 + u}


def _records() -> list[CaptureRecord]:
    snapshot = json.dumps({"lastUpdateId": 100, "E": 1, "T": 1,
                           "bids": [["100.0", "1.0"], ["99.5", "2.0"]],
                           "asks": [["100.5", "1.5"], ["101.0", "3.0"]]})
    trade = {"e": "trade", "E": 1_700_000_000_105, "T": 1_700_000_000_105, "s": "BTCUSDT",
             "t": 7, "p": "100.5", "q": "0.2", "X": "MARKET", "m": False}
    return [
        CaptureRecord(1, "binance-usdm", "ws-open", URL, ""),
        _ws(2, "btcusdt@depth@0ms", _depth(99, 95, [["100.0", "1.0"]], [])),   # buffered, dropped
        CaptureRecord(3, "binance-usdm", "rest", REST, snapshot),
        _ws(4, "btcusdt@depth@0ms", _depth(102, 99, [["100.0", "1.2"]], [])),   # bridges 100
        _ws(5, "btcusdt@bookTicker", _ticker(102, "100.0", "1.2", "100.5", "1.5")),
        _ws(6, "btcusdt@trade", trade),
        _ws(7, "btcusdt@depth@0ms", _depth(104, 102, [], [["100.5", "0"]])),
        # the venue's top at 104 says ask size 2.9, the rebuilt book 3.0: one difference
        _ws(8, "btcusdt@bookTicker", _ticker(104, "100.0", "1.2", "101.0", "2.9")),
        _ws(9, "btcusdt@bookTicker", _ticker(105, "100.0", "1.1", "101.0", "3.0")),
        CaptureRecord(10, "binance-usdm", "ws", URL, "{not json"),                    # malformed
        CaptureRecord(11, "binance-usdm", "ws", URL, '{"result":null,"id":1}'),        # ack
        CaptureRecord(12, "binance-usdm", "ws-sent", URL, '{"method":"SUBSCRIBE"}'),
        _ws(13, "btcusdt@depth@0ms", _depth(110, 106, [["99.0", "1.0"]], [])),  # gap: pu 106
    ]


def test_run_equals_feeding_records_one_by_one() -> None:
    records = _records()
    inlined = Replayer({"binance-usdm"})
    inlined.run(records)
    reference = Replayer({"binance-usdm"})
    for record in records:
        reference.feed(record)
    got, want = inlined.summary(), reference.summary()
    assert got == want
    # what the records hold, counted by hand: 10 ws frames + 1 REST body
    assert got["messages"] == 11 and got["ws_sent"] == 1 and got["opens"] == 1
    assert got["by_channel"] == {"binance-usdm:ack": 1, "binance-usdm:bookTicker": 3,
                                 "binance-usdm:depth": 4, "binance-usdm:depthSnapshot": 1,
                                 "binance-usdm:invalid": 1, "binance-usdm:trade": 1}
    assert got["malformed"] == 1 and got["gaps"] == 1 and got["updates_applied"] == 2
    # book states are judged once quotes flow: only the state at 104 (the one at 102 came first)
    assert got["bbo_compared"] == 1 and got["bbo_mismatches"] == 1
    assert got["books"]["binance-usdm:BTCUSDT"]["bid"] == [100.0, 1.2]
    assert got["books"]["binance-usdm:BTCUSDT"]["ask"] == [101.0, 3.0]
    assert got["instruments"] == ["binance-usdm:BTCUSDT"]


def test_counts_are_kept_when_a_run_stops_on_an_unknown_venue() -> None:
    records = _records()[:6] + [CaptureRecord(50, "nowhere", "ws", URL, "{}")]
    replayer = Replayer({"binance-usdm"})
    with pytest.raises(ReplayError, match="no codec for venue 'nowhere'"):
        replayer.run(records)
    assert replayer.messages == 5
    assert replayer.by_channel["binance-usdm:bookTicker"] == 1
    assert replayer.by_channel["binance-usdm:trade"] == 1
