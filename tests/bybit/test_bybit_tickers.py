"""Bybit ``tickers.{symbol}``: delta merging (linear/inverse), option and spot tickers.

Formats from https://bybit-exchange.github.io/docs/v5/websocket/public/ticker: linear and
inverse push a snapshot then deltas holding only the fields that changed; option and spot
tickers are snapshots (option field names ``bidPrice``/``bidIv``/``markPriceIv``...).
"""

from __future__ import annotations

import math

import orjson
import pytest

from adapters.bybit import BybitCodec
from engine.model import FundingRate, MarkPrice, OptionSummary, Quote, VenueProtocolError

LINEAR = "wss://stream.bybit.com/v5/public/linear"
OPTION = "wss://stream.bybit.com/v5/public/option"
SPOT = "wss://stream.bybit.com/v5/public/spot"
MS = 1_000_000

SNAPSHOT = {
    "topic": "tickers.BTCUSDT", "type": "snapshot",
    "data": {"symbol": "BTCUSDT", "tickDirection": "PlusTick", "lastPrice": "17216.00",
             "markPrice": "17217.33", "indexPrice": "17227.36", "openInterest": "68744.761",
             "nextFundingTime": "1673280000000", "fundingRate": "-0.000212",
             "bid1Price": "17215.50", "bid1Size": "84.489", "ask1Price": "17216.00",
             "ask1Size": "83.020", "fundingIntervalHour": "8"},
    "cs": 24987956059, "ts": 1673272861686,
}


def _frame(obj: dict) -> bytes:
    return orjson.dumps(obj)


def _delta(cs: int, ts: int, **fields: str) -> bytes:
    return _frame({"topic": "tickers.BTCUSDT", "type": "delta",
                   "data": {"symbol": "BTCUSDT", **fields}, "cs": cs, "ts": ts})


def test_linear_ticker_deltas_merge_into_full_events() -> None:
    codec = BybitCodec()
    codec.on_open(LINEAR)
    assert len(codec.decode(_frame(SNAPSHOT), 1)) == 3
    # Only the bid moved: a full Quote with the ask carried over from the snapshot.
    assert codec.decode(_delta(24987956060, 1673272861786, bid1Price="17215.00", bid1Size="1.5"), 2) == [
        Quote("bybit:BTCUSDT", 17215.0, 1.5, 17216.0, 83.02, 1673272861786 * MS, 2, 24987956060)]
    # Only the ask size moved.
    [q] = codec.decode(_delta(24987956070, 1673272861886, ask1Size="10"), 3)
    assert (q.bid_price, q.bid_size, q.ask_price, q.ask_size) == (17215.0, 1.5, 17216.0, 10.0)
    # Only the mark price moved: MarkPrice keeps the last index price.
    assert codec.decode(_delta(24987956080, 1673272861986, markPrice="17220.01"), 4) == [
        MarkPrice("bybit:BTCUSDT", 17220.01, 17227.36, 1673272861986 * MS, 4)]
    # A funding rate update keeps the next funding time.
    assert codec.decode(_delta(24987956090, 1673272862086, fundingRate="0.0001"), 5) == [
        FundingRate("bybit:BTCUSDT", 0.0001, 1673280000000 * MS, 1673272862086 * MS, 5)]
    # Fields that feed no event produce nothing.
    assert codec.decode(_delta(24987956100, 1673272862186, lastPrice="17230.00",
                               turnover24h="1.0"), 6) == []
    assert codec.last_channel == "ticker"


def test_a_new_snapshot_replaces_the_merged_record() -> None:
    codec = BybitCodec()
    codec.decode(_frame(SNAPSHOT), 1, LINEAR)
    codec.decode(_delta(1, 1673272861786, bid1Price="1.00"), 2)
    events = codec.decode(_frame(SNAPSHOT), 3)
    assert events[0].bid_price == 17215.5


def test_a_delta_before_any_snapshot_emits_only_complete_events() -> None:
    codec = BybitCodec()
    codec.on_open(LINEAR)
    assert codec.decode(_delta(1, 1673272861786, bid1Price="17215.00"), 1) == []
    assert codec.decode(_delta(2, 1673272861787, bid1Size="1", ask1Price="17216", ask1Size="2"), 2) == [
        Quote("bybit:BTCUSDT", 17215.0, 1.0, 17216.0, 2.0, 1673272861787 * MS, 2, 2)]


def test_on_open_forgets_ticker_state() -> None:
    codec = BybitCodec()
    codec.decode(_frame(SNAPSHOT), 1, LINEAR)
    codec.on_open(LINEAR)
    assert codec.decode(_delta(1, 1673272861786, bid1Price="17215.00"), 2) == []


def test_linear_futures_without_funding_emit_no_funding_rate() -> None:
    codec = BybitCodec()
    frame = {"topic": "tickers.BTC-26DEC25", "type": "snapshot",
             "data": {"symbol": "BTC-26DEC25", "markPrice": "121144.63", "indexPrice": "114132.51",
                      "deliveryTime": "2025-12-26T08:00:00Z", "nextFundingTime": "",
                      "fundingRate": "", "bid1Price": "111254.50", "bid1Size": "0.176",
                      "ask1Price": "131001.00", "ask1Size": "0.580"},
             "cs": 31337927919, "ts": 1760409119857}
    events = codec.decode(_frame(frame), 1, LINEAR)
    assert [type(e) for e in events] == [Quote, MarkPrice]


def test_option_ticker_gives_quote_mark_and_summary_with_fractional_ivs() -> None:
    # The documented option ticker example (Bybit v5 websocket ticker page).
    frame = {"id": "tickers.BTC-6JAN23-17500-C-2480334983-1672917511074",
             "topic": "tickers.BTC-6JAN23-17500-C", "ts": 1672917511074,
             "data": {"symbol": "BTC-6JAN23-17500-C", "bidPrice": "0", "bidSize": "0",
                      "bidIv": "0", "askPrice": "10", "askSize": "5.1", "askIv": "0.514",
                      "lastPrice": "10", "highPrice24h": "25", "lowPrice24h": "5",
                      "markPrice": "7.86976724", "indexPrice": "16823.73",
                      "markPriceIv": "0.4896", "underlyingPrice": "16815.1",
                      "openInterest": "49.85", "turnover24h": "446802.8473",
                      "volume24h": "26.55", "totalVolume": "86", "totalTurnover": "1437431",
                      "delta": "0.047831", "gamma": "0.00021453", "vega": "0.81351067",
                      "theta": "-19.9115368", "predictedDeliveryPrice": "0",
                      "change24h": "-0.33333334"},
             "type": "snapshot"}
    codec = BybitCodec()
    quote, mark, summary = codec.decode(_frame(frame), 8, OPTION)
    iid = "bybit:BTC-6JAN23-17500-C"
    ts = 1672917511074 * MS
    assert quote == Quote(iid, 0.0, 0.0, 10.0, 5.1, ts, 8, 0)
    assert mark == MarkPrice(iid, 7.86976724, 16823.73, ts, 8)
    assert isinstance(summary, OptionSummary)
    assert summary.mark_iv == 0.4896  # already a fraction: 48.96 %
    assert summary.ask_iv == 0.514
    assert math.isnan(summary.bid_iv)  # no bid: IV "0" means "no quote"
    assert (summary.mark_price, summary.underlying_price) == (7.86976724, 16815.1)
    assert (summary.delta, summary.gamma, summary.vega, summary.theta) == (
        0.047831, 0.00021453, 0.81351067, -19.9115368)
    assert summary.open_interest == 49.85
    assert summary.ts_event == ts


def test_option_ticker_is_recognized_without_the_url() -> None:
    frame = {"topic": "tickers.BTC-27DEC24-60000-C-USDT", "ts": 1700000000000, "type": "snapshot",
             "data": {"symbol": "BTC-27DEC24-60000-C-USDT", "bidPrice": "100", "bidSize": "1",
                      "bidIv": "0.5", "askPrice": "110", "askSize": "2", "askIv": "0.52",
                      "markPrice": "105", "indexPrice": "37000", "markPriceIv": "0.51",
                      "underlyingPrice": "37010", "openInterest": "3", "delta": "0.1",
                      "gamma": "0.0001", "vega": "10", "theta": "-5"}}
    events = BybitCodec().decode(_frame(frame), 1)
    assert [type(e) for e in events] == [Quote, MarkPrice, OptionSummary]
    assert events[2].bid_iv == 0.5


def test_spot_ticker_has_no_book_fields() -> None:
    frame = {"topic": "tickers.BTCUSDT", "ts": 1673853746003, "type": "snapshot",
             "cs": 2588407389,
             "data": {"symbol": "BTCUSDT", "lastPrice": "21109.77", "highPrice24h": "21426.99",
                      "lowPrice24h": "20575", "prevPrice24h": "20704.93",
                      "volume24h": "6780.866843", "turnover24h": "141946527.22907118",
                      "price24hPcnt": "0.0196", "usdIndexPrice": "21120.2400136"}}
    codec = BybitCodec()
    [mark] = codec.decode(_frame(frame), 1, SPOT)
    assert mark.instrument_id == "bybit:BTCUSDT-SPOT"
    assert math.isnan(mark.mark_price) and mark.index_price == 21120.2400136


def test_rest_tickers() -> None:
    body = {"retCode": 0, "retMsg": "OK", "time": 1672376496682,
            "result": {"category": "option", "list": [
                {"symbol": "BTC-30DEC22-18000-C", "bid1Price": "0", "bid1Size": "0",
                 "bid1Iv": "0", "ask1Price": "435", "ask1Size": "0.66", "ask1Iv": "5",
                 "lastPrice": "435", "markPrice": "0.00000009", "indexPrice": "16600.55",
                 "markIv": "0.7567", "underlyingPrice": "16590.42", "openInterest": "6.3",
                 "delta": "0.00000006", "gamma": "0.00000001", "vega": "0.00000004",
                 "theta": "-0.00000152"}]}}
    codec = BybitCodec()
    url = "https://api.bybit.com/v5/market/tickers?category=option&baseCoin=BTC"
    quote, mark, summary = codec.decode_rest(url, orjson.dumps(body), 3)
    assert quote.ask_price == 435.0
    assert summary.mark_iv == 0.7567 and summary.ask_iv == 5.0


@pytest.mark.parametrize("field", ["bid1Size", "ask1Size"])
def test_ticker_with_a_negative_size_is_malformed(field: str) -> None:
    """A quote size below zero is no quote: the frame is rejected, not passed on."""
    codec = BybitCodec()
    codec.on_open(LINEAR)
    snap = {**SNAPSHOT, "data": {**SNAPSHOT["data"], field: "-1"}}
    with pytest.raises(VenueProtocolError, match="negative"):
        codec.decode(_frame(snap), 1)
