"""A normalized L2 order book for one instrument.

Theory of operation: each side is a plain ``dict`` price -> size (what every reader uses) plus
a binary heap of its prices with *lazy deletion*: bids as negated prices (a max-heap), asks as
prices. A size change on an existing level (the common case) touches only the dict; a new
level is one ``heappush`` (O(1) on average); a removed level is only a dict ``pop``: its heap
entry goes stale and is dropped when it reaches the top (``best_*``) or at the next compaction
(the heap is rebuilt from the dict when stale entries outnumber live ones). The best price is
the first heap entry still in the dict. On the real Binance USD-M level stream (37 % of level
updates insert or delete a level, spread over the whole depth) this costs a third less per level
than keeping a sorted key list with ``bisect`` (``benchmarks/bench_books.py``).

Only the top of a deep side needs a heap: each side has a *fence* (``_bfence``/``_afence``), and
its heap holds every live level at or better than the fence (invariant). A new level beyond the
fence is only a dict insert. The heap's first live entry is then the best live level at or
better than the fence, which is the best of the side; when no live level at or better than the
fence remains (the heap runs dry while the dict does not), the side's heap is rebuilt with the
fence moved to its ``_TRACKED``-th best level. Sides of at most ``2 * _TRACKED`` levels track
everything (fence at infinity). Deep venue books (Binance: thousands of levels, updates spread
over the whole depth) thus skip most pushes and membership tests. Ordered reads
(``depth_*``, ``raw_depth_*``, ``volume_to``) sort the side's keys once and keep that order
until the next insert or delete. Negating a float is exact, so no key ever drifts.

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

from heapq import heapify, heappop, heappush, nlargest, nsmallest

from engine.model import BookDelta, BookSnapshot, BookStatus, Level, RawLevel

_NAN = float("nan")
_INF = float("inf")
_TRACKED = 128  # levels per side a rebuilt heap tracks (beyond twice that: a fence)


class OrderBook:
    """Price levels, best prices and depth for one instrument.

    ``bids``/``asks`` are ``dict`` price -> size (unordered: use the query methods for
    ordered access); ``seq`` is the normalized sequence of the last applied event (-1: none).
    """

    __slots__ = ("instrument_id", "bids", "asks", "_bh", "_ah", "_bsorted", "_asorted",
                 "raw_bids", "raw_asks", "seq", "ts_event", "ts_recv", "status", "updates",
                 "max_depth", "_bfence", "_afence")

    def __init__(self, instrument_id: str, max_depth: int = 0) -> None:
        self.instrument_id = instrument_id
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bh: list[float] = []   # negated bid prices, a heap (stale entries allowed)
        self._ah: list[float] = []   # ask prices, a heap (stale entries allowed)
        self._bfence = -_INF  # the bid heap holds every live bid >= this
        self._afence = _INF   # the ask heap holds every live ask <= this
        self._bsorted: list[float] | None = None  # bid prices best first, until a level changes
        self._asorted: list[float] | None = None
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
        self._bh = []
        self._ah = []
        self._bfence = -_INF
        self._afence = _INF
        self._bsorted = self._asorted = None
        self.raw_bids = None
        self.raw_asks = None
        self.seq = -1

    def _rebuild(self) -> None:
        """Heaps from the dicts (snapshots, compaction)."""
        self._rebuild_bids()
        self._rebuild_asks()
        self._bsorted = self._asorted = None

    def _rebuild_bids(self) -> None:
        bids = self.bids
        if len(bids) > 2 * _TRACKED:  # (a deep side: its best levels selected in C, no sort)
            top = nlargest(_TRACKED, bids)
            self._bfence = top[-1]
            bh = [-p for p in top]  # (descending: already a valid min-heap of negated prices)
        else:
            self._bfence = -_INF
            bh = [-p for p in bids]
            heapify(bh)
        self._bh = bh

    def _rebuild_asks(self) -> None:
        asks = self.asks
        if len(asks) > 2 * _TRACKED:
            ah = nsmallest(_TRACKED, asks)  # (ascending: already a valid heap)
            self._afence = ah[-1]
        else:
            self._afence = _INF
            ah = list(asks)
            heapify(ah)
        self._ah = ah

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the whole book with ``snap`` (levels with size <= 0 are ignored)."""
        self.bids = {p: s for p, s in snap.bids if s > 0.0}
        self.asks = {p: s for p, s in snap.asks if s > 0.0}
        self._rebuild()
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
            heap = self._bh
            fence = self._bfence
            for price, size in delta.bids:
                if size > 0.0:
                    if price >= fence and price not in bids:
                        heappush(heap, -price)
                    bids[price] = size
                else:
                    bids.pop(price, None)
            asks = self.asks
            heap = self._ah
            fence = self._afence
            for price, size in delta.asks:
                if size > 0.0:
                    if price <= fence and price not in asks:
                        heappush(heap, price)
                    asks[price] = size
                else:
                    asks.pop(price, None)
            # any level added or removed invalidates the cached order (sizes alone do not)
            self._bsorted = self._asorted = None
            if len(self._bh) > 2 * len(bids) + 64 or len(self._ah) > 2 * len(asks) + 64:
                self._rebuild()
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
            side, heap, key, tracked = self.bids, self._bh, -price, price >= self._bfence
        else:
            side, heap, key, tracked = self.asks, self._ah, price, price <= self._afence
        if size > 0.0:
            if price not in side:
                if tracked:
                    heappush(heap, key)
                self._bsorted = self._asorted = None
                side[price] = size  # (before a compaction, which rebuilds from the dict)
                if len(heap) > 2 * len(side) + 64:
                    self._rebuild()
            else:
                side[price] = size
        elif side.pop(price, None) is not None:
            self._bsorted = self._asorted = None

    def _apply_raw(self, delta: BookDelta) -> None:
        # Checksummed venues: keep the venue's strings next to the parsed level.
        if self.raw_bids is None:
            self.raw_bids = {}
            self.raw_asks = {}
        raw_asks = self.raw_asks
        assert raw_asks is not None
        for levels, raws, side, heap, rside, sign, fence in (
                (delta.bids, delta.raw_bids, self.bids, self._bh, self.raw_bids, -1.0,
                 -self._bfence),
                (delta.asks, delta.raw_asks, self.asks, self._ah, raw_asks, 1.0, self._afence)):
            if raws is None or len(raws) != len(levels):
                raws = (None,) * len(levels)  # type: ignore[assignment]
            for (price, size), raw in zip(levels, raws):  # type: ignore[arg-type]
                if size > 0.0:
                    if sign * price <= fence and price not in side:  # (tracked: see the top)
                        heappush(heap, sign * price)
                    side[price] = size
                    if raw is not None:
                        rside[price] = raw
                    else:
                        rside.pop(price, None)
                elif side.pop(price, None) is not None:
                    rside.pop(price, None)
        self._bsorted = self._asorted = None
        if len(self._bh) > 2 * len(self.bids) + 64 or len(self._ah) > 2 * len(self.asks) + 64:
            self._rebuild()

    def _truncate(self) -> None:
        # Depth-limited venue books (OKX books 400, Bybit orderbook.N) do not delete levels
        # that fall out of the window: drop the worst ones locally (venues.md, general rules).
        n = self.max_depth
        for side, raw, worst in ((self.bids, self.raw_bids, min), (self.asks, self.raw_asks, max)):
            excess = len(side) - n
            if excess <= 0:
                continue
            if excess == 1:
                drop = [worst(side)]
            else:
                ordered = sorted(side)
                drop = ordered[:excess] if worst is min else ordered[-excess:]
            for p in drop:  # (their heap entries go stale)
                del side[p]
                if raw is not None:
                    raw.pop(p, None)
            self._bsorted = self._asorted = None

    # -- ordered access ---------------------------------------------------------------------
    def _bid_order(self) -> list[float]:
        """Bid prices, best first (cached until a level is added or removed)."""
        keys = self._bsorted
        if keys is None:
            keys = self._bsorted = sorted(self.bids, reverse=True)
        return keys

    def _ask_order(self) -> list[float]:
        """Ask prices, best first (cached until a level is added or removed)."""
        keys = self._asorted
        if keys is None:
            keys = self._asorted = sorted(self.asks)
        return keys

    # -- queries ----------------------------------------------------------------------------
    def best_bid_price(self) -> float:
        """Best bid price, or NaN when the side is empty (cheap for hot paths)."""
        heap = self._bh
        bids = self.bids
        while heap:
            p = -heap[0]
            if p in bids:
                return p
            heappop(heap)  # a level removed since it was pushed (lazy deletion)
        if bids:  # every tracked level is gone: track the new top
            self._rebuild_bids()
            return -self._bh[0]
        return _NAN

    def best_ask_price(self) -> float:
        """Best ask price, or NaN when the side is empty."""
        heap = self._ah
        asks = self.asks
        while heap:
            p = heap[0]
            if p in asks:
                return p
            heappop(heap)
        if asks:  # every tracked level is gone: track the new top
            self._rebuild_asks()
            return self._ah[0]
        return _NAN

    def best_bid(self) -> Level | None:
        p = self.best_bid_price()
        return None if p != p else (p, self.bids[p])

    def best_ask(self) -> Level | None:
        p = self.best_ask_price()
        return None if p != p else (p, self.asks[p])

    def mid(self) -> float:
        """Mid price, or NaN if either side is empty."""
        return 0.5 * (self.best_bid_price() + self.best_ask_price())

    def spread(self) -> float:
        return self.best_ask_price() - self.best_bid_price()

    def is_crossed(self) -> bool:
        return self.best_bid_price() >= self.best_ask_price()  # (False when a side is empty)

    def depth_bids(self, levels: int = 10) -> list[Level]:
        """Best ``levels`` bids, best first."""
        if levels <= 0:
            return []
        bids = self.bids
        return [(p, bids[p]) for p in self._bid_order()[:levels]]

    def depth_asks(self, levels: int = 10) -> list[Level]:
        """Best ``levels`` asks, best first."""
        if levels <= 0:
            return []
        asks = self.asks
        return [(p, asks[p]) for p in self._ask_order()[:levels]]

    def raw_depth_bids(self, levels: int = 25) -> list[RawLevel]:
        """Best ``levels`` bids as the venue's (price, size) strings, best first (checksums).

        Empty when the book was never fed raw levels."""
        raw = self.raw_bids
        if raw is None or levels <= 0:
            return []
        return [raw[p] for p in self._bid_order()[:levels]]

    def raw_depth_asks(self, levels: int = 25) -> list[RawLevel]:
        """Best ``levels`` asks as the venue's (price, size) strings, best first."""
        raw = self.raw_asks
        if raw is None or levels <= 0:
            return []
        return [raw[p] for p in self._ask_order()[:levels]]

    def size_at(self, side_is_bid: bool, price: float) -> float:
        return (self.bids if side_is_bid else self.asks).get(price, 0.0)

    def volume_to(self, side_is_bid: bool, limit_price: float) -> float:
        """Total size on one side at prices at least as good as ``limit_price``."""
        if side_is_bid:
            bids = self.bids
            return sum([s for p, s in bids.items() if p >= limit_price])
        return sum([s for p, s in self.asks.items() if p <= limit_price])

    @property
    def is_live(self) -> bool:
        return self.status is BookStatus.LIVE

    def __repr__(self) -> str:
        return (f"OrderBook({self.instrument_id}, {self.status}, bid={self.best_bid()}, "
                f"ask={self.best_ask()}, seq={self.seq})")
