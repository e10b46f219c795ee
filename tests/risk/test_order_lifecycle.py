"""Hypothesis state machine over many orders: the table is obeyed and the O(1) indexes the
gate reads (open counts, working quantity, working Greeks) always equal a naive recount."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.model import OrderStatus, Side, SubmitOrder
from engine.orders import OPEN, TERMINAL, TRANSITIONS, IllegalTransition, OrderBookkeeper

TRIGGERS = sorted({t for edges in TRANSITIONS.values() for t in edges})
INSTRUMENTS = ("v:A", "v:B")
STRATEGIES = ("s1", "s2")


class ManyOrders(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ob = OrderBookkeeper()
        self.changes: list[float] = []
        self.ob.listeners.append(lambda order, change: self.changes.append(change))
        self.n = 0
        self.unique_fills: dict[str, float] = {}

    @rule(iid=st.sampled_from(INSTRUMENTS), sid=st.sampled_from(STRATEGIES),
          side=st.sampled_from(list(Side)), qty=st.integers(1, 5))
    def new(self, iid: str, sid: str, side: Side, qty: int) -> None:
        self.n += 1
        cmd = SubmitOrder(client_order_id=f"o{self.n}", strategy_id=sid, instrument_id=iid,
                          side=side, quantity=float(qty), price=1.0)
        order = self.ob.add(cmd)
        self.unique_fills[order.client_order_id] = 0.0
        self.ob.transition(order, "submit")

    @precondition(lambda self: self.n > 0)
    @rule(i=st.integers(0, 50), trigger=st.sampled_from(TRIGGERS))
    def fire(self, i: int, trigger: str) -> None:
        order = self.ob.get(f"o{i % self.n + 1}")
        before = order.status
        try:
            self.ob.transition(order, trigger)
        except IllegalTransition:
            assert trigger not in TRANSITIONS[before] and order.status is before

    @precondition(lambda self: self.n > 0)
    @rule(i=st.integers(0, 50), trade=st.integers(0, 3), qty=st.sampled_from([0.5, 1.0]))
    def fill(self, i: int, trade: int, qty: float) -> None:
        order = self.ob.get(f"o{i % self.n + 1}")
        if order.status not in OPEN or order.remaining < qty:
            return
        try:
            if self.ob.apply_fill(order, f"{order.client_order_id}-t{trade}", 1.0, qty, 0.0):
                self.unique_fills[order.client_order_id] += qty
        except IllegalTransition:
            pass

    @precondition(lambda self: self.n > 0)
    @rule(i=st.integers(0, 50), status=st.sampled_from([OrderStatus.ACCEPTED, OrderStatus.CANCELLED,
                                                        OrderStatus.REJECTED, OrderStatus.EXPIRED]))
    def status_report(self, i: int, status: OrderStatus) -> None:
        order = self.ob.get(f"o{i % self.n + 1}")
        order.in_doubt = True
        try:
            self.ob.settle(order, status)
        except IllegalTransition:
            return
        assert not order.in_doubt

    @invariant()
    def indexes_match_a_recount(self) -> None:
        open_orders = [o for o in self.ob if o.status in OPEN]
        assert self.ob.open_count() == len(open_orders) == len(self.ob.open_orders())
        for iid in INSTRUMENTS:
            assert self.ob.open_count(instrument_id=iid) == sum(o.instrument_id == iid for o in open_orders)
            for side in Side:
                naive = sum(o.remaining for o in open_orders if o.instrument_id == iid and o.side is side)
                assert self.ob.working_qty(iid, side) == pytest.approx(naive, abs=1e-9)
        for sid in STRATEGIES:
            assert self.ob.open_count(strategy_id=sid) == sum(o.strategy_id == sid for o in open_orders)
        assert sum(self.changes) == pytest.approx(sum(o.remaining for o in open_orders), abs=1e-9)

    @invariant()
    def fills_counted_once_and_terminal_is_final(self) -> None:
        for o in self.ob:
            assert o.filled == pytest.approx(self.unique_fills[o.client_order_id])
            if o.status in TERMINAL:
                assert not o.is_open and not o.in_doubt


TestManyOrders = ManyOrders.TestCase
TestManyOrders.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_settle_moves_along_the_table_only() -> None:
    ob = OrderBookkeeper()
    o = ob.add(SubmitOrder(client_order_id="a", strategy_id="s", instrument_id="v:A", side=Side.BUY,
                           quantity=1.0, price=1.0))
    ob.transition(o, "submit")
    o.in_doubt = True
    assert ob.settle(o, OrderStatus.ACCEPTED) is OrderStatus.ACCEPTED and not o.in_doubt
    assert ob.settle(o, OrderStatus.REJECTED) is OrderStatus.CANCELLED  # venue forgot it
    with pytest.raises(IllegalTransition):
        ob.settle(o, OrderStatus.EXPIRED)
    assert ob.illegal_transitions == 1
