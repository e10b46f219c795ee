"""Property tests: the book against a naive dict model, and crossing is always flagged."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book import OrderBook
from engine.integrity import BookKeeper
from engine.model import BookDelta, BookSnapshot, BookStatus

IID = "test:X"
prices = st.integers(min_value=1, max_value=60).map(lambda i: i / 4)      # exact decimals
sizes = st.one_of(st.just(0.0), st.integers(min_value=1, max_value=9).map(float))
levels = st.lists(st.tuples(prices, sizes), max_size=8)
snapshot_op = st.tuples(st.just("snap"), levels, levels, st.integers(0, 3))
delta_op = st.tuples(st.just("delta"), levels, levels, st.just(0))
ops = st.lists(st.one_of(snapshot_op, delta_op), min_size=1, max_size=40)


class Model:
    """The obvious implementation: two dicts, sorted on every query."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.depth = 0

    def snapshot(self, bids, asks, depth: int) -> None:
        self.bids = {p: s for p, s in bids if s > 0}
        self.asks = {p: s for p, s in asks if s > 0}
        if depth:
            self.depth = depth
        self.truncate()

    def delta(self, bids, asks) -> None:
        for side, lv in ((self.bids, bids), (self.asks, asks)):
            for p, s in lv:
                if s > 0:
                    side[p] = s
                else:
                    side.pop(p, None)
        self.truncate()

    def truncate(self) -> None:
        if self.depth:
            self.bids = dict(sorted(self.bids.items(), reverse=True)[: self.depth])
            self.asks = dict(sorted(self.asks.items())[: self.depth])

    def top(self, n: int):
        return (sorted(self.bids.items(), reverse=True)[:n], sorted(self.asks.items())[:n])


def _check(book: OrderBook, model: Model) -> None:
    bids, asks = model.top(1000)
    assert book.depth_bids(1000) == bids
    assert book.depth_asks(1000) == asks
    assert book.best_bid() == (bids[0] if bids else None)
    assert book.best_ask() == (asks[0] if asks else None)
    for p, s in bids:
        assert book.size_at(True, p) == s
    if bids:
        limit = bids[len(bids) // 2][0]
        assert book.volume_to(True, limit) == sum(s for p, s in bids if p >= limit)
    if asks:
        limit = asks[len(asks) // 2][0]
        assert book.volume_to(False, limit) == sum(s for p, s in asks if p <= limit)
    crossed = bool(bids) and bool(asks) and bids[0][0] >= asks[0][0]
    assert book.is_crossed() == crossed
    if bids and asks:
        assert book.mid() == 0.5 * (bids[0][0] + asks[0][0])
        assert book.spread() == asks[0][0] - bids[0][0]
    else:
        assert math.isnan(book.mid()) and math.isnan(book.spread())


@settings(max_examples=300, deadline=None)
@given(ops)
def test_book_matches_naive_model(operations) -> None:
    book = OrderBook(IID)
    model = Model()
    for seq, (kind, bids, asks, depth) in enumerate(operations):
        if kind == "snap":
            book.apply_snapshot(BookSnapshot(IID, tuple(bids), tuple(asks), seq, 0, 0,
                                             depth=depth))
            model.snapshot(bids, asks, depth)
        else:
            book.apply_delta(BookDelta(IID, tuple(bids), tuple(asks), seq, seq - 1, 0, 0, seq))
            model.delta(bids, asks)
        _check(book, model)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_keeper_never_exposes_a_crossed_book_as_live(operations) -> None:
    """Through the integrity layer: a LIVE book always has best bid < best ask; a crossing
    update always turns the book STALE."""
    keeper = BookKeeper(stale_after_ns=0)
    crossings = 0
    for seq, (kind, bids, asks, depth) in enumerate(operations):
        if kind == "snap":
            keeper.on_snapshot(BookSnapshot(IID, tuple(bids), tuple(asks), seq, 0, 0, depth=depth))
        else:
            keeper.on_delta(BookDelta(IID, tuple(bids), tuple(asks), seq, seq - 1, 0, 0, seq))
        book = keeper.book(IID)
        assert book is not None
        if book.is_crossed():
            crossings += 1
            assert book.status is BookStatus.STALE
        if book.status is BookStatus.LIVE:
            bb, ba = book.best_bid_price(), book.best_ask_price()
            assert math.isnan(bb) or math.isnan(ba) or bb < ba
    assert keeper.stats.crossed >= (1 if crossings else 0)


def test_long_churn_with_lazy_deletion_and_compaction_matches_the_model() -> None:
    """Thousands of inserts/deletes near the top (stale candidates pile up and are compacted,
    levels come back after being removed): best prices, depth and volume stay the model's."""
    from engine.book import _COMPACT_AT

    import random

    rng = random.Random(7)
    book, model = OrderBook(IID), Model()
    for step in range(20_000):
        mid = 100 + rng.randint(-20, 20) / 4
        bids = [(mid - rng.randint(1, 12) / 4, float(rng.choice((0, 0, 1, 2)))) for _ in range(3)]
        asks = [(mid + rng.randint(1, 12) / 4, float(rng.choice((0, 0, 1, 2)))) for _ in range(3)]
        if step % 3:
            book.apply_delta(BookDelta(IID, tuple(bids), tuple(asks), step + 1, step, 0, 0))
        else:
            for p, s in bids:
                book.set_level(True, p, s)
            for p, s in asks:
                book.set_level(False, p, s)
        model.delta(bids, asks)
        if step % 97 == 0:
            _check(book, model)
            assert book.volume_to(True, 99.0) == sum(s for p, s in model.bids.items() if p >= 99.0)
            assert book.volume_to(False, 101.0) == sum(s for p, s in model.asks.items() if p <= 101.0)
        # compaction bounds the candidate lists (dead and repeated prices are dropped)
        assert len(book._bc) <= _COMPACT_AT + 3 and len(book._ac) <= _COMPACT_AT + 3
    _check(book, model)


def test_deep_book_with_a_fenced_heap_keeps_the_models_best_prices() -> None:
    """A side deeper than the heap tracks (thousands of levels, as Binance's): the best prices
    stay the model's through drifts that delete every tracked level (the candidates run dry and
    the side is rescanned further down), new levels beyond the fence, set_level and the raw-string path."""
    import random

    from engine.book import _TRACKED

    rng = random.Random(11)
    book, model = OrderBook(IID), Model()
    start_bids = [(1000 - i / 4, 1.0) for i in range(1, 1200)]
    start_asks = [(1000 + i / 4, 1.0) for i in range(1, 1200)]
    book.apply_snapshot(BookSnapshot(IID, tuple(start_bids), tuple(start_asks), 1, 0, 0))
    model.snapshot(start_bids, start_asks, 0)
    assert len(book._bc) == _TRACKED and len(book._ac) == _TRACKED  # fenced
    mid = 1000.0
    for step in range(3000):
        mid += rng.choice((-1, 1)) * rng.randint(0, 40) / 4  # drifts of up to 40 ticks
        bids, asks = [], []
        # the levels the price moved through are deleted, new ones appear at and behind it
        for p in [p for p in model.bids if p >= mid]:
            bids.append((p, 0.0))
        for p in [p for p in model.asks if p <= mid]:
            asks.append((p, 0.0))
        for _ in range(rng.randint(1, 12)):
            bids.append((mid - rng.randint(1, 1500) / 4, float(rng.choice((0, 1, 2, 3)))))
            asks.append((mid + rng.randint(1, 1500) / 4, float(rng.choice((0, 1, 2, 3)))))
        if step % 5 == 0:
            for p, s in bids:
                book.set_level(True, p, s)
            for p, s in asks:
                book.set_level(False, p, s)
        elif step % 5 == 1:
            raw_b = tuple((str(p), str(s)) for p, s in bids)
            raw_a = tuple((str(p), str(s)) for p, s in asks)
            book.apply_delta(BookDelta(IID, tuple(bids), tuple(asks), step + 2, step, 0, 0,
                                       raw_bids=raw_b, raw_asks=raw_a))
        else:
            book.apply_delta(BookDelta(IID, tuple(bids), tuple(asks), step + 2, step, 0, 0))
        model.delta(bids, asks)
        top_b, top_a = model.top(1)
        assert book.best_bid() == (top_b[0] if top_b else None)
        assert book.best_ask() == (top_a[0] if top_a else None)
        if step % 250 == 0:
            _check(book, model)
    _check(book, model)


def test_a_side_grown_by_deltas_past_the_scan_bound_becomes_tracked_and_back() -> None:
    """A short side keeps no candidates (its next best is the dict's max); grown by deltas and
    set_level past ``_SCAN_MAX`` it turns tracked at its first lost best, and drained it turns
    untracked again: the best prices stay the model's all the way."""
    import random

    from engine.book import _SCAN_MAX, _TRACKED

    rng = random.Random(5)
    book, model = OrderBook(IID), Model()
    book.apply_snapshot(BookSnapshot(IID, ((99.0, 1.0),), ((101.0, 1.0),), 1, 0, 0))
    model.snapshot([(99.0, 1.0)], [(101.0, 1.0)], 0)
    assert book._bc == [] and book._ac == []  # untracked
    seq = 1
    for step in range(2 * _SCAN_MAX):  # grow both sides one level at a time, away from the top
        bids, asks = [(99.0 - (step + 1) / 4, 1.0)], [(101.0 + (step + 1) / 4, 1.0)]
        if step % 2:
            book.set_level(True, *bids[0])
            book.set_level(False, *asks[0])
        else:
            seq += 1
            book.apply_delta(BookDelta(IID, tuple(bids), tuple(asks), seq, seq - 1, 0, 0))
        model.delta(bids, asks)
    assert book._bc == [] and book._ac == []  # nothing kept per insert, even this deep
    for step in range(3 * _SCAN_MAX):  # eat into the top, with some churn behind it
        top_b, top_a = model.top(1)
        bids = [(top_b[0][0], 0.0)] if top_b else []
        asks = [(top_a[0][0], 0.0)] if top_a else []
        if rng.random() < 0.3:
            bids.append((99.0 - rng.randint(1, 600) / 4, float(rng.choice((0, 1)))))
            asks.append((101.0 + rng.randint(1, 600) / 4, float(rng.choice((0, 1)))))
        seq += 1
        book.apply_delta(BookDelta(IID, tuple(bids), tuple(asks), seq, seq - 1, 0, 0))
        model.delta(bids, asks)
        if step == 0:
            assert len(book._bc) == _TRACKED and len(book._ac) == _TRACKED  # tracked now
        top_b, top_a = model.top(1)
        assert book.best_bid() == (top_b[0] if top_b else None)
        assert book.best_ask() == (top_a[0] if top_a else None)
        if step % 100 == 0:
            _check(book, model)
    assert len(model.bids) <= _SCAN_MAX and book._bc == [] and book._ac == []  # untracked again
    _check(book, model)
