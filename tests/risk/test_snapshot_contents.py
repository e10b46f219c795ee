"""Snapshot contents beyond orders and positions: the fill counter, the recent fills and the
gate's pacing state (fill windows, disabled strategies, duplicate filter, rate buckets).

A restart from the newest snapshot plus the tail rebuilds the fill counter, the recent fills,
the fill windows and the disabled strategies exactly as a full replay does; the duplicate
filter and the rate buckets (which no journal record rebuilds) come back as they were when
the snapshot was taken, figures checked from first principles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.execution.snapshot import Snapshotter
from engine.journal import Journal
from engine.kernel import Kernel
from engine.model import Side
from engine.operator.actions import OperatorAction
from engine.reconcile import rebuild
from engine.risk import Reason
from engine.risk.limits import RateLimit
from tests.risk.helpers import CALL, PERP, fill, make, order

NS = 1_000_000_000
LIMITS: dict[str, Any] = dict(max_fills=3, fills_window_s=60.0, duplicate_window_ms=5_000.0,
                              global_rate=RateLimit(rate=1.0, burst=20.0),
                              venue_rates={"fake": RateLimit(rate=2.0, burst=10.0)})


def _kernel(jp: Path) -> Kernel:
    k, _ = make(journal=Journal(jp), **LIMITS)
    return k


def _snapshotter(k: Kernel) -> Snapshotter:
    ks = k.killswitch
    return Snapshotter(k.journal, k.orders, k.portfolio, lambda: ks.durable, k.execution.checkpoint,
                       execution=k.execution.snapshot, throttle=k.gate.snapshot)


def _trip_s1(k: Kernel) -> None:
    """s1: four orders, one a second, each filled at once (4 fills > 3 in 60 s)."""
    t0 = k.clock.now_ns()
    for i in range(4):
        k.clock.advance_to(t0 + i * NS)
        cmd = order(qty=0.01, price=60_000.0 - i, strategy="s1", coid=f"s1-{i}")
        assert k.router.submit(cmd) is None
        fill(k, cmd, trade_id=f"t-s1-{i}")


def _history(k: Kernel) -> tuple[int, Any]:
    """s1 trips the repeated-execution throttle (4 fills > 3 in 60 s), an operator enables it
    again, s2 fills twice; snapshot; a tail of one more fill and two orders. Returns the
    snapshot's seq and the gate's pacing state when it was taken."""
    t0 = k.clock.now_ns()
    _trip_s1(k)
    assert "s1" in k.gate.disabled_strategies
    # what OperatorActions.apply does for enable_strategy (here without a running strategy)
    now = k.clock.now_ns()
    k.journal.write_command(now, OperatorAction(action="enable_strategy", args={"strategy_id": "s1"},
                                                origin="test", ts=now))
    k.gate.enable_strategy("s1")
    assert "s1" not in k.gate.disabled_strategies
    k.clock.advance_to(t0 + 10 * NS)
    for i in range(2):
        cmd = order(qty=0.02, price=59_900.0 - i, strategy="s2", coid=f"s2-{i}")
        assert k.router.submit(cmd) is None
        fill(k, cmd, trade_id=f"t-s2-{i}")
    k.clock.advance_to(t0 + 11 * NS)
    rest = order(side=Side.SELL, qty=0.01, price=60_010.0, strategy="s2", coid="s2-rest")
    assert k.router.submit(rest) is None
    seq = _snapshotter(k).take(k.clock.now_ns())
    assert seq is not None and k.journal.drain(30)  # (stored by the writer before the crash)
    at_snapshot = k.gate.snapshot()
    # the tail
    k.clock.advance_to(t0 + 12 * NS)
    tail = order(inst=CALL, qty=0.01, price=1_050.0, strategy="s2", coid="s2-tail")
    assert k.router.submit(tail) is None
    fill(k, tail, trade_id="t-s2-tail")
    k.journal.commit()
    return seq, at_snapshot


def _restart(jp: Path, use_snapshot: bool) -> tuple[Kernel, dict[str, int]]:
    k = _kernel(jp)
    return k, rebuild(k, k.journal, use_snapshot=use_snapshot)


def _contents(k: Kernel) -> tuple[Any, ...]:
    th = k.gate.snapshot()
    return (k.counters.get("fills", 0),
            [(f.client_order_id, f.trade_id, f.quantity, f.price) for f in k.execution.recent_fills(1_000)],
            th.fills, th.disabled)


def test_fill_counter_recent_fills_and_throttle_windows_equal_a_full_replay(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    k = _kernel(jp)
    seq, at_snapshot = _history(k)
    live = _contents(k)
    k.journal.abandon()  # SIGKILL after the tail

    full, full_counts = _restart(jp, use_snapshot=False)
    expected = _contents(full)
    full.journal.close()
    snap, counts = _restart(jp, use_snapshot=True)
    assert counts["snapshot_seq"] == seq and full_counts["snapshot_seq"] == 0
    assert sum(v for t, v in counts.items() if t != "snapshot_seq") < 10  # only the tail
    got = _contents(snap)
    assert got == expected == live

    # first principles: 4 fills of s1, 2 of s2 before the snapshot, 1 of s2 after it
    fills, recent, windows, disabled = got
    assert fills == 4 + 2 + 1
    assert [r[1] for r in recent] == ["t-s1-0", "t-s1-1", "t-s1-2", "t-s1-3", "t-s2-0", "t-s2-1", "t-s2-tail"]
    t0 = 1_000_000_000  # the helpers' virtual clock start
    # s1's window was cleared by the operator's enable (journaled and replayed); s2's keeps
    # its three fill times (10 s, 10 s and 12 s after the start, all inside 60 s)
    assert windows == {"s2": [t0 + 10 * NS, t0 + 10 * NS, t0 + 12 * NS]}
    assert disabled == {}
    snap.journal.close()

    # the pacing state no record rebuilds: as it was when the snapshot was taken
    snap, _ = _restart(jp, use_snapshot=True)
    th = snap.gate.snapshot()
    assert th.duplicates == at_snapshot.duplicates and th.buckets == at_snapshot.buckets
    # 7 orders approved by then (4 of s1, 2 of s2, the resting one), at 0, 1, 2, 3, 10, 10
    # and 11 s after the start; each took a token from both buckets after a refill of
    # rate x elapsed seconds, capped at the burst (global 1/s burst 20, venue 2/s burst 10)
    tokens_g, tokens_v, last = 20.0, 10.0, 0
    for t in (0, 1, 2, 3, 10, 10, 11):
        tokens_g = min(20.0, tokens_g + (t - last) * 1.0) - 1.0
        tokens_v = min(10.0, tokens_v + (t - last) * 2.0) - 1.0
        last = t
    assert (tokens_g, tokens_v) == (18.0, 9.0)  # (each bucket refills to its burst between takes)
    assert th.buckets[""][0] == pytest.approx(tokens_g, abs=1e-9) and th.buckets[""][1] == t0 + 11 * NS
    assert th.buckets["fake"][0] == pytest.approx(tokens_v, abs=1e-9) and th.buckets["fake"][1] == t0 + 11 * NS
    # the duplicate filter: the orders of the last 5 s when the snapshot was taken
    assert [(d[0] - t0) // NS for d in th.duplicates] == [10, 10, 11]
    assert th.duplicates[-1][1:] == ("s2", PERP.id, "sell", 60_010.0, 0.01)
    # and it still works: the same order again within 5 s is a duplicate after the restart
    again = order(side=Side.SELL, qty=0.01, price=60_010.0, strategy="s2", coid="again")
    snap.clock.advance_to(t0 + 12 * NS)
    denial = snap.router.submit(again)
    assert denial is not None and denial.reason == Reason.DUPLICATE_ORDER
    snap.journal.close()


def test_a_strategy_the_throttle_disabled_stays_disabled_after_a_restart(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    k = _kernel(jp)
    _trip_s1(k)
    reason = k.gate.disabled_strategies["s1"]
    assert reason == "4 fills in 60s > max 3"
    assert _snapshotter(k).take(k.clock.now_ns()) is not None and k.journal.drain(30)
    k.journal.abandon()
    for use_snapshot in (True, False):
        r, _ = _restart(jp, use_snapshot)
        assert r.gate.disabled_strategies == {"s1": reason}
        d = r.router.submit(order(strategy="s1"))
        assert d is not None and d.reason == Reason.STRATEGY_DISABLED
        r.journal.close()


def test_a_version_1_snapshot_still_restores(tmp_path: Path) -> None:
    """A snapshot written before these parts existed: orders and positions restored, the
    counters left as the tail makes them (no error, no full replay)."""
    import msgspec

    from engine.execution import snapshot as snapmod

    jp = tmp_path / "j.sqlite"
    k = _kernel(jp)
    cmd = order(coid="a")
    assert k.router.submit(cmd) is None
    fill(k, cmd, trade_id="t1")
    k.execution.checkpoint()
    old = snapmod.Snapshot(version=1, seq=k.journal.seq, ts=0, orders=k.orders.snapshot(10),
                           portfolio=k.portfolio.snapshot(10), kill=(0, "", ""))
    k.journal.save_snapshot(0, msgspec.msgpack.encode(old))
    k.journal.close()
    r, counts = _restart(jp, use_snapshot=True)
    assert counts["snapshot_seq"] > 0 and r.orders.get("a") is not None
    assert r.portfolio.position(PERP.id).qty == 0.01
    r.journal.close()


def test_an_enable_through_the_control_file_is_journaled_and_survives_a_restart(tmp_path: Path) -> None:
    """``volta kill --enable-strategy`` (the control file) after the snapshot that still shows
    the strategy disabled: the enable is journaled, so the snapshot + tail and a full replay
    both come back with the strategy enabled (and its fill window empty)."""
    from engine.control import ControlWatcher

    jp = tmp_path / "j.sqlite"
    k = _kernel(jp)
    _trip_s1(k)
    assert _snapshotter(k).take(k.clock.now_ns()) is not None and k.journal.drain(30)
    answer = ControlWatcher(k, jp).apply({"cmd": "enable_strategy", "strategy": "s1"})
    assert answer["disabled_strategies"] == {}
    k.journal.abandon()
    for use_snapshot in (True, False):
        r, counts = _restart(jp, use_snapshot)
        assert counts.get("OperatorAction") == 1
        assert r.gate.disabled_strategies == {} and "s1" not in r.gate.snapshot().fills
        assert r.router.submit(order(strategy="s1", price=59_500.0)) is None  # (a new order)
        r.journal.close()
