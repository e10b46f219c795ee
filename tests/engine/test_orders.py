"""The order state machine: legal transitions apply, illegal ones are reported and never applied."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.model import OrderStatus, Side, SubmitOrder
from engine.orders import OPEN, TERMINAL, TRANSITIONS, IllegalTransition, OrderBookkeeper

S = OrderStatus


def _cmd(coid: str = "s-1", qty: float = 1.0) -> SubmitOrder:
    return SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id="sim:X",
                       side=Side.BUY, quantity=qty, price=100.0)


def test_happy_path_to_filled() -> None:
    ob = OrderBookkeeper()
    order = ob.add(_cmd(qty=2.0))
    ob.transition(order, "submit")
    ob.transition(order, "accept")
    assert ob.apply_fill(order, "t1", 100.0, 1.0, 0.01)
    assert order.status is S.PARTIALLY_FILLED and order.remaining == 1.0
    assert ob.apply_fill(order, "t2", 102.0, 1.0, 0.01)
    assert order.status is S.FILLED and order.avg_fill_price == pytest.approx(101.0)
    assert order.fees == pytest.approx(0.02)


def test_duplicate_fill_is_ignored() -> None:
    ob = OrderBookkeeper()
    order = ob.add(_cmd(qty=2.0))
    ob.transition(order, "submit")
    assert ob.apply_fill(order, "t1", 100.0, 1.0, 0.0)
    assert not ob.apply_fill(order, "t1", 100.0, 1.0, 0.0)
    assert order.filled == 1.0


def test_a_fill_without_a_venue_remaining_uses_our_own_count() -> None:
    ob = OrderBookkeeper()
    order = ob.add(_cmd(qty=2.0))
    ob.transition(order, "submit")
    assert ob.apply_fill(order, "t1", 100.0, 1.0, 0.0, remaining=float("nan"))
    assert order.status is S.PARTIALLY_FILLED
    assert ob.apply_fill(order, "t2", 100.0, 1.0, 0.0, remaining=float("nan"))
    assert order.status is S.FILLED


def test_an_amend_answer_that_arrives_after_a_cancel_request_keeps_the_cancel_pending() -> None:
    ob = OrderBookkeeper()
    order = ob.add(_cmd())
    for trigger in ("submit", "accept", "amend_request", "cancel_request", "amended"):
        ob.transition(order, trigger)
    assert order.status is S.PENDING_CANCEL
    ob.transition(order, "cancelled")
    assert order.status is S.CANCELLED and ob.illegal_transitions == 0


def test_illegal_transition_is_reported_and_not_applied() -> None:
    ob = OrderBookkeeper()
    order = ob.add(_cmd())
    ob.transition(order, "submit")
    ob.transition(order, "cancelled")
    with pytest.raises(IllegalTransition):
        ob.transition(order, "accept")
    assert order.status is S.CANCELLED
    assert ob.illegal_transitions == 1


def test_rejected_cancel_restores_previous_state() -> None:
    ob = OrderBookkeeper()
    order = ob.add(_cmd(qty=2.0))
    ob.transition(order, "submit")
    ob.transition(order, "accept")
    ob.apply_fill(order, "t1", 100.0, 1.0, 0.0)
    ob.transition(order, "cancel_request")
    assert order.status is S.PENDING_CANCEL
    ob.transition(order, "cancel_rejected")
    assert order.status is S.PARTIALLY_FILLED


def test_duplicate_client_id_rejected() -> None:
    ob = OrderBookkeeper()
    ob.add(_cmd())
    with pytest.raises(ValueError):
        ob.add(_cmd())


def test_table_is_closed() -> None:
    """Every target is a state of the table (or RESTORE), and terminal states have no exits."""
    for state, edges in TRANSITIONS.items():
        for target in edges.values():
            assert target == "restore" or target in TRANSITIONS, (state, target)
    assert S.FILLED in TERMINAL and S.ACCEPTED in OPEN and not (TERMINAL & OPEN)


TRIGGERS = sorted({t for edges in TRANSITIONS.values() for t in edges})


class OrderLifecycle(RuleBasedStateMachine):
    """Random trigger sequences: the state only ever moves along the table."""

    def __init__(self) -> None:
        super().__init__()
        self.ob = OrderBookkeeper()
        self.order = self.ob.add(_cmd(qty=3.0))
        self.fills = 0

    @rule(trigger=st.sampled_from(TRIGGERS))
    def fire(self, trigger: str) -> None:
        before = self.order.status
        allowed = trigger in TRANSITIONS[before]
        try:
            self.ob.transition(self.order, trigger)
        except IllegalTransition:
            assert not allowed
            assert self.order.status is before
        else:
            assert allowed

    @precondition(lambda self: self.order.status in OPEN)
    @rule(trade=st.integers(0, 5))
    def fill(self, trade: int) -> None:
        try:
            applied = self.ob.apply_fill(self.order, f"t{trade}", 100.0, 1.0, 0.0)
        except IllegalTransition:
            return
        self.fills += int(applied)

    @invariant()
    def filled_matches_unique_fills(self) -> None:
        assert self.order.filled == pytest.approx(float(self.fills))
        assert self.order.filled <= self.order.quantity + 1e-9 or self.order.status is not S.FILLED

    @invariant()
    def terminal_is_final(self) -> None:
        if self.order.status in TERMINAL:
            assert not TRANSITIONS[self.order.status]


TestOrderLifecycle = OrderLifecycle.TestCase
TestOrderLifecycle.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


@given(st.lists(st.sampled_from(TRIGGERS), max_size=40))
def test_any_sequence_never_leaves_the_table(triggers: list[str]) -> None:
    ob = OrderBookkeeper()
    order = ob.add(_cmd())
    for trig in triggers:
        try:
            ob.transition(order, trig)
        except IllegalTransition:
            pass
        assert order.status in TRANSITIONS


def test_working_quantity_is_the_float_of_the_exact_total() -> None:
    """Orders opened, partly filled and ended in random order, with sizes whose float sums
    drift (0.1 + 0.2 != 0.3): after every step the float working view of each instrument and
    side is exactly ``float`` of the decimal sum of what the open orders have left, recounted
    here from their sizes and fills."""
    import random
    from decimal import Decimal

    rng = random.Random(11)
    sizes = [0.1, 0.2, 0.3, 0.7, 0.01, 0.02, 1e-8, 3.3, 0.15]
    ob = OrderBookkeeper()
    live: list = []
    filled: dict[str, Decimal] = {}
    for n in range(600):
        roll = rng.random()
        if roll < 0.5 or not live:
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            iid = rng.choice(["sim:X", "sim:Y"])
            cmd = SubmitOrder(client_order_id=f"w{n}", strategy_id="s", instrument_id=iid,
                              side=side, quantity=rng.choice(sizes), price=100.0)
            live.append(ob.add_submitted(cmd))
            filled[cmd.client_order_id] = Decimal(0)
        elif roll < 0.75:
            o = live.pop(rng.randrange(len(live)))
            ob.transition(o, "cancelled")
        else:
            o = rng.choice(live)
            left = Decimal(repr(o.quantity)) - filled[o.client_order_id]
            part = Decimal(repr(rng.choice(sizes)))
            qty = min(part, left)
            filled[o.client_order_id] += qty
            ob.apply_fill(o, f"t{n}", 100.0, float(qty), 0.0)
            if not o.is_open:
                live.remove(o)
        for iid in ("sim:X", "sim:Y"):
            for side in (Side.BUY, Side.SELL):
                want = sum((Decimal(repr(o.quantity)) - filled[o.client_order_id]
                            for o in live if o.instrument_id == iid and o.side is side),
                           Decimal(0))
                assert ob.working_qty(iid, side) == float(want), (n, iid, side)


def test_snapshots_keep_the_newest_order_of_each_strategy_across_calls() -> None:
    """The newest order per strategy is worked out when a snapshot asks (not per order):
    orders added between two snapshots, and orders restored, are all seen."""
    ob = OrderBookkeeper()

    def add(coid: str, sid: str) -> None:
        order = ob.add(SubmitOrder(client_order_id=coid, strategy_id=sid, instrument_id="sim:X",
                                   side=Side.BUY, quantity=1.0, price=100.0))
        ob.transition(order, "deny")  # ended at once: only "newest of its strategy" keeps it

    add("a-1", "a")
    add("a-2", "a")
    assert [st.command.client_order_id for st in ob.snapshot(keep_ended=0)] == ["a-2"]
    add("b-1", "b")
    add("b-2", "b")
    assert [st.command.client_order_id for st in ob.snapshot(keep_ended=0)] == ["a-2", "b-2"]
    add("a-3", "a")
    states = ob.snapshot(keep_ended=0)
    assert [st.command.client_order_id for st in states] == ["b-2", "a-3"]
    restored = OrderBookkeeper()
    restored.restore(ob.snapshot(keep_ended=10))
    assert [st.command.client_order_id for st in restored.snapshot(keep_ended=0)] == ["b-2", "a-3"]


def test_orders_compare_and_hash_by_identity() -> None:
    """Two orders are the same order only if they are the same object (sets and dict keys of
    orders, ``in`` over lists of them), whatever their fields."""
    from engine.orders import order_of

    a, b = order_of(_cmd("s-1")), order_of(_cmd("s-1"))
    assert a == a and a != b and len({a, b}) == 2
    assert {a: 1}.get(b) is None
