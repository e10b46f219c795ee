"""Binance stream names, REST URLs and (un)subscribe frames.

Theory of operation: pure string builders. Stream names are lower-case symbols
(``btcusdt@depth@100ms``); the live (un)subscribe frame is
``{"method":"SUBSCRIBE","params":[...],"id":N}``, answered with ``{"result":null,"id":N}``
(https://developers.binance.com/en/docs/products/spot/web-socket-streams,
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams).
"""

from __future__ import annotations

import orjson

MARKETS = ("spot", "usdm", "coinm")
VENUES = {"spot": "binance-spot", "usdm": "binance-usdm", "coinm": "binance-coinm"}
WS_BASE = {"spot": "wss://stream.binance.com:9443", "usdm": "wss://fstream.binance.com",
           "coinm": "wss://dstream.binance.com"}
REST_BASE = {"spot": "https://api.binance.com/api/v3", "usdm": "https://fapi.binance.com/fapi/v1",
             "coinm": "https://dapi.binance.com/dapi/v1"}


def depth_channel(symbol: str, speed: str = "100ms") -> str:
    """Diff-depth stream: spot ``@depth`` (1000 ms) / ``@depth@100ms``; futures also ``@0ms``,
    ``@250ms`` (default, written without suffix) and ``@500ms``."""
    base = f"{symbol.lower()}@depth"
    return base if not speed or speed in ("1000ms", "250ms") else f"{base}@{speed}"


def book_channel(symbol: str, speed: str = "100ms") -> str:
    """The channel a book is built from (alias of ``depth_channel``)."""
    return depth_channel(symbol, speed)


def book_ticker_channel(symbol: str) -> str:
    return f"{symbol.lower()}@bookTicker"


def trade_channel(symbol: str) -> str:
    return f"{symbol.lower()}@trade"


def agg_trade_channel(symbol: str) -> str:
    return f"{symbol.lower()}@aggTrade"


def mark_price_channel(symbol: str, fast: bool = True) -> str:
    """Futures mark price and funding (``@markPrice@1s`` or every 3 s)."""
    return f"{symbol.lower()}@markPrice@1s" if fast else f"{symbol.lower()}@markPrice"


def stream_url(market: str, channels: list[str]) -> str:
    """Combined-stream URL: ``/stream?streams=a/b/c`` (frames arrive in an envelope)."""
    return f"{WS_BASE[market]}/stream?streams={'/'.join(channels)}"


def depth_snapshot_url(market: str, symbol: str, limit: int = 1000) -> str:
    """REST depth snapshot (``/api/v3/depth``, ``/fapi/v1/depth``, ``/dapi/v1/depth``)."""
    return f"{REST_BASE[market]}/depth?symbol={symbol.upper()}&limit={limit}"


def exchange_info_url(market: str) -> str:
    return f"{REST_BASE[market]}/exchangeInfo"


def encode_method(method: str, channels: list[str], request_id: int) -> str:
    return orjson.dumps({"method": method, "params": list(channels), "id": request_id}).decode()
