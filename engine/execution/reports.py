"""The execution core's venue-report entry: order events and status reports in.

Theory of operation: ``VenueReports`` is a part of ``ExecutionCore`` (its base class), not
an object of its own: the core stays the one owner of orders, pending acknowledgements and
the journal, and this module holds the half of its methods that apply what venues say (the
command half, the group commit and the snapshots are in ``engine/execution/core.py``).

* ``on_report`` (order events, ``OrderStatusReport``): journaled, then applied through the
  order state machine; fills reach the portfolio through the fill port. Reports are
  idempotent: a fill is counted once per trade id, and a second terminal event for an order
  that already ended (a venue's after the engine's, e.g. a reconciliation's cancel followed
  by the session's status answer) is absorbed: counted, the venue's reason kept on the
  order, never an error. Reconciliation's corrections come in here too (``apply``,
  ``settle``, ``sync_quantity``), as does the journal's replay at start (``apply``).
* ``on_settlement`` (``PositionSettled``: a venue settled an expired option or future): the
  venue's report is journaled, then the position closes at the settlement price as a
  journaled ``PositionAdjusted`` (the record reconciliation writes, with ``settlement`` set),
  so a restart's replay books the same. A settlement of a position already flat (the same
  report again) is absorbed and counted.
* Acknowledgements: which orders await an answer (``awaiting``), the ack-timeout timer
  (``check_timeouts``: query, then reconcile) and what a status report settles
  (``on_status_report``); ``engine/execution/inflight.py`` decides, this applies.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from engine.clock import Clock
from engine.execution.inflight import AWAITING as _AWAITING
from engine.execution.inflight import awaited, overdue, read_status_report
from engine.journal import Journal, PositionAdjusted
from engine.model import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    OrderSubmitted,
    PositionSettled,
)
from engine.orders import TERMINAL, IllegalTransition, Order, OrderBookkeeper
from engine.repeats import RepeatAggregator
from engine.risk import RiskGate
from engine.venue import VenueAdapter

log = structlog.get_logger("volta.execution")
_TERMINAL_EVENTS = (OrderCancelled, OrderExpired, OrderRejected)


class VenueReports:
    """The venue-report half of ``ExecutionCore`` (module docstring); the state it reads and
    writes is the core's, set up by ``ExecutionCore.__init__``."""

    adapters: dict[str, VenueAdapter]
    gate: RiskGate
    orders: OrderBookkeeper
    journal: Journal | None
    clock: Clock
    counters: dict[str, int]
    denial_log: RepeatAggregator
    queries: int
    timeouts: int
    reconcile_hook: Callable[[str], None] | None
    _awaiting: dict[str, Order]
    _recent_fills: deque[OrderFilled]
    _on_fill: Callable[[OrderFilled], bool]
    _held: Callable[[str], float | None]
    _adjust: Callable[[PositionAdjusted], None]
    if TYPE_CHECKING:
        def cancel_all(self, instrument_id: str | None = None,
                       strategy_id: str | None = None) -> int: ...

    def on_report(self, ev: Any) -> Order | None:
        """Journal and apply one venue report; the order to tell its strategy about, or None
        (unknown order, a status report, a duplicate absorbed)."""
        t = type(ev)
        if t is OrderStatusReport:
            if self.journal is not None:
                self.journal.append(self.clock.now_ns(), "in", ev)
            self.on_status_report(ev)
            return None
        order = self.orders.get(ev.client_order_id)
        if order is None:
            self.counters["events_for_unknown_orders"] += 1
            log.warning("event_for_unknown_order", client_order_id=ev.client_order_id,
                        event_type=type(ev).__name__)
            if t is OrderFilled and self.journal is not None:
                self.journal.append(self.clock.now_ns(), "in", ev)  # a fact, kept for audit
                if self._on_fill(ev):  # counted as a replay of the journal counts it
                    self.counters["fills"] += 1
            return None
        if self.journal is not None and t is not OrderDenied and t is not OrderSubmitted:
            self.journal.append(self.clock.now_ns(), "in", ev)
        if not self.apply(order, ev):
            return None
        if t is OrderFilled and self.gate.on_fill(order.strategy_id, self.clock.now_ns()):
            reason = self.gate.disabled_strategies.get(order.strategy_id, "")
            log.error("strategy_disabled", strategy=order.strategy_id, reason=reason,
                      check="repeated_execution")
            self.cancel_all(strategy_id=order.strategy_id)
        return order

    def apply(self, order: Order, ev: Any) -> bool:
        """Apply a venue event to an order (also replays the journal at start);
        False if absorbed or illegal (reported, not applied; a fill still counts)."""
        if order.status in TERMINAL and isinstance(ev, _TERMINAL_EVENTS):
            # A second ending (the venue's after the engine's, or a replayed one): absorbed,
            # the venue's reason kept. A late answer to a cancel of a filled order is the
            # same race.
            self.counters["late_rejects" if type(ev) is OrderRejected else "duplicate_terminal"] += 1
            reason = getattr(ev, "reason", "")
            if reason and order.close_reason.startswith("reconciled"):
                order.close_reason = reason
            log.debug("duplicate_terminal_event_absorbed", client_order_id=order.client_order_id,
                      state=str(order.status), event_type=type(ev).__name__, reason=reason)
            return False
        try:
            self._apply(order, ev)
        except IllegalTransition as exc:
            log.error("illegal_order_transition", client_order_id=order.client_order_id,
                      state=str(exc.state), trigger=exc.trigger)
            if type(ev) is not OrderFilled:
                return False
            # A fill is a fact even if it arrives in an unexpected state: never drop it.
            if order.status in TERMINAL:
                self.orders.record_late_fill(order, ev.trade_id, ev.price, ev.quantity, ev.fee)
            if self._on_fill(ev):
                self.counters["fills"] += 1
        self.on_order_update(order)
        return True

    def _apply(self, order: Order, ev: Any) -> None:
        ob = self.orders
        t = type(ev)
        if t is OrderFilled:
            if ob.apply_fill(order, ev.trade_id, ev.price, ev.quantity, ev.fee, ev.remaining):
                self._on_fill(ev)
                self.counters["fills"] += 1
                self._recent_fills.append(ev)
            if ev.venue_order_id:
                order.venue_order_id = ev.venue_order_id
        elif t is OrderAccepted:
            order.venue_order_id = ev.venue_order_id
            ob.transition(order, "accept")
        elif t is OrderRejected:
            order.reject_reason = ev.reason
            trigger = {"pending_cancel": "cancel_rejected", "pending_amend": "amend_rejected"}
            was_cancel = order.status is OrderStatus.PENDING_CANCEL
            ob.transition(order, trigger.get(str(order.status), "reject"))
            if order.status in TERMINAL:
                order.close_reason = ev.reason
            self.counters["rejects"] += 1
            _count_reason(self.counters, ev.reason)  # (a venue reject: off the order path)
            if was_cancel and order.is_open:
                # The venue refused the cancel (often "unknown order": it filled or ended and
                # we have not heard yet): its fate is unknown until a status query settles it.
                order.in_doubt = True
                order.sent_ns = 0
                self._awaiting[order.client_order_id] = order
        elif t is OrderCancelled:
            ob.transition(order, "cancelled")
            order.close_reason = ev.reason
        elif t is OrderAmended:
            ob.apply_amend(order, ev.price, ev.quantity)
            ob.transition(order, "amended")
        elif t is OrderExpired:
            ob.transition(order, "expire")
            order.close_reason = "expired"
        elif t is OrderDenied:
            # first denial per reason and interval in full, the rest counted (engine/repeats.py)
            self.denial_log.record(ev.reason, self.clock.now_ns(),
                                   client_order_id=ev.client_order_id, detail=ev.detail)

    def on_settlement(self, ev: PositionSettled) -> bool:
        """A venue settled an expired position (module docstring); False when absorbed (no
        position: the same settlement again) or not applicable (an instrument not listed)."""
        iid = ev.instrument_id
        qty = self._held(iid)
        if qty is None:
            self.counters["settlements_unknown_instrument"] += 1
            log.warning("settlement_for_unknown_instrument", venue=ev.venue, instrument=iid,
                        quantity=ev.quantity)
            return False
        if qty == 0.0:
            self.counters["duplicate_settlements"] += 1
            log.debug("duplicate_settlement_absorbed", venue=ev.venue, instrument=iid)
            return False
        if abs(qty - ev.quantity) > 1e-9 * max(1.0, abs(qty)):
            # (the expired instrument is gone at the venue whatever we held: all of it closes)
            log.warning("settlement_quantity_differs", instrument=iid, engine=qty,
                        venue=ev.quantity)
        now = self.clock.now_ns()
        rec = PositionAdjusted(instrument_id=iid, quantity=0.0, avg_price=0.0, previous=qty,
                               reason=f"settlement: {ev.venue} delivery price "
                                      f"{ev.delivery_price!r} USD",
                               ts=now, close_price=ev.settlement_price, settlement=True)
        if self.journal is not None:
            self.journal.append(now, "in", ev)
            self.journal.append(now, "out", rec)
        self._adjust(rec)
        self.counters["settlements"] += 1
        log.info("position_settled", venue=ev.venue, instrument=iid, quantity=qty,
                 settlement_price=ev.settlement_price, delivery_price_usd=ev.delivery_price)
        return True

    # -- acknowledgements -------------------------------------------------------------------
    def on_order_update(self, order: Order) -> None:
        """A venue event was applied to ``order``: an answer arrived."""
        if not awaited(order):
            self._awaiting.pop(order.client_order_id, None)
        elif order.status in _AWAITING and not order.in_doubt:
            order.sent_ns = self.clock.now_ns()

    def awaiting(self) -> list[Order]:
        """Orders with a command in flight or whose fate is unknown (read-only)."""
        return list(self._awaiting.values())

    def check_timeouts(self, now_ns: int) -> int:
        """Timer: query orders without an answer for ``ack_timeout_s``; returns how many."""
        answered, late = overdue(self._awaiting, now_ns, int(self.gate.limits.ack_timeout_s * 1e9))
        for coid in answered:
            del self._awaiting[coid]
        max_q = self.gate.limits.max_status_queries
        asked = 0
        reconcile: set[str] = set()
        for order in late:
            coid = order.client_order_id
            if not order.in_doubt:
                self.timeouts += 1
                order.in_doubt = True
                log.warning("ack_timeout_order_in_doubt", client_order_id=coid,
                            status=str(order.status), waited_s=(now_ns - order.sent_ns) / 1e9)
            order.sent_ns = now_ns
            order.queries += 1
            venue = order.instrument_id.partition(":")[0]
            if order.queries > max_q:
                reconcile.add(venue)
                order.queries = 0
                continue
            adapter = self.adapters.get(venue)
            if adapter is not None:
                try:
                    adapter.query_order(coid, order.instrument_id)
                    self.queries += 1
                    asked += 1
                except Exception as exc:  # noqa: BLE001 - try again next timeout
                    log.error("query_order_failed", client_order_id=coid, error=repr(exc))
        for venue in reconcile:
            log.warning("orders_still_in_doubt_reconciling", venue=venue)
            if self.reconcile_hook is not None:
                self.reconcile_hook(venue)
        return asked

    def on_status_report(self, report: OrderStatusReport) -> None:
        """A venue's answer to a query (or an unsolicited report) settles an order
        (``engine.execution.inflight.read_status_report`` says how)."""
        order = self.orders.get(report.client_order_id)
        settle_to, reconcile = read_status_report(order, report)
        if order is None:
            return
        if report.venue_order_id:
            order.venue_order_id = report.venue_order_id
        if settle_to is not None:
            self.settle(order, settle_to)
        if reconcile and self.reconcile_hook is not None:
            self.reconcile_hook(report.instrument_id.partition(":")[0])

    def settle(self, order: Order, status: OrderStatus) -> None:
        """Move ``order`` to the state the venue reports (a status report, reconciliation)."""
        before = order.status
        if before in TERMINAL and status in TERMINAL:
            self.counters["duplicate_terminal"] += 1  # (already ended: the venue agrees)
            order.in_doubt = False
            return
        try:
            self.orders.settle(order, status)
        except IllegalTransition as exc:
            log.error("status_report_illegal", client_order_id=order.client_order_id,
                      state=str(exc.state), reported=str(status))
            return
        if order.status is not before:
            log.info("order_settled", client_order_id=order.client_order_id,
                     before=str(before), after=str(order.status))
        self.on_order_update(order)

    def sync_quantity(self, order: Order, price: float | None, quantity: float) -> None:
        """Reconciliation: the venue works ``order`` at another size; the venue wins."""
        self.orders.apply_amend(order, price, quantity)


REJECT_REASONS = 32
"""Distinct venue reject reasons counted one by one (``rejects:<reason>``); any further one
counts under ``rejects:other``: a reason that quotes an order id must not grow the counters."""


def _count_reason(counters: dict[str, int], reason: str) -> None:
    """Count one venue reject under its reason (the status event's ``rejects_by_reason``)."""
    key = "rejects:" + (reason[:80] or "no reason given")
    if key not in counters:
        if counters.get("reject_reasons", 0) >= REJECT_REASONS:
            key = "rejects:other"
        else:
            counters["reject_reasons"] = counters.get("reject_reasons", 0) + 1
    counters[key] = counters.get(key, 0) + 1
