"""The columnar book core (``engine.book_array``) against a plain dict applied level by level.

The reference is written here from first principles: a dict price -> size per side, each level
set (size > 0) or removed (size 0) in order; best = max bid / min ask; depth = sorted levels.
Diffs are random walks with levels near the touch, deep levels (the overflow tables), levels
beyond the window's better edge (recentres), deletes of unknown levels and the best removed and
re-added within one diff.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from backtest import store as stores
from engine.book import OrderBook
from engine.book_array import MAX_WINDOW, SideView, levels_block, register_levels
from engine.model import BookDelta, BookSnapshot, DeltaColumns

TICK = 0.5
_KEEP: list[np.ndarray] = []


def _columnar(iid: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]],
              seq: int) -> BookDelta:
    levels = bids + asks
    lv = np.array([[round(p / TICK) for p, _ in levels], [p for p, _ in levels],
                   [s for _, s in levels]], dtype=np.float64).reshape(3, len(levels))
    _KEEP.append(lv)  # (the store owns its array: here the test does)
    cols = DeltaColumns(register_levels(lv), 0, len(bids), len(asks), TICK)
    return BookDelta(iid, tuple(bids), tuple(asks), seq, seq - 1, 0, 0, columns=cols)


def _reference_apply(side: dict[float, float], levels: list[tuple[float, float]]) -> None:
    for p, s in levels:
        if s > 0.0:
            side[p] = s
        else:
            side.pop(p, None)


def _check(book: OrderBook, ref_b: dict[float, float], ref_a: dict[float, float]) -> None:
    assert dict(book.bids.items()) == ref_b
    assert dict(book.asks.items()) == ref_a
    assert len(book.bids) == len(ref_b) and bool(book.asks) == bool(ref_a)
    bb = max(ref_b) if ref_b else math.nan
    ba = min(ref_a) if ref_a else math.nan
    assert book.best_bid_price() == bb or (math.isnan(bb) and math.isnan(book.best_bid_price()))
    assert book.best_ask_price() == ba or (math.isnan(ba) and math.isnan(book.best_ask_price()))
    assert book.depth_bids(40) == sorted(ref_b.items(), reverse=True)[:40]
    assert book.depth_asks(40) == sorted(ref_a.items())[:40]
    for p, s in list(ref_b.items())[:50]:
        assert book.size_at(True, p) == s and p in book.bids and book.bids[p] == s
    assert book.size_at(False, bb) == ref_a.get(bb, 0.0)


def test_columnar_book_matches_a_plain_dict_on_random_diffs() -> None:
    rng = random.Random(7)
    mid = 40_000 * TICK * 2
    bids0 = [(mid - TICK * i, float(i)) for i in range(1, 300)]
    asks0 = [(mid + TICK * i, float(i)) for i in range(1, 300)]
    book = OrderBook("x:Y")
    book.apply_snapshot(BookSnapshot("x:Y", tuple(bids0), tuple(asks0), 1, 0, 0))
    ref_b, ref_a = dict(bids0), dict(asks0)
    seq = 1
    far = MAX_WINDOW * TICK
    for step in range(600):
        seq += 1
        centre = mid + TICK * round(2000 * math.sin(step / 40))  # the touch wanders
        bids: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        for _ in range(rng.randint(0, 30)):
            r = rng.random()
            if r < 0.1:  # deep levels: the overflow tables
                off = rng.choice([1.5, 3.0, 10.0]) * far + TICK * rng.randint(0, 50)
            elif r < 0.12:  # far beyond the window's better edge (recentre), or its delete
                off = -1.5 * far
            else:
                off = TICK * rng.randint(1, 400)
            size = 0.0 if rng.random() < 0.3 else float(rng.randint(1, 9))
            bp, ap = centre - TICK - off, centre + TICK + off
            if r < 0.12 and r >= 0.1:
                if size > 0.0 and ref_a and bp >= min(ref_a):
                    size = 0.0  # keep the book uncrossed when it jumps
                if size > 0.0 and ref_b and ap <= max(ref_b):
                    size = 0.0
            bids.append((bp, size))
            asks.append((ap, size))
        if ref_b and rng.random() < 0.2:  # the best removed, then re-added in the same diff
            best = max(ref_b)
            bids += [(best, 0.0), (best - TICK, 2.0), (best, 5.0)]
        # keep it uncrossed: drop opposite levels the new side reaches
        hi_bid = max([p for p, s in bids if s > 0.0], default=-math.inf)
        lo_ask = min([p for p, s in asks if s > 0.0], default=math.inf)
        for p in [p for p in ref_a if p <= hi_bid]:
            asks.append((p, 0.0))
        for p in [p for p in ref_b if p >= lo_ask]:
            bids.append((p, 0.0))
        book.apply_delta(_columnar("x:Y", bids, asks, seq))
        _reference_apply(ref_b, bids)
        _reference_apply(ref_a, asks)
        assert isinstance(book.bids, SideView)
        if step % 10 == 0 or step > 590:
            _check(book, ref_b, ref_a)
    _check(book, ref_b, ref_a)
    # any other mutation returns the book to plain dicts with every level
    book.set_level(True, mid - 7 * TICK, 3.0)
    ref_b[mid - 7 * TICK] = 3.0
    assert type(book.bids) is dict and book.bids == ref_b and book.asks == ref_a
    assert book.best_bid_price() == max(ref_b) and book.best_ask_price() == min(ref_a)


def test_columnar_book_empties_and_refills_a_side() -> None:
    book = OrderBook("x:Y")
    book.apply_snapshot(BookSnapshot("x:Y", ((100.0, 1.0),), ((101.0, 1.0),), 1, 0, 0))
    book.apply_delta(_columnar("x:Y", [(100.0, 0.0)], [], 2))
    assert math.isnan(book.best_bid_price()) and not book.bids and book.depth_bids(5) == []
    assert book.best_ask_price() == 101.0 and book.asks.get(101.0) == 1.0
    deep = 100.0 - 3 * MAX_WINDOW * TICK  # only a deep level comes back: it becomes the best
    book.apply_delta(_columnar("x:Y", [(deep, 4.0)], [], 3))
    assert book.best_bid_price() == deep and book.best_bid() == (deep, 4.0)
    assert book.depth_bids(3) == [(deep, 4.0)] and len(book.bids) == 1


def test_off_grid_book_stays_on_dicts() -> None:
    book = OrderBook("x:Y")
    book.apply_snapshot(BookSnapshot("x:Y", ((100.25, 1.0),), ((101.0, 1.0),), 1, 0, 0))
    book.apply_delta(_columnar("x:Y", [(100.0, 2.0)], [], 2))  # 100.25 is off the 0.5 grid
    assert type(book.bids) is dict and book.bids == {100.25: 1.0, 100.0: 2.0}
    assert book.best_bid_price() == 100.25


def test_store_load_attaches_columns_only_where_they_pay(tmp_path: Path) -> None:
    deep_b = tuple((1000.0 - 0.1 * i, 1.0) for i in range(1, 21))
    deep_a = tuple((1000.0 + 0.1 * i, 1.0) for i in range(1, 21))
    events = [BookSnapshot("v:DEEP", deep_b, deep_a, 1, 1, 1),
              BookSnapshot("v:THIN", ((5.0, 1.0),), ((6.0, 1.0),), 1, 1, 1)]
    for k in range(2, 6):
        events.append(BookDelta("v:DEEP", deep_b[:10], deep_a[:10], k, k - 1, k, k))
        events.append(BookDelta("v:THIN", ((5.0, 2.0),), (), k, k - 1, k, k))
    stores.save(stores.EventStore(events, [], {"source": "test"}), tmp_path / "s")
    store = stores.load(tmp_path / "s")  # (the store owns the level array the diffs point into)
    loaded = store.events
    deep = [e for e in loaded if type(e) is BookDelta and e.instrument_id == "v:DEEP"]
    thin = [e for e in loaded if type(e) is BookDelta and e.instrument_id == "v:THIN"]
    assert all(e.columns is None for e in thin)
    c = deep[1].columns
    assert c is not None and (c.nb, c.na) == (10, 10) and c.tick == pytest.approx(0.1)
    lv = levels_block(c.block)
    assert lv is not None
    block = lv[:, c.start:c.start + 20]
    assert block[1].tolist() == [p for p, _ in deep_b[:10] + deep_a[:10]]  # the exact floats
    assert block[0].tolist() == [round(p * 10) for p, _ in deep_b[:10] + deep_a[:10]]


def test_diffs_outliving_their_store_apply_through_the_dicts(tmp_path: Path) -> None:
    levels = tuple((1000.0 - 0.1 * i, 1.0) for i in range(1, 21))
    asks = tuple((1000.0 + 0.1 * i, 1.0) for i in range(1, 21))
    events = [BookSnapshot("v:D", levels, asks, 1, 1, 1),
              BookDelta("v:D", ((999.9, 0.0), (1000.0, 7.0)), (), 2, 1, 2, 2)] + [
              BookDelta("v:D", levels[:10], asks[:10], k, k - 1, k, k) for k in range(3, 6)]
    stores.save(stores.EventStore(events, [], {"source": "test"}), tmp_path / "s")
    loaded = stores.load(tmp_path / "s").events  # the store itself is dropped here
    assert loaded[1].columns is not None and levels_block(loaded[1].columns.block) is None
    book = OrderBook("v:D")
    for ev in loaded:
        book.apply_snapshot(ev) if type(ev) is BookSnapshot else book.apply_delta(ev)
    assert type(book.bids) is dict and book.best_bid_price() == 1000.0
    assert book.bids[1000.0] == 7.0 and book.bids[999.9] == 1.0 and len(book.bids) == 21


def test_a_store_with_a_nan_price_keeps_that_instrument_on_dicts(tmp_path: Path) -> None:
    bids = tuple((100.0 - i, 1.0) for i in range(1, 11))
    asks = tuple((100.0 + i, 1.0) for i in range(1, 11))
    events = [BookSnapshot("v:N", bids, asks, 1, 1, 1),
              BookDelta("v:N", bids[:9] + ((math.nan, 1.0),), asks, 2, 1, 2, 2),
              BookDelta("v:N", bids, asks, 3, 2, 3, 3)]
    store = stores.EventStore(events, [], {"source": "test"})
    stores.save(store, tmp_path / "s")
    loaded = stores.load(tmp_path / "s")
    assert all(e.columns is None for e in loaded.events if type(e) is BookDelta)
