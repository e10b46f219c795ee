"""The execution core: group commit, idempotent reports, per-stream trading state, journal
failure, one journal per process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine.execution import TradingStateChanged, VenueTradingChanged
from engine.execution.reconcile import plan
from engine.journal import Journal, JournalError, JournalLocked
from engine.model import (
    BookDelta,
    BookSnapshot,
    OrderAccepted,
    OrderCancelled,
    OrderStatus,
    TradingState,
    VenueReconciliation,
    VenueStatusChanged,
)
from engine.reconcile import apply_reconciliation
from engine.risk import Reason
from tests.engine.conftest import PERP
from tests.risk.helpers import make, order, reason

ROOT = Path(__file__).resolve().parents[2]


def _records(path: Path) -> list[str]:
    return [r[3] for r in Journal(path, read_only=True).records()]


def test_commands_of_one_event_are_committed_once_before_any_is_sent(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    k, venue = make(journal=Journal(jp))
    j = k.journal
    a, b = order(price=59_000.0), order(price=59_010.0)
    k.router.submit(a)  # outside any event: committed and sent at once
    assert [type(c).__name__ for c in venue.sent] == ["SubmitOrder"]
    commits_before = j.commits
    seen_at_send: list[list[str]] = []
    orig = venue.submit

    def submit(cmd: Any) -> None:
        seen_at_send.append(_records(jp))  # what a crash right now would leave
        orig(cmd)

    venue.submit = submit  # type: ignore[method-assign]

    def on_book(_ev: BookDelta) -> None:  # a strategy reacting to one book event
        k.router.cancel(k.orders.get(a.client_order_id))
        k.router.submit(b)
        k.router.submit(order(price=59_020.0))
        assert venue.sent[-1].client_order_id == a.client_order_id  # nothing left yet

    k.bus.subscribe(BookDelta, on_book)
    k.bus.publish(BookDelta(PERP.id, ((59_991.0, 1.0),), (), 2, 1, 0, 0))
    assert j.commits == commits_before + 1  # one commit for the cancel and both orders
    assert [type(c).__name__ for c in venue.sent[1:]] == ["CancelOrder", "SubmitOrder", "SubmitOrder"]
    # every command of the batch was in the journal before the first of them left
    assert all(s.count("SubmitOrder") == 3 and "CancelOrder" in s for s in seen_at_send)


def test_a_second_terminal_event_is_absorbed_and_the_venues_reason_kept(
        capsys: pytest.CaptureFixture[str]) -> None:
    k, _ = make()
    a = order()
    k.router.submit(a)
    k.bus.publish(OrderAccepted(client_order_id=a.client_order_id, venue_order_id="v1",
                                instrument_id=PERP.id, ts_event=0, ts_recv=0))
    k.clock.advance_to(k.clock.now_ns() + 60 * 10**9)  # older than the ack timeout
    empty = VenueReconciliation(venue="fake", open_orders=(), fills=(), positions=(), ts=0)
    assert apply_reconciliation(k, empty) == 1
    o = k.orders.get(a.client_order_id)
    assert o.status is OrderStatus.CANCELLED and o.close_reason.startswith("reconciled")
    told: list[Any] = []
    k.bus.subscribe(OrderCancelled, told.append)
    k.bus.publish(OrderCancelled(client_order_id=a.client_order_id, instrument_id=PERP.id,
                                 reason="cancel-on-disconnect", ts_event=1, ts_recv=1))
    assert o.status is OrderStatus.CANCELLED and o.close_reason == "cancel-on-disconnect"
    assert k.counters["duplicate_terminal"] == 1 and k.orders.illegal_transitions == 0
    assert "illegal_order_transition" not in capsys.readouterr().out


def test_a_venue_trades_only_when_every_stream_is_back_and_reconciled() -> None:
    k, venue = make()
    states: list[Any] = []
    k.bus.subscribe(TradingStateChanged, states.append)
    k.bus.subscribe(VenueTradingChanged, states.append)
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "user stream closed", 0, "private"))
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "socket closed", 0, "market_data"))
    # the venue is halted on its own (tests/risk/test_venue_halts.py: other venues trade on)
    assert k.trading.venue_halt("fake") and k.gate.state is TradingState.ACTIVE
    # the public stream comes back first: still halted, nothing reconciled yet
    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "market_data"))
    k.bus.publish(BookSnapshot(PERP.id, ((59_990.0, 1.0),), ((60_010.0, 1.0),), 9, 0, 0))
    assert k.reconcile_requests == []
    assert reason(k, order()) == Reason.TRADING_HALTED
    assert "private down" in k.trading.venue_halt("fake")
    # the order stream too: reconciliation requested, still halted until it is done
    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "private"))
    assert k.reconcile_requests == ["fake"] and reason(k, order()) == Reason.TRADING_HALTED
    assert k.trading.venue_halt("fake") == "waiting for reconciliation"
    apply_reconciliation(k, VenueReconciliation(venue="fake", open_orders=(), fills=(),
                                                positions=(), ts=0))
    assert k.gate.state is TradingState.ACTIVE and k.trading.venue_halt("fake") == ""
    assert not [s for s in states if isinstance(s, TradingStateChanged)]  # global: untouched
    assert [s.halted for s in states if isinstance(s, VenueTradingChanged)] == [True, False]
    assert reason(k, order()) is None


def test_strategies_hear_a_halt_at_once_through_the_event() -> None:
    k, _ = make()
    heard: list[TradingState] = []
    k.bus.subscribe(TradingStateChanged, lambda ev: heard.append(ev.state))
    k.killswitch.trip(1, "test")
    assert heard == [TradingState.HALTED]


def test_reconciliation_plan_is_pure() -> None:
    k, _ = make()
    a = order()
    k.router.submit(a)
    k.clock.advance_to(k.clock.now_ns() + 60 * 10**9)
    from engine.reconcile import _KernelView

    report = VenueReconciliation(venue="fake", open_orders=(), fills=(), positions=(), ts=0)
    p1 = plan(report, _KernelView(k), k.clock.now_ns(), 5 * 10**9)
    p2 = plan(report, _KernelView(k), k.clock.now_ns(), 5 * 10**9)
    assert p1.differences == p2.differences == 1 and len(p1.events) == 1
    assert k.orders.get(a.client_order_id).status is OrderStatus.SUBMITTED  # nothing changed


def test_journal_failure_halts_cancels_and_sends_nothing_unjournaled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.journal_log as jl
    from engine.journal import KillSwitchTripped

    # a small reserved log, so that the batch below has to grow it, on a disk that is full
    monkeypatch.setattr(jl, "LOG_MAP_BYTES", 8192)
    monkeypatch.setattr(jl, "LOG_PREPARE_BYTES", 4096)
    k, venue = make(journal=Journal(tmp_path / "j.sqlite"))
    working = order(price=59_000.0)
    k.router.submit(working)
    sent_before = len(venue.sent)
    j = k.journal

    def no_space(*_a: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jl.os, "posix_fallocate", no_space)
    # a record waiting for the next commit that does not fit in what is left of the log
    j.append(0, "in", KillSwitchTripped(level=0, reason="x" * 9000, source="test", ts=0))
    fresh = order(price=59_010.0)
    assert reason(k, fresh) is None  # approved by the gate ...
    # ... but never sent: the journal could not record it
    assert all(c.client_order_id != fresh.client_order_id for c in venue.sent[sent_before:])
    assert k.orders.get(fresh.client_order_id).status is OrderStatus.REJECTED
    assert "No space left on device" in k.orders.get(fresh.client_order_id).close_reason
    assert j.failed and "j.sqlite" in j.failed
    # halted at the kill level that cancels: the working order's cancel went out anyway
    assert k.killswitch.level == 2 and k.gate.state is TradingState.HALTED
    assert any(type(c).__name__ == "CancelOrder" and c.client_order_id == working.client_order_id
               for c in venue.sent)
    assert venue.cancel_alls == 1
    assert reason(k, order(price=59_020.0)) == Reason.TRADING_HALTED
    k.execution.checkpoint()  # the timer goes on without raising


_FULL_DISK = """
import json, resource, signal, sys
from pathlib import Path
from engine.journal import Journal
from tests.risk.helpers import make, order, reason
jp = Path(sys.argv[1])
k, venue = make(journal=Journal(jp))
working = order(price=59_000.0)
k.router.submit(working)
k.execution.checkpoint()  # in the store
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # (the limit answers EFBIG instead of a signal)
log = Path(f"{jp}.wal")  # (its space is reserved: its commits grow no file)
size = max(p.stat().st_size for p in jp.parent.iterdir() if p != log)
resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))  # no file may grow any more
fresh = order(price=59_010.0)
out = {"fresh": reason(k, fresh)}  # its commit only copies into the reserved log: it goes out
for _ in range(100):  # orders until the store checkpoint needs room the device does not have
    reason(k, order(price=58_000.0))
    k.execution.checkpoint()
    k.journal.drain(5)  # (the store writer thread moves the records)
    if k.journal.failed:
        break
reason(k, order(price=58_500.0))  # the next commit learns of the store's failure and halts
out.update(failed=k.journal.failed, level=k.killswitch.level, state=str(k.gate.state),
           cancelled=any(type(c).__name__ == "CancelOrder" and c.client_order_id == working.client_order_id
                         for c in venue.sent),
           after=reason(k, order(price=59_020.0)))
print(json.dumps(out))
"""


def test_a_full_device_halts_the_node_without_a_traceback(tmp_path: Path) -> None:
    """The journal with no room left on its device (the kernel's file size limit: every write
    that would grow a file fails with EFBIG), in a process of its own."""
    jp = tmp_path / "j.sqlite"
    run = subprocess.run([sys.executable, "-c", _FULL_DISK, str(jp)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    import json

    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["fresh"] is None
    assert "j.sqlite" in out["failed"] and "cannot write" in out["failed"]  # (SQLite: "disk I/O error")
    assert out["level"] == 2 and out["state"] == "halted" and out["cancelled"]
    assert out["after"] == Reason.TRADING_HALTED


def test_the_lock_names_the_holder(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    j = Journal(jp)
    with pytest.raises(JournalLocked) as info:
        Journal(jp)
    assert str(jp) in str(info.value) and f"pid {os.getpid()}" in str(info.value)
    j.close()
    Journal(jp).close()  # released on close


def test_a_second_process_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    jp = tmp_path / "paper.journal.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from engine.journal import Journal
            j = Journal({str(jp)!r})
            print("ready", flush=True)
            sys.stdin.readline()
            j.close()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        second = subprocess.run(
            [sys.executable, "-m", "engine.cli", "run", "--virtual", "--duration", "1",
             "--journal", str(jp)], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert second.returncode == 2, second.stderr
        lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in second.stderr
        assert str(jp) in lines[0] and f"pid {holder.pid}" in lines[0]
    finally:
        if holder.stdin is not None:
            holder.stdin.write("\n")
            holder.stdin.flush()
        holder.wait(timeout=30)


def test_journal_error_is_one_line() -> None:
    assert "\n" not in str(JournalError("journal x: cannot write: No space left on device (ENOSPC)"))


def test_filled_and_remaining_quantities_are_exact_decimal_sums() -> None:
    from tests.risk.helpers import fill

    k, _ = make()
    a = order(qty=0.3)
    k.router.submit(a)
    fill(k, a, qty=0.1, remaining=float("nan"))
    fill(k, a, qty=0.1, remaining=float("nan"))
    o = k.orders.get(a.client_order_id)
    # 0.1 + 0.1 as floats would leave 0.09999999999999998 open; decimal arithmetic leaves 0.1
    assert o.filled == 0.2 and o.remaining == 0.1 and o.status is OrderStatus.PARTIALLY_FILLED
    assert k.orders.working_qty(PERP.id, a.side) == 0.1
    fill(k, a, qty=0.1, remaining=float("nan"))  # the venue does not say what is left
    assert o.status is OrderStatus.FILLED and o.remaining == 0.0 and str(o.filled_exact) == "0.3"
    assert k.orders.working_qty(PERP.id, a.side) == 0.0
    assert [f.quantity for f in k.execution.recent_fills(strategy_id="t")][-3:] == [0.1, 0.1, 0.1]
