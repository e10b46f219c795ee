"""BookKeeper: sequence continuity, buffering, checksums, crossing, staleness, recovery."""

from __future__ import annotations

import zlib

import pytest

from engine.book import OrderBook
from engine.integrity import BookKeeper
from engine.model import BookDelta, BookSnapshot, BookStatus, BookStatusChanged

IID = "binance-spot:BTCUSDT"


def snap(seq: int, bids=((100.0, 1.0),), asks=((101.0, 1.0),), iid: str = IID, **kw) -> BookSnapshot:
    return BookSnapshot(iid, tuple(bids), tuple(asks), seq, 0, seq, **kw)


def delta(first: int, last: int, prev: int | None = None, bids=(), asks=(), iid: str = IID,
          **kw) -> BookDelta:
    """A Binance-spot-style diff covering ids first..last (prev defaults to first - 1)."""
    return BookDelta(iid, tuple(bids), tuple(asks), last, first - 1 if prev is None else prev,
                     0, last, first, **kw)


class Harness:
    def __init__(self, **kw) -> None:
        self.events: list[BookStatusChanged] = []
        self.resyncs: list[str] = []
        self.keeper = BookKeeper(publish=self.events.append, request_resync=self.resyncs.append,
                                 **kw)

    @property
    def book(self) -> OrderBook:
        book = self.keeper.book(IID)
        assert book is not None
        return book

    def reasons(self) -> list[tuple[str, str]]:
        return [(str(e.status), e.reason) for e in self.events]


def test_spot_procedure_buffer_then_bridge() -> None:
    """Binance spot: buffer, drop u <= lastUpdateId, first applied has U <= lastUpdateId+1 <= u."""
    h = Harness()
    k = h.keeper
    k.on_delta(delta(90, 95, bids=[(99.0, 5.0)]))
    k.on_delta(delta(96, 103, bids=[(99.0, 6.0)]))
    k.on_delta(delta(104, 110, asks=[(101.0, 2.0)]))
    assert h.book.status is BookStatus.SYNCING and k.buffered(IID) == 3
    k.on_snapshot(snap(100, bids=[(100.0, 1.0), (99.0, 4.0)]))
    assert h.book.status is BookStatus.LIVE
    assert h.book.seq == 110
    assert h.book.size_at(True, 99.0) == 6.0 and h.book.best_ask() == (101.0, 2.0)
    assert k.stats.dropped == 1 and k.stats.gaps == 0
    assert h.reasons() == [("live", "snapshot")]


def test_usdm_procedure_straddle_and_pu_chain() -> None:
    """USD-M: U <= lastUpdateId <= u for the first event, then pu == previous u (ids not
    contiguous per symbol)."""
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(1000))
    # Straddles the snapshot; its pu (990) is not the snapshot id: bridging rule applies.
    assert k.on_delta(delta(995, 1007, prev=990, bids=[(100.5, 1.0)]))
    assert k.on_delta(delta(1015, 1020, prev=1007))   # U jumps: fine, pu chains
    assert not k.on_delta(delta(1030, 1040, prev=1025))
    assert h.book.status is BookStatus.STALE and k.stats.gaps == 1
    assert h.resyncs == [IID]
    assert h.reasons()[-1] == ("stale", "gap")


def test_usdm_event_ending_at_last_update_id_is_covered() -> None:
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(1000))
    assert not k.on_delta(delta(990, 1000, prev=980))       # u == lastUpdateId: covered
    assert k.on_delta(delta(1003, 1010, prev=1000))          # pu == lastUpdateId continues
    assert k.stats.gaps == 0 and h.book.seq == 1010


def test_first_delta_must_bridge() -> None:
    h = Harness()
    h.keeper.on_snapshot(snap(100))
    assert not h.keeper.on_delta(delta(105, 110))
    assert h.book.status is BookStatus.STALE and h.keeper.stats.gaps == 1


def test_snapshot_older_than_buffer_is_a_gap() -> None:
    """Spot doc: if the snapshot's lastUpdateId < the first buffered U - 1, re-snapshot."""
    h = Harness()
    h.keeper.on_delta(delta(200, 210))
    h.keeper.on_snapshot(snap(100))
    assert h.book.status is BookStatus.STALE and h.resyncs == [IID]
    assert not h.keeper.ever_live(IID)


def test_deribit_style_exact_continuation() -> None:
    """Deribit change ids are not contiguous: prev_change_id == change_id of the last."""
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(500))
    assert k.on_delta(BookDelta(IID, ((100.0, 2.0),), (), 507, 500, 0, 1, 507))
    assert k.on_delta(BookDelta(IID, (), ((101.0, 0.0), (102.0, 1.0)), 512, 507, 0, 2, 512))
    assert h.book.best_ask() == (102.0, 1.0) and k.stats.gaps == 0


def test_unsequenced_deltas_apply() -> None:
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(-1))
    for i in range(3):
        assert k.on_delta(BookDelta(IID, ((100.0, float(i + 2)),), (), -1, -1, 0, i, -1))
    assert h.book.best_bid() == (100.0, 4.0) and k.stats.gaps == 0


def test_duplicate_is_ignored_not_reapplied() -> None:
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(100))
    d1 = delta(101, 105, bids=[(100.0, 2.0)])
    d2 = delta(106, 108, bids=[(100.0, 3.0)])
    assert k.on_delta(d1) and k.on_delta(d2)
    assert not k.on_delta(d1)          # duplicate of an older update: would undo d2
    assert not k.on_delta(d2)          # duplicate of the last one
    assert h.book.best_bid() == (100.0, 3.0)
    assert h.book.status is BookStatus.LIVE and k.stats.dropped == 2


def test_reorder_is_a_gap() -> None:
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(100))
    assert not k.on_delta(delta(106, 108))   # arrives before 101..105
    assert h.book.status is BookStatus.STALE and k.stats.gaps == 1


def test_crossed_after_delta() -> None:
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(100))
    k.on_delta(delta(101, 101, bids=[(101.5, 1.0)]))
    assert h.book.status is BookStatus.STALE and k.stats.crossed == 1
    assert h.reasons()[-1] == ("stale", "crossed") and h.resyncs == [IID]


def test_crossed_snapshot_never_goes_live() -> None:
    h = Harness()
    h.keeper.on_snapshot(snap(100, bids=[(102.0, 1.0)], asks=[(101.0, 1.0)]))
    assert h.book.status is BookStatus.STALE and h.keeper.stats.crossed == 1
    assert ("live", "snapshot") not in h.reasons()


def _toy_checksum(book: OrderBook) -> int:
    """A test checksum over the raw strings of the top 3 levels (OKX-like)."""
    parts = [f"{p}:{s}" for p, s in book.raw_depth_bids(3) + book.raw_depth_asks(3)]
    return zlib.crc32("|".join(parts).encode())


def _raw(levels):
    return tuple((repr(p), repr(s)) for p, s in levels)


def _expected(bids, asks) -> int:
    parts = [f"{p}:{s}" for p, s in _raw(bids)[:3] + _raw(asks)[:3]]
    return zlib.crc32("|".join(parts).encode())


def test_checksum_verified_and_mismatch_recovers() -> None:
    iid = "okx:BTC-USDT"
    h = Harness(checksum_fns={"okx": _toy_checksum})
    k = h.keeper
    bids = [(100.0, 1.0), (99.0, 2.0)]
    asks = [(101.0, 1.0), (102.0, 3.0)]
    k.on_snapshot(BookSnapshot(iid, tuple(bids), tuple(asks), 1, 0, 0,
                               checksum=_expected(bids, asks), raw_bids=_raw(bids),
                               raw_asks=_raw(asks), depth=400))
    book = k.book(iid)
    assert book is not None and book.status is BookStatus.LIVE
    new_bids = [(100.0, 5.0), (99.0, 2.0)]
    good = BookDelta(iid, ((100.0, 5.0),), (), 2, 1, 0, 1, 2,
                     checksum=_expected(new_bids, asks), raw_bids=_raw([(100.0, 5.0)]),
                     raw_asks=())
    assert k.on_delta(good)
    assert k.stats.checksums_verified == 2 and k.stats.checksum_mismatches == 0
    # A corrupted level: the venue's checksum no longer matches the book.
    bad = BookDelta(iid, ((99.0, 7.0),), (), 3, 2, 0, 2, 3,
                    checksum=_expected([(100.0, 5.0), (99.0, 2.5)], asks),
                    raw_bids=_raw([(99.0, 7.0)]), raw_asks=())
    k.on_delta(bad)
    assert book.status is BookStatus.STALE and k.stats.checksum_mismatches == 1
    assert h.resyncs == [iid] and h.events[-1].reason == "checksum"
    # Deltas while STALE are buffered; a fresh snapshot brings the book back.
    k.on_snapshot(BookSnapshot(iid, tuple(bids), tuple(asks), 10, 0, 0,
                               checksum=_expected(bids, asks), raw_bids=_raw(bids),
                               raw_asks=_raw(asks), depth=400))
    assert book.status is BookStatus.LIVE and h.events[-1].reason == "snapshot"


def test_raw_strings_only_kept_for_checksummed_books() -> None:
    h = Harness()
    h.keeper.on_snapshot(snap(1))
    h.keeper.on_delta(delta(2, 2, bids=[(99.0, 1.0)]))
    assert h.book.raw_bids is None and h.book.raw_asks is None


def test_stale_stream() -> None:
    h = Harness(stale_after_ns=5_000)
    k = h.keeper
    k.on_snapshot(BookSnapshot(IID, ((100.0, 1.0),), ((101.0, 1.0),), 1, 0, 1_000))
    assert k.check_stale(5_000) == []
    assert k.check_stale(7_000) == [IID]
    assert h.book.status is BookStatus.STALE and h.events[-1].reason == "stale_stream"
    assert k.check_stale(100_000) == []      # already STALE: not reported twice
    assert k.stats.stale_streams == 1 and h.resyncs == [IID]


def test_malformed_attributed_and_not() -> None:
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(1))
    k.on_malformed("bad frame")
    assert h.book.status is BookStatus.LIVE and k.stats.malformed == 1
    k.on_malformed("bad depth frame", instrument_id=IID)
    assert h.book.status is BookStatus.STALE and h.events[-1].reason == "malformed"
    assert k.stats.malformed == 2


def test_reset_goes_syncing_and_clears() -> None:
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(1))
    k.on_delta(delta(2, 3))
    k.reset(IID, "reconnect")
    assert h.book.status is BookStatus.SYNCING and h.book.best_bid() is None
    assert h.events[-1].status is BookStatus.SYNCING
    assert not k.on_delta(delta(4, 5))       # buffered until the new snapshot
    k.on_snapshot(snap(3))
    assert h.book.status is BookStatus.LIVE and h.book.seq == 5


def test_buffer_is_bounded() -> None:
    h = Harness(max_buffer=3)
    for i in range(5):
        h.keeper.on_delta(delta(10 * i + 1, 10 * i + 10))
    assert h.keeper.buffered(IID) == 3 and h.keeper.stats.buffer_overflows == 2
    h.keeper.on_snapshot(snap(20))   # the kept tail (21..50) bridges
    assert h.book.status is BookStatus.LIVE and h.book.seq == 50


def test_stale_book_never_live_until_snapshot() -> None:
    h = Harness()
    k = h.keeper
    k.on_snapshot(snap(100))
    k.on_delta(delta(105, 110))                  # gap
    assert not k.on_delta(delta(111, 112))       # buffered while STALE
    assert k.live_book(IID) is None
    k.on_snapshot(snap(110))
    assert k.live_book(IID) is h.book and h.book.seq == 112
    assert [r for _, r in h.reasons()] == ["snapshot", "gap", "snapshot"]


@pytest.mark.parametrize("depth", [2])
def test_depth_limited_snapshot_truncates(depth: int) -> None:
    h = Harness()
    h.keeper.on_snapshot(snap(1, bids=[(100.0, 1), (99.0, 1), (98.0, 1)],
                              asks=[(101.0, 1), (102.0, 1), (103.0, 1)], depth=depth))
    h.keeper.on_delta(delta(2, 2, bids=[(99.5, 1.0)]))
    assert h.book.depth_bids(10) == [(100.0, 1), (99.5, 1.0)]
    assert h.book.depth_asks(10) == [(101.0, 1), (102.0, 1)]


def test_reset_venue_resets_only_that_venues_books() -> None:
    h = Harness()
    k = h.keeper
    other = "okx:BTC-USDT"
    k.on_snapshot(snap(1))
    k.on_snapshot(snap(1, iid=other))
    assert k.reset_venue("binance-spot", "disconnected") == 1
    assert h.book.status is BookStatus.SYNCING and h.book.best_bid() is None
    assert h.events[-1].reason == "disconnected"
    other_book = k.book(other)
    assert other_book is not None and other_book.status is BookStatus.LIVE
