"""The in-flight decisions (engine/execution/inflight.py) and the derived commands
(engine/execution/commands.py): pure functions, checked case by case."""

from __future__ import annotations

from engine.execution.commands import amend_probe
from engine.execution.inflight import awaited, overdue, read_status_report
from engine.model import OrderStatus, OrderStatusReport, Side, SubmitOrder
from engine.orders import OrderBookkeeper


def _order(book: OrderBookkeeper, coid: str, qty: float = 2.0):  # type: ignore[no-untyped-def]
    o = book.add(SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id="sim:X",
                             side=Side.BUY, quantity=qty, price=100.0, reduce_only=True))
    book.transition(o, "submit")
    return o


def _report(coid: str, status: str, filled: float) -> OrderStatusReport:
    return OrderStatusReport(client_order_id=coid, venue_order_id="v1", instrument_id="sim:X",
                             side=Side.BUY, status=status, price=100.0, quantity=2.0,
                             filled=filled, avg_fill_price=0.0, ts_event=1, ts_recv=2)


def test_overdue_splits_answered_from_late_by_the_timeout() -> None:
    book = OrderBookkeeper()
    late, fresh, answered = _order(book, "a"), _order(book, "b"), _order(book, "c")
    late.sent_ns, fresh.sent_ns = 1_000, 5_000
    book.transition(answered, "accept")  # an answer arrived: no longer awaited
    awaiting = {o.client_order_id: o for o in (late, fresh, answered)}
    # now 4_000 ns, timeout 3_000 ns: a waited 3_000 (due), b has not been sent that long
    gone, due = overdue(awaiting, 4_000, 3_000)
    assert gone == ["c"] and due == [late]
    assert awaiting.keys() == {"a", "b", "c"}  # (read only: the core forgets them)
    answered.in_doubt = True  # open and its fate unknown: still awaited
    assert awaited(answered)


def test_status_report_decisions() -> None:
    book = OrderBookkeeper()
    o = _order(book, "a")
    assert read_status_report(None, _report("x", "accepted", 0.0)) == (None, False)
    assert read_status_report(o, _report("a", "nonsense", 0.0)) == (None, False)
    assert read_status_report(o, _report("a", "accepted", 0.0)) == (OrderStatus.ACCEPTED, False)
    # FILLED without fills we have seen: the fills settle it, plus reconcile to fetch them
    assert read_status_report(o, _report("a", "filled", 2.0)) == (None, True)
    assert read_status_report(o, _report("a", "cancelled", 0.5)) == (OrderStatus.CANCELLED, True)
    o.filled = 0.5  # (as the fills would have left it)
    assert read_status_report(o, _report("a", "filled", 0.5)) == (None, False)


def test_amend_probe_is_the_remaining_quantity_at_the_new_price() -> None:
    book = OrderBookkeeper()
    o = _order(book, "a", qty=5.0)
    o.filled = 1.5
    p = amend_probe(o, None, 4.0)
    assert (p.client_order_id, p.quantity, p.price, p.reduce_only) == ("a~amend", 2.5, 100.0, True)
    assert amend_probe(o, 99.5, 1.0).quantity == 0.0 and amend_probe(o, 99.5, 1.0).price == 99.5
