"""Counters after a restart: from the newest snapshot plus the tail they are what a full replay
of the journal makes them.

The counters that count applied venue reports (fills, venue rejects, late rejects, duplicate
terminal events) are rebuilt by a replay and carried by the snapshot; the ones that count what
one process did (orders approved and sent, denials by reason, the rejects the operator tape
saw) start at 0 after every restart, with or without a snapshot (docs/risk.md). Figures are
checked against the history the test itself writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.execution.snapshot import Snapshotter
from engine.execution.state import REPLAYED_COUNTERS
from engine.journal import Journal
from engine.kernel import Kernel
from engine.model import Liquidity, OrderCancelled, OrderFilled, OrderRejected, Side, SubmitOrder
from engine.operator.views import state_view
from engine.reconcile import rebuild
from engine.status import status_fields
from tests.risk.helpers import PERP, fill, make, order

NS = 1_000_000_000


def _kernel(jp: Path) -> Kernel:
    k, _ = make(journal=Journal(jp), max_order_qty=1.0)
    return k


def _snapshotter(k: Kernel) -> Snapshotter:
    ks = k.killswitch
    return Snapshotter(k.journal, k.orders, k.portfolio, lambda: ks.durable, k.execution.checkpoint,
                       execution=k.execution.snapshot, throttle=k.gate.snapshot)


def _rejected(k: Kernel, cmd: SubmitOrder, reason: str) -> None:
    k.bus.publish(OrderRejected(client_order_id=cmd.client_order_id, instrument_id=cmd.instrument_id,
                                reason=reason, ts_event=0, ts_recv=0))


def _cancelled(k: Kernel, cmd: SubmitOrder, reason: str) -> None:
    k.bus.publish(OrderCancelled(client_order_id=cmd.client_order_id, instrument_id=cmd.instrument_id,
                                 reason=reason, ts_event=0, ts_recv=0))


def _filled_then_reported_ended_again(k: Kernel, coid: str, trade_id: str) -> None:
    """Filled; then the venue's own cancel report (a duplicate terminal event) arrives."""
    cmd = order(qty=0.01, price=60_000.0, strategy="s", coid=coid)
    assert k.router.submit(cmd) is None
    fill(k, cmd, trade_id=trade_id)
    _cancelled(k, cmd, "venue: cancelled")


def _history(k: Kernel) -> int:
    """Before the snapshot: 1 fill, 1 duplicate terminal, 1 late reject, 1 venue reject, 1
    denial; after it (the tail): 1 fill, 1 duplicate terminal, 1 venue reject."""
    t0 = k.clock.now_ns()
    _filled_then_reported_ended_again(k, "a", "t-a")
    late = order(qty=0.01, price=59_000.0, strategy="s", coid="late")
    assert k.router.submit(late) is None
    fill(k, late, trade_id="t-late")
    _rejected(k, late, "unknown order")  # the answer to a cancel that crossed the fill
    k.clock.advance_to(t0 + NS)
    rej = order(qty=0.01, price=59_500.0, strategy="s", coid="rej")
    assert k.router.submit(rej) is None
    _rejected(k, rej, "insufficient margin")
    assert k.router.submit(order(qty=2.0, strategy="s", coid="big")) is not None  # > 1.0: denied
    seq = _snapshotter(k).take(k.clock.now_ns())
    assert seq is not None and k.journal.drain(30)
    k.clock.advance_to(t0 + 2 * NS)
    _filled_then_reported_ended_again(k, "b", "t-b")
    rej2 = order(qty=0.01, price=59_400.0, strategy="s", coid="rej2")
    assert k.router.submit(rej2) is None
    _rejected(k, rej2, "post-only would cross")
    k.journal.commit()
    return seq


def _counters(k: Kernel) -> dict[str, Any]:
    """Every counter a person or a scraper sees, and the core's own."""
    fields, view = status_fields(k), state_view(k)
    return {"fills": fields["fills"], "denied": fields["denied"], "denials": fields["denials"],
            "approved": view["approved"], "sent": k.execution.sent,
            **{key: k.counters.get(key, 0) for key in REPLAYED_COUNTERS}}


def test_counters_from_a_snapshot_and_the_tail_equal_a_full_replay(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    k = _kernel(jp)
    seq = _history(k)
    live = _counters(k)
    k.journal.abandon()  # SIGKILL after the tail

    full = _kernel(jp)
    full_counts = rebuild(full, full.journal, use_snapshot=False)
    replayed = _counters(full)
    full.journal.close()
    snap = _kernel(jp)
    counts = rebuild(snap, snap.journal, use_snapshot=True)
    restored = _counters(snap)
    assert full_counts["snapshot_seq"] == 0 and counts["snapshot_seq"] == seq
    assert 0 < sum(v for t, v in counts.items() if t != "snapshot_seq") < 12  # only the tail

    assert restored == replayed
    # first principles: the fills of a and late before the snapshot, of b after it; the
    # duplicate cancel reports of a and b; the reject of late's crossed cancel; the venue
    # rejects of rej and rej2
    durable = {"fills": 3, "rejects": 2, "late_rejects": 1, "duplicate_terminal": 2}
    assert {key: restored[key] for key in durable} == durable == {key: live[key] for key in durable}
    # what this process did starts at 0 again: 5 orders approved and 1 denied live, 0 after
    assert (live["approved"], live["denied"], live["denials"]) == (5, 1, {"MAX_ORDER_QTY": 1})
    assert live["sent"] == 5
    assert (restored["approved"], restored["denied"], restored["denials"], restored["sent"]) == (0, 0, {}, 0)
    snap.journal.close()


def test_a_snapshot_without_the_counters_still_restores_them_from_the_tail(tmp_path: Path) -> None:
    """A snapshot written before the counters were kept: decoded, the counters as the tail
    makes them, no error."""
    from engine.execution import snapshot as snapmod

    jp = tmp_path / "j.sqlite"
    k = _kernel(jp)
    _filled_then_reported_ended_again(k, "a", "t-a")
    k.execution.checkpoint()
    state = k.execution.snapshot()
    assert state.counters == {"duplicate_terminal": 1}
    old = snapmod.capture(k.journal.seq, 0, k.orders, k.portfolio, (0, "", ""),
                          execution=msgspec.structs.replace(state, counters={}))
    payload = msgspec.msgpack.encode(old)
    assert b"duplicate_terminal" not in payload
    k.journal.save_snapshot(0, payload)
    _filled_then_reported_ended_again(k, "b", "t-b")
    k.journal.commit()
    k.journal.close()
    r = _kernel(jp)
    counts = rebuild(r, r.journal, use_snapshot=True)
    assert counts["snapshot_seq"] > 0
    assert r.counters["fills"] == 2 and r.counters["duplicate_terminal"] == 1  # the tail's one
    r.journal.close()


def test_a_fill_of_an_order_placed_elsewhere_counts_alike_live_and_after_a_restart(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    k = _kernel(jp)
    k.bus.publish(OrderFilled(client_order_id="elsewhere-1", venue_order_id="x", instrument_id=PERP.id,
                              trade_id="o1", side=Side.BUY, price=60_000.0, quantity=0.01, remaining=0.0,
                              liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))
    k.journal.commit()
    assert k.portfolio.position(PERP.id).qty == 0.01  # applied
    live = k.counters.get("fills", 0)
    k.journal.close()
    r = _kernel(jp)
    rebuild(r, r.journal, use_snapshot=False)
    assert r.counters.get("fills", 0) == live == 1
    r.journal.close()
