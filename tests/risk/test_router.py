"""The router: unknown stays unknown (ack timeouts, queries, reports), races, smart routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.consolidated import ConsolidatedBook
from engine.journal import Journal
from engine.model import (
    BookSnapshot,
    Instrument,
    InstrumentKind,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    Side,
    SubmitOrder,
)
from tests.risk.helpers import PERP, fill, make, order, reason

S = OrderStatus


def _report(cmd: SubmitOrder, status: str, filled: float = 0.0) -> OrderStatusReport:
    return OrderStatusReport(client_order_id=cmd.client_order_id, venue_order_id="v9",
                             instrument_id=cmd.instrument_id, side=cmd.side, status=status,
                             price=cmd.price, quantity=cmd.quantity, filled=filled,
                             avg_fill_price=0.0, ts_event=0, ts_recv=0)


def _advance(k, seconds: float) -> None:
    k.clock.advance_to(k.clock.now_ns() + int(seconds * 1e9))


def test_ack_timeout_queries_instead_of_resending_and_a_report_settles() -> None:
    k, venue = make(ack_timeout_s=2.0, max_status_queries=2)
    cmd = order()
    assert reason(k, cmd) is None
    assert k.router.check_timeouts(k.clock.now_ns()) == 0
    _advance(k, 2.5)
    assert k.router.check_timeouts(k.clock.now_ns()) == 1
    o = k.orders.get(cmd.client_order_id)
    assert o.in_doubt and o.status is S.SUBMITTED and venue.queries == [cmd.client_order_id]
    assert len(venue.sent) == 1, "never resent blindly"
    assert k.orders.open_count() == 1, "an order in doubt still counts as working"
    k.bus.publish(_report(cmd, "accepted"))
    assert o.status is S.ACCEPTED and not o.in_doubt and o.venue_order_id == "v9"
    _advance(k, 5)
    assert k.router.check_timeouts(k.clock.now_ns()) == 0  # answered


def test_unanswered_queries_escalate_to_reconciliation() -> None:
    k, venue = make(ack_timeout_s=1.0, max_status_queries=2)
    cmd = order()
    k.router.submit(cmd)
    for _ in range(3):
        _advance(k, 1.1)
        k.router.check_timeouts(k.clock.now_ns())
    assert len(venue.queries) == 2 and k.reconcile_requests == ["fake"]


def test_report_never_seen_means_rejected_and_unseen_fills_ask_for_reconcile() -> None:
    k, _ = make()
    a, b = order(), order(price=59_990.0)
    k.router.submit(a)
    k.router.submit(b)
    k.bus.publish(_report(a, "rejected"))
    assert k.orders.get(a.client_order_id).status is S.REJECTED
    k.bus.publish(_report(b, "filled", filled=b.quantity))
    assert k.orders.get(b.client_order_id).status is S.SUBMITTED  # fills come with trade ids
    assert k.reconcile_requests == ["fake"]


def test_send_failure_leaves_the_order_in_doubt() -> None:
    k, venue = make()
    venue.fail_submit = True
    cmd = order()
    assert reason(k, cmd) is None  # approved and journaled; the send failed
    o = k.orders.get(cmd.client_order_id)
    assert o.in_doubt and o.status is S.SUBMITTED and k.router.send_errors == 1


def test_cancel_of_a_filled_order_and_fill_after_cancel_request() -> None:
    k, _ = make()
    a = order()
    k.router.submit(a)
    fill(k, a, qty=0.004, remaining=0.006)
    oa = k.orders.get(a.client_order_id)
    assert k.router.cancel(oa) and oa.status is S.PENDING_CANCEL
    fill(k, a, qty=0.006, remaining=0.0)  # the fill raced the cancel
    assert oa.status is S.FILLED and k.portfolio.position(PERP.id).qty == pytest.approx(0.01)
    k.bus.publish(OrderRejected(client_order_id=a.client_order_id, instrument_id=PERP.id,
                                reason="unknown_order", ts_event=0, ts_recv=0))
    assert oa.status is S.FILLED and k.counters["late_rejects"] == 1
    assert k.orders.illegal_transitions == 0  # absorbed as a second ending, not an error


def test_cancel_rejected_puts_the_order_in_doubt() -> None:
    k, venue = make(ack_timeout_s=1.0)
    a = order()
    k.router.submit(a)
    fill(k, a, qty=0.004, remaining=0.006)
    o = k.orders.get(a.client_order_id)
    k.router.cancel(o)
    k.bus.publish(OrderRejected(client_order_id=a.client_order_id, instrument_id=PERP.id,
                                reason="unknown_order", ts_event=0, ts_recv=0))
    assert o.status is S.PARTIALLY_FILLED and o.in_doubt
    k.router.check_timeouts(k.clock.now_ns())
    assert venue.queries == [a.client_order_id]


def test_amend_rejected_restores_and_amend_reindexes_working() -> None:
    k, _ = make(max_position_qty=1.0)
    a = order(qty=0.5)
    k.router.submit(a)
    o = k.orders.get(a.client_order_id)
    assert k.router.amend(o, price=59_990.0, quantity=None) is None
    assert o.status is S.PENDING_AMEND
    assert k.router.amend(o, price=59_980.0, quantity=None).reason == "ORDER_NOT_OPEN"
    k.bus.publish(OrderRejected(client_order_id=a.client_order_id, instrument_id=PERP.id,
                                reason="post_only_would_cross", ts_event=0, ts_recv=0))
    assert o.status is S.SUBMITTED
    assert k.router.amend(o, price=None, quantity=1.2).reason == "MAX_POSITION"
    assert k.router.amend(o, price=None, quantity=0.9) is None
    k.bus.publish(OrderAmended(client_order_id=a.client_order_id, instrument_id=PERP.id,
                               price=60_000.0, quantity=0.9, ts_event=0, ts_recv=0))
    assert k.orders.working_qty(PERP.id, Side.BUY) == pytest.approx(0.9)
    k.bus.publish(OrderCancelled(client_order_id=a.client_order_id, instrument_id=PERP.id,
                                 reason="x", ts_event=0, ts_recv=0))
    assert k.orders.working_qty(PERP.id, Side.BUY) == 0.0


def test_smart_routing_splits_across_venues_by_price_and_size() -> None:
    other = Instrument(venue="fake", symbol="BTC-PERP2", kind=InstrumentKind.PERPETUAL, base="BTC",
                       quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001)
    k, venue = make()
    k.add_instruments([other])
    k.bus.publish(BookSnapshot(other.id, ((59_990.0, 1.0),), ((60_005.0, 0.3), (60_030.0, 5.0)), 1, 0, 0))
    book = ConsolidatedBook("BTC", [PERP, other], k.books)
    ids = iter(f"smart-{i}" for i in range(10))
    out = k.router.submit_smart("t", book, Side.BUY, 1.5, lambda: next(ids), net_of_fees=False)
    assert [d for _, d in out] == [None, None]
    sent = {c.instrument_id: c for c in venue.sent}
    assert sent[other.id].quantity == pytest.approx(0.3) and sent[other.id].price == 60_005.0
    assert sent[PERP.id].quantity == pytest.approx(1.2) and sent[PERP.id].price == 60_020.0
    assert sum(c.quantity for c in venue.sent) == pytest.approx(1.5)


def test_commands_are_journaled_before_they_leave(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    k, venue = make(journal=j)
    seen: list[int] = []
    orig = venue.submit
    venue.submit = lambda cmd: (seen.append(len(list(Journal(tmp_path / "j.sqlite", read_only=True).records()))), orig(cmd))
    k.router.submit(order())
    assert seen == [1]
