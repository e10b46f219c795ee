"""Kill switch levels, loss limits, connectivity, and the operator's control file / volta kill."""

from __future__ import annotations

import json
import threading
import os
import time
from pathlib import Path

import pytest

from engine.control import ControlWatcher, ack_path, control_path, kill_main, pid_path
from engine.journal import Journal, KillSwitchTripped
from engine.model import (
    BookSnapshot,
    OrderStatus,
    OrderType,
    Side,
    TradingState,
    VenueStatusChanged,
)
from engine.reconcile import apply_reconciliation, rebuild
from engine.model import VenueReconciliation
from engine.risk import PRIVILEGED_STRATEGY, Reason
from tests.risk.helpers import CALL, PERP, fill, make, order, position, reason


def test_level_1_halts_new_orders_but_not_cancels() -> None:
    k, venue = make()
    a = order()
    k.router.submit(a)
    assert k.killswitch.trip(1, "test") == 1
    assert k.gate.state is TradingState.HALTED
    assert reason(k, order(price=59_990.0)) == Reason.TRADING_HALTED
    assert k.router.cancel(k.orders.get(a.client_order_id))  # cancels are never blocked
    assert venue.cancel_alls == 0


def test_level_2_cancels_everything_here_and_at_the_venue() -> None:
    k, venue = make()
    for p in (60_000.0, 59_990.0):
        k.router.submit(order(price=p))
    k.killswitch.trip(2, "test")
    assert all(o.status is OrderStatus.PENDING_CANCEL for o in k.orders.open_orders())
    assert sum(type(c).__name__ == "CancelOrder" for c in venue.sent) == 2 and venue.cancel_alls == 1


def test_level_3_flattens_with_reduce_only_market_orders_split_to_max_size() -> None:
    k, venue = make(max_order_qty=0.4, max_position_qty=100)
    a = order(qty=0.4)
    b = order(qty=0.3, price=59_990.0)
    for c in (a, b):
        k.router.submit(c)
        fill(k, c)
    position(k, CALL, -0.5, 1_050.0)
    venue.sent.clear()
    k.killswitch.trip(3, "desk says flatten")
    flat = [c for c in venue.sent if type(c).__name__ == "SubmitOrder"]
    perp = [c for c in flat if c.instrument_id == PERP.id]
    assert [c.quantity for c in perp] == [0.4, pytest.approx(0.3)]
    assert all(c.side is Side.SELL for c in perp)
    assert all(c.reduce_only and c.order_type is OrderType.MARKET
               and c.strategy_id == PRIVILEGED_STRATEGY for c in flat)
    call = [c for c in flat if c.instrument_id == CALL.id]
    assert [c.quantity for c in call] == [0.4, pytest.approx(0.1)] and call[0].side is Side.BUY
    # nothing else may trade while halted, and a second tick does not double the flattening
    assert reason(k, order(price=59_980.0)) == Reason.TRADING_HALTED
    n = len(venue.sent)
    k.killswitch.tick(k.clock.now_ns())
    assert len(venue.sent) == n, "working flatten orders already cover the positions"
    for c in flat:
        fill(k, c, price=60_000.0 if c.instrument_id == PERP.id else 1_050.0)
    assert all(abs(p.qty) < 1e-12 for p in k.portfolio.positions())


def test_clear_releases_only_the_kill_hold() -> None:
    k, _ = make()
    k.gate.hold("base", TradingState.REDUCING, "config")
    k.killswitch.trip(1, "x")
    k.killswitch.clear()
    assert k.killswitch.level == 0 and k.gate.state is TradingState.REDUCING


def test_lost_connectivity_halts_until_reconnected_and_reconciled() -> None:
    k, _ = make()
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "ws closed", 0))
    assert k.trading.venue_halt("fake")  # the venue's own halt (the global state stays)
    assert reason(k, order()) == Reason.TRADING_HALTED
    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0))
    assert k.trading.venue_halt("fake") and k.reconcile_requests == ["fake"]
    assert reason(k, order()) == Reason.TRADING_HALTED
    apply_reconciliation(k, VenueReconciliation(venue="fake", open_orders=(), fills=(), positions=(), ts=0))
    assert k.trading.venue_halt("fake") == "" and k.gate.state is TradingState.ACTIVE


def test_daily_loss_switches_to_reducing_and_survives_a_restart(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    k, _ = make(journal=j, max_daily_loss_usd=50.0)
    a = order(qty=0.1)
    k.router.submit(a)
    fill(k, a)
    k.killswitch.tick(k.clock.now_ns())
    assert k.gate.state is TradingState.ACTIVE
    k.bus.publish(BookSnapshot(PERP.id, ((59_000.0, 1.0),), ((59_010.0, 1.0),), 2, 0, 0))
    k.killswitch.tick(k.clock.now_ns())  # 0.1 * -995 = -99.5 USD
    assert k.gate.state is TradingState.REDUCING
    assert reason(k, order(qty=0.1, price=59_005.0)) == Reason.REDUCE_ONLY
    assert reason(k, order(side=Side.SELL, qty=0.05, price=59_005.0)) is None
    j.close()  # the first process ends (one journal, one process)
    k2, _ = make(journal=Journal(tmp_path / "j.sqlite"), max_daily_loss_usd=50.0)
    rebuild(k2, k2.journal)
    k2.killswitch.restore_losses()
    assert k2.gate.state is TradingState.REDUCING
    k2.killswitch.clear_loss()
    assert k2.gate.state is TradingState.ACTIVE


def test_drawdown_can_trip_a_kill_level() -> None:
    k, venue = make(max_drawdown_usd=10.0, loss_kill_level=2)
    a = order(qty=0.1)
    k.router.submit(a)
    fill(k, a)
    k.router.submit(order(price=59_990.0))
    k.killswitch.tick(k.clock.now_ns())
    k.bus.publish(BookSnapshot(PERP.id, ((59_000.0, 1.0),), ((59_010.0, 1.0),), 2, 0, 0))
    k.killswitch.tick(k.clock.now_ns())
    assert k.killswitch.level == 2 and venue.cancel_alls == 1


def test_kill_level_is_journaled_and_restored(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    k, _ = make(journal=j)
    k.killswitch.trip(1, "overnight")
    # committed at once: an audit reader sees it while the node still runs
    recs = [r[4] for r in Journal(tmp_path / "j.sqlite", read_only=True).records()
            if r[3] == "KillSwitchTripped"]
    assert recs and isinstance(recs[0], KillSwitchTripped) and recs[0].level == 1
    j.abandon()  # the process dies without a clean stop
    k2, _ = make(journal=Journal(tmp_path / "j.sqlite"))
    rebuild(k2, k2.journal)
    assert k2.killswitch.level == 1 and k2.gate.state is TradingState.HALTED


def test_control_file_commands_and_bad_input(tmp_path: Path) -> None:
    k, _ = make()
    jp = tmp_path / "j.sqlite"
    w = ControlWatcher(k, jp)
    path = control_path(jp)
    path.write_text('{"cmd": "kill", "level": 2, "reason": "r", "id": "1"}\nnot json\n'
                    '{"cmd": "nope", "id": "3"}\n{"cmd": "clear", "id": "4"}\n{"cmd": "ki')
    assert w.poll() == 4
    acks = [json.loads(x) for x in ack_path(jp).read_text().splitlines()]
    assert [a["ok"] for a in acks] == [True, False, False, True]
    assert acks[0]["level"] == 2 and acks[3]["level"] == 0
    with open(path, "a") as fh:
        fh.write('ll", "level": 1, "id": "5"}\n')  # the torn line completes
    assert w.poll() == 1 and k.killswitch.level == 1


def test_volta_kill_round_trip_with_a_daemon_watching(tmp_path: Path) -> None:
    k, _ = make()
    jp = tmp_path / "j.sqlite"
    w = ControlWatcher(k, jp)
    pid_path(jp).write_text(f"{os.getpid()}\n")  # as the daemon's runtime writes it
    stop = threading.Event()

    def daemon() -> None:
        while not stop.is_set():
            w.poll()
            time.sleep(0.01)

    t = threading.Thread(target=daemon)
    t.start()
    try:
        assert kill_main(["--journal", str(jp), "--level", "3", "--reason", "test"]) == 0
        assert k.killswitch.level == 3 and k.killswitch.reason == "test"
        assert kill_main(["--journal", str(jp), "--clear"]) == 0 and k.killswitch.level == 0
        assert kill_main(["--journal", str(jp), "--enable-strategy", "nobody"]) == 1
    finally:
        stop.set()
        t.join()
    assert kill_main(["--journal", str(tmp_path / "none.sqlite"), "--wait", "0.2"]) == 1
