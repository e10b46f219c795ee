"""OKX codec on the real 2022-05-13 recordings (books with checksums, instruments) and samples."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from typing import Any

import pytest

from adapters.okx.codec import OkxCodec, okx_checksum, okx_checksum_from_levels
from engine.book import OrderBook
from engine.model import (
    BookDelta,
    BookSnapshot,
    Instrument,
    InstrumentKind,
    OptionType,
    Quote,
    Side,
    Trade,
)
from tests.marketdata import marketdata_dir, read_jsonl_gz, read_sample

MS = 1_000_000
BOOKS = marketdata_dir() / "okx" / "okx-books-2022-05-13.jsonl.gz"
INSTRUMENTS = marketdata_dir() / "okx" / "okx-instruments-2022-05-13.jsonl.gz"
SAMPLES = marketdata_dir() / "samples" / "okx"


def _decode_all(records: list[dict[str, Any]]) -> list[Any]:
    codec = OkxCodec()
    events: list[Any] = []
    for r in records:
        if r["kind"] == "ws-open":
            events.extend(codec.on_open(r["url"]))
        elif r["kind"] == "ws":
            events.extend(codec.decode(r["data"], r["ts"], r["url"]))
        elif r["kind"] == "rest":
            events.extend(codec.decode_rest(r["url"], r["data"], r["ts"]))
    return events


class NaiveBook:
    """Reference book: price string -> size string per side, sorted on demand (no cleverness)."""

    def __init__(self) -> None:
        self.bids: dict[float, tuple[str, str]] = {}
        self.asks: dict[float, tuple[str, str]] = {}

    def apply(self, ev: BookSnapshot | BookDelta, depth: int = 400) -> None:
        assert ev.raw_bids is not None and ev.raw_asks is not None
        if isinstance(ev, BookSnapshot):
            self.bids, self.asks = {}, {}
        for side, raws in ((self.bids, ev.raw_bids), (self.asks, ev.raw_asks)):
            for px, sz in raws:
                if float(sz) == 0.0:
                    side.pop(float(px), None)
                else:
                    side[float(px)] = (px, sz)
        # `books` keeps 400 levels: the venue does not delete levels that leave the window
        for side, is_bid in ((self.bids, True), (self.asks, False)):
            excess = len(side) - depth
            if excess > 0:
                worst_first = sorted(side, reverse=not is_bid)
                for p in worst_first[:excess]:
                    del side[p]

    def top(self, is_bid: bool, n: int = 25) -> list[tuple[str, str]]:
        side = self.bids if is_bid else self.asks
        return [side[p] for p in sorted(side, reverse=is_bid)[:n]]

    def checksum(self) -> int:
        return okx_checksum_from_levels(self.top(True), self.top(False))


@pytest.fixture(scope="module")
def book_records() -> list[dict[str, Any]]:
    return read_jsonl_gz(BOOKS)


@pytest.fixture(scope="module")
def book_events(book_records: list[dict[str, Any]]) -> list[Any]:
    return _decode_all(book_records)


def _book_message_count(records: list[dict[str, Any]]) -> int:
    n = 0
    for r in records:
        if r["kind"] == "ws" and r["data"].startswith("{"):
            msg = json.loads(r["data"])
            if msg.get("arg", {}).get("channel") == "books" and "data" in msg:
                n += len(msg["data"])
    return n


def test_capture_decodes_fully(book_events: list[Any]) -> None:
    counts = Counter(type(e).__name__ for e in book_events)
    assert counts == {"BookSnapshot": 3, "BookDelta": 287, "Trade": 74, "Quote": 28}


def test_every_checksum_matches(book_records: list[dict[str, Any]],
                                book_events: list[Any]) -> None:
    books: dict[str, NaiveBook] = {}
    verified = mismatches = 0
    for e in book_events:
        if not isinstance(e, (BookSnapshot, BookDelta)):
            continue
        book = books.setdefault(e.instrument_id, NaiveBook())
        book.apply(e)
        assert e.checksum is not None
        verified += 1
        mismatches += book.checksum() != e.checksum
    assert mismatches == 0
    assert verified == _book_message_count(book_records) == 290
    assert set(books) == {"okx:BTC-USD-220527", "okx:UNI-USD-SWAP", "okx:BTC-USDT"}


def test_engine_book_with_okx_checksum_agrees(book_events: list[Any]) -> None:
    books: dict[str, OrderBook] = {}
    mismatches = 0
    for e in book_events:
        if isinstance(e, BookSnapshot):
            book = books[e.instrument_id] = OrderBook(e.instrument_id)
            book.apply_snapshot(e)
        elif isinstance(e, BookDelta):
            book = books[e.instrument_id]
            book.apply_delta(e)
        else:
            continue
        mismatches += okx_checksum(book) != e.checksum
        assert not book.is_crossed()
    assert mismatches == 0


def test_corrupted_level_fails_the_checksum(book_events: list[Any]) -> None:
    snap = next(e for e in book_events if isinstance(e, BookSnapshot))
    book = NaiveBook()
    book.apply(snap)
    assert book.checksum() == snap.checksum
    price = next(iter(sorted(book.bids, reverse=True)))
    px, sz = book.bids[price]
    book.bids[price] = (px, sz + "1")  # one size string changed
    assert book.checksum() != snap.checksum
    # the same value written differently ("5.16" vs "5.160") is a different checksum too
    book.bids[price] = (px, sz + "0" if "." in sz else sz + ".0")
    assert book.checksum() != snap.checksum


def test_corrupted_frame_is_caught_downstream(book_records: list[dict[str, Any]]) -> None:
    """Change one size in one real update frame: the rebuilt book no longer matches."""
    codec = OkxCodec()
    book = NaiveBook()
    target = "okx:BTC-USDT"
    corrupted = mismatches = 0
    for r in book_records:
        if r["kind"] != "ws" or '"books"' not in r["data"][:40] or '"data"' not in r["data"]:
            continue
        data = r["data"]
        msg = json.loads(data)
        if msg["arg"]["instId"] != "BTC-USDT":
            continue
        if msg["action"] == "update" and not corrupted and msg["data"][0]["bids"]:
            lv = msg["data"][0]["bids"][0]
            if lv[1] != "0":
                lv[1] = str(float(lv[1]) + 1.0)
                data = json.dumps(msg)
                corrupted = 1
        for e in codec.decode(data, r["ts"]):
            assert e.instrument_id == target
            book.apply(e)
            mismatches += book.checksum() != e.checksum
    assert corrupted and mismatches >= 1


def test_no_sequence_fields_in_2022_data(book_events: list[Any]) -> None:
    for e in book_events:
        if isinstance(e, BookDelta):
            assert e.seq == e.prev_seq == e.first_seq == -1
        elif isinstance(e, BookSnapshot):
            assert e.seq == -1 and e.depth == 400


def test_trades_and_tickers(book_events: list[Any]) -> None:
    trades = [e for e in book_events if isinstance(e, Trade)]
    assert {t.aggressor for t in trades} == {Side.BUY, Side.SELL}
    assert all(t.size > 0 and t.price > 0 and t.trade_id for t in trades)
    quotes = [e for e in book_events if isinstance(e, Quote)]
    assert all(q.bid_price < q.ask_price for q in quotes)


# -- instruments ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def instruments() -> dict[str, Instrument]:
    events = _decode_all(read_jsonl_gz(INSTRUMENTS))
    assert all(isinstance(e, Instrument) for e in events)
    by = {e.symbol: e for e in events}
    assert len(by) == 513 + 166 + 104 + 346 + 350
    return by


def test_instruments_by_hand(instruments: dict[str, Instrument]) -> None:
    # SPOT {"baseCcy":"BTC","instId":"BTC-USDT","lotSz":"0.00000001","minSz":"0.00001",
    #       "quoteCcy":"USDT","tickSz":"0.1","state":"live"}
    spot = instruments["BTC-USDT"]
    assert spot.kind is InstrumentKind.SPOT and not spot.inverse
    assert (spot.base, spot.quote, spot.settle) == ("BTC", "USDT", "USDT")
    assert (spot.tick_size, spot.lot_size, spot.min_size) == (0.1, 1e-8, 1e-5)
    assert spot.contract_size == 1.0 and spot.active
    # SWAP {"ctMult":"1","ctType":"inverse","ctVal":"100","ctValCcy":"USD","instId":"BTC-USD-SWAP",
    #       "lotSz":"1","minSz":"1","settleCcy":"BTC","tickSz":"0.1","uly":"BTC-USD"}
    swap = instruments["BTC-USD-SWAP"]
    assert swap.kind is InstrumentKind.PERPETUAL and swap.inverse and swap.expiry_ns == 0
    assert (swap.base, swap.quote, swap.settle) == ("BTC", "USD", "BTC")
    assert (swap.contract_size, swap.tick_size, swap.lot_size) == (100.0, 0.1, 1.0)
    # {"ctType":"linear","ctVal":"10","ctValCcy":"ZRX","instId":"ZRX-USDT-SWAP","settleCcy":"USDT"}
    zrx = instruments["ZRX-USDT-SWAP"]
    assert not zrx.inverse and zrx.contract_size == 10.0 and zrx.settle == "USDT"
    assert zrx.tick_size == 0.0001
    # FUTURES {"alias":"this_week","ctType":"inverse","ctVal":"100","expTime":"1653033600000",
    #          "instId":"BTC-USD-220520","settleCcy":"BTC","uly":"BTC-USD"}
    fut = instruments["BTC-USD-220520"]
    assert fut.kind is InstrumentKind.FUTURE and fut.inverse
    assert fut.expiry_ns == 1653033600000 * MS and fut.contract_size == 100.0
    # OPTION {"ctMult":"0.1","ctVal":"1","ctValCcy":"BTC","expTime":"1652515200000",
    #         "instId":"BTC-USD-220514-22000-C","optType":"C","settleCcy":"BTC","stk":"22000",
    #         "tickSz":"0.0005","uly":"BTC-USD","lotSz":"1","minSz":"1"}
    opt = instruments["BTC-USD-220514-22000-C"]
    assert opt.kind is InstrumentKind.OPTION and opt.option_type is OptionType.CALL
    assert opt.strike == 22000.0 and opt.expiry_ns == 1652515200000 * MS
    assert opt.contract_size == 0.1 and opt.tick_size == 0.0005 and opt.lot_size == 1.0
    assert (opt.base, opt.quote, opt.settle) == ("BTC", "USD", "BTC")
    assert opt.inverse and opt.premium_in_coin and opt.underlying == "BTC" and opt.venue_underlying == "BTC-USD"
    put = instruments["BTC-USD-220930-120000-P"]
    assert put.option_type is OptionType.PUT and put.strike == 120000.0
    eth = instruments["ETH-USD-220514-1300-C"]
    assert eth.contract_size == 1.0 and eth.settle == "ETH"


def test_instruments_match_raw_json(instruments: dict[str, Instrument]) -> None:
    for r in read_jsonl_gz(INSTRUMENTS)[:5]:
        for d in json.loads(r["data"])["data"]:
            inst = instruments[d["instId"]]
            assert inst.id == f"okx:{d['instId']}"
            assert inst.tick_size == float(d["tickSz"]) and inst.lot_size == float(d["lotSz"])
            assert inst.min_size == float(d["minSz"])
            if d["ctVal"]:
                assert inst.contract_size == pytest.approx(float(d["ctVal"]) * float(d["ctMult"]),
                                                           rel=1e-12)
            if d["expTime"]:
                assert inst.expiry_ns == int(d["expTime"]) * MS
            assert inst.inverse == (d["ctType"] == "inverse" or d["instType"] == "OPTION")


# -- single-message samples ----------------------------------------------------------------
def _sample(name: str) -> str:
    return read_sample(SAMPLES / name)


def test_sample_books() -> None:
    c = OkxCodec()
    (snap,) = c.decode(_sample("ws_books_snapshot.json"), 1)
    assert isinstance(snap, BookSnapshot) and snap.depth == 400
    assert (snap.seq, snap.checksum) == (123456, -855196043)
    assert snap.raw_asks is not None and snap.raw_asks[1] == ("8477", "7")  # strings as sent
    assert snap.asks[1] == (8477.0, 7.0) and snap.bids[0] == (8476.97, 256.0)
    (upd,) = c.decode(_sample("ws_books_update.json"), 2)
    assert isinstance(upd, BookDelta)
    assert (upd.prev_seq, upd.seq, upd.first_seq) == (123456, 123457, 123457)
    (bbo,) = c.decode(_sample("ws_bbo_tbt.json"), 3)
    assert isinstance(bbo, BookSnapshot) and bbo.depth == 1 and bbo.seq == 123456
    assert bbo.checksum is None and bbo.bids == ((8476.97, 256.0),)


def test_sample_trades_tickers() -> None:
    c = OkxCodec()
    (t,) = c.decode(_sample("ws_trades.json"), 1)
    assert t == Trade("okx:BTC-USD", 42219.9, 0.12060306, Side.BUY, "130639474",
                      1630048897897 * MS, 1)
    (q,) = c.decode(_sample("ws_tickers.json"), 1)
    assert q == Quote("okx:BTC-USDT", 8888.88, 5.0, 9999.99, 11.0, 1597026383085 * MS, 1)


def test_sample_rest_bodies() -> None:
    c = OkxCodec()
    opts = c.decode_rest("https://www.okx.com/api/v5/public/instruments?instType=OPTION",
                         _sample("http_get_instruments_option.json"), 1)
    assert [o.symbol for o in opts][:2] == ["BTC-USD-241217-92000-C", "BTC-USD-241217-92000-P"]
    assert opts[0].contract_size == 0.01 and opts[0].underlying == "BTC" and opts[0].venue_underlying == "BTC-USD"
    swaps = {i.symbol: i for i in c.decode_rest(
        "https://www.okx.com/api/v5/public/instruments?instType=SWAP",
        _sample("http_get_instruments_swap.json"), 1)}
    assert swaps["ETH-USDT-SWAP"].contract_size == 0.1 and not swaps["ETH-USDT-SWAP"].inverse
    spot = c.decode_rest("https://www.okx.com/api/v5/public/instruments?instType=SPOT",
                         _sample("http_get_instruments_spot.json"), 1)
    assert spot[0].symbol == "BTC-USD" and spot[0].quote == "USD"
    (snap,) = c.decode_rest("https://www.okx.com/api/v5/market/books?instId=BTC-USDT&sz=400",
                            _sample("http_get_order_book.json"), 9)
    assert snap.instrument_id == "okx:BTC-USDT" and snap.depth == 400 and snap.seq == -1
    assert snap.raw_bids == (("41006.7", "0.48792100"), ("41006.6", "0.23970000"),
                             ("41006.5", "1.12500000"))
    assert c.decode_rest("https://www.okx.com/api/v5/trade/orders-history?instType=SPOT",
                         _sample("http_get_orders_history.json"), 1) == []


@pytest.mark.parametrize("name", ["ws_orders.json", "ws_orders_adl.json", "ws_orders_algo.json",
                                  "ws_orders_fok.json", "ws_orders_ioc.json",
                                  "ws_orders_liquidation.json",
                                  "ws_orders_optimal_limit_ioc.json", "ws_orders_option.json",
                                  "ws_orders_trigger.json"])
def test_private_samples_are_valid_frames(name: str) -> None:
    assert OkxCodec().decode(_sample(name), 1) == []


def test_checksum_string_layout() -> None:
    # uneven sides: the longer side continues alone after the shorter one ends
    bids = [("3366.1", "7"), ("3366", "6"), ("3365.5", "1")]
    asks = [("3366.8", "9")]
    expect = zlib.crc32(b"3366.1:7:3366.8:9:3366:6:3365.5:1")
    expect = expect - (1 << 32) if expect >= 1 << 31 else expect
    assert okx_checksum_from_levels(bids, asks) == expect
    # only the top 25 of each side count
    many = [(str(100 - i), "1") for i in range(30)]
    assert okx_checksum_from_levels(many, []) == okx_checksum_from_levels(many[:25], [])
    assert okx_checksum_from_levels([], []) == 0
