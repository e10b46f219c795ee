"""What can be checked on vendor data without exchange sequence numbers, checked while importing.

Tardis.dev CSV and Binance public data carry no venue sequence numbers (Tardis' L2 rows are the
venue's updates re-expressed as absolute level sizes, without ``change_id``/``u``/``seqId``):
a lost update cannot be detected by continuity. Imported book events therefore have
``prev_seq = -1`` ("no continuity information", see ``engine.integrity``) and ``seq`` an
increasing per-instrument counter. What *is* checked, by the same ``BookKeeper`` the engine
runs, plus a few vendor-specific counters:

* crossed books (best bid >= best ask after an event) and crossed quotes;
* snapshot resets: a snapshot after the first one of an instrument (Tardis writes one when
  its recorder reconnected: the book restarts there, as after a live reconnect);
* book deltas before an instrument's first snapshot (dropped: there is no book to apply them to);
* staleness: receive-time silences of a book longer than ``stale_after_s`` (and the longest);
* receive times going backwards (rows out of order; the catalog replays in receive order).

What cannot be checked: a missing update between two rows, a level the recorder never saw,
checksums (not in the files). docs/data.md says so.
"""

from __future__ import annotations

from typing import Any

from engine.integrity import BookKeeper
from engine.model import BookDelta, BookSnapshot, BookStatusChanged, Quote

NS_PER_S = 1_000_000_000
_NAN = float("nan")
_INF = float("inf")


# Numbers a venue never sends: a trade or a level at a NaN, infinite, zero or negative price,
# or of a NaN, infinite or negative size, would enter the book and the matching as if real.
# The row is malformed (the import stops naming its line); an empty field stays a missing
# number (NaN) where the format allows one.

def price(x: str) -> float:
    """A price: a finite number above 0."""
    v = float(x)
    if not 0.0 < v < _INF:
        raise ValueError(f"price {x!r} is not a finite number above 0")
    return v


def size(x: str, zero: bool = False) -> float:
    """A size: a finite number above 0 (``zero``: or 0, a book level's deletion)."""
    v = float(x)
    if not (0.0 <= v < _INF if zero else 0.0 < v < _INF):
        raise ValueError(f"size {x!r} is not a finite number {'>= 0' if zero else 'above 0'}")
    return v


def price_or_none(x: str) -> float:
    """A quote's price: ``price``, or NaN for an empty field (that side has no price)."""
    return price(x) if x else _NAN


def size_or_none(x: str) -> float:
    """A quote's size: ``size`` (0 allowed), or NaN for an empty field."""
    return size(x, zero=True) if x else _NAN


class ImportChecks:
    """Feed every imported event of one file through ``on_event``; ``report()`` summarises.
    ``snapshots_are_resets``: False for datasets made of snapshots (``book_snapshot_25``, the
    top of book of ``options_chain``), where a snapshot is the normal update."""

    def __init__(self, stale_after_s: float = 60.0, snapshots_are_resets: bool = True) -> None:
        self.snapshots_are_resets = snapshots_are_resets
        self.status: list[BookStatusChanged] = []
        self.keeper = BookKeeper(publish=self.status.append, stale_after_ns=0)
        self.stale_after_ns = int(stale_after_s * NS_PER_S)
        self.snapshot_count: dict[str, int] = {}
        self.last_book: dict[str, int] = {}
        self.silences = 0
        self.longest_silence = (0, "")
        self.crossed_quotes = 0
        self.backwards = 0
        self.orphan_deltas = 0
        self._last_ts = 0

    def on_event(self, ev: Any) -> None:
        t = ev.ts_recv
        if t < self._last_ts:
            self.backwards += 1
        else:
            self._last_ts = t
        cls = type(ev)
        if cls is BookSnapshot or cls is BookDelta:
            iid = ev.instrument_id
            last = self.last_book.get(iid)
            if last is not None:
                gap = t - last
                if gap > self.stale_after_ns:
                    self.silences += 1
                if gap > self.longest_silence[0]:
                    self.longest_silence = (gap, iid)
            self.last_book[iid] = t
            if cls is BookSnapshot:
                self.snapshot_count[iid] = self.snapshot_count.get(iid, 0) + 1
            self.keeper.on_event(ev)
        elif cls is Quote:
            if ev.bid_price == ev.bid_price and ev.ask_price == ev.ask_price \
                    and ev.bid_price >= ev.ask_price and ev.bid_size > 0 and ev.ask_size > 0:
                self.crossed_quotes += 1

    def report(self) -> dict[str, Any]:
        s = self.keeper.stats
        gap, iid = self.longest_silence
        return {
            "book_updates": s.updates_applied, "snapshots": s.snapshots,
            "snapshot_resets": sum(max(0, n - 1) for n in self.snapshot_count.values())
            if self.snapshots_are_resets else 0,
            "crossed_books": s.crossed, "crossed_quotes": self.crossed_quotes,
            "deltas_before_first_snapshot": self.orphan_deltas,
            "silences_over_threshold": self.silences,
            "longest_silence_s": round(gap / NS_PER_S, 3), "longest_silence_instrument": iid,
            "receive_time_backwards": self.backwards,
        }
