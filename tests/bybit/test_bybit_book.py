"""Bybit order books rebuilt from documented ``orderbook.{N}.{symbol}`` sequences.

No Bybit v5 stream recording exists, so these fixtures are generated to follow the format of
https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook exactly: a snapshot,
then deltas whose ``u`` grows by one, absolute sizes as decimal strings with ``"0"`` for a
delete, a depth window the venue does not trim for us (a level pushed out of the top N is not
deleted), a cross sequence ``seq`` that is monotone but not contiguous, and a service restart
pushing ``u == 1``. The book is rebuilt with ``engine.book.OrderBook`` under the engine's one
continuity rule (``delta.prev_seq == book.seq``) and compared level by level with the venue's
own window kept here in ``Decimal``.
"""

from __future__ import annotations

import random
from decimal import Decimal

import orjson
import pytest

from adapters.bybit import BybitCodec
from engine.book import OrderBook
from engine.model import BookDelta, BookSnapshot, BookStatus

WS = "wss://stream.bybit.com/v5/public/linear"
TS0 = 1_709_891_679_000


class FakeBybitBook:
    """The venue side: a full book, published as a top-``depth`` window (strings, like Bybit)."""

    def __init__(self, rng: random.Random, depth: int, mid: int = 6_000_000) -> None:
        self.rng = rng
        self.depth = depth
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.u = 0
        self.seq = 7_961_638_000
        self.ts = TS0
        for i in range(1, 3 * depth):
            self.bids[self._px(mid - i)] = self._qty()
            self.asks[self._px(mid + i)] = self._qty()
        self.mid = mid

    @staticmethod
    def _px(ticks: int) -> Decimal:
        return Decimal(ticks) / 100  # 0.01 tick, e.g. "60000.01"

    def _qty(self) -> Decimal:
        return Decimal(self.rng.randint(1, 50_000)) / 1000  # 0.001 step

    def window(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = sorted(self.bids.items(), reverse=True)[: self.depth]
        asks = sorted(self.asks.items())[: self.depth]
        return bids, asks

    def _frame(self, kind: str, b: list, a: list) -> bytes:
        self.seq += self.rng.randint(1, 40)  # cross sequence: monotone, not contiguous
        self.ts += self.rng.randint(1, 20)
        return orjson.dumps({
            "topic": f"orderbook.{self.depth}.BTCUSDT",
            "type": kind,
            "ts": self.ts + 2,
            "data": {"s": "BTCUSDT", "b": [[str(p), str(q)] for p, q in b],
                     "a": [[str(p), str(q)] for p, q in a], "u": self.u, "seq": self.seq},
            "cts": self.ts,
        })

    def snapshot(self, kind: str = "snapshot", restart: bool = False) -> bytes:
        self.u = 1 if restart else self.u + 1
        bids, asks = self.window()
        return self._frame(kind, bids, asks)

    def mutate(self) -> bytes:
        """Change the book at random and publish the delta of the visible window."""
        before_b, before_a = (dict(x) for x in self.window())
        for _ in range(self.rng.randint(1, 6)):
            side = self.bids if self.rng.random() < 0.5 else self.asks
            sign = -1 if side is self.bids else 1
            ticks = self.mid + sign * self.rng.randint(1, 3 * self.depth)
            px = self._px(ticks)
            r = self.rng.random()
            if r < 0.35 and px in side:
                del side[px]
            else:
                side[px] = self._qty()
        after_b, after_a = (dict(x) for x in self.window())
        self.u += 1
        return self._frame("delta", self._diff(before_b, after_b, self.bids, True),
                           self._diff(before_a, after_a, self.asks, False))

    @staticmethod
    def _diff(before: dict, after: dict, full: dict, bids: bool) -> list:
        # Changed or newly visible levels with their size; "0" only for levels that left the
        # book, not for levels merely pushed out of the window (Bybit does not send those).
        out = [(p, q) for p, q in after.items() if before.get(p) != q]
        out += [(p, Decimal(0)) for p in before if p not in after and p not in full]
        return sorted(out, reverse=bids)


class Rebuilder:
    """OrderBook + the continuity rule, as the integrity layer applies it."""

    def __init__(self) -> None:
        self.book = OrderBook("bybit:BTCUSDT")
        self.gaps = 0
        self.snapshots = 0

    def apply(self, events: list) -> None:
        for ev in events:
            if isinstance(ev, BookSnapshot):
                self.book.apply_snapshot(ev)
                self.book.status = BookStatus.LIVE
                self.snapshots += 1
            elif isinstance(ev, BookDelta):
                if self.book.status is BookStatus.LIVE and ev.prev_seq == self.book.seq:
                    self.book.apply_delta(ev)
                else:
                    self.book.status = BookStatus.STALE
                    self.gaps += 1


def _assert_same(book: OrderBook, venue: FakeBybitBook) -> None:
    bids, asks = venue.window()
    assert book.depth_bids(10_000) == [(float(p), float(q)) for p, q in bids]
    assert book.depth_asks(10_000) == [(float(p), float(q)) for p, q in asks]
    assert not book.is_crossed()


@pytest.mark.parametrize("depth,seed", [(50, 1), (50, 2), (1, 3), (200, 4)])
def test_snapshot_and_contiguous_deltas_rebuild_the_venue_book(depth: int, seed: int) -> None:
    venue = FakeBybitBook(random.Random(seed), depth)
    codec = BybitCodec()
    codec.on_open(WS)
    rb = Rebuilder()
    rb.apply(codec.decode(venue.snapshot(), 1, WS))
    assert rb.book.max_depth == depth
    for i in range(1500):
        rb.apply(codec.decode(venue.mutate(), 2 + i, WS))
        assert rb.book.seq == venue.u
        if i % 100 == 0:
            _assert_same(rb.book, venue)
    assert rb.gaps == 0
    _assert_same(rb.book, venue)


def test_u_equal_one_restart_resets_the_book_even_when_labelled_delta() -> None:
    venue = FakeBybitBook(random.Random(7), 50)
    codec = BybitCodec()
    rb = Rebuilder()
    rb.apply(codec.decode(venue.snapshot(), 1, WS))
    for _ in range(200):
        rb.apply(codec.decode(venue.mutate(), 2, WS))
    assert venue.u > 100
    # The service restarts: the book moved meanwhile and u starts again at 1.
    for _ in range(30):
        venue.mutate()
    frame = venue.snapshot(kind="delta", restart=True)
    [ev] = codec.decode(frame, 3, WS)
    assert isinstance(ev, BookSnapshot) and ev.seq == 1 and ev.depth == 50
    rb.apply([ev])
    assert rb.book.seq == 1
    _assert_same(rb.book, venue)
    for _ in range(300):
        rb.apply(codec.decode(venue.mutate(), 4, WS))
    assert rb.gaps == 0 and rb.snapshots == 2
    _assert_same(rb.book, venue)


def test_a_missing_delta_is_a_gap() -> None:
    venue = FakeBybitBook(random.Random(11), 50)
    codec = BybitCodec()
    rb = Rebuilder()
    rb.apply(codec.decode(venue.snapshot(), 1, WS))
    for _ in range(20):
        rb.apply(codec.decode(venue.mutate(), 2, WS))
    venue.mutate()  # lost on the wire
    rb.apply(codec.decode(venue.mutate(), 3, WS))
    assert rb.gaps == 1 and rb.book.status is BookStatus.STALE
    # Resubscribing makes Bybit send a fresh snapshot, which heals the book.
    rb.apply(codec.decode(venue.snapshot(), 4, WS))
    assert rb.book.status is BookStatus.LIVE
    _assert_same(rb.book, venue)


def test_level_one_repush_snapshot_with_the_same_u() -> None:
    """orderbook.1: unchanged for 3 s -> the snapshot is pushed again with the same ``u``."""
    venue = FakeBybitBook(random.Random(5), 1)
    codec = BybitCodec()
    rb = Rebuilder()
    rb.apply(codec.decode(venue.snapshot(), 1, WS))
    venue.u -= 1  # same u as the previous message
    rb.apply(codec.decode(venue.snapshot(), 2, WS))
    assert rb.book.seq == venue.u and rb.snapshots == 2
    rb.apply(codec.decode(venue.mutate(), 3, WS))
    assert rb.gaps == 0
    _assert_same(rb.book, venue)


def test_documented_delta_example_applies_on_its_snapshot() -> None:
    """The delta example of the Bybit documentation, on top of a matching snapshot."""
    codec = BybitCodec()
    snap = {"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 1687940967400,
            "data": {"s": "BTCUSDT",
                     "b": [["30247.20", "1.000"], ["30240.00", "2.500"], ["30239.90", "0.100"]],
                     "a": [["30248.70", "0.300"], ["30249.60", "4.000"], ["30260.00", "1.000"]],
                     "u": 177400506, "seq": 66544703000},
            "cts": 1687940967398}
    delta = {"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1687940967466,
             "data": {"s": "BTCUSDT",
                      "b": [["30247.20", "30.028"], ["30245.40", "0.224"], ["30242.10", "1.593"],
                            ["30240.30", "1.305"], ["30240.00", "0"]],
                      "a": [["30248.70", "0"], ["30249.30", "0.892"], ["30249.50", "1.778"],
                            ["30249.60", "0"], ["30251.90", "2.947"], ["30252.20", "0.659"],
                            ["30252.50", "4.591"]],
                      "u": 177400507, "seq": 66544703342},
             "cts": 1687940967464}
    rb = Rebuilder()
    rb.apply(codec.decode(orjson.dumps(snap), 1, WS))
    [d] = codec.decode(orjson.dumps(delta), 2, WS)
    assert (d.prev_seq, d.seq, d.first_seq) == (177400506, 177400507, 177400507)
    assert d.ts_event == 1687940967464 * 1_000_000  # cts, the matching-engine time
    rb.apply([d])
    assert rb.gaps == 0
    assert rb.book.depth_bids(10) == [(30247.2, 30.028), (30245.4, 0.224), (30242.1, 1.593),
                                      (30240.3, 1.305), (30239.9, 0.1)]
    assert rb.book.depth_asks(10) == [(30249.3, 0.892), (30249.5, 1.778), (30251.9, 2.947),
                                      (30252.2, 0.659), (30252.5, 4.591), (30260.0, 1.0)]
