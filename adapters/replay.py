"""``volta replay FILE... [--json]``: replay captures through the real codecs and the integrity
layer, and report whether the books they build are consistent.

Theory of operation: each file is replayed on its own (fresh codecs, fresh ``BookKeeper``) and
the summaries are merged. Records are replayed in receive-time order (a stable sort on ``ts``):
some converted captures list their REST bodies ahead of the ``ws-open`` they followed, and the
Binance procedure depends on the snapshot arriving after the stream opened. ``ws-open`` calls
``codec.on_open`` and resets the books fed by that URL to SYNCING; ``rest`` goes through
``decode_rest``; ``ws-sent`` is counted and skipped. A frame the codec rejects
(``VenueProtocolError``) is counted as malformed and skipped: it never reaches a book, and the
next delta's sequence check catches what it may have carried. Nothing re-snapshots during a
replay, so a book that turns STALE stays STALE (its resync request is counted).

Venue top-of-book cross-check (the README's method): after every book event the rebuilt top
of book at ``book.seq`` is compared with the venue's own quote for that update id, i.e. the
``Quote`` (Binance ``bookTicker``, ``seq = u``) with the greatest ``seq <= book.seq``; the
quote stream publishes every top-of-book change, so that quote *is* the venue's top at
``book.seq`` (the exact case ``book.seq == quote.seq`` included). A state is judged as soon as
a later quote proves that no earlier one is still in flight.

Exit code: 0 consistent; 1 any gap, checksum mismatch, crossed book or malformed frame; 2 usage
errors (missing file, unreadable capture, no codec for a venue in the file).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from adapters import registry
from adapters.capture import CaptureFormatError, CaptureRecord, load_records
from engine.integrity import BookKeeper
from engine.model import (
    BookDelta,
    BookSnapshot,
    BookStatusChanged,
    Instrument,
    Quote,
    Trade,
    VenueProtocolError,
)

FAILURE_KEYS = ("gaps", "checksum_mismatches", "crossed", "malformed")
_MAX_DETAILS = 20


class ReplayError(Exception):
    """A usage-level problem (unreadable capture, no codec for a venue): exit code 2."""


class _BboCheck:
    """Book states awaiting the venue quote that tells their top of book."""

    __slots__ = ("states", "last")

    def __init__(self) -> None:
        self.states: deque[tuple[int, Any, Any]] = deque(maxlen=100_000)
        self.last: Quote | None = None


class Replayer:
    """Replays the records of one capture; ``summary()`` reports what it saw."""

    def __init__(self, venues: Iterable[str],
                 codec_factory: Callable[[str], Any] = registry.create_codec,
                 checksum_fns: dict[str, Callable[[Any], int]] | None = None) -> None:
        self.codecs: dict[str, Any] = {}
        fns: dict[str, Callable[[Any], int]] = {}
        for venue in sorted(set(venues)):
            try:
                self.codecs[venue] = codec_factory(venue)
                fn = (checksum_fns or {}).get(venue) or registry.checksum_fn(venue)
            except registry.CodecUnavailable as exc:
                raise ReplayError(f"no codec for venue {venue!r}: {exc}") from exc
            if fn is not None:
                fns[venue] = fn
        self.status_events: list[BookStatusChanged] = []
        self.resync_requests: list[str] = []
        self.keeper = BookKeeper(publish=self.status_events.append,
                                 request_resync=self.resync_requests.append,
                                 checksum_fns=fns, stale_after_ns=0)
        self.messages = 0
        self.ws_sent = 0
        self.opens = 0
        self.by_channel: Counter[str] = Counter()
        self.instruments: set[str] = set()
        self.instrument_defs = 0
        self.malformed_details: list[str] = []
        self.bbo_compared = 0
        self.bbo_mismatches = 0
        self.bbo_details: list[str] = []
        self._url_books: dict[str, set[str]] = {}
        self._bbo: dict[str, _BboCheck] = {}

    # -- driving ----------------------------------------------------------------------------
    def run(self, records: Iterable[CaptureRecord]) -> None:
        """``feed`` every record; websocket frames (nearly all of them) on an inlined path
        with the same effects: no call or string built per frame beyond the codec's.

        Per frame this path keeps its counts in locals (frames, and per venue the codec's
        ``last_channel`` -> frames) and folds them into ``messages``/``by_channel`` when the
        run ends (or stops on an error); a frame that is one quote or one trade (most of a
        book stream) is handled here rather than by ``_handle``, with the same effects."""
        codecs = self.codecs
        instruments = self.instruments
        handle = self._handle
        on_quote = self._on_quote
        bbo = self._bbo
        per_venue: dict[str, dict[str, int]] = {}  # venue -> codec channel -> frames
        frames = 0
        venue: str | None = None
        codec: Any = None
        counts: dict[str, int] = {}
        try:
            for record in records:
                if record.kind != "ws":
                    self.feed(record)
                    continue
                if record.venue != venue:
                    venue = record.venue
                    codec = codecs.get(venue)
                    if codec is None:
                        raise ReplayError(f"no codec for venue {venue!r}")
                    counts = per_venue.setdefault(venue, {})
                frames += 1
                try:
                    events = codec.decode(record.data, record.ts, record.url)
                except VenueProtocolError as exc:
                    self._malformed(venue, codec, exc, record.ts)
                    continue
                channel = getattr(codec, "last_channel", "")
                counts[channel] = counts.get(channel, 0) + 1
                if not events:
                    continue
                if len(events) == 1:
                    ev = events[0]
                    cls = type(ev)
                    if cls is Quote:
                        iid = ev.instrument_id
                        instruments.add(iid)
                        if ev.seq:
                            chk = bbo.get(iid)
                            if chk is not None and not chk.states:
                                chk.last = ev  # no book state waits for a quote: nothing to judge
                            else:
                                on_quote(ev)
                        continue
                    if cls is Trade:
                        instruments.add(ev.instrument_id)
                        continue
                handle(events, record.url)
        finally:
            self.messages += frames
            by_channel = self.by_channel
            for name, chans in per_venue.items():
                for channel, n in chans.items():
                    by_channel[f"{name}:{channel or 'unknown'}"] += n

    def feed(self, record: CaptureRecord) -> None:
        """Replay one capture record."""
        self.feed_frame(record.venue, record.kind, record.url, record.data, record.ts)

    def feed_frame(self, venue: str, kind: str, url: str, data: str | bytes, ts: int) -> None:
        """Replay one frame; ``data`` as bytes is what a live session hands its codec."""
        codec = self.codecs.get(venue)
        if codec is None:
            raise ReplayError(f"no codec for venue {venue!r}")
        if kind == "ws-sent":
            self.ws_sent += 1
            return
        if kind == "ws-open":
            self.opens += 1
            for iid in self._url_books.pop(url, ()):
                self.keeper.reset(iid, "reconnect", ts)
                self._bbo.pop(iid, None)
            self._handle(codec.on_open(url) or (), url)
            return
        self.messages += 1
        try:
            if kind == "rest":
                events = codec.decode_rest(url, data, ts)
            else:
                events = codec.decode(data, ts, url)
        except VenueProtocolError as exc:
            self._malformed(venue, codec, exc, ts)
            return
        self.by_channel[f"{venue}:{getattr(codec, 'last_channel', '') or 'unknown'}"] += 1
        if events:
            self._handle(events, url)

    def _malformed(self, venue: str, codec: Any, exc: VenueProtocolError, ts: int) -> None:
        self.by_channel[f"{venue}:{getattr(codec, 'last_channel', '') or 'invalid'}"] += 1
        self.keeper.on_malformed(str(exc), ts=ts)
        if len(self.malformed_details) < _MAX_DETAILS:
            self.malformed_details.append(f"ts {ts}: {exc}")

    def _handle(self, events: Iterable[Any], url: str) -> None:
        keeper = self.keeper
        for ev in events:
            cls = type(ev)
            if cls is BookDelta or cls is BookSnapshot:
                iid = ev.instrument_id
                if iid not in self.instruments:
                    self.instruments.add(iid)
                books = self._url_books.get(url)
                if books is None:
                    books = self._url_books[url] = set()
                books.add(iid)
                keeper.on_delta(ev) if cls is BookDelta else keeper.on_snapshot(ev)
                self._after_book_event(iid)
            elif cls is Quote:
                self.instruments.add(ev.instrument_id)
                if ev.seq:
                    self._on_quote(ev)
            elif cls is Instrument:
                self.instrument_defs += 1
            else:
                iid = getattr(ev, "instrument_id", None)
                if iid is not None:
                    self.instruments.add(iid)

    # -- venue top of book vs rebuilt book ------------------------------------------------
    def _after_book_event(self, iid: str) -> None:
        chk = self._bbo.get(iid)
        if chk is None:
            return  # no venue quotes for this instrument (yet)
        book = self.keeper.books[iid]
        if book.is_live:
            chk.states.append((book.seq, book.best_bid(), book.best_ask()))
        else:
            chk.states.clear()

    def _on_quote(self, q: Quote) -> None:
        chk = self._bbo.get(q.instrument_id)
        if chk is None:
            chk = self._bbo[q.instrument_id] = _BboCheck()
        states = chk.states
        # Streams are each in order: once a quote with id q.seq arrived, every quote with a
        # smaller id has too, so a book state at seq S < q.seq is judged against the latest
        # earlier quote (the venue's top of book as of S), and S == q.seq against q itself.
        last = chk.last
        while states and states[0][0] < q.seq:
            seq, bid, ask = states.popleft()
            if last is not None and last.seq <= seq:
                self._compare(seq, bid, ask, last)
        if states and states[0][0] == q.seq:
            seq, bid, ask = states.popleft()
            self._compare(seq, bid, ask, q)
        chk.last = q

    def _compare(self, seq: int, bid: Any, ask: Any, q: Quote) -> None:
        self.bbo_compared += 1
        if bid != (q.bid_price, q.bid_size) or ask != (q.ask_price, q.ask_size):
            self.bbo_mismatches += 1
            if len(self.bbo_details) < _MAX_DETAILS:
                self.bbo_details.append(
                    f"{q.instrument_id} book seq {seq}: bid {bid} ask {ask}; venue quote seq "
                    f"{q.seq}: bid ({q.bid_price}, {q.bid_size}) ask ({q.ask_price}, "
                    f"{q.ask_size})")

    # -- report -----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        stats = self.keeper.stats
        books: dict[str, Any] = {}
        for iid, book in sorted(self.keeper.books.items()):
            bid = book.best_bid()
            ask = book.best_ask()
            books[iid] = {"bid": list(bid) if bid else None, "ask": list(ask) if ask else None,
                          "status": str(book.status), "seq": book.seq}
        return {
            "messages": self.messages,
            "by_channel": dict(sorted(self.by_channel.items())),
            "instruments": sorted(self.instruments),
            "instrument_definitions": self.instrument_defs,
            "books_built": sum(1 for iid in self.keeper.books if self.keeper.ever_live(iid)),
            "updates_applied": stats.updates_applied,
            "snapshots": stats.snapshots,
            "gaps": stats.gaps,
            "checksums_verified": stats.checksums_verified,
            "checksum_mismatches": stats.checksum_mismatches,
            "crossed": stats.crossed,
            "resyncs": stats.resyncs,
            "malformed": stats.malformed,
            "dropped": stats.dropped,
            "buffered": stats.buffered,
            "bbo_compared": self.bbo_compared,
            "bbo_mismatches": self.bbo_mismatches,
            "ws_sent": self.ws_sent,
            "opens": self.opens,
            "status_changes": [
                {"instrument": e.instrument_id, "status": str(e.status), "reason": e.reason,
                 "detail": e.detail} for e in self.status_events if e.status != "live"
            ][:_MAX_DETAILS],
            "malformed_details": list(self.malformed_details),
            "bbo_mismatch_details": list(self.bbo_details),
            "books": books,
        }


def load_sorted(path: str | Path) -> list[CaptureRecord]:
    """The records of a capture in receive-time order (stable: ties keep file order)."""
    records = load_records(path)
    records.sort(key=lambda r: r.ts)
    return records


def replay_file(path: str | Path,
                codec_factory: Callable[[str], Any] = registry.create_codec,
                checksum_fns: dict[str, Callable[[Any], int]] | None = None) -> dict[str, Any]:
    """Replay one capture; returns its summary (raises ``ReplayError`` on usage problems)."""
    try:
        records = load_sorted(path)
    except (CaptureFormatError, OSError) as exc:
        raise ReplayError(str(exc)) from exc
    replayer = Replayer({r.venue for r in records}, codec_factory, checksum_fns)
    replayer.run(records)
    return replayer.summary()


_SUM_KEYS = ("messages", "instrument_definitions", "books_built", "updates_applied", "snapshots",
             "gaps", "checksums_verified", "checksum_mismatches", "crossed", "resyncs",
             "malformed", "dropped", "buffered", "bbo_compared", "bbo_mismatches", "ws_sent",
             "opens")


def merge(summaries: list[dict[str, Any]], files: list[str]) -> dict[str, Any]:
    """One summary for several files (counters summed; a later file's book wins)."""
    out: dict[str, Any] = {key: sum(s[key] for s in summaries) for key in _SUM_KEYS}
    by_channel: Counter[str] = Counter()
    instruments: set[str] = set()
    books: dict[str, Any] = {}
    for s in summaries:
        by_channel.update(s["by_channel"])
        instruments.update(s["instruments"])
        books.update(s["books"])
    out["by_channel"] = dict(sorted(by_channel.items()))
    out["instruments"] = sorted(instruments)
    out["books"] = dict(sorted(books.items()))
    for key in ("status_changes", "malformed_details", "bbo_mismatch_details"):
        out[key] = [x for s in summaries for x in s[key]][:_MAX_DETAILS]
    out["files"] = files
    # nothing decoded is nothing verified: not "consistent"
    out["consistent"] = out["messages"] > 0 and not any(out[k] for k in FAILURE_KEYS)
    return out


def _fmt_level(level: list[float] | None) -> str:
    return f"{level[1]!r} @ {level[0]!r}" if level else "-"


def format_text(s: dict[str, Any]) -> str:
    lines = [
        f"files            {len(s['files'])}",
        f"messages         {s['messages']}  (ws-sent {s['ws_sent']}, connections {s['opens']})",
        "by channel       " + ", ".join(f"{k} {v}" for k, v in s["by_channel"].items()),
        f"instruments      {len(s['instruments'])} with market data, "
        f"{s['instrument_definitions']} definitions",
        f"books built      {s['books_built']}  (snapshots {s['snapshots']}, updates applied "
        f"{s['updates_applied']}, dropped {s['dropped']}, buffered {s['buffered']})",
        f"sequence gaps    {s['gaps']}",
        f"checksums        {s['checksums_verified']} verified, {s['checksum_mismatches']} mismatches",
        f"crossed books    {s['crossed']}",
        f"resyncs          {s['resyncs']}",
        f"malformed frames {s['malformed']}",
        f"venue BBO check  {s['bbo_compared']} compared, {s['bbo_mismatches']} differ",
    ]
    for key, title in (("status_changes", "integrity events"), ("malformed_details", "malformed"),
                       ("bbo_mismatch_details", "BBO differences")):
        if s[key]:
            lines.append(f"{title}:")
            lines.extend(f"  {x}" for x in s[key])
    lines.append("top of book:")
    for iid, b in s["books"].items():
        lines.append(f"  {iid:40s} {b['status']:8s} bid {_fmt_level(b['bid']):>28s}   "
                     f"ask {_fmt_level(b['ask'])}")
    result = "consistent" if s["consistent"] else \
        "INTEGRITY FAILURES" if any(s[k] for k in FAILURE_KEYS) else "NO MARKET DATA (nothing checked)"
    lines.append("result           " + result)
    return "\n".join(lines)


CAPTURE_SUFFIXES = (".jsonl", ".jsonl.gz")


def capture_files(folder: Path) -> list[Path]:
    """The capture files in ``folder`` and below, in name order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``volta replay``; returns the exit code (0 consistent, 1 integrity
    failures or no market data at all, 2 usage: missing, empty or unreadable captures)."""
    parser = argparse.ArgumentParser(prog="volta replay",
                                     description="Replay captures through codecs and books.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="capture (JSON Lines, gzip ok), or a folder: every *.jsonl and "
                             "*.jsonl.gz in it and below")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse printed the usage message
        return 0 if exc.code == 0 else 2
    files: list[str] = []
    for name in args.files:
        path = Path(name)
        if path.is_dir():
            found = capture_files(path)
            if not found:
                print(f"volta replay: {name}: a folder with no capture files "
                      f"({', '.join('*' + s for s in CAPTURE_SUFFIXES)})", file=sys.stderr)
                return 2
            files.extend(str(f) for f in found)
        elif path.is_file():
            files.append(name)
        else:
            print(f"volta replay: no such file or folder: {name}", file=sys.stderr)
            return 2
    try:
        summaries = [replay_file(name) for name in files]
    except ReplayError as exc:
        print(f"volta replay: {exc}", file=sys.stderr)
        return 2
    empty = [f for f, s in zip(files, summaries, strict=True) if s["messages"] + s["ws_sent"] + s["opens"] == 0]
    if empty:
        print(f"volta replay: {empty[0]}: empty capture (no records): nothing to check", file=sys.stderr)
        return 2
    summary = merge(summaries, files)
    if args.json:
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    else:
        print(format_text(summary))
    return 0 if summary["consistent"] else 1


if __name__ == "__main__":
    sys.exit(main())
