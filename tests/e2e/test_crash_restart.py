"""SIGKILL the paper daemon mid-run, restart it, and check it against the simulated venue.

A real process (``python -m engine run CONFIG --journal ...``) trades the perpetual against the
simulated venue, whose account persists in ``state_path``. It is killed with SIGKILL at an
arbitrary moment once it has traded, restarted for a few seconds, and stopped cleanly. After
that, the journal and the venue must agree exactly: every venue fill journaled once, the same
positions, and no order left open on either side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.sim.state import SimAccount
from engine.journal import Journal
from tests.crash_harness import assert_fills_once, assert_positions_agree, crash_config, fills_qty


def _start(cfg: Path, journal: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "engine", "run", str(cfg), "--journal", str(journal),
                             *extra], env=env, cwd=cfg.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _fills_in(state: Path) -> int:
    try:
        return state.read_bytes().count(b'"OrderFilled"')
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    journal, state = tmp_path / "journal.sqlite", tmp_path / "sim.state"
    cfg = tmp_path / "crash.toml"
    cfg.write_text(crash_config(
        "crash-test", journal, state,
        deployment='status_interval_s = 1.0\n\n[logging]\nformat = "json"\n',
        venue="cancel_on_disconnect = false   # orders survive the crash: reconciliation "
              "must find them\n"))

    proc = _start(cfg, journal)
    try:
        deadline = time.monotonic() + 60
        while _fills_in(state) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert _fills_in(state) >= 4, (proc.stdout.read() if proc.poll() is not None else b"").decode()[-3000:]
        time.sleep(0.37)  # an arbitrary moment: possibly between a fill and its journal commit
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_with_open = SimAccount(str(state)).open_orders()

    restart = _start(cfg, journal, "--duration", "3")
    out, _ = restart.communicate(timeout=120)
    text = out.decode()
    assert restart.returncode == 0, text[-4000:]
    assert "venue_reconciled" in text and "journal_rebuilt" in text

    venue = SimAccount(str(state))
    j = Journal(journal)
    fills = assert_fills_once(journal, venue)
    assert_positions_agree(venue, fills_qty(fills))
    assert venue.open_orders() == [], "shutdown cancels every order, including the restored ones"
    types = [r[3] for r in j.records()]
    assert types.count("ReconciliationCompleted") == 2
    if killed_with_open:
        # the orders the dead process left working were found and settled by the new one
        open_ids = {o.client_order_id for o in killed_with_open}
        cancelled = {obj.client_order_id for *_, obj in j.records()
                     if type(obj).__name__ in ("OrderCancelled", "OrderFilled")}
        assert open_ids <= cancelled
