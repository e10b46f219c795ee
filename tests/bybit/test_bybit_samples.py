"""Every Bybit sample message in ``../shared/marketdata/samples/bybit/`` decodes.

The samples are single messages captured from Bybit's v5 API (public market data, control
frames and private order/execution updates). Public market data must produce the documented
events; private topics are not parsed yet (a later issue) and must decode to ``[]``.
"""

from __future__ import annotations


import pytest

from adapters.bybit import BybitCodec
from engine.model import BookDelta, BookSnapshot, FundingRate, MarkPrice, Quote, Side, Trade
from tests.marketdata import marketdata_dir


SAMPLES = marketdata_dir() / "samples" / "bybit"
WS_LINEAR = "wss://stream.bybit.com/v5/public/linear"
REST_BOOK = "https://api.bybit.com/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=3"

pytestmark = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"Bybit samples not found at {SAMPLES} (set VOLTA_MARKETDATA to the marketdata folder)",
)


def _read(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _ws_samples() -> list[str]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p.name for p in SAMPLES.glob("ws_*.json"))


@pytest.mark.parametrize("name", _ws_samples())
def test_every_websocket_sample_decodes(name: str) -> None:
    codec = BybitCodec()
    codec.on_open(WS_LINEAR)
    events = codec.decode(_read(name), 123, WS_LINEAR)
    assert isinstance(events, list)
    assert codec.last_channel
    if name.startswith("ws_account_"):
        assert events == [], "private topics are not parsed yet"


def test_orderbook_delta_sample() -> None:
    codec = BybitCodec()
    [delta] = codec.decode(_read("ws_orderbook_delta.json"), 5, WS_LINEAR)
    assert isinstance(delta, BookDelta)
    assert delta.instrument_id == "bybit:BTCUSDT"
    assert delta.bids == ((27450.0, 0.4),)
    assert delta.asks == ((27451.0, 0.0),)
    assert (delta.first_seq, delta.seq, delta.prev_seq) == (123456790, 123456790, 123456789)
    assert delta.ts_event == 1709891679500 * 1_000_000
    assert delta.ts_recv == 5
    assert codec.last_channel == "book"


def test_public_trade_sample() -> None:
    codec = BybitCodec()
    [trade] = codec.decode(_read("ws_public_trade.json"), 7, WS_LINEAR)
    assert isinstance(trade, Trade)
    assert trade == Trade("bybit:BTCUSDT", 27451.0, 0.01, Side.BUY,
                          "9dc75fca-4bdd-4773-9f78-6f5d7ab2a110", 1709891679000 * 1_000_000, 7)
    assert codec.last_channel == "trades"


def test_linear_ticker_sample() -> None:
    codec = BybitCodec()
    events = codec.decode(_read("ws_ticker_linear.json"), 9, WS_LINEAR)
    ts = 1673272861686 * 1_000_000
    assert events == [
        Quote("bybit:BTCUSDT", 17215.5, 84.489, 17216.0, 83.02, ts, 9, 24987956059),
        MarkPrice("bybit:BTCUSDT", 17217.33, 17227.36, ts, 9),
        FundingRate("bybit:BTCUSDT", -0.000212, 1673280000000 * 1_000_000, ts, 9),
    ]
    assert codec.last_channel == "ticker"


def test_control_samples() -> None:
    codec = BybitCodec()
    assert codec.decode(_read("ws_subscription_ack.json"), 1) == []
    assert codec.last_channel == "ack"
    assert codec.decode(_read("ws_order_response.json"), 1) == []


def test_rest_orderbook_sample() -> None:
    codec = BybitCodec()
    [snap] = codec.decode_rest(REST_BOOK, _read("http_get_orderbook.json"), 11)
    assert isinstance(snap, BookSnapshot)
    assert snap.instrument_id == "bybit:BTCUSDT"
    assert snap.bids == ((27450.5, 1.5), (27450.0, 2.0), (27449.5, 0.75))
    assert snap.asks == ((27451.0, 1.2), (27451.5, 3.0), (27452.0, 0.5))
    assert snap.seq == 1234567
    assert snap.ts_event == 1709891679000 * 1_000_000
    assert snap.depth == 3
    assert snap.checksum is None


def test_private_rest_sample_is_not_market_data() -> None:
    codec = BybitCodec()
    url = "https://api.bybit.com/v5/order/realtime?category=linear"
    assert codec.decode_rest(url, _read("http_get_orders_realtime.json"), 1) == []
