"""Bybit v5 topic names, categories and subscribe/unsubscribe/ping frames.

Theory of operation: a Bybit v5 public connection serves one *category* (``spot``,
``linear``, ``inverse``, ``option``), named by the URL path ``/v5/public/{category}``; REST
calls name it in the ``category=`` query. Topics are ``orderbook.{depth}.{symbol}``,
``publicTrade.{symbol}`` (options: ``publicTrade.{baseCoin}``) and ``tickers.{symbol}``.
Requests are ``{"op": ..., "args": [...], "req_id": ...}``; spot accepts at most 10 topics per
request, the other categories cap the total ``args`` length at 21,000 characters, so
``chunk_topics`` splits long lists.

Instrument ids: Bybit spot and linear share symbols (``BTCUSDT`` is both the spot pair and the
USDT perpetual) but the engine has one venue name, ``bybit``; two books keyed the same would
corrupt each other. Spot symbols therefore carry ``SPOT_SUFFIX`` in Volta (``bybit:BTCUSDT-SPOT``;
no Bybit symbol ends in ``-SPOT``); ``venue_symbol`` strips it again before anything is sent.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import orjson

CATEGORIES = ("spot", "linear", "inverse", "option")
SPOT_SUFFIX = "-SPOT"

# https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook (1/50/200/1000) and
# venues.md section 4 (500 for linear/inverse on older documentation).
BOOK_DEPTHS: dict[str, tuple[int, ...]] = {
    "linear": (1, 50, 200, 500, 1000),
    "inverse": (1, 50, 200, 500, 1000),
    "spot": (1, 50, 200, 1000),
    "option": (25, 100),
}
SPOT_TOPICS_PER_REQUEST = 10  # https://bybit-exchange.github.io/docs/v5/ws/connect
MAX_ARGS_CHARS = 21_000  # ditto: "args" length limit for the other categories


def category_from_url(url: str) -> str | None:
    """The category named by a websocket path ``/v5/public/{cat}`` or a REST ``category=``."""
    if not url:
        return None
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if "/v5/public/" in path:
        cat = path.rsplit("/", 1)[-1]
        if cat in CATEGORIES:
            return cat
    if parts.query:
        cat = parse_qs(parts.query).get("category", [""])[0]
        if cat in CATEGORIES:
            return cat
    return None


def volta_symbol(symbol: str, category: str) -> str:
    """The Volta symbol (instrument id suffix) of a Bybit symbol in ``category``."""
    return symbol + SPOT_SUFFIX if category == "spot" else symbol


def venue_symbol(symbol: str) -> str:
    """The Bybit symbol of a Volta symbol (strips ``SPOT_SUFFIX``)."""
    return symbol[: -len(SPOT_SUFFIX)] if symbol.endswith(SPOT_SUFFIX) else symbol


def book_channel(symbol: str, depth: int = 50, category: str = "linear") -> str:
    """``orderbook.{depth}.{symbol}``; ``depth`` must be one the category offers."""
    allowed = BOOK_DEPTHS.get(category)
    if allowed is None:
        raise ValueError(f"unknown Bybit category {category!r}")
    if depth not in allowed:
        raise ValueError(f"Bybit {category} order books come in depths {allowed}, not {depth}")
    return f"orderbook.{depth}.{venue_symbol(symbol)}"


def trades_channel(symbol: str, category: str = "linear") -> str:
    """``publicTrade.{symbol}``; option trades are published per base coin (``publicTrade.BTC``)."""
    sym = venue_symbol(symbol)
    if category == "option":
        sym = sym.split("-", 1)[0]
    return f"publicTrade.{sym}"


def ticker_channel(symbol: str) -> str:
    """``tickers.{symbol}``."""
    return f"tickers.{venue_symbol(symbol)}"


def chunk_topics(topics: list[str], category: str) -> list[list[str]]:
    """Split ``topics`` into requests that respect Bybit's per-request limits."""
    if category == "spot":
        n = SPOT_TOPICS_PER_REQUEST
        return [topics[i : i + n] for i in range(0, len(topics), n)]
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 2  # the enclosing brackets
    for topic in topics:
        cost = len(topic) + 3  # quotes and a comma
        if current and size + cost > MAX_ARGS_CHARS:
            chunks.append(current)
            current, size = [], 2
        current.append(topic)
        size += cost
    if current:
        chunks.append(current)
    return chunks


def encode_op(op: str, args: list[str] | None, req_id: str) -> str:
    """One request frame, e.g. ``{"op":"subscribe","args":["orderbook.50.BTCUSDT"],"req_id":"1"}``."""
    frame: dict[str, object] = {"op": op}
    if args is not None:
        frame["args"] = args
    frame["req_id"] = req_id
    return orjson.dumps(frame).decode()
