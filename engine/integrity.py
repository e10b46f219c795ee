"""The book integrity layer: one ``BookKeeper`` owns every ``OrderBook`` and decides, uniformly
across venues, whether an update may be applied and whether a book can be trusted.

Theory of operation. Codecs normalize sequence numbers (``engine.model.market``) so that one
state machine serves every venue. Per book:

* SYNCING (no snapshot yet, or reset by a reconnect) and STALE (a check failed, a resync is
  requested): deltas are buffered (bounded deque: oldest dropped first) because on Binance the
  REST snapshot is fetched *after* the stream opened ("How to manage a local order book
  correctly", developers.binance.com, spot and futures).
* A ``BookSnapshot`` replaces the book, is itself checked (crossed, checksum), then the buffer
  is replayed through the normal delta path and the book goes LIVE. Deltas whose ``seq <=
  book.seq`` are already covered by the snapshot and dropped (Binance: drop ``u <=
  lastUpdateId``; Deribit: drop ``change_id <=`` the snapshot's).
* The first delta applied after a snapshot must *bridge*: ``prev_seq == book.seq`` (exact
  continuation: Deribit, OKX, Bybit, and Binance when ``U == lastUpdateId+1`` / ``pu ==
  lastUpdateId``) or ``first_seq <= book.seq + 1`` with ``seq > book.seq`` (the event straddles
  the snapshot). Together with the drop rule this is Binance spot's ``U <= lastUpdateId+1 <=
  u`` and USD-M/COIN-M's ``U <= lastUpdateId <= u`` (an event with ``u == lastUpdateId`` is
  dropped: everything it carries is in the snapshot, and its successor then continues exactly).
* Afterwards every delta must continue: ``prev_seq == book.seq``. ``prev_seq == -1`` means the
  venue sends no continuity information (old OKX): only checksums guard such books. A LIVE
  delta with ``seq <= book.seq`` (a duplicate or a late replay) is dropped, never re-applied:
  its sizes are older than the book's, so applying it would corrupt the book.
* After each applied event: crossed check (best bid >= best ask), and, where the event carries a
  ``checksum`` and a function is registered for the venue (``checksum_fns``), the checksum.
* ``check_stale(now_ns)`` (called by the runtime on a timer) marks books that saw no book event
  for ``stale_after_ns`` STALE.

Any failure marks the book STALE, publishes ``BookStatusChanged`` (reason ``gap``,
``checksum``, ``crossed``, ``stale_stream`` or ``malformed``) and calls ``request_resync``; a
STALE book is never LIVE, so strategies and the risk gate (which read ``book.status``) never
trade on it. The hot path (a LIVE delta) does one dict lookup, a few integer compares, the book
update and the crossed check; no allocation, no logging.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from engine.book import OrderBook
from engine.model import BookDelta, BookSnapshot, BookStatus, BookStatusChanged

_LIVE = BookStatus.LIVE
_STALE = BookStatus.STALE
_SYNCING = BookStatus.SYNCING

ChecksumFn = Callable[[OrderBook], int]

# Stable reason codes carried by ``BookStatusChanged.reason``.
GAP = "gap"
CHECKSUM = "checksum"
CROSSED = "crossed"
STALE_STREAM = "stale_stream"
MALFORMED = "malformed"
SNAPSHOT = "snapshot"
RESET = "reset"


class IntegrityStats:
    """Counters of the integrity layer (all books together)."""

    __slots__ = ("updates_applied", "snapshots", "gaps", "checksums_verified",
                 "checksum_mismatches", "crossed", "resyncs", "dropped", "buffered",
                 "buffer_overflows", "stale_streams", "malformed")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class _Track:
    """Integrity state of one book, next to it."""

    __slots__ = ("book", "buffer", "bridged", "checksum_fn", "last_recv", "ever_live")

    def __init__(self, book: OrderBook, checksum_fn: ChecksumFn | None, max_buffer: int) -> None:
        self.book = book
        self.buffer: deque[BookDelta] = deque(maxlen=max_buffer)
        self.bridged = False
        self.checksum_fn = checksum_fn
        self.last_recv = 0
        self.ever_live = False


def _ignore(_: Any) -> None:
    return None


class BookKeeper:
    """Owns the ``OrderBook`` of every instrument and guards their integrity.

    ``publish`` receives every ``BookStatusChanged``; ``request_resync(instrument_id)`` is
    called whenever a book turns STALE (the venue session then re-snapshots: Binance REST depth,
    Deribit/OKX/Bybit resubscribe). ``checksum_fns`` maps a venue name to a function computing
    that venue's checksum from a book (OKX: CRC32 over the top 25 levels' strings).
    ``stale_after_ns`` <= 0 disables staleness checks. ``max_buffer`` bounds the deltas kept
    per book while it waits for a snapshot.
    """

    # (slots: an attribute read is one offset into the object, no separate values array)
    __slots__ = ("publish", "request_resync", "checksum_fns", "stale_after_ns", "max_buffer",
                 "check_crossed", "stats", "books", "_tracks")

    def __init__(self, publish: Callable[[BookStatusChanged], None] | None = None,
                 request_resync: Callable[[str], None] | None = None,
                 checksum_fns: Mapping[str, ChecksumFn] | None = None,
                 stale_after_ns: int = 30_000_000_000,
                 max_buffer: int = 10_000,
                 check_crossed: bool = True) -> None:
        self.publish: Callable[[BookStatusChanged], None] = publish or _ignore
        self.request_resync: Callable[[str], None] = request_resync or _ignore
        self.checksum_fns: dict[str, ChecksumFn] = dict(checksum_fns or {})
        self.stale_after_ns = stale_after_ns
        self.max_buffer = max_buffer
        self.check_crossed = check_crossed
        self.stats = IntegrityStats()
        self.books: dict[str, OrderBook] = {}
        self._tracks: dict[str, _Track] = {}

    # -- access -----------------------------------------------------------------------------
    def book(self, instrument_id: str) -> OrderBook | None:
        """The book of ``instrument_id`` (check ``book.status`` before trusting it)."""
        return self.books.get(instrument_id)

    def live_book(self, instrument_id: str) -> OrderBook | None:
        """The book only if it is LIVE, else None."""
        book = self.books.get(instrument_id)
        return book if book is not None and book.status is _LIVE else None

    def ever_live(self, instrument_id: str) -> bool:
        track = self._tracks.get(instrument_id)
        return track is not None and track.ever_live

    def buffered(self, instrument_id: str) -> int:
        track = self._tracks.get(instrument_id)
        return len(track.buffer) if track is not None else 0

    def _track(self, instrument_id: str) -> _Track:
        track = self._tracks.get(instrument_id)
        if track is None:
            book = OrderBook(instrument_id)
            venue = instrument_id.partition(":")[0]
            track = _Track(book, self.checksum_fns.get(venue), self.max_buffer)
            self._tracks[instrument_id] = track
            self.books[instrument_id] = book
        return track

    # -- events -----------------------------------------------------------------------------
    def on_event(self, event: Any) -> bool:
        """Apply a ``BookSnapshot`` or ``BookDelta``; ignore anything else. True if applied."""
        cls = type(event)
        if cls is BookDelta:
            return self.on_delta(event)
        if cls is BookSnapshot:
            return self.on_snapshot(event)
        return False

    def on_delta(self, delta: BookDelta) -> bool:
        """Apply ``delta`` if it continues the book; True if the book changed.

        The common case (a LIVE book, a delta that continues it, no failure) is the only code
        here; buffering, the continuity decisions of a delta that does not continue exactly
        and the failures are other methods: between two updates the rest of the process evicts
        the caches, and each line of code touched costs a miss."""
        track = self._tracks.get(delta.instrument_id)
        if track is None:
            track = self._track(delta.instrument_id)
        track.last_recv = delta.ts_recv
        book = track.book
        if book.status is not _LIVE:
            self._buffer(track, delta)
            return False
        # LIVE (also the snapshot's replay of the buffer): continuity, apply, checks
        prev = delta.prev_seq
        if prev != -1 and prev != book.seq and not self._bridges(track, delta):
            return False
        crossed = book.apply_delta(delta)  # (the crossed check, from the same call)
        track.bridged = True
        self.stats.updates_applied += 1
        if crossed and self.check_crossed:
            self._crossed(track, delta)
            return True
        if delta.checksum is not None and track.checksum_fn is not None:
            return self._verify_checksum(track, delta.checksum, delta.seq, delta.ts_recv)
        return True

    def _buffer(self, track: _Track, delta: BookDelta) -> None:
        """Keep a delta of a book that is not LIVE for the snapshot's replay (oldest dropped)."""
        buf = track.buffer
        if len(buf) == buf.maxlen:
            self.stats.buffer_overflows += 1
        buf.append(delta)
        self.stats.buffered += 1

    def _bridges(self, track: _Track, delta: BookDelta) -> bool:
        """A delta of a LIVE book whose ``prev_seq`` is not the book's ``seq``: True if it may
        be applied all the same (the first delta after a snapshot, straddling it); else it is
        dropped (already covered) or the book fails (a gap); False."""
        bseq = track.book.seq
        if delta.seq <= bseq:
            # Already covered (by the snapshot, or a duplicate): applying it would move
            # levels back to older sizes.
            self.stats.dropped += 1
            return False
        if track.bridged:
            self._fail(track, GAP, f"prev_seq {delta.prev_seq} != book seq {bseq} (seq {delta.seq})",
                       delta.ts_recv)
            return False
        first = delta.first_seq
        if first < 0:
            first = delta.seq
        if first > bseq + 1:
            self._fail(track, GAP, f"first delta does not bridge the snapshot: first_seq "
                       f"{first} > snapshot seq {bseq} + 1", delta.ts_recv)
            return False
        return True

    def _crossed(self, track: _Track, delta: BookDelta) -> None:
        book = track.book
        self._fail(track, CROSSED, f"best bid {book.best_bid_price()} >= best ask "
                   f"{book.best_ask_price()} after seq {delta.seq}", delta.ts_recv)
        self.stats.crossed += 1

    def _verify_checksum(self, track: _Track, expected: int, seq: int, ts: int) -> bool:
        assert track.checksum_fn is not None
        stats = self.stats
        stats.checksums_verified += 1
        try:
            got = track.checksum_fn(track.book)
        except Exception as exc:  # a checksum function that cannot read the book is a failure
            got = None
            detail = f"checksum function failed: {exc!r}"
        else:
            detail = f"checksum {got} != venue {expected} at seq {seq}"
        if got != expected:
            stats.checksum_mismatches += 1
            self._fail(track, CHECKSUM, detail, ts)
        return True

    def on_snapshot(self, snap: BookSnapshot) -> bool:
        """Replace the book with ``snap``, replay buffered deltas, and go LIVE if all checks
        pass (a snapshot is the venue's own consistent book at ``snap.seq``)."""
        track = self._track(snap.instrument_id)
        book = track.book
        was = book.status
        book.apply_snapshot(snap)
        track.bridged = False
        track.last_recv = snap.ts_recv
        stats = self.stats
        stats.snapshots += 1
        book.status = _LIVE
        if self.check_crossed and book.is_crossed():
            stats.crossed += 1
            self._fail(track, CROSSED, f"snapshot seq {snap.seq} is crossed", snap.ts_recv)
            return True
        if snap.checksum is not None and track.checksum_fn is not None:
            self._verify_checksum(track, snap.checksum, snap.seq, snap.ts_recv)
            if book.status is not _LIVE:
                return True
        buf = track.buffer
        on_delta = self.on_delta
        while buf and book.status is _LIVE:
            on_delta(buf.popleft())
        buf.clear()
        track.last_recv = snap.ts_recv  # (the replay set it to the buffered deltas' times)
        if book.status is _LIVE:
            track.ever_live = True
            if was is not _LIVE:
                self.publish(BookStatusChanged(book.instrument_id, _LIVE, SNAPSHOT,
                                               snap.ts_recv, f"snapshot seq {snap.seq}"))
        return True

    # -- failures and resets -----------------------------------------------------------------
    def _fail(self, track: _Track, reason: str, detail: str, ts: int) -> None:
        book = track.book
        book.status = _STALE
        track.bridged = False
        if reason == GAP:
            self.stats.gaps += 1
        self.stats.resyncs += 1
        self.publish(BookStatusChanged(book.instrument_id, _STALE, reason, ts, detail))
        self.request_resync(book.instrument_id)

    def invalidate(self, instrument_id: str, reason: str, detail: str = "", ts: int = 0) -> None:
        """Mark a book STALE from outside (e.g. a malformed frame attributed to it)."""
        track = self._track(instrument_id)
        if reason == MALFORMED:
            self.stats.malformed += 1
        self._fail(track, reason, detail, ts)

    def on_malformed(self, detail: str, instrument_id: str | None = None, ts: int = 0) -> None:
        """Count a frame the codec rejected; if it is attributable to a book, that book may have
        missed an update: mark it STALE. Otherwise the next delta's sequence check catches any
        loss."""
        if instrument_id is not None:
            self.invalidate(instrument_id, MALFORMED, detail, ts)
        else:
            self.stats.malformed += 1

    def reset(self, instrument_id: str, reason: str = RESET, ts: int = 0) -> None:
        """Back to SYNCING with an empty book and buffer (a new connection: the venue restarts
        the book from a snapshot)."""
        track = self._tracks.get(instrument_id)
        if track is None:
            return
        book = track.book
        was = book.status
        book.clear()
        book.status = _SYNCING
        track.buffer.clear()
        track.bridged = False
        if was is not _SYNCING:
            self.publish(BookStatusChanged(instrument_id, _SYNCING, reason, ts))

    def reset_venue(self, venue: str, reason: str = RESET, ts: int = 0) -> int:
        """Reset every book of ``venue`` to SYNCING (its connection dropped: nothing it showed
        can be trusted until the session re-snapshots); returns how many books were reset."""
        prefix = venue + ":"
        ids = [iid for iid in self._tracks if iid.startswith(prefix)]
        for iid in ids:
            self.reset(iid, reason, ts)
        return len(ids)

    def check_stale(self, now_ns: int) -> list[str]:
        """Mark LIVE books without a book event for ``stale_after_ns`` STALE; return their ids."""
        limit = self.stale_after_ns
        if limit <= 0:
            return []
        out: list[str] = []
        for iid, track in self._tracks.items():
            if track.book.status is _LIVE and now_ns - track.last_recv > limit:
                out.append(iid)
        for iid in out:
            track = self._tracks[iid]
            self.stats.stale_streams += 1
            self._fail(track, STALE_STREAM,
                       f"no book update for {(now_ns - track.last_recv) / 1e9:.1f} s", now_ns)
        return out
