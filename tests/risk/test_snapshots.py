"""Snapshots: a restart from the newest snapshot plus the tail rebuilds exactly what a full
replay does; a crash while writing one, or a damaged one, leaves a usable journal; rotated
segments stay readable for audits."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import engine.journal as journal_mod
from engine.execution.snapshot import Snapshotter
from engine.journal import Journal
from engine.kernel import Kernel
from engine.model import Liquidity, OrderAccepted, OrderFilled, OrderStatus, Side, SubmitOrder
from engine.reconcile import rebuild
from tests.risk.helpers import PERP, make, order

ROOT = Path(__file__).resolve().parents[2]


def _accept(k: Kernel, cmd: SubmitOrder) -> None:
    k.bus.publish(OrderAccepted(client_order_id=cmd.client_order_id, venue_order_id="v-" + cmd.client_order_id,
                                instrument_id=cmd.instrument_id, ts_event=0, ts_recv=0))


def _fill(k: Kernel, cmd: SubmitOrder, qty: float, price: float, fee: float, trade_id: str,
          remaining: float) -> None:
    k.bus.publish(OrderFilled(client_order_id=cmd.client_order_id, venue_order_id="v-" + cmd.client_order_id,
                              instrument_id=cmd.instrument_id, trade_id=trade_id, side=cmd.side,
                              price=price, quantity=qty, remaining=remaining,
                              liquidity=Liquidity.MAKER, fee=fee, fee_currency="USD",
                              ts_event=0, ts_recv=0))


def _snapshotter(k: Kernel) -> Snapshotter:
    ks = k.killswitch
    return Snapshotter(k.journal, k.orders, k.portfolio, lambda: ks.durable, k.execution.checkpoint,
                       execution=k.execution.snapshot, throttle=k.gate.snapshot)


def _history(k: Kernel) -> list[int]:
    """Trade, snapshot, trade, snapshot, trade; returns the snapshots' seqs. The arithmetic
    the assertions check is written out in ``test_restart_from_snapshot_equals_full_replay``."""
    snaps = _snapshotter(k)
    a = order(qty=0.03, price=60_000.0, coid="a")
    b = order(qty=0.01, price=59_990.0, coid="b")
    c = order(side=Side.SELL, qty=0.02, price=60_005.0, coid="c")
    for cmd in (a, b, c):
        assert k.router.submit(cmd) is None
        _accept(k, cmd)
    _fill(k, a, 0.01, 60_000.0, 0.06, "t1", 0.02)
    _fill(k, a, 0.02, 60_000.0, 0.12, "t2", 0.0)
    _fill(k, c, 0.02, 60_005.0, 0.05, "t3", 0.0)
    k.router.cancel(k.orders.get("b"))
    k.killswitch.trip(1, "lunch")
    k.killswitch.clear()
    first = snaps.take(k.clock.now_ns())
    assert k.journal.drain(30)  # (stored by the journal's writer thread before the crash)
    # the tail after the first snapshot
    d = order(side=Side.SELL, qty=0.005, price=60_008.0, coid="d")
    e = order(qty=0.01, price=59_980.0, coid="e")
    for cmd in (d, e):
        assert k.router.submit(cmd) is None
        _accept(k, cmd)
    _fill(k, d, 0.002, 60_008.0, 0.01, "t4", 0.003)
    _fill(k, c, 0.02, 60_005.0, 0.05, "t3", 0.0)  # a venue repeating a fill: counted once
    k.killswitch.trip(1, "overnight")  # an operator's: restored
    k.killswitch.trip(2, "disk full", "journal")  # the journal's own: not restored (as a replay)
    second = snaps.take(k.clock.now_ns())
    assert k.journal.drain(30)
    _fill(k, d, 0.001, 60_008.0, 0.005, "t5", 0.002)  # the tail after the second
    k.journal.commit()
    return [first, second]


def _orders(k: Kernel) -> dict[str, tuple[Any, ...]]:
    return {o.client_order_id: (o.status, o.quantity_exact, o.filled_exact, o.avg_fill_price,
                                o.venue_order_id, o.fees, sorted(o.trade_ids), o.close_reason,
                                o.in_doubt, o.price, o.side)
            for o in k.orders}


def _positions(k: Kernel) -> dict[str, tuple[Any, ...]]:
    return {p.instrument.id: (p.exact_qty, p.avg_price, p.realized, p.fees, p.funding,
                              p.traded_qty, p.fills) for p in k.portfolio.positions()}


def _state(k: Kernel) -> tuple[Any, ...]:
    pf = k.portfolio
    return (_orders(k), _positions(k), pf.fills, pf.has_trade(PERP.id, "t3"),
            (k.killswitch.level, k.killswitch.reason, k.killswitch.source),
            k.orders.open_count(), k.orders.working_qty(PERP.id, Side.SELL),
            k.orders.working_qty(PERP.id, Side.BUY), str(k.gate.state),
            k.counters.get("fills", 0), [f.trade_id for f in k.execution.recent_fills(1_000)],
            k.gate.snapshot().fills, k.gate.disabled_strategies)


def _restart(jp: Path, use_snapshot: bool) -> tuple[Kernel, dict[str, int]]:
    k, _ = make(journal=Journal(jp))
    counts = rebuild(k, k.journal, use_snapshot=use_snapshot)
    return k, counts


def test_restart_from_snapshot_equals_full_replay(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    k, _ = make(journal=Journal(jp))
    first, second = _history(k)
    assert 0 < first < second < k.journal.seq
    k.journal.abandon()  # SIGKILL: no clean stop, no final snapshot

    full, full_counts = _restart(jp, use_snapshot=False)
    expected = _state(full)
    full.journal.close()
    snap, counts = _restart(jp, use_snapshot=True)
    assert counts["snapshot_seq"] == second and full_counts["snapshot_seq"] == 0
    # only the tail was replayed: one fill (and its journal record), not the history
    replayed = sum(v for t, v in counts.items() if t != "snapshot_seq")
    assert replayed == 1 and sum(v for t, v in full_counts.items() if t != "snapshot_seq") > 15
    assert _state(snap) == expected
    assert snap.portfolio.pnl_usd() == full.portfolio.pnl_usd()

    # first principles: bought 0.03 @ 60000; sold 0.02 @ 60005 and 0.003 @ 60008
    pos = snap.portfolio.position(PERP.id)
    assert pos.exact_qty == Decimal("0.03") - Decimal("0.02") - Decimal("0.002") - Decimal("0.001")
    assert pos.avg_price == 60_000.0
    assert pos.realized == pytest.approx(0.02 * 5.0 + 0.003 * 8.0, rel=1e-12)
    assert pos.fees == pytest.approx(0.06 + 0.12 + 0.05 + 0.01 + 0.005, rel=1e-12)
    assert pos.fills == 5 and snap.portfolio.fills == 5
    o = snap.orders
    assert o.get("a").status is OrderStatus.FILLED and o.get("b").status is OrderStatus.PENDING_CANCEL
    assert o.get("d").filled_exact == Decimal("0.003") and o.get("d").status is OrderStatus.PENDING_CANCEL
    assert o.get("d").in_doubt and o.get("e").in_doubt  # open after a restart: the venue decides
    assert o.working_qty(PERP.id, Side.SELL) == 0.002 and o.working_qty(PERP.id, Side.BUY) == 0.01 + 0.01  # b (cancel pending), e
    assert (snap.killswitch.level, snap.killswitch.reason) == (1, "overnight")
    assert str(snap.gate.state) == "halted"
    snap.journal.close()


def test_damaged_snapshot_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    k, _ = make(journal=Journal(jp))
    first, second = _history(k)
    k.journal.abandon()
    full, _ = _restart(jp, use_snapshot=False)
    expected = _state(full)
    full.journal.close()
    db = sqlite3.connect(jp)
    db.execute("UPDATE snapshot SET payload = substr(payload, 1, 40) WHERE seq = ?", (second,))
    db.commit()
    db.close()
    snap, counts = _restart(jp, use_snapshot=True)
    assert counts["snapshot_seq"] == first
    assert _state(snap) == expected
    snap.journal.close()


_CRASH = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from engine.journal import Journal
    from tests.risk.helpers import make
    from tests.risk.test_snapshots import _history
    k, _ = make(journal=Journal({path!r}))
    _history(k)
    k.journal.commit()
    db = k.journal._db  # test-only: die inside the snapshot's transaction
    db.set_trace_callback(lambda stmt: os.kill(os.getpid(), signal.SIGKILL)
                          if stmt.startswith("DELETE FROM snapshot") else None)
    k.journal.save_snapshot(1, b"x" * 100_000)
""")


def test_crash_mid_snapshot_leaves_a_usable_journal(tmp_path: Path) -> None:
    jp = tmp_path / "j.sqlite"
    proc = subprocess.run([sys.executable, "-c", _CRASH.format(root=str(ROOT), path=str(jp))],
                          cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    j = Journal(jp)  # opens: the half-written snapshot was never committed
    seqs = [s for s, _t, _p in j.snapshots()]
    assert len(seqs) == 2 and all(len(p) != 100_000 for _s, _t, p in j.snapshots())
    j.close()
    full, _ = _restart(jp, use_snapshot=False)
    expected = _state(full)
    full.journal.close()
    snap, counts = _restart(jp, use_snapshot=True)
    assert counts["snapshot_seq"] == max(seqs)
    assert _state(snap) == expected
    # and it keeps working: a new record and a new snapshot after the crash
    snap.journal.write_command(5, order(coid="after-crash"))
    assert _snapshotter(snap).take(6) == snap.journal.seq
    snap.journal.close()


def test_rotation_moves_old_records_to_segments_still_read_for_audits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_mod, "ROTATE_RECORDS", 5)
    jp = tmp_path / "j.sqlite"
    k, _ = make(journal=Journal(jp))
    first, second = _history(k)
    live = k.journal
    segs = live.segments()
    # the records the previous snapshot covered left the store for one segment
    assert [(f, last) for f, last, _p in segs] == [(1, first)]
    assert segs[0][2].parent == Path(f"{jp}.segments") and segs[0][2].name.endswith(".sqlite")
    n_store = sqlite3.connect(jp).execute("SELECT COUNT(*), MIN(seq) FROM journal").fetchone()
    assert n_store[1] > first
    third = _snapshotter(k).take(k.clock.now_ns() + 1)
    assert third is not None and third > second
    total = live.seq
    live.close()
    # an audit reader (no lock) sees the whole history, each record once, in order
    audit = [r[0] for r in Journal(jp, read_only=True).records()]
    assert audit == list(range(1, total + 1))
    # a restart opens no segment, continues the numbering, and equals a full replay
    snap, counts = _restart(jp, use_snapshot=True)
    assert counts["snapshot_seq"] == total and snap.journal.seq == total
    full, _ = _restart_second(jp)
    assert _state(full) == _state(snap)
    seq = snap.journal.write_command(1, order(coid="next"))
    assert seq == total + 1
    snap.journal.close()
    full.journal.close()


def _restart_second(jp: Path) -> tuple[Kernel, dict[str, int]]:
    """A full replay by an in-memory copy of the history (the journal has one writer)."""
    k, _ = make(journal=Journal(":memory:"))
    src = Journal(jp, read_only=True)
    for _seq, ts, direction, _type, obj in src.records():
        k.journal.append(ts, direction, obj)
    k.journal.commit()
    return k, rebuild(k, k.journal, use_snapshot=False)


def test_a_node_snapshots_on_its_timer_and_at_stop(tmp_path: Path) -> None:
    """The runtime's snapshots, on the simulated venue: after a SIGKILL the restart from the
    newest snapshot plus the tail equals the full replay; a clean stop leaves no tail."""
    from engine.clock import NS_PER_S, VirtualClock
    from engine.config import load_config_text
    from engine.runtime import build_node
    from tests.risk.test_recovery import CONFIG, _run

    journal, state = tmp_path / "j.sqlite", tmp_path / "sim.state"
    cfg = load_config_text(CONFIG.format(journal=journal, state=state, cod="false"))
    start = 1_767_225_600 * NS_PER_S
    first = _run(cfg, journal, 90, start, crash=True)
    sn = first.snapshotter
    # snapshots were taken at 0 s and 60 s; the store writer thread stores them, and the
    # in-process SIGKILL may come before it stored the second (a real crash would too)
    assert sn is not None and sn.taken >= 1 and sn.last_ns >= start + 60 * NS_PER_S

    def restart(use_snapshot: bool) -> tuple[Kernel, dict[str, int]]:
        node = build_node(cfg, VirtualClock(start), journal)
        k = node.kernel
        for adapter in k.adapters.values():
            k.add_instruments(adapter.instruments())
        return k, rebuild(k, k.journal, use_snapshot=use_snapshot)

    full, _ = restart(False)
    expected = _state(full)
    full.journal.close()
    snap, counts = restart(True)
    assert 0 < counts["snapshot_seq"] < snap.journal.seq
    assert _state(snap) == expected and expected[0] and expected[2] > 0  # orders and fills
    assert expected[1]  # positions (exact quantity, average, realized, fees, funding)
    snap.journal.close()
    second = _run(cfg, journal, 5, start + 91 * NS_PER_S, crash=False)
    assert second.snapshotter is not None
    j = Journal(journal, read_only=True)
    assert next(j.snapshots())[0] == j.seq  # the stop's snapshot covers every record


def test_volta_journal_ls_and_show_read_segments_store_and_snapshots(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from engine.cli import main

    monkeypatch.setattr(journal_mod, "ROTATE_RECORDS", 5)
    jp = tmp_path / "j.sqlite"
    k, _ = make(journal=Journal(jp))
    first, second = _history(k)
    total = k.journal.seq
    k.journal.abandon()  # the last record is in the log only (committed, never checkpointed)
    assert main(["journal", "ls", str(jp)]) == 0
    out = capsys.readouterr().out
    assert f"segment  seq 1-{first}  {first} records" in out
    assert f"snapshot seq {second}" in out and f"snapshot seq {first}" in out
    assert main(["journal", "show", str(jp)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, total + 1))
    assert lines[0]["type"] == "SubmitOrder" and lines[0]["record"]["client_order_id"] == "a"
    assert main(["journal", "show", str(jp), "--type", "OrderFilled", "--after", "2",
                 "--limit", "2"]) == 0
    fills = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [f["record"]["trade_id"] for f in fills] == ["t1", "t2"]
    assert main(["journal", "ls", str(tmp_path / "missing.sqlite")]) == 2
    assert capsys.readouterr().err.strip() == f"volta journal: {tmp_path / 'missing.sqlite'}: no such journal"
