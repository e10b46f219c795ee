"""The queue model's "before" sizes (``InstrumentQueues.depth_update``): the sizes the last depth
update left at our prices are reused only while the book has not changed since (its ``changes``
counter); a change made outside the queue (a level set, a snapshot, a clear) is read afresh.
Proportional model: a cancel of ``c`` from a level of ``L`` with ``a`` ahead of us moves us up
by ``c * a / L``, checked against that arithmetic written here."""

from __future__ import annotations

import pytest

from adapters.sim.core import Order as SimOrder
from adapters.sim.queue_model import QueueModel
from backtest.queue import InstrumentQueues
from engine.book import OrderBook
from engine.model import BookDelta, BookSnapshot, Side, TimeInForce

IID = "x:PERP"


def _setup() -> tuple[OrderBook, InstrumentQueues, SimOrder]:
    book = OrderBook(IID)
    book.apply_snapshot(BookSnapshot(IID, ((100.0, 4.0),), ((101.0, 5.0),), 1, 0, 0))
    q = InstrumentQueues(book, QueueModel(model="proportional"), lambda: 0.5)
    o = SimOrder("b1", "v1", IID, Side.BUY, 100.0, 1.0, True, TimeInForce.GTC)
    q.add(o, 0)
    assert o.ahead == 4.0  # behind everything shown
    return book, q, o


def _update(book: OrderBook, q: InstrumentQueues, seq: int, size: float) -> None:
    fills: list = []  # type: ignore[type-arg]
    q.depth_update(book.apply_delta, BookDelta(IID, ((100.0, size),), (), seq, seq - 1, seq, seq),
                   fills)
    assert fills == []


def test_consecutive_updates_shrink_from_what_the_last_one_left() -> None:
    book, q, o = _setup()
    _update(book, q, 2, 8.0)   # 4 joined behind us: we stay 4.0 ahead... of 8 shown
    assert o.ahead == 4.0
    _update(book, q, 3, 6.0)   # 2 cancelled of 8, 4 ahead: up by 2 * 4 / 8 = 1
    assert o.ahead == pytest.approx(3.0)
    _update(book, q, 4, 3.0)   # 3 cancelled of 6, 3 ahead: up by 3 * 3 / 6 = 1.5
    assert o.ahead == pytest.approx(1.5)


@pytest.mark.parametrize("outside", ["set_level", "snapshot"])
def test_a_book_change_between_updates_is_read_afresh(outside: str) -> None:
    book, q, o = _setup()
    _update(book, q, 2, 8.0)
    before = book.changes
    if outside == "set_level":
        book.set_level(True, 100.0, 12.0)  # (not through the queue: the size grew to 12)
    else:
        book.apply_snapshot(BookSnapshot(IID, ((100.0, 12.0),), ((101.0, 5.0),), 2, 0, 0))
    assert book.changes > before
    _update(book, q, 3, 6.0)   # 6 cancelled of 12 (not 2 of a stale 8), 4 ahead: up by 2
    assert o.ahead == pytest.approx(2.0)


def test_a_cleared_book_is_read_afresh() -> None:
    book, q, o = _setup()
    _update(book, q, 2, 8.0)
    book.clear()               # nothing shown at 100 now
    _update(book, q, 3, 6.0)   # a level that grew from nothing: nobody moved up
    assert o.ahead == 4.0
