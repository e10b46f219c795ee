"""The execution router: risk gate, journal, then the venue that lists the instrument.

Theory of operation: ``submit`` runs the gate synchronously. A denial is recorded as a DENIED
order (so its client id can never be reused) and published as ``OrderDenied``. An approved
order is registered, journaled and committed, and only then handed to the venue adapter;
``OrderSubmitted`` follows. The venue's answers come back through the bus. Cancels and
amends skip the gate (a cancel only ever reduces risk; an amend is re-checked as the order it
would become) and are journaled before they leave too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.clock import Clock
from engine.journal import Journal
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderDenied,
    OrderSubmitted,
    SubmitOrder,
    split_instrument_id,
)
from engine.orders import IllegalTransition, Order, OrderBookkeeper
from engine.risk import Denial, Reason, RiskGate
from engine.venue import VenueAdapter


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

    def _adapter_for(self, instrument_id: str) -> VenueAdapter | None:
        venue, _ = split_instrument_id(instrument_id)
        return self.adapters.get(venue)

    def submit(self, cmd: SubmitOrder) -> Denial | None:
        """Check and send ``cmd``; returns the denial, or None when it was sent."""
        now = self.clock.now_ns()
        denial = self.gate.check(cmd)
        adapter = self._adapter_for(cmd.instrument_id) if denial is None else None
        if denial is None and adapter is None:
            denial = Denial(Reason.UNKNOWN_INSTRUMENT, f"no venue adapter for {cmd.instrument_id}")
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
            self.journal.write_command(now, cmd)
        self.orders.transition(order, "submit")
        assert adapter is not None
        adapter.submit(cmd)
        self.sent += 1
        self.publish(OrderSubmitted(client_order_id=cmd.client_order_id, strategy_id=cmd.strategy_id,
                                    instrument_id=cmd.instrument_id, ts=now))
        return None

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
            adapter.cancel(cmd)
        return True

    def amend(self, order: Order, price: float | None, quantity: float | None) -> Denial | None:
        """Request an amend after re-checking the order as it would become."""
        if not order.is_open:
            return Denial("ORDER_NOT_OPEN", f"order {order.client_order_id} is {order.status}")
        new_qty = quantity if quantity is not None else order.quantity
        probe = SubmitOrder(client_order_id=order.client_order_id + "~amend",
                            strategy_id=order.strategy_id, instrument_id=order.instrument_id,
                            side=order.side, quantity=max(new_qty - order.filled, 0.0) or new_qty,
                            price=price if price is not None else order.price)
        denial = self.gate.check(probe)
        if denial is not None:
            return denial
        cmd = AmendOrder(client_order_id=order.client_order_id, strategy_id=order.strategy_id,
                         instrument_id=order.instrument_id, quantity=quantity, price=price,
                         ts=self.clock.now_ns())
        try:
            self.orders.transition(order, "amend_request")
        except IllegalTransition as exc:
            return Denial("ORDER_NOT_OPEN", str(exc))
        if self.journal is not None:
            self.journal.write_command(cmd.ts, cmd)
        adapter = self._adapter_for(order.instrument_id)
        if adapter is not None:
            adapter.amend(cmd)
        return None

    def cancel_all(self, instrument_id: str | None = None, strategy_id: str | None = None) -> int:
        return sum(self.cancel(o) for o in self.orders.open_orders(instrument_id, strategy_id))
