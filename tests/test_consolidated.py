"""The cross-venue consolidated book: hand-checked numbers on linear and inverse venues."""

from __future__ import annotations

import pytest

from engine.book import OrderBook
from engine.consolidated import ConsolidatedBook, ConsolidatedLevel, SweepChild
from engine.model import BookDelta, BookSnapshot, BookStatus, Instrument, InstrumentKind, Side

BINANCE = "binance-usdm:BTCUSDT"
BYBIT = "bybit:BTCUSDT"
OKX = "okx:BTC-USD-SWAP"


def _inst(venue: str, symbol: str, *, quote: str = "USDT", inverse: bool = False,
          contract_size: float = 1.0, lot: float = 0.001, min_size: float = 0.0,
          fee: float = 0.0005) -> Instrument:
    return Instrument(venue=venue, symbol=symbol, kind=InstrumentKind.PERPETUAL, base="BTC",
                      quote=quote, settle="BTC" if inverse else quote, inverse=inverse,
                      contract_size=contract_size, tick_size=0.1, lot_size=lot,
                      min_size=min_size, taker_fee=fee)


def _book(iid: str, bids: list, asks: list, status: BookStatus = BookStatus.LIVE) -> OrderBook:
    book = OrderBook(iid)
    book.apply_snapshot(BookSnapshot(iid, tuple(bids), tuple(asks), 1, 0, 0))
    book.status = status
    return book


def _three_venues() -> tuple[list[Instrument], dict[str, OrderBook]]:
    instruments = [
        _inst("binance-usdm", "BTCUSDT", fee=0.0005),
        _inst("bybit", "BTCUSDT", fee=0.00055),
        # OKX inverse swap: 1 contract = 100 USD, lot 1 contract.
        _inst("okx", "BTC-USD-SWAP", quote="USD", inverse=True, contract_size=100.0, lot=1.0,
              fee=0.0005),
    ]
    books = {
        BINANCE: _book(BINANCE, [(60000.0, 1.5), (59999.0, 2.0)], [(60001.0, 0.8), (60006.0, 3.0)]),
        BYBIT: _book(BYBIT, [(60000.5, 0.4), (59998.0, 5.0)], [(60002.0, 1.2), (60004.0, 2.0)]),
        OKX: _book(OKX, [(60001.0, 30.0), (59990.0, 600.0)], [(60005.0, 120.0), (60010.0, 1000.0)]),
    }
    return instruments, books


def test_best_bid_and_offer_with_attribution_and_base_units() -> None:
    instruments, books = _three_venues()
    cb = ConsolidatedBook("BTC", instruments, books)
    # OKX's 30 contracts of 100 USD at 60001 are 3000 / 60001 BTC.
    assert cb.best_bid() == ConsolidatedLevel(60001.0, pytest.approx(3000 / 60001), OKX)
    assert cb.best_ask() == (60001.0, 0.8, BINANCE)
    assert cb.excluded == {}


def test_merged_depth_in_common_units() -> None:
    instruments, books = _three_venues()
    cb = ConsolidatedBook("BTC", instruments, books)
    assert cb.depth(Side.BUY, 5) == [
        (60001.0, pytest.approx(0.0499991667, rel=1e-9), OKX),
        (60000.5, 0.4, BYBIT),
        (60000.0, 1.5, BINANCE),
        (59999.0, 2.0, BINANCE),
        (59998.0, 5.0, BYBIT),
    ]
    asks = cb.depth(Side.SELL, 4)
    assert asks == [(60001.0, 0.8, BINANCE), (60002.0, 1.2, BYBIT), (60004.0, 2.0, BYBIT),
                    (60005.0, pytest.approx(12000 / 60005), OKX)]
    # OKX deep bid: 600 contracts * 100 USD / 59990 = 1.000166... BTC.
    deep = cb.depth(Side.BUY, 10)
    assert deep[-1] == (59990.0, pytest.approx(1.0001666944), OKX)
    assert cb.depth(Side.BUY, 0) == []


def test_fees_change_the_ranking() -> None:
    instruments, books = _three_venues()
    cb = ConsolidatedBook("BTC", instruments, books)
    # Gross bids: OKX 60001 > Bybit 60000.5 > Binance 60000. Net of taker fees:
    # OKX 60001 * 0.9995 = 59971.0005 > Binance 60000 * 0.9995 = 59970 > Binance 59999 * 0.9995
    # = 59969.0005 > Bybit 60000.5 * 0.99945 = 59967.499725: Bybit's better gross bid ranks
    # below both Binance levels.
    net = cb.depth(Side.BUY, 4, net_of_fees=True)
    assert [lvl.instrument_id for lvl in net] == [OKX, BINANCE, BINANCE, BYBIT]
    assert [lvl.price for lvl in net] == pytest.approx([59971.0005, 59970.0, 59969.0005, 59967.499725])
    assert net[3].size_base == 0.4  # sizes are not fee-adjusted
    # A zero-fee Bybit becomes the best net bid and the best net offer.
    cb.set_fee(BYBIT, 0.0)
    assert cb.best_bid(net_of_fees=True).instrument_id == BYBIT
    assert cb.best_ask(net_of_fees=True) == (60002.0, 1.2, BYBIT)
    assert cb.best_ask(net_of_fees=False).instrument_id == BINANCE


def test_stale_syncing_and_missing_books_are_excluded_and_reported() -> None:
    instruments, books = _three_venues()
    books[OKX].status = BookStatus.STALE
    books[BINANCE].status = BookStatus.SYNCING
    cb = ConsolidatedBook("BTC", instruments, books)
    assert cb.best_bid() == (60000.5, 0.4, BYBIT)
    assert cb.excluded == {OKX: "stale", BINANCE: "syncing"}
    del books[BYBIT]
    assert cb.best_bid() is None and cb.depth(Side.SELL, 3) == []
    assert cb.excluded[BYBIT] == "missing"
    assert cb.sweep(Side.BUY, 1.0) == [] and cb.last_unfilled == 1.0
    books[OKX].status = BookStatus.LIVE  # the mapping is read live
    assert cb.best_bid().instrument_id == OKX


def test_fx_conversion() -> None:
    instruments, books = _three_venues()
    cb = ConsolidatedBook("BTC", instruments, books, quote="USD", fx={"USDT": 0.999})
    # Binance 60001 USDT = 59940.999 USD now beats OKX's 60005 USD ask and Bybit's 60002 USDT.
    assert cb.best_ask() == (pytest.approx(60001.0 * 0.999), 0.8, BINANCE)
    assert cb.best_bid() == (60001.0, pytest.approx(3000 / 60001), OKX)
    cb.set_fx("USDT", 1.001)
    assert cb.best_bid() == (pytest.approx(60000.5 * 1.001), 0.4, BYBIT)
    with pytest.raises(ValueError):
        ConsolidatedBook("BTC", instruments, books, quote="EUR")  # no USDT/USD -> EUR rate
    with pytest.raises(ValueError):
        ConsolidatedBook("ETH", instruments, books)


def test_sweep_net_of_fees_splits_across_venues_with_lot_rounding() -> None:
    instruments, books = _three_venues()
    cb = ConsolidatedBook("BTC", instruments, books)
    # Net asks: Binance 60001*1.0005=60031.0005 (0.8), Bybit 60002*1.00055=60035.0011 (1.2),
    # OKX 60005*1.0005=60035.0025 (120 contracts = 0.199983 BTC), Binance 60006*1.0005 (3.0).
    children = cb.sweep(Side.BUY, 2.3)
    assert children == [
        SweepChild(BINANCE, 60006.0, pytest.approx(0.9)),  # 0.8 + 0.1 (0.100017 rounded down)
        SweepChild(BYBIT, 60002.0, 1.2),
        SweepChild(OKX, 60005.0, 120.0),
    ]
    assert cb.last_unfilled == pytest.approx(2.3 - 0.8 - 1.2 - 12000 / 60005 - 0.1)
    assert cb.last_unfilled < 0.001  # less than any venue's lot


def test_sweep_gross_takes_a_different_route() -> None:
    instruments, books = _three_venues()
    cb = ConsolidatedBook("BTC", instruments, books)
    # Gross asks: Binance 60001 (0.8), Bybit 60002 (1.2), Bybit 60004 (2.0), OKX 60005...
    assert cb.sweep(Side.BUY, 2.3, net_of_fees=False) == [
        (BINANCE, 60001.0, 0.8), (BYBIT, 60004.0, pytest.approx(1.5))]
    assert cb.last_unfilled == pytest.approx(0.0, abs=1e-12)


def test_sweep_sell_into_inverse_contracts() -> None:
    instruments, books = _three_venues()
    cb = ConsolidatedBook("BTC", instruments, books)
    # Net bids: OKX 60001 (30 contracts), Binance 60000 (1.5), Bybit 60000.5 (0.4), ...
    children = cb.sweep(Side.SELL, 1.0)
    assert children[0] == (OKX, 60001.0, 30.0)
    assert children[1] == (BINANCE, 60000.0, pytest.approx(0.95))  # 1 - 0.049999 -> 0.950 lots
    assert len(children) == 2


def test_sweep_rounds_to_lots_and_respects_min_size() -> None:
    a = _inst("venue-a", "BTC-PERP", quote="USD", lot=0.1, fee=0.0)
    b = _inst("venue-b", "BTC-PERP", quote="USD", lot=0.001, fee=0.0)
    books = {a.id: _book(a.id, [(100.0, 0.37), (99.95, 0.05)], [(101.0, 1.0)]),
             b.id: _book(b.id, [(99.9, 5.0)], [(102.0, 1.0)])}
    cb = ConsolidatedBook("BTC", [a, b], books)
    # A: 0.37 at 100.0 -> 0.3 (3 lots); with 99.95 it has 0.42 seen -> one more lot (0.4).
    assert cb.sweep(Side.SELL, 1.0) == [(a.id, 99.95, pytest.approx(0.4)),
                                        (b.id, 99.9, pytest.approx(0.6))]
    # With a 0.5 minimum A cannot take its 0.3 first lot... nor the 0.4 later (need is gone).
    a_min = _inst("venue-a", "BTC-PERP", quote="USD", lot=0.1, min_size=0.5, fee=0.0)
    cb = ConsolidatedBook("BTC", [a_min, b], books)
    assert cb.sweep(Side.SELL, 1.0) == [(b.id, 99.9, pytest.approx(1.0))]
    # A parent smaller than every lot cannot be placed.
    cb = ConsolidatedBook("BTC", [a], books)
    assert cb.sweep(Side.SELL, 0.05) == [] and cb.last_unfilled == 0.05


def test_deribit_books_in_usd_amount_use_a_size_unit_override() -> None:
    # Deribit inverse books carry the USD amount (lots of 10 USD), not 10-USD contracts.
    deribit = _inst("deribit", "BTC-PERPETUAL", quote="USD", inverse=True, contract_size=10.0,
                    lot=10.0, fee=0.0005)
    books = {deribit.id: _book(deribit.id, [(59999.5, 30000.0)], [(60000.0, 12000.0)])}
    cb = ConsolidatedBook("BTC", [deribit], books, size_unit={deribit.id: 1.0})
    assert cb.best_ask() == (60000.0, pytest.approx(0.2), deribit.id)
    assert cb.best_bid() == (59999.5, pytest.approx(30000 / 59999.5), deribit.id)
    assert cb.sweep(Side.BUY, 0.1) == [(deribit.id, 60000.0, 6000.0)]
    # Without the override the same book would be read as 10-USD contracts (10x the size).
    assert ConsolidatedBook("BTC", [deribit], books).best_ask().size_base == pytest.approx(2.0)


class CountingBook(OrderBook):
    """An OrderBook that records how many levels the consolidated view asks for."""

    def __init__(self, instrument_id: str) -> None:
        super().__init__(instrument_id)
        self.asked: list[int] = []

    def depth_bids(self, levels: int = 10) -> list:
        self.asked.append(levels)
        return super().depth_bids(levels)


def test_depth_reads_only_the_top_levels_of_each_book() -> None:
    inst = _inst("x", "BTC", quote="USD")
    book = CountingBook(inst.id)
    book.apply_snapshot(BookSnapshot(inst.id, tuple((10000.0 - i, 1.0) for i in range(5000)),
                                     ((10001.0, 1.0),), 1, 0, 0))
    book.status = BookStatus.LIVE
    cb = ConsolidatedBook("BTC", [inst], {inst.id: book})
    assert cb.depth(Side.BUY, 3) == [(10000.0, 1.0, inst.id), (9999.0, 1.0, inst.id),
                                     (9998.0, 1.0, inst.id)]
    assert book.asked == [3]
    book.asked.clear()
    assert cb.best_bid() == (10000.0, 1.0, inst.id) and book.asked == [1]
    # A sweep deeper than the first chunk asks for more, in growing chunks.
    book.asked.clear()
    [child] = cb.sweep(Side.SELL, 100.0)
    assert child == (inst.id, 9901.0, pytest.approx(100.0))
    assert book.asked == [16, 64, 256]
    # The book is read at query time: a new best bid shows up at once.
    book.apply_delta(BookDelta(inst.id, ((20000.0, 2.0),), (), 2, 1, 0, 0))
    assert cb.best_bid() == (20000.0, 2.0, inst.id)
