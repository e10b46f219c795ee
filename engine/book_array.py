"""A compiled, tick-indexed core for ``OrderBook`` sides fed columnar depth levels.

Theory of operation. The event store (``backtest.store``) attaches to each depth diff it loads a
``DeltaColumns``: where the diff's levels sit in one store-wide ``(3, N)`` float64 array (rows:
tick index ``rint(price / tick)``, the price exactly as parsed from the venue's string, the
size). A book that receives such a diff switches to this core and applies the whole diff in one
compiled call (``apply_columns``) instead of one dict operation per level.

Each side is a window of tick slots (a power of two: eight times the span of the levels the
book held when it switched, between ``MIN_WINDOW`` and ``MAX_WINDOW``) (``px``: the parsed price, ``sz``: the size, 0
for no level) starting at the side's own ``base`` tick, plus an *overflow* dict price -> size
for the levels beyond the window (Binance depth spans millions of ticks; only the part near the
touch is updated often). The window is placed so that the best level sits a quarter of the
window from its inner edge (bids: at 3/4 of it, asks: at 1/4), so every level better than the
window's content is inside it or triggers a *recentre*; the overflow only ever holds levels
worse than the window. The kernel keeps, per side, ``base``, the best slot (-1: the window side
is empty), the level count of the window and a version counter. Levels outside the window are
not applied by the kernel: their positions are handed back and applied here (dict operations
on the overflow, or a recentre when a level lands beyond the window's better edge, the window
empties or the best drifts into the window's worse quarter: all rare).

Prices handed to readers are the stored floats, never ``idx * tick``. ``SideView`` is the
read-only mapping ``OrderBook.bids``/``asks`` become in this mode: ``get``/``[]``/``in`` look
one slot up (then the overflow); iteration, ``items()`` and ``len()`` read a dict materialized
once per version (cached until the next change).

The kernel is ``cache=True``, ``fastmath=False`` and compiled at install time by
``python -m engine.book_array`` (``make``), never on the trading path.
"""

from __future__ import annotations

import itertools
import sys
import time
import weakref
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import numpy as np
from numba import njit

from engine.model import DeltaColumns

MAX_WINDOW = 1 << 15  # tick slots per side (0.1 USD ticks: 3,276.8 USD around the touch)
MIN_WINDOW = 1 << 8  # (a thin option book: 4 KiB a side)
BASE, BEST, COUNT, VERSION, USED, DEEP = range(6)  # per-side state slots (``state[side, k]``)
BID, ASK = 0, 1
RECENTRE_BID = 1 << 40  # (flags in ``apply_columns``'s result, above any level count)
RECENTRE_ASK = 1 << 41
EMPTY = np.int64(-(1 << 63))  # overflow table keys: a never-used slot ...
TOMB = np.int64(-(1 << 63) + 1)  # ... and a deleted one (probing continues past it)
_MIX = np.int64(-7046029254386353131)  # 0x9E3779B97F4A7C15: Fibonacci hashing of tick indices
_USED, _DEEP = USED, DEEP
_I_W, _I_H, _I_OUT, _I_KEYS = 12, 13, 14, 16  # ``i`` buffer: window, table, out sizes; keys


@njit(cache=True, fastmath=False, nogil=True, inline="always")
def _probe(keys: np.ndarray, side: int, idx: np.int64) -> tuple[int, bool]:
    """The slot of ``idx`` in a side's overflow table (found) or where to insert it."""
    mask = keys.shape[1] - 1
    h = ((idx * _MIX) >> 20) & mask
    free = -1
    while True:
        key = keys[side, h]
        if key == EMPTY:
            return (free if free >= 0 else h), False
        if key == TOMB:
            if free < 0:
                free = h
        elif key == idx:
            return h, True
        h = (h + 1) & mask


@njit(cache=True, fastmath=False, nogil=True)
def apply_columns(f: np.ndarray, i: np.ndarray, lv: np.ndarray, start: int, nb: int,
                  na: int) -> int:
    """Apply ``nb`` bid then ``na`` ask levels of ``lv[:, start:]`` to a book's buffers.

    Everything sits in two flat buffers (few arguments: a call costs per argument), laid out
    as ``ArraySides._buffers`` describes: ``i`` (int64) the per-side state, window and table
    sizes, the overflow keys and the ``out`` list; ``f`` (float64) the windows' prices and
    sizes, the overflow prices and sizes and the best prices. Overflow tables: open
    addressing, linear probing, a power of two, at most 3/4 full. ``out`` receives the ``lv``
    column of every new level beyond its window's better edge. Returns 0 when nothing more is
    to be done, -1 when a table must grow first (nothing applied), else how many levels are
    in ``out`` plus ``RECENTRE_BID``/``RECENTRE_ASK`` for a side whose best drifted into its
    window's worse quarter or left the window (the caller recentres)."""
    w = i[_I_W]
    hs = i[_I_H]
    if 4 * (i[_USED] + nb) > 3 * hs or 4 * (i[6 + _USED] + na) > 3 * hs:
        return -1
    mask = hs - 1
    sz_at = 2 * w
    opx_at = 4 * w
    osz_at = opx_at + 2 * hs
    res_at = osz_at + 2 * hs
    out_at = _I_KEYS + 2 * hs
    n_out = 0
    for side in range(2):
        lo = start if side == 0 else start + nb
        hi = lo + (nb if side == 0 else na)
        so = 6 * side
        if lo < hi:
            base = i[so]
            best = i[so + 1]
            count = i[so + 2]
            pw = side * w
            ko = _I_KEYS + side * hs
            oo = side * hs
            lost = False
            for k in range(lo, hi):
                idx = np.int64(lv[0, k])
                g = idx - base
                s = lv[2, k]
                if g < 0 or g >= w:
                    if (g >= w) if side == 0 else (g < 0):
                        # better than every level held: new ones recentre the window,
                        # deletes are of levels that do not exist
                        if s > 0.0:
                            i[out_at + n_out] = k
                            n_out += 1
                        continue
                    h = ((idx * _MIX) >> 20) & mask
                    free = -1
                    found = False
                    while True:
                        key = i[ko + h]
                        if key == EMPTY:
                            if free >= 0:
                                h = free
                            break
                        if key == TOMB:
                            if free < 0:
                                free = h
                        elif key == idx:
                            found = True
                            break
                        h = (h + 1) & mask
                    if found:
                        if s > 0.0:
                            f[opx_at + oo + h] = lv[1, k]
                            f[osz_at + oo + h] = s
                        else:
                            i[ko + h] = TOMB
                            i[so + _DEEP] -= 1
                    elif s > 0.0:
                        if i[ko + h] == EMPTY:
                            i[so + _USED] += 1
                        i[ko + h] = idx
                        f[opx_at + oo + h] = lv[1, k]
                        f[osz_at + oo + h] = s
                        i[so + _DEEP] += 1
                    continue
                j = pw + g
                if s > 0.0:
                    if f[sz_at + j] <= 0.0:
                        count += 1
                        if best < 0 or (g > best if side == 0 else g < best):
                            best = g
                    f[j] = lv[1, k]
                    f[sz_at + j] = s
                elif f[sz_at + j] > 0.0:
                    count -= 1
                    f[sz_at + j] = 0.0
                    if g == best:
                        lost = True
            if lost:
                nxt = -1
                if count > 0:
                    if side == 0:
                        for g in range(best, -1, -1):  # (from best: re-added later in the diff)
                            if f[sz_at + pw + g] > 0.0:
                                nxt = g
                                break
                    else:
                        for g in range(best, w):
                            if f[sz_at + pw + g] > 0.0:
                                nxt = g
                                break
                best = nxt
            i[so + 1] = best
            i[so + 2] = count
            i[so + 3] += 1
    flags = 0
    q = w // 4
    for side in range(2):
        best = i[6 * side + 1]
        f[res_at + side] = f[side * w + best] if best >= 0 else np.nan
        if side == 0:
            if best < q and (best >= 0 or i[_DEEP] > 0):
                flags += RECENTRE_BID
        elif best >= w - q or (best < 0 and i[6 + _DEEP] > 0):
            flags += RECENTRE_ASK
    return n_out + flags


@njit(cache=True, fastmath=False, nogil=True)
def overflow_insert(keys: np.ndarray, opx: np.ndarray, osz: np.ndarray, state: np.ndarray,
                    side: int, idx: np.ndarray, px: np.ndarray, sz: np.ndarray) -> None:
    """Insert distinct new levels into a side's overflow table (recentres, growth)."""
    for i in range(idx.shape[0]):
        h, found = _probe(keys, side, idx[i])
        if not found:
            if keys[side, h] == EMPTY:
                state[side, 4] += 1
            state[side, 5] += 1
        keys[side, h] = idx[i]
        opx[side, h] = px[i]
        osz[side, h] = sz[i]


@njit(cache=True, fastmath=False, nogil=True)
def overflow_get(keys: np.ndarray, opx: np.ndarray, osz: np.ndarray, side: int, idx: int,
                 price: float) -> float:
    """The overflow size at ``price`` (-1: none)."""
    h, found = _probe(keys, side, np.int64(idx))
    if found and opx[side, h] == price:
        return osz[side, h]
    return -1.0


_BLOCKS: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()
_BLOCK_IDS = itertools.count(1)


def register_levels(levels: np.ndarray) -> int:
    """Make a store's ``(3, N)`` level array known to books by the id its diffs carry
    (``DeltaColumns.block``); held weakly: the store owns it, and a book whose diffs outlive
    their store applies them through the dicts instead)."""
    block = next(_BLOCK_IDS)
    _BLOCKS[block] = levels
    return block


def levels_block(block: int) -> np.ndarray | None:
    return _BLOCKS.get(block)


class ArraySides:
    """Both sides of one book as tick windows plus overflow tables (see the module docstring)."""

    __slots__ = ("tick", "window", "quarter", "px", "sz", "state", "keys", "opx", "osz", "res",
                 "bases", "px_of", "sz_of", "counts", "_i", "_f", "_out", "_out_cap", "_cache", "_block",
                 "_levels_of_block")

    def __init__(self, tick: float, bids: Mapping[float, float], asks: Mapping[float, float]) -> None:
        self.tick = tick
        span = max((round((max(side) - min(side)) / tick) + 1 for side in (bids, asks) if side),
                   default=1)
        self.window = w = min(MAX_WINDOW, max(MIN_WINDOW, 1 << (8 * span - 1).bit_length()))
        self.quarter = w // 4
        self.bases = [0, 0]  # ``state[:, BASE]`` as Python ints, for readers
        self._buffers(w, 1 << 10, 256)
        self._cache: list[tuple[int, dict[float, float]] | None] = [None, None]
        self._block = 0  # the level array last applied from (kept alive while in use)
        self._levels_of_block: np.ndarray | None = None
        for side, levels in ((BID, bids), (ASK, asks)):
            p = np.fromiter(levels.keys(), np.float64, len(levels))
            self._place(side, np.rint(p / tick).astype(np.int64), p,
                        np.fromiter(levels.values(), np.float64, len(levels)))

    def _buffers(self, w: int, table: int, out: int) -> None:
        """(Re)allocate the two flat buffers the kernel takes, keeping the windows and the
        state (the overflow tables start empty: ``_grow`` re-inserts their entries), and the
        named views every other method reads.

        ``i`` (int64): ``[0:12]`` state (2 x 6), ``[12]`` window, ``[13]`` table size H,
        ``[14]`` out capacity, ``[16:16+2H]`` overflow keys (2 x H), then ``out``.
        ``f`` (float64): window prices (2 x W), window sizes (2 x W), overflow prices
        (2 x H), overflow sizes (2 x H), best bid and ask."""
        i = np.zeros(_I_KEYS + 2 * table + out, np.int64)
        f = np.zeros(4 * w + 4 * table + 2)
        old = getattr(self, "_i", None)
        if old is not None:
            i[:12] = old[:12]
            f[:4 * w] = self._f[:4 * w]
        i[_I_W], i[_I_H], i[_I_OUT] = w, table, out
        self._i, self._f, self._out_cap = i, f, out
        self.state = i[:12].reshape(2, 6)
        self.state[:, USED] = 0
        self.state[:, DEEP] = 0
        self.keys = i[_I_KEYS:_I_KEYS + 2 * table].reshape(2, table)
        self.keys[:] = EMPTY
        self._out = i[_I_KEYS + 2 * table:]
        self.px = f[:2 * w].reshape(2, w)
        self.sz = f[2 * w:4 * w].reshape(2, w)
        # memoryviews for the readers: indexing one returns a Python float / int (no numpy
        # scalar, no method call)
        self.px_of = (memoryview(self.px[BID]), memoryview(self.px[ASK]))
        self.sz_of = (memoryview(self.sz[BID]), memoryview(self.sz[ASK]))
        self.counts = memoryview(i[:12])  # (``state`` flat: side * 6 + slot)
        self.opx = f[4 * w:4 * w + 2 * table].reshape(2, table)
        self.osz = f[4 * w + 2 * table:4 * w + 4 * table].reshape(2, table)
        self.res = f[4 * w + 4 * table:]  # best bid, best ask after the last diff

    @staticmethod
    def on_grid(prices: Any, tick: float) -> bool:
        """True if every price is a whole number of ticks (else the core cannot index it)."""
        q = np.asarray(prices, dtype=np.float64) / tick
        return bool(np.all((np.abs(q - np.rint(q)) <= 1e-6 * np.maximum(1.0, np.abs(q)))
                           & (np.abs(q) < 2.0 ** 52)))  # (NaN, inf: False)

    # -- placement ----------------------------------------------------------------------------
    def _levels(self, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every level of a side: tick indices, prices, sizes (window, then overflow)."""
        sz = self.sz[side]
        nz = np.flatnonzero(sz > 0.0)
        keys = self.keys[side]
        live = keys > TOMB
        return (np.concatenate([nz + self.state[side, BASE], keys[live]]),
                np.concatenate([self.px[side][nz], self.opx[side][live]]),
                np.concatenate([sz[nz], self.osz[side][live]]))

    def _place(self, side: int, idx: np.ndarray, px: np.ndarray, sz: np.ndarray) -> None:
        """Lay a side's levels (distinct indices) out anew around its best level."""
        st = self.state[side]
        self.sz[side][:] = 0.0
        if side == BID:
            b = int(np.argmax(idx)) if len(idx) else -1
            base = int(idx[b]) - (self.window - self.quarter) if b >= 0 else 0
        else:
            b = int(np.argmin(idx)) if len(idx) else -1
            base = int(idx[b]) - self.quarter if b >= 0 else 0
        g = idx - base
        inside = (g >= 0) & (g < self.window)
        self.px[side][g[inside]] = px[inside]
        self.sz[side][g[inside]] = sz[inside]
        st[BASE] = self.bases[side] = base
        st[COUNT] = int(inside.sum())
        st[BEST] = int(idx[b]) - base if b >= 0 else -1
        st[VERSION] += 1
        rest = ~inside
        deep = int(rest.sum())
        size = self.keys.shape[1]
        other = int(self.state[1 - side, DEEP])
        if 4 * max(deep, other) > size:  # both sides share the table size: grow both
            self._grow(4 * max(deep, other), skip=side)
        else:
            self.keys[side][:] = EMPTY
            st[USED] = st[DEEP] = 0
        overflow_insert(self.keys, self.opx, self.osz, self.state, side, idx[rest], px[rest],
                        sz[rest])

    def _grow(self, need: int, skip: int = -1, out: int = 0) -> None:
        """New tables of at least ``need`` slots (a power of two) and room for ``out`` levels
        beyond the windows, live entries re-inserted (those of ``skip``, being re-laid out,
        are dropped)."""
        keep = [(side, self.keys[side] > TOMB) for side in (BID, ASK) if side != skip]
        old = [(side, self.keys[side][m], self.opx[side][m], self.osz[side][m]) for side, m in keep]
        size = 1 << max(10, (need - 1).bit_length())
        self._buffers(self.window, size, max(out, self._out_cap))
        for side, k, p, s in old:
            overflow_insert(self.keys, self.opx, self.osz, self.state, side, k, p, s)

    def _recentre(self, side: int, pending: dict[float, float]) -> None:
        """Re-lay a side out (``pending``: new levels beyond the window's better edge)."""
        idx, px, sz = self._levels(side)
        if pending:
            p = np.fromiter(pending.keys(), np.float64, len(pending))
            idx = np.concatenate([idx, np.rint(p / self.tick).astype(np.int64)])
            px = np.concatenate([px, p])
            sz = np.concatenate([sz, np.fromiter(pending.values(), np.float64, len(pending))])
        self._place(side, idx, px, sz)

    # -- updates ------------------------------------------------------------------------------
    def apply_diff(self, cols: DeltaColumns) -> bool:
        """Apply one diff's levels from the registered array ``cols`` points into (``res``
        then holds the best prices); False if that array is gone or uses another tick."""
        lv = self._levels_of_block
        if cols.block != self._block or lv is None:
            lv = levels_block(cols.block)
            if lv is None or cols.tick != self.tick:
                return False
            self._block, self._levels_of_block = cols.block, lv
        self.apply(lv, cols.start, cols.nb, cols.na)
        return True

    def apply(self, lv: np.ndarray, start: int, nb: int, na: int) -> None:
        """Apply one diff's columnar levels (``res`` then holds the best prices)."""
        if nb + na > self._out_cap:
            self._grow(self.keys.shape[1], out=2 * (nb + na))
        r = apply_columns(self._f, self._i, lv, start, nb, na)
        if r:
            self._settle(r, lv, start, nb, na)

    def _settle(self, r: int, lv: np.ndarray, start: int, nb: int, na: int) -> None:
        """What the kernel left to do: grow the tables, recentre (both rare)."""
        st = self.state
        if r < 0:
            self._grow(2 * (max(st.item(BID, DEEP), st.item(ASK, DEEP)) + nb + na))
            self.apply(lv, start, nb, na)
            return
        n = r & (RECENTRE_BID - 1)
        pending: tuple[dict[float, float], dict[float, float]] = ({}, {})
        first_ask = start + nb
        for k in self._out[:n].tolist():
            pending[BID if k < first_ask else ASK][lv.item(1, k)] = lv.item(2, k)
        for side, flag in ((BID, RECENTRE_BID), (ASK, RECENTRE_ASK)):
            if pending[side] or r & flag:
                self._recentre(side, pending[side])
        self.res[:] = (self.best(BID), self.best(ASK))

    # -- reads --------------------------------------------------------------------------------
    def best(self, side: int) -> float:
        """The side's best price (NaN: empty side; the window holds the best level)."""
        g = self.state.item(side, BEST)
        return self.px.item(side, g) if g >= 0 else float("nan")

    def size_at(self, side: int, price: float, default: Any = None) -> Any:
        """The size at ``price`` (``default``: no such level)."""
        try:
            idx = round(price / self.tick)
        except (ValueError, OverflowError, TypeError):  # NaN, inf, not a number: no level
            return default
        g = idx - self.bases[side]
        if 0 <= g < self.window:
            if self.px_of[side][g] == price:
                s = self.sz_of[side][g]
                if s > 0.0:
                    return s
            return default
        if not self.state.item(side, DEEP):
            return default
        s = overflow_get(self.keys, self.opx, self.osz, side, idx, price)
        return s if s > 0.0 else default

    def count(self, side: int) -> int:
        c = self.counts
        return c[6 * side + COUNT] + c[6 * side + DEEP]

    def side_dict(self, side: int) -> dict[float, float]:
        """Every level of the side as a dict (cached until the side changes: do not mutate)."""
        version = self.state.item(side, VERSION)
        cached = self._cache[side]
        if cached is not None and cached[0] == version:
            return cached[1]
        _, px, sz = self._levels(side)
        d = dict(zip(px.tolist(), sz.tolist()))
        self._cache[side] = (version, d)
        return d

    def depth(self, side: int, levels: int) -> list[tuple[float, float]]:
        """The best ``levels`` levels, best first."""
        g = self.state.item(side, BEST)
        out: list[tuple[float, float]] = []
        if g >= 0:
            sz = self.sz[side]
            if side == BID:
                nz = np.flatnonzero(sz[:g + 1] > 0.0)[::-1][:levels]
            else:
                nz = np.flatnonzero(sz[g:] > 0.0)[:levels] + g
            out = list(zip(self.px[side][nz].tolist(), sz[nz].tolist()))
        if len(out) < levels and self.state.item(side, DEEP):
            live = self.keys[side] > TOMB
            p, s = self.opx[side][live], self.osz[side][live]
            order = np.argsort(-p if side == BID else p, kind="stable")[:levels - len(out)]
            out.extend(zip(p[order].tolist(), s[order].tolist()))
        return out


class SideView(Mapping[float, float]):
    """Read-only ``price -> size`` mapping over one side of an ``ArraySides``."""

    __slots__ = ("_core", "_side", "get")

    def __init__(self, core: ArraySides, side: int) -> None:
        self._core = core
        self._side = side
        # ``get(price, default=None)``, one C-level call away from the lookup (the hot read)
        self.get = partial(core.size_at, side)  # type: ignore[misc]

    def __getitem__(self, price: float) -> float:
        s = self._core.size_at(self._side, price, -1.0)
        if s < 0.0:
            raise KeyError(price)
        return s

    def __contains__(self, price: object) -> bool:
        return isinstance(price, float | int) and self._core.size_at(self._side, float(price), -1.0) >= 0.0

    def __bool__(self) -> bool:
        c = self._core.counts
        o = 6 * self._side
        return c[o + COUNT] + c[o + DEEP] > 0

    def __len__(self) -> int:
        return self._core.count(self._side)

    def __iter__(self) -> Iterator[float]:
        return iter(self._core.side_dict(self._side))

    def items(self):  # type: ignore[no-untyped-def, override]
        return self._core.side_dict(self._side).items()

    def keys(self):  # type: ignore[no-untyped-def, override]
        return self._core.side_dict(self._side).keys()

    def values(self):  # type: ignore[no-untyped-def, override]
        return self._core.side_dict(self._side).values()

    def __repr__(self) -> str:
        return f"SideView({self._core.side_dict(self._side)!r})"


def warm() -> None:
    """Compile (or load from the cache) the kernel with the argument types the book passes."""
    core = ArraySides(0.5, {100.0: 1.0, 99.5: 2.0}, {100.5: 1.0, 101.0: 3.0})
    far = 2.0 * MAX_WINDOW
    lv = np.array([[199.0, 203.0, 202.0, 200.0 - far, 200.0 + far],
                   [99.5, 101.5, 101.0, 100.0 - far / 2, 100.0 + far / 2],
                   [0.0, 2.0, 0.0, 1.0, 1.0]])
    core.apply(lv, 0, 2, 3)
    core.size_at(BID, 100.0 - far / 2)


def main() -> int:
    t = time.perf_counter()
    warm()
    print(f"book array kernel ready in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
