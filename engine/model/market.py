"""Normalized market-data events: what every venue codec produces.

Theory of operation: a codec turns one venue frame into zero or more of these. Book events
carry *absolute* sizes per price level (a size of 0 removes the level), which is what every
supported venue sends. Sequence numbers are normalized so that one rule checks continuity on
every venue: a delta continues the book when ``delta.prev_seq == book.seq``. ``first_seq``
is the first venue update id covered by the event (Binance ``U``); it equals ``seq`` where
the venue has no such range. Events are immutable; timestamps are integer nanoseconds
(``ts_event`` from the venue, ``ts_recv`` when the frame arrived).
"""

from __future__ import annotations

import msgspec

from engine.model.enums import BookStatus, Side

Level = tuple[float, float]
"""A price level: (price, size)."""

RawLevel = tuple[str, str]
"""A price level exactly as the venue wrote it, for checksums over the venue's strings."""


class BookSnapshot(msgspec.Struct, frozen=True, gc=False):
    instrument_id: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    seq: int
    ts_event: int
    ts_recv: int
    checksum: int | None = None
    raw_bids: tuple[RawLevel, ...] | None = None
    raw_asks: tuple[RawLevel, ...] | None = None
    depth: int = 0
    """Levels the venue maintains (0: unlimited); deeper levels are truncated locally."""


class DeltaColumns(msgspec.Struct, frozen=True, gc=False):
    """Where one diff's levels sit in a columnar store (``backtest.store``), so a book can apply
    them in one compiled call (``engine.book_array``): ``block`` names a ``(3, N)`` float64
    array registered there by the store (rows: ``rint(price / tick)``, the parsed price, the
    size); the diff's ``nb`` bids then ``na`` asks start at column ``start``. The same levels
    are in the diff's ``bids``/``asks`` tuples (what every other reader uses)."""

    block: int
    start: int
    nb: int
    na: int
    tick: float


class BookDelta(msgspec.Struct, frozen=True, gc=False):
    instrument_id: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    seq: int
    prev_seq: int
    ts_event: int
    ts_recv: int
    first_seq: int = -1
    checksum: int | None = None
    raw_bids: tuple[RawLevel, ...] | None = None
    raw_asks: tuple[RawLevel, ...] | None = None
    columns: DeltaColumns | None = None
    """Set only by the event store: the same levels, columnar (live codecs leave it None)."""


class Trade(msgspec.Struct, frozen=True, gc=False):
    instrument_id: str
    price: float
    size: float
    aggressor: Side | None
    trade_id: str
    ts_event: int
    ts_recv: int


class Quote(msgspec.Struct, frozen=True, gc=False):
    """Best bid and offer as the venue publishes it (Binance ``bookTicker``, OKX ``bbo``)."""

    instrument_id: str
    bid_price: float
    bid_size: float
    ask_price: float
    ask_size: float
    ts_event: int
    ts_recv: int
    seq: int = 0


class MarkPrice(msgspec.Struct, frozen=True, gc=False):
    """Venue mark and index price (NaN where the venue did not send one)."""

    instrument_id: str
    mark_price: float
    index_price: float
    ts_event: int
    ts_recv: int


class FundingRate(msgspec.Struct, frozen=True, gc=False):
    instrument_id: str
    rate: float
    next_funding_ns: int
    ts_event: int
    ts_recv: int


class OptionSummary(msgspec.Struct, frozen=True, gc=False):
    """The venue's own option analytics (Deribit ``ticker``, OKX ``opt-summary``, Bybit tickers).

    IVs are fractions (0.65 = 65 %); Greeks are the venue's, in the venue's units. NaN where
    the venue did not publish a field.
    """

    instrument_id: str
    mark_price: float
    mark_iv: float
    bid_iv: float
    ask_iv: float
    underlying_price: float
    delta: float
    gamma: float
    vega: float
    theta: float
    open_interest: float
    ts_event: int
    ts_recv: int


class BookStatusChanged(msgspec.Struct, frozen=True, gc=False):
    """A book became SYNCING, LIVE or STALE; ``reason`` says why (e.g. ``"gap"``)."""

    instrument_id: str
    status: BookStatus
    reason: str
    ts: int
    detail: str = ""


MarketEvent = BookSnapshot | BookDelta | Trade | Quote | MarkPrice | FundingRate | OptionSummary


class VenueStatusChanged(msgspec.Struct, frozen=True, gc=False):
    """A venue session connected, lost its connection, or was rate limited.

    ``status`` is one of ``"connected"``, ``"disconnected"``, ``"reconnecting"``,
    ``"rate_limited"``; the kill switch and the books react to it. ``stream`` says which
    connection: ``"market_data"``, ``"private"``, or ``""`` for the whole venue (one socket
    carries both, as on Deribit); only a market-data loss resets the venue's books.
    """

    venue: str
    status: str
    reason: str
    ts: int
    stream: str = ""
