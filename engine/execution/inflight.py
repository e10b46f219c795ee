"""Orders in flight: which await an answer, which are overdue, what a venue's status answer means.

Theory of operation: unknown stays unknown. A command the adapter could not hand over (it
raised) or that gets no answer within ``ack_timeout_s`` leaves its order in flight, flagged
``in_doubt``; the execution core asks the venue (``query_order``) instead of resending, and
after ``max_status_queries`` unanswered queries asks the runtime to reconcile the venue
(``reconcile_hook``). A venue's ``OrderStatusReport`` (the answer to a query, or unsolicited)
settles the order to the state the venue reports; one that shows fills the engine has not
seen settles what it can and asks for reconciliation (only that brings the fills with their
trade ids), and a report of FILLED without them waits for the fills themselves.

This module only reads orders and decides (``overdue``, ``read_status_report``); the
execution core (``check_timeouts``, ``on_status_report``) applies each decision: it alone
writes order state.
"""

from __future__ import annotations

import structlog

from engine.model import OrderStatus, OrderStatusReport
from engine.orders import Order

log = structlog.get_logger("volta.execution")
AWAITING = (OrderStatus.SUBMITTED, OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_AMEND)
"""States in which a command of the order is in flight (an answer is expected)."""


def awaited(order: Order) -> bool:
    """An answer is still expected, or the order is open and its fate unknown."""
    return order.status in AWAITING or (order.in_doubt and order.is_open)


def overdue(awaiting: dict[str, Order], now_ns: int,
            timeout_ns: int) -> tuple[list[str], list[Order]]:
    """``(answered, overdue)``: the ids no longer awaited (to forget), and the orders without
    an answer since ``timeout_ns`` before ``now_ns`` (to query), in the map's order."""
    answered: list[str] = []
    late: list[Order] = []
    for coid, order in awaiting.items():
        if not awaited(order):
            answered.append(coid)
        elif now_ns - order.sent_ns >= timeout_ns:
            late.append(order)
    return answered, late


def read_status_report(order: Order | None,
                       report: OrderStatusReport) -> tuple[OrderStatus | None, bool]:
    """What a status report asks of ``order``: ``(state to settle it to or None, reconcile
    the venue?)``. Logs what it cannot use (an unknown order, a status it cannot read, fills
    the engine has not seen)."""
    if order is None:
        log.warning("status_report_for_unknown_order", client_order_id=report.client_order_id,
                    venue_order_id=report.venue_order_id, status=report.status)
        return None, False
    try:
        status = OrderStatus(report.status)
    except ValueError:
        log.error("status_report_bad_status", client_order_id=order.client_order_id,
                  status=report.status)
        return None, False
    if report.filled > order.filled + 1e-12:
        # Fills we have not seen: only reconciliation brings them with their trade ids.
        log.warning("status_report_shows_unseen_fills", client_order_id=order.client_order_id,
                    venue_filled=report.filled, known_filled=order.filled)
        return (None if status is OrderStatus.FILLED else status), True
    if status is OrderStatus.FILLED:
        return None, False  # the fills themselves will settle it
    return status, False
