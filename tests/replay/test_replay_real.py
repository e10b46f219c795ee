"""Replays of the real recordings: consistency, venue top-of-book agreement, and detection of
and recovery from dropped, duplicated, reordered and corrupted messages."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters import registry
from adapters.capture import CaptureRecord, write_records
from adapters.replay import load_sorted, main
from engine.integrity import BookKeeper
from engine.model import BookDelta, BookSnapshot, BookStatus, BookStatusChanged

ROOT = Path(__file__).resolve().parents[2]
USDM_BTC = "binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz"
SPOT_BTC = "binance-spot/binance-spot-btcusdt-2024-08-08.jsonl.gz"
OKX_BOOKS = "okx/okx-books-2022-05-13.jsonl.gz"


def _data_dir() -> Path:
    env = os.environ.get("VOLTA_MARKETDATA")
    return Path(env) if env else ROOT / ".." / "shared" / "marketdata"


def marketdata() -> Path:
    path = _data_dir()
    if not path.is_dir():
        pytest.skip(f"real market data not found at {path} (set VOLTA_MARKETDATA)")
    return path


def recording(rel: str) -> Path:
    path = marketdata() / rel
    if not path.is_file():
        pytest.skip(f"recording {path} not found")
    return path


def need_codec(venue: str) -> None:
    try:
        registry.create_codec(venue)
        registry.checksum_fn(venue)
    except registry.CodecUnavailable as exc:
        pytest.skip(f"codec for {venue} not importable yet: {exc}")


def _all_recordings() -> list[str]:
    path = _data_dir()
    files = sorted(str(p.relative_to(path)) for p in path.glob("*/*.jsonl.gz")) if path.is_dir() else []
    return files or ["<no recordings>"]


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


# -- every recording replays consistently ------------------------------------------------------
@pytest.mark.parametrize("rel", _all_recordings())
def test_recording_replays_consistently(rel: str, capsys: pytest.CaptureFixture[str]) -> None:
    if rel == "<no recordings>":
        pytest.skip(f"no recordings under {_data_dir()} (set VOLTA_MARKETDATA)")
    path = recording(rel)
    need_codec(rel.split("/")[0])        # folders are named after venues
    code, s = run_json(capsys, str(path))
    assert (s["gaps"], s["checksum_mismatches"], s["crossed"], s["malformed"]) == (0, 0, 0, 0), s
    assert code == 0 and s["resyncs"] == 0
    if s["instruments"] and any(k.endswith(("depth", "book", "books")) for k in s["by_channel"]):
        assert s["books_built"] == len(s["books"]) > 0
        assert all(b["status"] == "live" for b in s["books"].values())
    if rel.startswith("okx/okx-books"):
        assert s["checksums_verified"] > 200


def test_usdm_book_matches_book_ticker_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    code, s = run_json(capsys, str(recording(USDM_BTC)))
    assert code == 0
    assert s["bbo_compared"] > 6000, s["bbo_compared"]
    assert s["bbo_mismatches"] == 0, s["bbo_mismatch_details"]
    top = s["books"]["binance-usdm:BTCUSDT"]
    assert top["status"] == "live" and top["bid"][0] < top["ask"][0]


def test_spot_book_matches_book_ticker(capsys: pytest.CaptureFixture[str]) -> None:
    code, s = run_json(capsys, str(recording(SPOT_BTC)))
    assert code == 0
    assert s["bbo_compared"] > 3000
    assert s["bbo_mismatches"] <= 2, s["bbo_mismatch_details"]   # README: 2 documented


def test_text_output_and_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = recording("binance-usdm/binance-usdm-4alts-2021-07-22.jsonl.gz")
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "sequence gaps    0" in out and "binance-usdm:SUSHIUSDT" in out
    assert main([str(tmp_path / "missing.jsonl.gz")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert main([str(bad)]) == 2
    assert "not a capture record" in capsys.readouterr().err
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"ts":1,"venue":"nowhere","kind":"ws","url":"","data":"{}"}\n')
    assert main([str(unknown)]) == 2


# -- faults in a real capture: the replay reports them -----------------------------------------
def _depth_indexes(records: list[CaptureRecord]) -> list[int]:
    return [i for i, r in enumerate(records) if r.kind == "ws" and '"depthUpdate"' in r.data]


def test_deleted_depth_message_is_a_gap(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    records = load_sorted(recording(USDM_BTC))
    victim = _depth_indexes(records)[len(_depth_indexes(records)) // 2]
    del records[victim]
    path = tmp_path / "gap.jsonl.gz"
    write_records(path, records)
    code, s = run_json(capsys, str(path))
    assert code == 1 and s["gaps"] == 1 and s["resyncs"] == 1
    assert s["books"]["binance-usdm:BTCUSDT"]["status"] == "stale"
    assert s["status_changes"][0]["reason"] == "gap"


def test_malformed_frame_is_counted_not_fatal(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    records = load_sorted(recording("binance-spot/binance-spot-4pairs-2021-10-12.jsonl.gz"))
    ticker = next(i for i, r in enumerate(records) if "bookTicker" in r.data)
    r = records[ticker]
    records[ticker] = CaptureRecord(r.ts, r.venue, r.kind, r.url, r.data[: len(r.data) // 2])
    path = tmp_path / "malformed.jsonl"
    write_records(path, records, compress=False)
    code, s = run_json(capsys, str(path))
    assert code == 1 and s["malformed"] == 1 and s["gaps"] == 0
    assert all(b["status"] == "live" for b in s["books"].values())   # no book corrupted


# -- detection and recovery, driven like a live session ---------------------------------------
class Session:
    """Feeds a (possibly faulty) event stream into a keeper; on a resync request it takes a
    fresh snapshot from a reference keeper fed the intact stream (what the venue would
    serve), as a live session re-snapshots."""

    def __init__(self, checksum_fns: dict | None = None,
                 make_snapshot: Callable[[BookKeeper, str], BookSnapshot] | None = None) -> None:
        self.events: list[BookStatusChanged] = []
        self.pending: list[str] = []
        self.keeper = BookKeeper(publish=self.events.append, request_resync=self.pending.append,
                                 checksum_fns=checksum_fns, stale_after_ns=0)
        self.reference = BookKeeper(checksum_fns=checksum_fns, stale_after_ns=0)
        self.make_snapshot = make_snapshot or _snapshot_of
        self.resyncs = 0

    def feed(self, intact: list, faulty: list) -> None:
        for ev in intact:
            self.reference.on_event(ev)
        for ev in faulty:
            self.keeper.on_event(ev)
        while self.pending:
            iid = self.pending.pop()
            self.resyncs += 1
            self.keeper.on_snapshot(self.make_snapshot(self.reference, iid))

    def reasons(self) -> list[tuple[str, str]]:
        return [(str(e.status), e.reason) for e in self.events]


def _snapshot_of(reference: BookKeeper, iid: str) -> BookSnapshot:
    book = reference.book(iid)
    assert book is not None and book.is_live
    return BookSnapshot(iid, tuple(book.depth_bids(100_000)), tuple(book.depth_asks(100_000)),
                        book.seq, book.ts_event, book.ts_recv)


def _binance_events(rel: str, market: str, limit: int = 2500) -> list[list]:
    """Decoded book events per frame (REST snapshot included), receive order."""
    from adapters.binance.codec import BinanceCodec

    codec = BinanceCodec(market)
    frames: list[list] = []
    for r in load_sorted(recording(rel)):
        if r.kind == "rest":
            frames.append(codec.decode_rest(r.url, r.data, r.ts))
        elif r.kind == "ws" and '"depthUpdate"' in r.data:
            frames.append(codec.decode(r.data, r.ts, r.url))
            if len(frames) >= limit:
                break
    return frames


def _run_with_fault(frames: list[list], fault: str, at: int) -> Session:
    session = Session()
    i = 0
    while i < len(frames):
        if i == at and fault == "drop":
            session.feed(frames[i], [])
        elif i == at and fault == "duplicate":
            session.feed(frames[i], frames[i] + frames[i])
        elif i == at and fault == "late-duplicate":
            session.feed(frames[i], frames[i] + frames[i - 5])
        elif i == at and fault == "reorder":
            session.feed(frames[i] + frames[i + 1], frames[i + 1] + frames[i])
            i += 1
        elif i == at and fault == "cross":
            (d,) = frames[i]
            book = session.reference.book(d.instrument_id)
            assert book is not None
            crossing = ((book.best_ask_price() + 100.0, 1.0),) + d.bids
            session.feed(frames[i], [BookDelta(d.instrument_id, crossing, d.asks, d.seq,
                                               d.prev_seq, d.ts_event, d.ts_recv, d.first_seq)])
        else:
            session.feed(frames[i], frames[i])
        i += 1
    return session


@pytest.mark.parametrize("rel,market", [(USDM_BTC, "usdm"), (SPOT_BTC, "spot")])
@pytest.mark.parametrize("fault,reason", [("drop", "gap"), ("reorder", "gap"),
                                          ("cross", "crossed")])
def test_fault_detected_and_recovered(rel: str, market: str, fault: str, reason: str) -> None:
    frames = _binance_events(rel, market)
    session = _run_with_fault(frames, fault, at=len(frames) // 2)
    iid = frames[-1][0].instrument_id
    book = session.keeper.book(iid)
    ref = session.reference.book(iid)
    assert book is not None and ref is not None
    assert session.reasons() == [("live", "snapshot"), ("stale", reason), ("live", "snapshot")]
    assert session.resyncs == 1
    assert book.status is BookStatus.LIVE and book.seq == ref.seq
    assert book.depth_bids(100_000) == ref.depth_bids(100_000)
    assert book.depth_asks(100_000) == ref.depth_asks(100_000)


@pytest.mark.parametrize("fault", ["duplicate", "late-duplicate"])
def test_duplicate_is_harmlessly_ignored(fault: str) -> None:
    """A duplicated diff carries seq <= book.seq: it is dropped (never re-applied, which would
    restore older sizes), so the book stays LIVE and identical to the reference."""
    frames = _binance_events(USDM_BTC, "usdm")
    session = _run_with_fault(frames, fault, at=len(frames) // 2)
    iid = frames[-1][0].instrument_id
    book, ref = session.keeper.book(iid), session.reference.book(iid)
    assert book is not None and ref is not None
    assert session.reasons() == [("live", "snapshot")] and session.resyncs == 0
    assert session.keeper.stats.dropped == session.reference.stats.dropped + 1
    assert book.depth_bids(100_000) == ref.depth_bids(100_000)
    assert book.depth_asks(100_000) == ref.depth_asks(100_000)


# -- OKX: a corrupted level fails the venue checksum; a fresh snapshot recovers -----------------
def _okx_snapshot(checksum: Callable) -> Callable[[BookKeeper, str], BookSnapshot]:
    def make(reference: BookKeeper, iid: str) -> BookSnapshot:
        book = reference.book(iid)
        assert book is not None and book.is_live
        raw_bids = tuple(book.raw_depth_bids(400))
        raw_asks = tuple(book.raw_depth_asks(400))
        return BookSnapshot(iid, tuple(book.depth_bids(400)), tuple(book.depth_asks(400)),
                            book.seq, book.ts_event, book.ts_recv, checksum=checksum(book),
                            raw_bids=raw_bids, raw_asks=raw_asks, depth=400)
    return make


def test_okx_corrupted_level_fails_checksum_and_recovers() -> None:
    need_codec("okx")
    codec_intact = registry.create_codec("okx")
    codec_faulty = registry.create_codec("okx")
    checksum = registry.checksum_fn("okx")
    assert checksum is not None
    session = Session(checksum_fns={"okx": checksum}, make_snapshot=_okx_snapshot(checksum))
    corrupted = None
    for r in load_sorted(recording(OKX_BOOKS)):
        if r.kind == "ws-open":
            codec_intact.on_open(r.url)
            codec_faulty.on_open(r.url)
            continue
        if r.kind != "ws":
            continue
        data = r.data
        if corrupted is None and '"action":"update"' in data and '"channel":"books"' in data:
            msg = json.loads(data)
            bids = msg["data"][0]["bids"]
            if bids and bids[0][1] != "0":
                bids[0][1] = str(float(bids[0][1]) + 1)   # a size the venue never sent
                corrupted = json.dumps(msg, separators=(",", ":"))
                session.feed(codec_intact.decode(data, r.ts, r.url),
                             codec_faulty.decode(corrupted, r.ts, r.url))
                continue
        session.feed(codec_intact.decode(data, r.ts, r.url), codec_faulty.decode(data, r.ts, r.url))
    assert corrupted is not None
    stats = session.keeper.stats
    assert stats.checksum_mismatches == 1 and session.resyncs == 1
    assert ("stale", "checksum") in session.reasons()
    assert session.reasons()[-1] == ("live", "snapshot")
    # After the resync every later venue checksum verifies again.
    assert stats.checksums_verified > 200
    assert session.reference.stats.checksum_mismatches == 0
    for iid, ref in session.reference.books.items():
        book = session.keeper.book(iid)
        assert book is not None and book.is_live
        assert book.depth_bids(400) == ref.depth_bids(400)
