"""The catalog's Parquet tables: one schema per event kind, and events <-> columns.

Theory of operation: every replayable event kind has one Arrow schema. Each row is one event;
all tables share three leading columns: ``ts_recv`` (local receive time, the replay clock),
``ts_event`` (the venue's time), both int64 nanoseconds since the Unix epoch (UTC), and ``ord``
(int64, the event's position in the import that wrote it: the tie-break that makes replay order
exact when several events share a receive time). A missing number is a Parquet null (read back
as NaN: "unpriced", never 0). Book snapshots and deltas share the ``book`` table, one row per
event with the levels as list columns (absolute sizes; a size of 0 removes the level). As in
the event store, venue checksums and the raw level strings they are computed over are not kept:
they are verified by the integrity layer when the data is imported (see docs/data.md).

Auxiliary kinds (``liquidation``, ``kline``, ``book_depth``, ``metrics``, ``ticker``) hold what
the engine has no event for (Binance klines, depth-by-percentage, open interest...): readable
from a notebook, never replayed. docs/data.md documents every column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from engine.model import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    MarkPrice,
    OptionSummary,
    Quote,
    Side,
    Trade,
)

_COMMON = [("ts_recv", pa.int64()), ("ts_event", pa.int64()), ("ord", pa.int64())]
_F = pa.float64()
_LIST = pa.list_(pa.float64())

OSUM_FIELDS = ("mark_price", "mark_iv", "bid_iv", "ask_iv", "underlying_price", "delta", "gamma",
               "vega", "theta", "open_interest")


def _schema(*cols: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(_COMMON + list(cols))


SCHEMAS: dict[str, pa.Schema] = {
    "book": _schema(("snapshot", pa.bool_()), ("seq", pa.int64()), ("prev_seq", pa.int64()),
                    ("first_seq", pa.int64()), ("bid_px", _LIST),
                    ("bid_sz", _LIST), ("ask_px", _LIST), ("ask_sz", _LIST)),
    "trade": _schema(("price", _F), ("size", _F), ("aggressor", pa.string()),
                     ("trade_id", pa.string())),
    "quote": _schema(("bid_price", _F), ("bid_size", _F), ("ask_price", _F), ("ask_size", _F),
                     ("seq", pa.int64())),
    "mark": _schema(("mark_price", _F), ("index_price", _F)),
    "funding": _schema(("rate", _F), ("next_funding_ns", pa.int64())),
    "option_summary": _schema(*[(f, _F) for f in OSUM_FIELDS]),
    # auxiliary (notebook only)
    "liquidation": _schema(("price", _F), ("size", _F), ("side", pa.string()), ("id", pa.string())),
    "kline": _schema(("interval", pa.string()), ("open", _F), ("high", _F), ("low", _F),
                     ("close", _F), ("volume", _F), ("close_time_ns", pa.int64()),
                     ("quote_volume", _F), ("trades", pa.int64()), ("taker_buy_volume", _F),
                     ("taker_buy_quote_volume", _F)),
    "book_depth": _schema(("percentage", _F), ("depth", _F), ("notional", _F)),
    "metrics": _schema(("open_interest", _F), ("open_interest_value", _F),
                       ("top_trader_long_short_count_ratio", _F),
                       ("top_trader_long_short_position_ratio", _F),
                       ("long_short_count_ratio", _F), ("taker_long_short_volume_ratio", _F)),
    "ticker": _schema(("open_interest", _F), ("last_price", _F), ("predicted_funding_rate", _F)),
}
REPLAYED = ("book", "trade", "quote", "mark", "funding", "option_summary")
AUX = tuple(k for k in SCHEMAS if k not in REPLAYED)

KIND_OF: dict[type, str] = {BookSnapshot: "book", BookDelta: "book", Trade: "trade", Quote: "quote",
                            MarkPrice: "mark", FundingRate: "funding",
                            OptionSummary: "option_summary"}
_AGGR = {None: None, Side.BUY: "buy", Side.SELL: "sell"}
_AGGR_BACK = {None: None, "buy": Side.BUY, "sell": Side.SELL}


def _nan_none(x: float) -> float | None:
    return None if x != x else x


def row_of(ev: Any, ord_: int) -> tuple[str, tuple]:
    """(kind, row values in schema order) of a replayable engine event."""
    cls = type(ev)
    head = (ev.ts_recv, ev.ts_event, ord_)
    if cls is BookDelta or cls is BookSnapshot:
        snap = cls is BookSnapshot
        return "book", head + (
            snap, ev.seq, -1 if snap else ev.prev_seq, -1 if snap else ev.first_seq,
            [p for p, _ in ev.bids], [s for _, s in ev.bids],
            [p for p, _ in ev.asks], [s for _, s in ev.asks])
    if cls is Trade:
        return "trade", head + (_nan_none(ev.price), _nan_none(ev.size), _AGGR[ev.aggressor],
                                ev.trade_id)
    if cls is Quote:
        return "quote", head + (_nan_none(ev.bid_price), _nan_none(ev.bid_size),
                                _nan_none(ev.ask_price), _nan_none(ev.ask_size), ev.seq)
    if cls is MarkPrice:
        return "mark", head + (_nan_none(ev.mark_price), _nan_none(ev.index_price))
    if cls is FundingRate:
        return "funding", head + (_nan_none(ev.rate), ev.next_funding_ns)
    if cls is OptionSummary:
        return "option_summary", head + tuple(_nan_none(getattr(ev, f)) for f in OSUM_FIELDS)
    raise TypeError(f"not a replayable market event: {cls.__name__}")


def to_table(kind: str, rows: list[tuple]) -> pa.Table:
    """Rows (tuples in schema order) -> an Arrow table of ``kind``'s schema."""
    schema = SCHEMAS[kind]
    cols = list(zip(*rows)) if rows else [()] * len(schema)
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema)],
                                schema=schema)


def _floats(col: pa.ChunkedArray) -> list[float]:
    """A float column as Python floats, nulls as NaN."""
    return col.to_numpy().tolist() if col.null_count == 0 else \
        col.fill_null(float("nan")).to_numpy().tolist()


def _ints(col: pa.ChunkedArray) -> list[int]:
    return col.to_numpy().tolist()


def _levels(px: pa.ChunkedArray, sz: pa.ChunkedArray) -> Iterator[tuple]:
    """Per row, the tuple of (price, size) levels of two parallel list columns."""
    a = px.combine_chunks()
    b = sz.combine_chunks()
    offs = a.offsets.to_numpy().tolist()
    flat = list(zip(a.values.to_numpy().tolist(), b.values.to_numpy().tolist()))
    for i in range(len(offs) - 1):
        yield tuple(flat[offs[i]:offs[i + 1]])


def events_of(kind: str, t: pa.Table, iid: str) -> Iterator[Any]:
    """The engine events of one table of a replayable kind, in row order (lazily: the caller
    builds them in replay order, so consecutive events sit together in memory)."""
    ts, te = _ints(t["ts_recv"]), _ints(t["ts_event"])
    if kind == "book":
        snap = t["snapshot"].to_pylist()
        seq, prev, first = _ints(t["seq"]), _ints(t["prev_seq"]), _ints(t["first_seq"])
        bids = _levels(t["bid_px"], t["bid_sz"])
        asks = _levels(t["ask_px"], t["ask_sz"])
        return (BookSnapshot(iid, b, a, s, e, r) if sn else BookDelta(iid, b, a, s, p, e, r, f)
                for sn, s, p, f, b, a, e, r in zip(snap, seq, prev, first, bids, asks, te, ts))
    if kind == "trade":
        aggr = [_AGGR_BACK[x] for x in t["aggressor"].to_pylist()]
        return (Trade(iid, p, s, g, i, e, r) for p, s, g, i, e, r in zip(
            _floats(t["price"]), _floats(t["size"]), aggr, t["trade_id"].to_pylist(), te, ts))
    if kind == "quote":
        return (Quote(iid, bp, bs, ap, as_, e, r, q) for bp, bs, ap, as_, q, e, r in zip(
            _floats(t["bid_price"]), _floats(t["bid_size"]), _floats(t["ask_price"]),
            _floats(t["ask_size"]), _ints(t["seq"]), te, ts))
    if kind == "mark":
        return (MarkPrice(iid, m, x, e, r) for m, x, e, r in zip(
            _floats(t["mark_price"]), _floats(t["index_price"]), te, ts))
    if kind == "funding":
        return (FundingRate(iid, x, n, e, r) for x, n, e, r in zip(
            _floats(t["rate"]), _ints(t["next_funding_ns"]), te, ts))
    if kind == "option_summary":
        cols = [_floats(t[f]) for f in OSUM_FIELDS]
        make: Callable[..., OptionSummary] = OptionSummary
        return (make(iid, *vals, e, r) for *vals, e, r in zip(*cols, te, ts))
    raise ValueError(f"kind {kind!r} is not replayed")
