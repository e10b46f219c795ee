"""A normalized L2 order book for one instrument.

Theory of operation: each side is a plain ``dict`` price -> size (what every reader uses); the
best price of each side is kept in an attribute (``_bb``/``_ba``, NaN for an empty side), so
``best_*``, ``mid`` and the integrity layer's crossed check cost an attribute read. Applying a
level is the dict update plus, for levels near the top, one membership test and a compare:

* a new level better than the best becomes the best (one float compare);
* deleting the best level marks it lost. A side of at most ``_SCAN_MAX`` levels is *untracked*
  (fence at infinity): its next best is ``max``/``min`` over the dict keys, in C, with nothing
  kept per insert (the short books of the simulated venue and of most option books). A deeper
  side is *tracked*: the next best is found among the side's *candidates* (``_bc``/``_ac``), a
  list holding every live level at or better than the side's *fence* (``_bfence``/``_afence``),
  plus dead or repeated prices (lazy deletion). New levels at or better than the fence are
  appended; levels beyond it are only a dict insert. The best live candidate is the best of the
  side, because every level beyond the fence is worse than any live candidate. When no
  candidate is alive (the price ran through all of them), or an untracked side has grown past
  ``_SCAN_MAX``, the side is rescanned in C (``heapq.nlargest``/``nsmallest``): the candidates
  become its ``_TRACKED`` best levels and the fence the last of them (a side of at most
  ``_SCAN_MAX`` levels becomes untracked). Candidates are compacted (deduplicated, dead ones
  dropped, the fence moved up to the ``_TRACKED``-th best) when their list grows past a bound.

On the Binance USD-M BTCUSDT stream (443,000 level updates, 55 % within the top 128 levels,
the best bid or ask deleted about once per 14 depth events) this costs about a third less than
the lazy-deletion heap it replaced (``benchmarks/bench_books.py``). Ordered reads (``depth_*``,
``raw_depth_*``, ``volume_to``) sort the side's keys once and keep that order until the next
insert or delete.

Prices are floats parsed from the venue's decimal strings: parsing maps equal decimals to the
same double and no arithmetic ever produces a key. Books fed events carrying ``raw_bids`` /
``raw_asks`` (venues with a checksum over their own strings, e.g. OKX) additionally keep the
exact ``(price, size)`` strings per level in ``raw_bids``/``raw_asks`` dicts; every other book
keeps those attributes ``None`` and pays nothing.

Columnar mode: a diff carrying ``columns`` (set by the event store only) switches the book to
the compiled tick-window core of ``engine.book_array`` (one call per diff instead of one dict
operation per level); ``bids``/``asks`` then become read-only ``SideView`` mappings over it
(``get``, ``in``, ``[]`` look one slot up; iteration reads a dict built once per change). Any
other mutation (a snapshot, a diff without columns, ``set_level``, ``clear``) returns the book
to plain dicts first, so live books never enter this mode.

The book applies what it is given; deciding whether an update may be applied (sequence
continuity, checksums, crossing, staleness) is the integrity layer's job
(``engine.integrity.BookKeeper``), which owns the book's ``status``.
"""

from __future__ import annotations

from heapq import nlargest, nsmallest
from typing import TYPE_CHECKING

from engine.model import BookDelta, BookSnapshot, BookStatus, DeltaColumns, Level, RawLevel

if TYPE_CHECKING:
    from engine.book_array import ArraySides

_NAN = float("nan")
BID, ASK = 0, 1  # side numbers of the columnar core (``engine.book_array``)
_INF = float("inf")
_NINF = -_INF
_TRACKED = 128  # levels per side a rescan tracks (beyond twice that: a fence)
_SCAN_MAX = 2 * _TRACKED  # sides up to this deep are untracked: ``max``/``min`` over the keys
_COMPACT_AT = 4 * _TRACKED + 64  # candidates kept before a compaction


class _NoCore:
    """Stands in for the columnar core where a book cannot take it."""

    @staticmethod
    def apply_diff(cols: DeltaColumns) -> bool:
        return False


_NO_CORE = _NoCore()


class OrderBook:
    """Price levels, best prices and depth for one instrument.

    ``bids``/``asks`` are ``dict`` price -> size (unordered: use the query methods for
    ordered access); ``seq`` is the normalized sequence of the last applied event (-1: none).
    """

    __slots__ = ("instrument_id", "bids", "asks", "_bb", "_ba", "_bc", "_ac", "_bsorted",
                 "_asorted", "raw_bids", "raw_asks", "seq", "ts_event", "ts_recv", "status",
                 "updates", "changes", "max_depth", "_bfence", "_afence", "_core", "_core_refused")

    def __init__(self, instrument_id: str, max_depth: int = 0) -> None:
        self.instrument_id = instrument_id
        # (a read-only ``SideView`` mapping in columnar mode)
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._core: ArraySides | None = None  # the columnar core (None: plain dicts)
        self._core_refused = False  # levels off the diff's tick grid: stay on dicts
        self._bb = _NAN  # best bid (NaN: no bids)
        self._ba = _NAN  # best ask (NaN: no asks)
        # a tracked side's candidates: every live bid >= _bfence (and dead entries); an
        # untracked side (fence at -inf / inf) keeps none
        self._bc: list[float] = []
        self._ac: list[float] = []
        self._bfence = _NINF
        self._afence = _INF
        self._bsorted: list[float] | None = None  # bid prices best first, until a level changes
        self._asorted: list[float] | None = None
        self.raw_bids: dict[float, RawLevel] | None = None
        self.raw_asks: dict[float, RawLevel] | None = None
        self.seq = -1
        self.ts_event = 0
        self.ts_recv = 0
        self.status = BookStatus.SYNCING
        self.updates = 0
        # bumped by every mutation (clear, snapshot, delta, set_level): a reader that saw a
        # level's size when this was ``n`` still knows it while this is ``n``
        self.changes = 0
        self.max_depth = max_depth

    # -- mutation ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every level and the sequence (the status is the integrity layer's)."""
        self.changes += 1
        self._core = None
        self._core_refused = False
        self.bids = {}
        self.asks = {}
        self._rescan()
        self.raw_bids = None
        self.raw_asks = None
        self.seq = -1

    def _rescan(self) -> None:
        """Candidates, fences and best prices from the dicts (snapshots, clears)."""
        self._rescan_bids()
        self._rescan_asks()
        self._bsorted = self._asorted = None

    def _rescan_bids(self) -> float:
        """Track the best bids anew; returns the best bid (-inf: none)."""
        bids = self.bids
        if len(bids) > _SCAN_MAX:  # (a deep side: its best levels selected in C, no sort)
            top = nlargest(_TRACKED, bids)
            self._bfence = top[-1]
            self._bc = top
            best = top[0]
        else:  # untracked
            self._bfence = _NINF
            self._bc = []
            best = max(bids) if bids else _NINF  # (``default=`` takes max's slow path)
        self._bb = best if bids else _NAN
        return best

    def _rescan_asks(self) -> float:
        """Track the best asks anew; returns the best ask (inf: none)."""
        asks = self.asks
        if len(asks) > _SCAN_MAX:
            top = nsmallest(_TRACKED, asks)
            self._afence = top[-1]
            self._ac = top
            best = top[0]
        else:
            self._afence = _INF
            self._ac = []
            best = min(asks) if asks else _INF
        self._ba = best if asks else _NAN
        return best

    def _next_bid(self) -> float:
        """The best bid after the best one was deleted (-inf: none left)."""
        bids = self.bids
        if self._bfence == _NINF:  # untracked
            if len(bids) > _SCAN_MAX:
                return self._rescan_bids()
            return max(bids) if bids else _NINF
        live = [p for p in self._bc if p in bids]
        if not live:
            return self._rescan_bids()
        self._bc = live
        return max(live)

    def _next_ask(self) -> float:
        """The best ask after the best one was deleted (inf: none left)."""
        asks = self.asks
        if self._afence == _INF:
            if len(asks) > _SCAN_MAX:
                return self._rescan_asks()
            return min(asks) if asks else _INF
        live = [p for p in self._ac if p in asks]
        if not live:
            return self._rescan_asks()
        self._ac = live
        return min(live)

    def _compact_bids(self) -> None:
        bids = self.bids
        live = [p for p in set(self._bc) if p in bids]
        if len(live) > _TRACKED:  # every live bid >= the new fence is among the kept ones
            live = nlargest(_TRACKED, live)
            self._bfence = live[-1]
        self._bc = live

    def _compact_asks(self) -> None:
        asks = self.asks
        live = [p for p in set(self._ac) if p in asks]
        if len(live) > _TRACKED:
            live = nsmallest(_TRACKED, live)
            self._afence = live[-1]
        self._ac = live

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the whole book with ``snap`` (levels with size <= 0 are ignored)."""
        self.changes += 1
        self._core = None
        self._core_refused = False
        self.bids = {p: s for p, s in snap.bids if s > 0.0}
        self.asks = {p: s for p, s in snap.asks if s > 0.0}
        self._rescan()
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

    def apply_delta(self, delta: BookDelta) -> bool:
        """Apply absolute level sizes (0 removes a level; removing an unknown level is a no-op,
        as Binance's local-book procedure states). Returns whether the book is crossed after it
        (best bid >= best ask; False when a side is empty): the integrity layer's check, read
        without a second call.

        Written out here: a columnar diff (a backtest's) and the common live case (plain
        dicts, no venue strings, an untracked side); the rest (leaving the columnar core,
        venue strings, tracked sides) is in other methods, so the bytecode a live update runs
        is short: between two updates the rest of the process evicts the caches, and each
        line of code or data touched costs a miss."""
        self.changes += 1
        cols = delta.columns
        if cols is not None and (self._core or self._enter_columnar(cols)).apply_diff(cols):
            core = self._core
            assert core is not None
            self._bb, self._ba = core.res.tolist()
            self._bsorted = self._asorted = None
            # (a columnar book has no depth limit: the truncation below does nothing)
        elif (self._core is None and self.raw_bids is None and delta.raw_bids is None
                and delta.raw_asks is None) or not self._apply_special(delta):
            levels = delta.bids
            if levels:
                if self._bfence == _NINF:  # untracked: nothing kept per insert, a lost best is ``max`` in C
                    bids = self.bids
                    best = self._bb
                    if best != best:
                        best = _NINF
                    lost = False
                    for price, size in levels:
                        if size > 0.0:
                            bids[price] = size
                            if price > best:
                                best = price
                        else:
                            bids.pop(price, None)
                            if price == best:
                                lost = True
                    # (the best deleted, or the side empty; no second lookup after mere updates)
                    if best == _NINF or (lost and best not in bids):
                        best = self._next_bid()
                    self._bb = best if best != _NINF else _NAN
                else:
                    self._apply_tracked_bids(levels)
            levels = delta.asks
            if levels:
                if self._afence == _INF:
                    asks = self.asks
                    best = self._ba
                    if best != best:
                        best = _INF
                    lost = False
                    for price, size in levels:
                        if size > 0.0:
                            asks[price] = size
                            if price < best:
                                best = price
                        else:
                            asks.pop(price, None)
                            if price == best:
                                lost = True
                    if best == _INF or (lost and best not in asks):
                        best = self._next_ask()
                    self._ba = best if best != _INF else _NAN
                else:
                    self._apply_tracked_asks(levels)
            # any level added or removed invalidates the cached order (sizes alone do not)
            self._bsorted = self._asorted = None
        self.seq = delta.seq
        self.ts_event = delta.ts_event
        self.ts_recv = delta.ts_recv
        self.updates += 1
        if self.max_depth:
            self._truncate()
        return self._bb >= self._ba

    def _apply_special(self, delta: BookDelta) -> bool:
        """``apply_delta``'s levels off its common path, for a diff that is not columnar (or
        that the columnar core refused): back to plain dicts first if the book was columnar;
        a book keeping the venue's strings applies them here (True). False: plain levels, for
        ``apply_delta`` to apply."""
        if self._core is not None:
            self._leave_columnar()
        if self.raw_bids is None and delta.raw_bids is None and delta.raw_asks is None:
            return False
        self._apply_raw(delta)
        return True

    def _apply_tracked_bids(self, levels: tuple[Level, ...]) -> None:
        """A delta's bids on a tracked side (candidates above the fence, see the module doc)."""
        bids = self.bids
        fence = self._bfence
        best = self._bb
        if best != best:
            best = _NINF
        cands = self._bc
        lost = False
        for price, size in levels:
            if size > 0.0:
                if price >= fence and price not in bids:
                    cands.append(price)
                    if price > best:
                        best = price
                bids[price] = size
            else:
                bids.pop(price, None)
                if price == best:
                    lost = True
        if lost and best not in bids:
            best = self._next_bid()
        if len(self._bc) > _COMPACT_AT:
            self._compact_bids()
        self._bb = best if best != _NINF else _NAN

    def _apply_tracked_asks(self, levels: tuple[Level, ...]) -> None:
        """A delta's asks on a tracked side."""
        asks = self.asks
        fence = self._afence
        best = self._ba
        if best != best:
            best = _INF
        cands = self._ac
        lost = False
        for price, size in levels:
            if size > 0.0:
                if price <= fence and price not in asks:
                    cands.append(price)
                    if price < best:
                        best = price
                asks[price] = size
            else:
                asks.pop(price, None)
                if price == best:
                    lost = True
        if lost and best not in asks:
            best = self._next_ask()
        if len(self._ac) > _COMPACT_AT:
            self._compact_asks()
        self._ba = best if best != _INF else _NAN

    def _enter_columnar(self, cols: DeltaColumns) -> ArraySides | _NoCore:
        """The columnar core for this book's levels, or a stand-in that refuses every diff
        (checksummed or depth-limited book, levels off the tick grid, store gone)."""
        if self.raw_bids is not None or self.max_depth or self._core_refused:
            return _NO_CORE
        # (imported here: numba loads only in processes that replay columnar stores)
        from engine.book_array import ArraySides, SideView, levels_block

        if levels_block(cols.block) is None:
            return _NO_CORE
        tick = cols.tick
        bids, asks = self.bids, self.asks
        if not (tick > 0.0 and ArraySides.on_grid(list(bids), tick)
                and ArraySides.on_grid(list(asks), tick)):
            self._core_refused = True
            return _NO_CORE
        core = self._core = ArraySides(tick, bids, asks)
        self.bids = SideView(core, BID)  # type: ignore[assignment]
        self.asks = SideView(core, ASK)  # type: ignore[assignment]
        return core

    def _leave_columnar(self) -> None:
        """Back to plain dicts (a mutation the columnar core does not take)."""
        core = self._core
        assert core is not None
        self._core = None
        self.bids = dict(core.side_dict(BID))
        self.asks = dict(core.side_dict(ASK))
        self._rescan()

    def set_level(self, is_bid: bool, price: float, size: float) -> None:
        """Set one level's absolute size (0 deletes): the unit the level benchmark measures."""
        self.changes += 1
        if self._core is not None:
            self._leave_columnar()
        if is_bid:
            bids = self.bids
            if size > 0.0:
                if price not in bids:
                    self._bsorted = None
                    fence = self._bfence
                    if price >= fence:
                        if not price <= self._bb:  # (NaN: the side was empty)
                            self._bb = price
                        if fence != _NINF:  # a tracked side's candidate
                            self._bc.append(price)
                            if len(self._bc) > _COMPACT_AT:
                                bids[price] = size  # (before the compaction, which reads the dict)
                                self._compact_bids()
                bids[price] = size
            elif bids.pop(price, None) is not None:
                self._bsorted = None
                if price == self._bb:
                    best = self._next_bid()
                    self._bb = best if best != _NINF else _NAN
        else:
            asks = self.asks
            if size > 0.0:
                if price not in asks:
                    self._asorted = None
                    fence = self._afence
                    if price <= fence:
                        if not price >= self._ba:
                            self._ba = price
                        if fence != _INF:
                            self._ac.append(price)
                            if len(self._ac) > _COMPACT_AT:
                                asks[price] = size
                                self._compact_asks()
                asks[price] = size
            elif asks.pop(price, None) is not None:
                self._asorted = None
                if price == self._ba:
                    best = self._next_ask()
                    self._ba = best if best != _INF else _NAN

    def _apply_raw(self, delta: BookDelta) -> None:
        # Checksummed venues: keep the venue's strings next to the parsed level.
        if self.raw_bids is None:
            self.raw_bids = {}
            self.raw_asks = {}
        set_level = self.set_level
        for is_bid, levels, raws, rside in (
                (True, delta.bids, delta.raw_bids, self.raw_bids),
                (False, delta.asks, delta.raw_asks, self.raw_asks)):
            assert rside is not None
            if raws is None or len(raws) != len(levels):
                raws = (None,) * len(levels)  # type: ignore[assignment]
            for (price, size), raw in zip(levels, raws):  # type: ignore[arg-type]
                set_level(is_bid, price, size)
                if size > 0.0 and raw is not None:
                    rside[price] = raw
                else:
                    rside.pop(price, None)

    def _truncate(self) -> None:
        # Depth-limited venue books (OKX books 400, Bybit orderbook.N) do not delete levels
        # that fall out of the window: drop the worst ones locally (venues.md, general rules).
        # (Never the best level: its candidate entries go stale.)
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
            for p in drop:
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
        """Best bid price, or NaN when the side is empty (an attribute read)."""
        return self._bb

    def best_ask_price(self) -> float:
        """Best ask price, or NaN when the side is empty."""
        return self._ba

    def best_bid(self) -> Level | None:
        p = self._bb
        return None if p != p else (p, self.bids[p])

    def best_ask(self) -> Level | None:
        p = self._ba
        return None if p != p else (p, self.asks[p])

    def mid(self) -> float:
        """Mid price, or NaN if either side is empty."""
        return 0.5 * (self._bb + self._ba)

    def spread(self) -> float:
        return self._ba - self._bb

    def is_crossed(self) -> bool:
        return self._bb >= self._ba  # (False when a side is empty)

    def depth_bids(self, levels: int = 10) -> list[Level]:
        """Best ``levels`` bids, best first."""
        if levels <= 0:
            return []
        if self._core is not None:
            return self._core.depth(BID, levels)
        bids = self.bids
        return [(p, bids[p]) for p in self._bid_order()[:levels]]

    def depth_asks(self, levels: int = 10) -> list[Level]:
        """Best ``levels`` asks, best first."""
        if levels <= 0:
            return []
        if self._core is not None:
            return self._core.depth(ASK, levels)
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
