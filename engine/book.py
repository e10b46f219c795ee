"""A normalized L2 order book for one instrument.

Theory of operation: each side is a plain ``dict`` price -> size plus a sorted Python ``list``
of its keys, kept in order with ``bisect``. A size change on an existing level (the common
case) touches only the dict; only inserting or deleting a level moves the key list. Both key
lists are ascending with the *best* price at the end (asks are stored negated), so the levels
that change most, near the top, are inserted and removed with the shortest ``memmove``. This
beats ``SortedDict`` about 2x on the real Binance USD-M level stream (see
``benchmarks/bench_books.py``); negating a float is exact, so no key ever drifts.

Prices are floats parsed from the venue's decimal strings: parsing maps equal decimals to the
same double and no arithmetic ever produces a key. Books fed events carrying ``raw_bids`` /
``raw_asks`` (venues with a checksum over their own strings, e.g. OKX) additionally keep the
exact ``(price, size)`` strings per level in ``raw_bids``/``raw_asks`` dicts; every other book
keeps those attributes ``None`` and pays nothing.

The book applies what it is given; deciding whether an update may be applied (sequence
continuity, checksums, crossing, staleness) is the integrity layer's job
(``engine.integrity.BookKeeper``), which owns the book's ``status``.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from engine.model import BookDelta, BookSnapshot, BookStatus, Level, RawLevel

_NAN = float("nan")


class OrderBook:
    """Price levels, best prices and depth for one instrument.

    ``bids``/``asks`` are ``dict`` price -> size (unordered: use the query methods for
    ordered access); ``seq`` is the normalized sequence of the last applied event (-1: none).
    """

    __slots__ = ("instrument_id", "bids", "asks", "_bk", "_ak", "raw_bids", "raw_asks", "seq",
                 "ts_event", "ts_recv", "status", "updates", "max_depth")

    def __init__(self, instrument_id: str, max_depth: int = 0) -> None:
        self.instrument_id = instrument_id
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bk: list[float] = []   # bid prices, ascending: best bid last
        self._ak: list[float] = []   # negated ask prices, ascending: best ask last
        self.raw_bids: dict[float, RawLevel] | None = None
        self.raw_asks: dict[float, RawLevel] | None = None
        self.seq = -1
        self.ts_event = 0
        self.ts_recv = 0
        self.status = BookStatus.SYNCING
        self.updates = 0
        self.max_depth = max_depth

    # -- mutation ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every level and the sequence (the status is the integrity layer's)."""
        self.bids = {}
        self.asks = {}
        self._bk = []
        self._ak = []
        self.raw_bids = None
        self.raw_asks = None
        self.seq = -1

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the whole book with ``snap`` (levels with size <= 0 are ignored)."""
        bids = {p: s for p, s in snap.bids if s > 0.0}
        asks = {p: s for p, s in snap.asks if s > 0.0}
        self.bids = bids
        self.asks = asks
        self._bk = sorted(bids)
        self._ak = sorted([-p for p in asks])
        if snap.raw_bids is not None or snap.raw_asks is not None:
            self.raw_bids = {lv[0]: raw for lv, raw in zip(snap.bids, snap.raw_bids or ())
                             if lv[1] > 0.0}
            self.raw_asks = {lv[0]: raw for lv, raw in zip(snap.asks, snap.raw_asks or ())
                             if lv[1] > 0.0}
        else:
            self.raw_bids = None
            self.raw_asks = None
        if snap.depth:
            self.max_depth = snap.depth
        self.seq = snap.seq
        self.ts_event = snap.ts_event
        self.ts_recv = snap.ts_recv
        self.updates += 1
        if self.max_depth:
            self._truncate()

    def apply_delta(self, delta: BookDelta) -> None:
        """Apply absolute level sizes (0 removes a level; removing an unknown level is a no-op,
        as Binance's local-book procedure states)."""
        if self.raw_bids is None and delta.raw_bids is None and delta.raw_asks is None:
            bids = self.bids
            keys = self._bk
            for price, size in delta.bids:
                if size > 0.0:
                    if price not in bids:
                        insort(keys, price)
                    bids[price] = size
                elif bids.pop(price, None) is not None:
                    del keys[bisect_left(keys, price)]
            asks = self.asks
            keys = self._ak
            for price, size in delta.asks:
                if size > 0.0:
                    if price not in asks:
                        insort(keys, -price)
                    asks[price] = size
                elif asks.pop(price, None) is not None:
                    del keys[bisect_left(keys, -price)]
        else:
            self._apply_raw(delta)
        self.seq = delta.seq
        self.ts_event = delta.ts_event
        self.ts_recv = delta.ts_recv
        self.updates += 1
        if self.max_depth:
            self._truncate()

    def set_level(self, is_bid: bool, price: float, size: float) -> None:
        """Set one level's absolute size (0 deletes): the unit the level benchmark measures."""
        if is_bid:
            side, keys, key = self.bids, self._bk, price
        else:
            side, keys, key = self.asks, self._ak, -price
        if size > 0.0:
            if price not in side:
                insort(keys, key)
            side[price] = size
        elif side.pop(price, None) is not None:
            del keys[bisect_left(keys, key)]

    def _apply_raw(self, delta: BookDelta) -> None:
        # Checksummed venues: keep the venue's strings next to the parsed level.
        if self.raw_bids is None:
            self.raw_bids = {}
            self.raw_asks = {}
        raw_asks = self.raw_asks
        assert raw_asks is not None
        for levels, raws, side, keys, rside, sign in (
                (delta.bids, delta.raw_bids, self.bids, self._bk, self.raw_bids, 1.0),
                (delta.asks, delta.raw_asks, self.asks, self._ak, raw_asks, -1.0)):
            if raws is None or len(raws) != len(levels):
                raws = (None,) * len(levels)  # type: ignore[assignment]
            for (price, size), raw in zip(levels, raws):  # type: ignore[arg-type]
                if size > 0.0:
                    if price not in side:
                        insort(keys, sign * price)
                    side[price] = size
                    if raw is not None:
                        rside[price] = raw
                    else:
                        rside.pop(price, None)
                elif side.pop(price, None) is not None:
                    del keys[bisect_left(keys, sign * price)]
                    rside.pop(price, None)

    def _truncate(self) -> None:
        # Depth-limited venue books (OKX books 400, Bybit orderbook.N) do not delete levels
        # that fall out of the window: drop the worst ones locally (venues.md, general rules).
        n = self.max_depth
        for side, keys, raw, sign in ((self.bids, self._bk, self.raw_bids, 1.0),
                                      (self.asks, self._ak, self.raw_asks, -1.0)):
            excess = len(keys) - n
            if excess > 0:
                for k in keys[:excess]:
                    p = sign * k
                    del side[p]
                    if raw is not None:
                        raw.pop(p, None)
                del keys[:excess]

    # -- queries ----------------------------------------------------------------------------
    def best_bid(self) -> Level | None:
        if not self._bk:
            return None
        p = self._bk[-1]
        return (p, self.bids[p])

    def best_ask(self) -> Level | None:
        if not self._ak:
            return None
        p = -self._ak[-1]
        return (p, self.asks[p])

    def best_bid_price(self) -> float:
        """Best bid price, or NaN when the side is empty (cheap for hot paths)."""
        return self._bk[-1] if self._bk else _NAN

    def best_ask_price(self) -> float:
        return -self._ak[-1] if self._ak else _NAN

    def mid(self) -> float:
        """Mid price, or NaN if either side is empty."""
        if not self._bk or not self._ak:
            return _NAN
        return 0.5 * (self._bk[-1] - self._ak[-1])

    def spread(self) -> float:
        if not self._bk or not self._ak:
            return _NAN
        return -self._ak[-1] - self._bk[-1]

    def is_crossed(self) -> bool:
        bk, ak = self._bk, self._ak
        return bool(bk) and bool(ak) and bk[-1] >= -ak[-1]

    def depth_bids(self, levels: int = 10) -> list[Level]:
        """Best ``levels`` bids, best first."""
        if levels <= 0:
            return []
        bids = self.bids
        return [(p, bids[p]) for p in reversed(self._bk[-levels:])]

    def depth_asks(self, levels: int = 10) -> list[Level]:
        """Best ``levels`` asks, best first."""
        if levels <= 0:
            return []
        asks = self.asks
        return [(-k, asks[-k]) for k in reversed(self._ak[-levels:])]

    def raw_depth_bids(self, levels: int = 25) -> list[RawLevel]:
        """Best ``levels`` bids as the venue's (price, size) strings, best first (checksums).

        Empty when the book was never fed raw levels."""
        raw = self.raw_bids
        if raw is None or levels <= 0:
            return []
        return [raw[p] for p in reversed(self._bk[-levels:])]

    def raw_depth_asks(self, levels: int = 25) -> list[RawLevel]:
        """Best ``levels`` asks as the venue's (price, size) strings, best first."""
        raw = self.raw_asks
        if raw is None or levels <= 0:
            return []
        return [raw[-k] for k in reversed(self._ak[-levels:])]

    def size_at(self, side_is_bid: bool, price: float) -> float:
        return (self.bids if side_is_bid else self.asks).get(price, 0.0)

    def volume_to(self, side_is_bid: bool, limit_price: float) -> float:
        """Total size on one side at prices at least as good as ``limit_price``."""
        if side_is_bid:
            keys = self._bk
            bids = self.bids
            return sum([bids[p] for p in keys[bisect_left(keys, limit_price):]])
        keys = self._ak
        asks = self.asks
        return sum([asks[-k] for k in keys[bisect_left(keys, -limit_price):]])

    @property
    def is_live(self) -> bool:
        return self.status is BookStatus.LIVE

    def __repr__(self) -> str:
        return (f"OrderBook({self.instrument_id}, {self.status}, bid={self.best_bid()}, "
                f"ask={self.best_ask()}, seq={self.seq})")
