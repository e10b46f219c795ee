"""What the order path does before the send and what it leaves until after.

Before a command is handed to its venue: the gate, the order record (indexed, so the next
command's gate sees it), the journal append and the group commit. After the hand-over: the
in-flight bookkeeping and ``OrderSubmitted``. These tests show that nothing can observe the
difference: a venue answering synchronously inside ``submit`` finds its order, a fill that
arrives there is counted, the second order of a batch is gated against the first, and
``add_submitted`` leaves the bookkeeper exactly as ``add`` + ``transition("submit")`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.journal import Journal
from engine.model import (
    BookDelta,
    Liquidity,
    OrderAccepted,
    OrderFilled,
    OrderStatus,
    OrderSubmitted,
    Side,
    SubmitOrder,
)
from engine.orders import OrderBookkeeper
from engine.risk import Reason
from tests.engine.conftest import PERP
from tests.risk.helpers import Venue, make, order


class AnsweringVenue(Venue):
    """Answers inside ``submit`` itself, straight into the core's report entry (no bus queue):
    an acknowledgement and, when asked, a fill of the whole order."""

    def __init__(self, deliver: Any) -> None:
        super().__init__()
        self.deliver = deliver
        self.fill = False
        self.seen: list[tuple[str, Any]] = []  # (client order id, its status when answered)
        self.orders_of: Any = None

    def submit(self, cmd: SubmitOrder) -> None:
        super().submit(cmd)
        found = self.orders_of(cmd.client_order_id)
        self.seen.append((cmd.client_order_id, None if found is None else found.status))
        self.deliver(OrderAccepted(client_order_id=cmd.client_order_id, venue_order_id="v-"
                                   + cmd.client_order_id, instrument_id=cmd.instrument_id,
                                   ts_event=0, ts_recv=0))
        if self.fill:
            self.deliver(OrderFilled(client_order_id=cmd.client_order_id, venue_order_id="v-"
                                     + cmd.client_order_id, trade_id="t-" + cmd.client_order_id,
                                     instrument_id=cmd.instrument_id, side=cmd.side,
                                     price=cmd.price or 0.0, quantity=cmd.quantity, remaining=0.0,
                                     fee=0.0, fee_currency="USDC", liquidity=Liquidity.MAKER,
                                     ts_event=0, ts_recv=0))


def _kernel(tmp_path: Path, via_bus: bool) -> tuple[Any, AnsweringVenue]:
    k, _ = make(journal=Journal(tmp_path / "j.sqlite"))
    venue = AnsweringVenue(k.bus.publish if via_bus else k.execution.on_report)
    venue.orders_of = k.orders.get
    k.add_adapter(venue)  # (the same venue name: replaces the recording one)
    return k, venue


def test_a_synchronous_answer_inside_submit_finds_its_order(tmp_path: Path) -> None:
    k, venue = _kernel(tmp_path, via_bus=False)
    cmd = order(price=59_000.0)
    assert k.execution.submit(cmd) is None  # outside any event: committed and sent at once
    assert venue.seen == [(cmd.client_order_id, OrderStatus.SUBMITTED)]
    o = k.orders.get(cmd.client_order_id)
    assert o.status is OrderStatus.ACCEPTED and o.venue_order_id == "v-" + cmd.client_order_id
    # noted as in flight after the hand-over, then dropped as answered at the next check
    k.execution.check_timeouts(k.clock.now_ns() + 10 * 10**9)
    assert k.execution.awaiting() == [] and venue.queries == []
    assert not o.in_doubt


def test_a_fill_inside_submit_is_counted_once(tmp_path: Path) -> None:
    k, venue = _kernel(tmp_path, via_bus=False)
    venue.fill = True
    cmd = order(price=60_010.0, qty=0.02)
    k.execution.submit(cmd)
    o = k.orders.get(cmd.client_order_id)
    assert o.status is OrderStatus.FILLED and o.filled == 0.02
    assert k.portfolio.position(PERP.id).qty == 0.02  # reached the portfolio, once
    assert k.orders.open_count() == 0 and k.orders.working_qty(PERP.id, Side.BUY) == 0.0
    k.execution.check_timeouts(k.clock.now_ns() + 10 * 10**9)
    assert k.execution.awaiting() == []


def test_answers_published_inside_submit_are_queued_until_the_batch_is_out(tmp_path: Path) -> None:
    # (a venue that does not cork its commands and answers inside ``submit``: its answers
    # wait in the bus's queue until the whole batch is handed over; they are heard before the
    # batch's ``OrderSubmitted``, as before the in-flight bookkeeping moved after the sends.
    # A corking venue answers at the release, after ``OrderSubmitted``: test_batch_send.py)
    k, venue = _kernel(tmp_path, via_bus=True)
    heard: list[str] = []
    k.bus.subscribe(OrderSubmitted, lambda ev: heard.append(f"submitted {ev.client_order_id}"))
    k.bus.subscribe(OrderAccepted, lambda ev: heard.append(f"accepted {ev.client_order_id}"))
    a, b = order(price=59_000.0), order(price=59_010.0)

    def on_book(_ev: BookDelta) -> None:
        k.execution.submit(a)
        k.execution.submit(b)

    k.bus.subscribe(BookDelta, on_book)
    k.bus.publish(BookDelta(PERP.id, ((59_991.0, 1.0),), (), 2, 1, 0, 0))
    assert [s for _, s in venue.seen] == [OrderStatus.SUBMITTED, OrderStatus.SUBMITTED]
    assert heard == [f"accepted {a.client_order_id}", f"accepted {b.client_order_id}",
                     f"submitted {a.client_order_id}", f"submitted {b.client_order_id}"]
    assert k.execution.sent == 2
    assert all(k.orders.get(c.client_order_id).status is OrderStatus.ACCEPTED for c in (a, b))
    k.execution.check_timeouts(k.clock.now_ns() + 10 * 10**9)
    assert k.execution.awaiting() == [] and venue.queries == []


def test_the_second_order_of_a_batch_is_gated_against_the_first(tmp_path: Path) -> None:
    k, _ = make(journal=Journal(tmp_path / "j.sqlite"), max_open_orders_per_instrument=1)
    denials: list[Any] = []

    def on_book(_ev: BookDelta) -> None:
        denials.append(k.execution.submit(order(price=59_000.0)))
        denials.append(k.execution.submit(order(price=59_010.0)))

    k.bus.subscribe(BookDelta, on_book)
    k.bus.publish(BookDelta(PERP.id, ((59_991.0, 1.0),), (), 2, 1, 0, 0))
    assert denials[0] is None
    assert denials[1] is not None and denials[1].reason == Reason.MAX_OPEN_ORDERS
    assert k.orders.open_count(PERP.id) == 1


def _state(ob: OrderBookkeeper) -> tuple[Any, ...]:
    return (dict(ob.working), dict(ob.open_by_instrument), dict(ob.open_by_strategy),
            list(ob.open_ids), list(ob.ids), [(o.status, o.counted, o.added) for o in ob])


def test_add_submitted_is_add_then_submit() -> None:
    one, two = OrderBookkeeper(), OrderBookkeeper()
    heard_one: list[tuple[str, float]] = []
    heard_two: list[tuple[str, float]] = []
    one.listeners.append(lambda o, q: heard_one.append((o.client_order_id, q)))
    two.listeners.append(lambda o, q: heard_two.append((o.client_order_id, q)))
    cmds = [SubmitOrder(client_order_id=f"s-{i}", strategy_id="s" if i % 2 else "u",
                        instrument_id=PERP.id, side=Side.BUY if i % 3 else Side.SELL,
                        quantity=q, price=59_000.0 + i)
            for i, q in enumerate((0.01, 0.1, 0.2, 0.3, 0.07, 0.0))]
    for i, cmd in enumerate(cmds):
        a = one.add(cmd)
        one.transition(a, "submit")
        b = two.add_submitted(cmd)
        assert (a.client_order_id, a.instrument_id, a.strategy_id, a.side) == \
            (cmd.client_order_id, cmd.instrument_id, cmd.strategy_id, cmd.side)
        if i == 2:  # a partial fill between the orders: the next one adds to a changed total
            for ob, o in ((one, a), (two, b)):
                ob.apply_fill(o, "t-1", 59_002.0, 0.05, 0.0, 0.15)
        assert _state(one) == _state(two)
    assert heard_one == heard_two
    # 0.01 + 0.3 (sells: i = 0, 3) and 0.1 + (0.2 - 0.05) + 0.07 (buys), written out exactly
    assert two.working_qty(PERP.id, Side.SELL) == 0.31
    assert two.working_qty(PERP.id, Side.BUY) == 0.32
    try:
        two.add_submitted(cmds[0])
    except ValueError as exc:
        assert "duplicate client order id s-0" in str(exc)
    else:
        raise AssertionError("a duplicate client order id was accepted")
