"""The execution router: risk gate, journal, then the venue that lists the instrument.

Theory of operation: ``submit`` runs the gate synchronously. A denial is recorded as a DENIED
order (so its client id can never be reused) and published as ``OrderDenied``. An approved
order is registered, journaled and committed, and only then handed to the venue adapter;
``OrderSubmitted`` follows. The venue's answers come back through the bus. Cancels and
amends skip the gate (a cancel only ever reduces risk; an amend is re-checked as the order it
would become) and are journaled before they leave too.

Unknown stays unknown: a command the adapter could not hand over (it raised) or that gets
no answer within ``ack_timeout_s`` leaves its order in flight, flagged ``in_doubt``; the
router asks the venue (``query_order``) instead of resending, every timeout, and after
``max_status_queries`` unanswered queries asks the runtime to reconcile the venue. An
``OrderStatusReport`` settles the order; a report showing fills the engine has not seen
also triggers reconciliation, which brings those fills with their trade ids.

``submit_smart`` splits a parent order across the venues of a consolidated book by best price
net of fees and available size; every child goes through ``submit`` (and the gate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from engine.clock import Clock
from engine.consolidated import ConsolidatedBook
from engine.journal import Journal
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderDenied,
    OrderStatus,
    OrderStatusReport,
    OrderSubmitted,
    Side,
    SubmitOrder,
    TimeInForce,
    split_instrument_id,
)
from engine.orders import IllegalTransition, Order, OrderBookkeeper
from engine.risk import Denial, Reason, RiskGate
from engine.venue import VenueAdapter

log = structlog.get_logger("volta.router")
_AWAITING = (OrderStatus.SUBMITTED, OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_AMEND)


class ExecutionRouter:
    def __init__(self, adapters: dict[str, VenueAdapter], gate: RiskGate, orders: OrderBookkeeper,
                 journal: Journal | None, clock: Clock, publish: Callable[[Any], None]) -> None:
        self.adapters = adapters
        self.gate = gate
        self.orders = orders
        self.journal = journal
        self.clock = clock
        self.publish = publish
        self.sent = 0
        self.send_errors = 0
        self.queries = 0
        self.timeouts = 0
        self._awaiting: dict[str, Order] = {}
        self.reconcile_hook: Callable[[str], None] | None = None
        self.on_sent: Callable[[SubmitOrder], None] | None = None
        """Benchmark/diagnostic hook: called as an approved, journaled order is handed to the
        venue adapter (before the adapter runs)."""

    def _adapter_for(self, instrument_id: str) -> VenueAdapter | None:
        venue, _ = split_instrument_id(instrument_id)
        return self.adapters.get(venue)

    # -- commands ---------------------------------------------------------------------------
    def submit(self, cmd: SubmitOrder) -> Denial | None:
        """Check and send ``cmd``; returns the denial, or None when it was sent."""
        now = self.clock.now_ns()
        denial = self.gate.check(cmd)
        adapter = self._adapter_for(cmd.instrument_id) if denial is None else None
        if denial is None and adapter is None:
            denial = Denial(Reason.NO_VENUE, f"no venue adapter for {cmd.instrument_id}")
        if denial is not None:
            if cmd.client_order_id not in self.orders:
                order = self.orders.add(cmd)
                self.orders.transition(order, "deny")
            event = OrderDenied(client_order_id=cmd.client_order_id, strategy_id=cmd.strategy_id,
                                instrument_id=cmd.instrument_id, reason=denial.reason,
                                detail=denial.detail, ts=now)
            if self.journal is not None:
                self.journal.write_event(now, event)
            self.publish(event)
            return denial
        order = self.orders.add(cmd)
        if self.journal is not None:
            self.journal.write_command(now, cmd)  # committed before it can leave
        self.orders.transition(order, "submit")
        assert adapter is not None
        if self.on_sent is not None:
            self.on_sent(cmd)
        self._send(order, adapter.submit, cmd, now)
        self.sent += 1
        self.publish(OrderSubmitted(client_order_id=cmd.client_order_id, strategy_id=cmd.strategy_id,
                                    instrument_id=cmd.instrument_id, ts=now))
        return None

    def _send(self, order: Order, fn: Callable[[Any], None], cmd: Any, now: int) -> None:
        order.sent_ns = now
        self._awaiting[order.client_order_id] = order
        try:
            fn(cmd)
        except Exception as exc:  # noqa: BLE001 - the fate of the command is now unknown
            self.send_errors += 1
            order.in_doubt = True
            log.error("send_failed_order_in_doubt", client_order_id=order.client_order_id,
                      command=type(cmd).__name__, error=repr(exc))

    def cancel(self, order: Order) -> bool:
        """Request a cancel; False if the order is not open (nothing is sent)."""
        if not order.is_open:
            return False
        cmd = CancelOrder(client_order_id=order.client_order_id, strategy_id=order.strategy_id,
                          instrument_id=order.instrument_id, ts=self.clock.now_ns())
        try:
            self.orders.transition(order, "cancel_request")
        except IllegalTransition:
            return False
        if self.journal is not None:
            self.journal.write_command(cmd.ts, cmd)
        adapter = self._adapter_for(order.instrument_id)
        if adapter is not None:
            self._send(order, adapter.cancel, cmd, cmd.ts)
        return True

    def amend(self, order: Order, price: float | None, quantity: float | None) -> Denial | None:
        """Request an amend after re-checking the order as it would become."""
        if not order.is_open or order.status in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_AMEND):
            return Denial(Reason.ORDER_NOT_OPEN, f"order {order.client_order_id} is {order.status}")
        new_qty = quantity if quantity is not None else order.quantity
        if new_qty <= order.filled:
            return Denial(Reason.INVALID_QUANTITY,
                          f"new quantity {new_qty} <= already filled {order.filled}")
        # The amended order is checked as a new order for its increase over what works now.
        probe_qty = max(new_qty - order.filled, 0.0)
        probe = SubmitOrder(client_order_id=order.client_order_id + "~amend",
                            strategy_id=order.strategy_id, instrument_id=order.instrument_id,
                            side=order.side, quantity=probe_qty,
                            price=price if price is not None else order.price,
                            reduce_only=order.command.reduce_only)
        saved = order._counted
        self.orders._working[(order.instrument_id, order.side)] = max(
            self.orders.working_qty(order.instrument_id, order.side) - saved, 0.0)
        try:
            denial = self.gate.check(probe)
        finally:
            key = (order.instrument_id, order.side)
            self.orders._working[key] = self.orders._working.get(key, 0.0) + saved
        if denial is not None:
            return denial
        cmd = AmendOrder(client_order_id=order.client_order_id, strategy_id=order.strategy_id,
                         instrument_id=order.instrument_id, quantity=quantity, price=price,
                         ts=self.clock.now_ns())
        try:
            self.orders.transition(order, "amend_request")
        except IllegalTransition as exc:
            return Denial(Reason.ORDER_NOT_OPEN, str(exc))
        if self.journal is not None:
            self.journal.write_command(cmd.ts, cmd)
        adapter = self._adapter_for(order.instrument_id)
        if adapter is not None:
            self._send(order, adapter.amend, cmd, cmd.ts)
        return None

    def cancel_all(self, instrument_id: str | None = None, strategy_id: str | None = None) -> int:
        return sum(self.cancel(o) for o in self.orders.open_orders(instrument_id, strategy_id))

    def submit_smart(self, strategy_id: str, book: ConsolidatedBook, side: Side, size_base: float,
                     new_id: Callable[[], str], net_of_fees: bool = True) -> list[tuple[str, Denial | None]]:
        """Split a parent of ``size_base`` underlying units across venues; IOC children at
        each venue's worst level reached. Returns ``(client_order_id, denial)`` per child."""
        out: list[tuple[str, Denial | None]] = []
        now = self.clock.now_ns()
        for child in book.sweep(side, size_base, net_of_fees):
            coid = new_id()
            cmd = SubmitOrder(client_order_id=coid, strategy_id=strategy_id,
                              instrument_id=child.instrument_id, side=side, quantity=child.contracts,
                              price=child.price, time_in_force=TimeInForce.IOC, ts=now)
            out.append((coid, self.submit(cmd)))
        return out

    # -- acknowledgements -------------------------------------------------------------------
    def on_order_update(self, order: Order) -> None:
        """The kernel applied a venue event to ``order``: an answer arrived."""
        if order.status not in _AWAITING and not (order.in_doubt and order.is_open):
            self._awaiting.pop(order.client_order_id, None)
        elif order.status in _AWAITING:
            order.sent_ns = self.clock.now_ns() if not order.in_doubt else order.sent_ns

    def check_timeouts(self, now_ns: int) -> int:
        """Timer: query orders without an answer for ``ack_timeout_s``; returns how many."""
        timeout = int(self.gate.limits.ack_timeout_s * 1e9)
        max_q = self.gate.limits.max_status_queries
        asked = 0
        reconcile: set[str] = set()
        for coid, order in list(self._awaiting.items()):
            if order.status not in _AWAITING and not (order.in_doubt and order.is_open):
                del self._awaiting[coid]
                continue
            if now_ns - order.sent_ns < timeout:
                continue
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
        """A venue's answer to a query (or an unsolicited report) settles an order."""
        order = self.orders.get(report.client_order_id)
        venue = report.instrument_id.partition(":")[0]
        if order is None:
            log.warning("status_report_for_unknown_order", client_order_id=report.client_order_id,
                        venue_order_id=report.venue_order_id, status=report.status)
            return
        if report.venue_order_id:
            order.venue_order_id = report.venue_order_id
        try:
            status = OrderStatus(report.status)
        except ValueError:
            log.error("status_report_bad_status", client_order_id=order.client_order_id,
                      status=report.status)
            return
        if report.filled > order.filled + 1e-12:
            # Fills we have not seen: only reconciliation brings them with their trade ids.
            log.warning("status_report_shows_unseen_fills", client_order_id=order.client_order_id,
                        venue_filled=report.filled, known_filled=order.filled)
            if status is not OrderStatus.FILLED:
                self._settle(order, status)
            if self.reconcile_hook is not None:
                self.reconcile_hook(venue)
            return
        if status is OrderStatus.FILLED:
            return  # the fills themselves will settle it
        self._settle(order, status)

    def _settle(self, order: Order, status: OrderStatus) -> None:
        before = order.status
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
