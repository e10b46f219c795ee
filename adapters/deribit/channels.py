"""Deribit channel names: building them for subscriptions and classifying them on receipt.

Theory of operation: a notification names its channel (``params.channel``); the codec maps
each distinct channel string once to a ``ChannelInfo`` (kind, instrument id, depth) and caches
the result, so the hot path is one dict lookup instead of a split per frame. Channel grammar
(https://docs.deribit.com/subscriptions/orderbook/bookinstrument_nameinterval.md and the
``trades``/``ticker``/``deribit_price_index`` pages):

* ``book.{instrument}.{interval}``                    interval ``raw`` / ``100ms`` / ``agg2``
* ``book.{instrument}.{group}.{depth}.{interval}``    grouped, always a full snapshot
* ``trades.{instrument}.{interval}`` / ``trades.{kind}.{currency}.{interval}``
* ``ticker.{instrument}.{interval}``
* ``deribit_price_index.{index_name}``

Instrument names never contain ``.`` (Deribit writes decimal strikes with ``d``, e.g.
``XRP_USDC-...-0d625-C``), so splitting on ``.`` is unambiguous.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.model import instrument_id

VENUE = "deribit"

# Channel kinds (small ints: compared on every frame).
BOOK = 1
BOOK_GROUPED = 2
TRADES = 3
TICKER = 4
INDEX = 5
OTHER = 0

KIND_NAMES = {BOOK: "book", BOOK_GROUPED: "book", TRADES: "trades", TICKER: "ticker",
              INDEX: "index", OTHER: "other"}


class ChannelInfo(NamedTuple):
    kind: int
    instrument_id: str
    """``deribit:{instrument}`` (``deribit:{index_name}`` for price indices; "" if per-item)."""
    depth: int
    name: str
    """Short name for replay statistics (``KIND_NAMES``; the prefix for unknown channels)."""


def classify(channel: str) -> ChannelInfo:
    """Classify a notification channel. Unknown channels give ``OTHER`` (valid, ignored)."""
    parts = channel.split(".")
    head = parts[0]
    n = len(parts)
    if head == "book":
        if n == 3:
            return ChannelInfo(BOOK, instrument_id(VENUE, parts[1]), 0, "book")
        if n >= 5:
            # book.{instrument}.{group}.{depth}.{interval}: depth is the 2nd last field.
            return ChannelInfo(BOOK_GROUPED, instrument_id(VENUE, parts[1]), int(parts[-2]),
                               "book")
    elif head == "trades":
        # The instrument comes with each trade (``trades.{kind}.{currency}`` is multi-instrument).
        return ChannelInfo(TRADES, "", 0, "trades")
    elif head == "ticker" and n >= 2:
        return ChannelInfo(TICKER, instrument_id(VENUE, parts[1]), 0, "ticker")
    elif head == "deribit_price_index" and n == 2:
        return ChannelInfo(INDEX, instrument_id(VENUE, parts[1]), 0, "index")
    return ChannelInfo(OTHER, "", 0, head or "other")


def book_channel(instrument: str, interval: str = "raw") -> str:
    """``book.{instrument}.{interval}``: snapshot then changes (``raw`` may need auth now)."""
    return f"book.{instrument}.{interval}"


def grouped_book_channel(instrument: str, group: str = "none", depth: int = 10,
                         interval: str = "100ms") -> str:
    """``book.{instrument}.{group}.{depth}.{interval}``: top ``depth`` levels, full each time."""
    return f"book.{instrument}.{group}.{depth}.{interval}"


def trades_channel(instrument: str, interval: str = "raw") -> str:
    return f"trades.{instrument}.{interval}"


def kind_trades_channel(kind: str, currency: str, interval: str = "raw") -> str:
    """All trades of one ``kind`` (``option``, ``future``, ``any``...) in ``currency``."""
    return f"trades.{kind}.{currency}.{interval}"


def ticker_channel(instrument: str, interval: str = "100ms") -> str:
    return f"ticker.{instrument}.{interval}"


def index_channel(index_name: str) -> str:
    """``deribit_price_index.{index_name}``, e.g. ``btc_usd``."""
    return f"deribit_price_index.{index_name}"
