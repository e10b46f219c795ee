"""Journal rebuild and venue reconciliation: every difference found, resolved and journaled."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from engine.config import load_config_text
from engine.clock import NS_PER_S, VirtualClock
from engine.journal import Journal, PositionAdjusted, ReconciliationCompleted
from engine.model import (
    Liquidity,
    OrderFilled,
    OrderStatus,
    OrderStatusReport,
    PositionReport,
    Side,
    VenueReconciliation,
)
from engine.reconcile import apply_reconciliation, rebuild
from engine.runtime import build_node
from tests.crash_harness import (
    START_NS,
    assert_fills_once,
    assert_positions_agree,
    crash_config,
    drive,
    kernel_qty,
)
from tests.risk.helpers import CALL, PERP, fill, make, order


def _status(cmd, status: str, filled: float = 0.0) -> OrderStatusReport:
    return OrderStatusReport(client_order_id=cmd.client_order_id, venue_order_id="v",
                             instrument_id=cmd.instrument_id, side=cmd.side, status=status,
                             price=cmd.price, quantity=cmd.quantity, filled=filled,
                             avg_fill_price=0.0, ts_event=0, ts_recv=0)


def test_rebuild_then_reconcile_resolves_every_kind_of_difference(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    k, _ = make(journal=Journal(jp))
    kept, gone, filled_away = order(), order(price=59_990.0), order(price=59_980.0, qty=0.02)
    for c in (kept, gone, filled_away):
        k.router.submit(c)
    done = order(price=59_970.0)
    k.router.submit(done)
    fill(k, done)
    k.journal.flush()
    k.journal.close()  # the process "dies" here

    k2, venue2 = make(journal=Journal(jp))
    counts = rebuild(k2, k2.journal)
    assert counts["SubmitOrder"] == 4 and k2.portfolio.position(PERP.id).qty == pytest.approx(0.01)
    assert {o.client_order_id for o in k2.orders.open_orders()} == {
        kept.client_order_id, gone.client_order_id, filled_away.client_order_id}
    assert all(o.in_doubt for o in k2.orders.open_orders())
    missed = OrderFilled(client_order_id=filled_away.client_order_id, venue_order_id="v",
                         instrument_id=PERP.id, trade_id="late-1", side=Side.BUY, price=59_980.0,
                         quantity=0.02, remaining=0.0, liquidity=Liquidity.MAKER, fee=0.0,
                         fee_currency="USD", ts_event=5, ts_recv=5)
    stranger = OrderStatusReport(client_order_id="not-ours", venue_order_id="x", instrument_id=PERP.id,
                                 side=Side.SELL, status="accepted", price=61_000.0, quantity=1.0,
                                 filled=0.0, avg_fill_price=0.0, ts_event=0, ts_recv=0)
    report = VenueReconciliation(
        venue="fake", open_orders=(_status(kept, "accepted"), stranger),
        fills=(missed,),
        positions=(PositionReport(instrument_id=PERP.id, quantity=0.03, avg_price=59_990.0, ts_event=0, ts_recv=0),
                   PositionReport(instrument_id=CALL.id, quantity=-1.0, avg_price=1_000.0, ts_event=0, ts_recv=0)),
        ts=10)
    diffs = apply_reconciliation(k2, report)
    # missing fill, stranger order, order not at venue, CALL position
    assert diffs == 4
    ob = k2.orders
    assert ob.get(kept.client_order_id).status is OrderStatus.ACCEPTED
    assert ob.get(gone.client_order_id).status is OrderStatus.CANCELLED
    assert ob.get(filled_away.client_order_id).status is OrderStatus.FILLED
    assert not ob.in_doubt()
    assert k2.portfolio.position(PERP.id).qty == pytest.approx(0.03)
    assert k2.portfolio.position(CALL.id).qty == pytest.approx(-1.0)  # the venue wins
    assert any(getattr(c, "client_order_id", "") == "not-ours" for c in venue2.sent)  # cancelled
    k2.journal.close()
    types = [r[3] for r in Journal(jp, read_only=True).records()]
    assert "PositionAdjusted" in types and types[-1] == "ReconciliationCompleted"
    assert types.count("OrderFilled") == 2  # the missing fill was journaled
    # and a second restart replays the adjustments: no new differences
    k3, _ = make(journal=Journal(jp))
    rebuild(k3, k3.journal)
    assert k3.portfolio.position(CALL.id).qty == pytest.approx(-1.0)
    report3 = VenueReconciliation(venue="fake", open_orders=(_status(kept, "accepted"),), fills=(missed,),
                                  positions=report.positions, ts=11)
    assert apply_reconciliation(k3, report3) == 0


def test_reconciliation_leaves_an_order_sent_within_the_ack_timeout_alone() -> None:
    k, _ = make(ack_timeout_s=5.0)
    young = order()
    k.router.submit(young)
    empty = VenueReconciliation(venue="fake", open_orders=(), fills=(), positions=(), ts=0)
    assert apply_reconciliation(k, empty) == 0  # may not be in the venue's list yet
    assert k.orders.get(young.client_order_id).status is OrderStatus.SUBMITTED
    k.clock.advance_to(k.clock.now_ns() + 6 * NS_PER_S)
    assert apply_reconciliation(k, empty) == 1  # older than the ack timeout: not at the venue
    assert k.orders.get(young.client_order_id).status is OrderStatus.CANCELLED


CONFIG = crash_config("crash", "{journal}", "{state}", seed=11,
                      venue="cancel_on_disconnect = {cod}")
"""The in-process crash deployment; ``format(journal=, state=, cod=)`` (also used by
``tests/risk/test_snapshots.py``)."""


def _run(cfg, journal: Path, seconds: int, start_ns: int, crash: bool):
    clock = VirtualClock(start_ns)
    node = build_node(cfg, clock, journal)

    async def run() -> None:
        await drive(node, clock, start_ns, seconds, stop=not crash)
        if crash:
            # SIGKILL in-process: no stop, no flush; uncommitted journal events are lost
            node.kernel.journal.abandon()
            adapter = node.kernel.adapters["sim"]
            os.close(adapter.account._fd)

    asyncio.run(run())
    return node


@pytest.mark.parametrize("cod", ["false", "true"])
def test_in_process_crash_loses_nothing(tmp_path: Path, cod: str) -> None:
    journal, state = tmp_path / "j.sqlite", tmp_path / "sim.state"
    cfg = load_config_text(CONFIG.format(journal=journal, state=state, cod=cod))
    start = START_NS
    first = _run(cfg, journal, 40, start, crash=True)
    fills_before = first.kernel.counters["fills"]
    assert fills_before > 0
    second = _run(cfg, journal, 5, start + 41 * NS_PER_S, crash=False)
    k = second.kernel
    venue = k.adapters["sim"]
    acc = venue.account
    # every fill the venue made is in the engine exactly once, and positions agree
    assert len(assert_fills_once(journal, acc)) >= fills_before
    assert_positions_agree(acc, kernel_qty(k))
    # shutdown cancelled everything, at the venue too
    assert acc.open_orders() == [] and k.orders.open_orders() == []
    recs = [r[4] for r in Journal(journal, read_only=True).records() if isinstance(r[4], ReconciliationCompleted)]
    assert len(recs) == 2
    assert not any(isinstance(r[4], PositionAdjusted) for r in Journal(journal, read_only=True).records()), \
        "fills replayed from the venue make positions agree without adjustments"
