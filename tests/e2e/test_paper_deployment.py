"""The paper deployment end to end: simulated venue, example strategy, gate, router, journal."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from engine.config import default_config_path, load_config
from engine.journal import Journal
from engine.model import OrderFilled, Side
from engine.runtime import run_virtual

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory):
    journal = tmp_path_factory.mktemp("paper") / "journal.sqlite"
    node = run_virtual(load_config(default_config_path()), duration_s=300, journal_path=journal)
    return node, journal


def test_orders_were_placed_and_filled(paper_run) -> None:
    node, _ = paper_run
    k = node.kernel
    assert k.router.sent > 10, "the quoter should have placed orders"
    assert k.counters["fills"] > 0, "some quotes should have been filled in 5 simulated minutes"
    assert len(k.books) >= 1 + 3 * 11, "a perpetual and at least 3 x 11 options"


def test_positions_and_pnl_reflect_the_fills(paper_run) -> None:
    node, journal_path = paper_run
    k = node.kernel
    fills = [obj for *_, obj in Journal(journal_path).records() if isinstance(obj, OrderFilled)]
    assert len(fills) == k.counters["fills"]
    by_instrument: dict[str, float] = {}
    for f in fills:
        by_instrument[f.instrument_id] = by_instrument.get(f.instrument_id, 0.0) + (
            f.quantity if f.side is Side.BUY else -f.quantity)
    for iid, qty in by_instrument.items():
        assert k.portfolio.position(iid).qty == pytest.approx(qty, abs=1e-9)
    pnl = k.portfolio.pnl_usd()
    assert pnl["unpriced"] == {} and pnl["unmarked"] == [] and not pnl["partial"]
    assert all(math.isfinite(pnl[key]) for key in ("realized", "unrealized", "fees", "funding", "total"))
    assert pnl["fees"] != 0.0, "fills pay (or earn) fees"


def test_shutdown_cancelled_everything_and_status_was_shown(paper_run) -> None:
    node, _ = paper_run
    assert node.kernel.orders.open_orders() == [] or all(
        o.status.value == "pending_cancel" for o in node.kernel.orders.open_orders())
    assert len(node.status_log) >= 300 / 5 - 1
    last = node.status_log[-1]
    for key in ("tops", "working", "fills", "positions", "pnl_usd", "delta"):
        assert key in last


def test_virtual_runs_are_deterministic(tmp_path: Path) -> None:
    cfg = load_config(default_config_path())
    a = run_virtual(cfg, duration_s=60, journal_path=tmp_path / "a.sqlite")
    b = run_virtual(cfg, duration_s=60, journal_path=tmp_path / "b.sqlite")
    ra = [(r[3], r[4]) for r in Journal(tmp_path / "a.sqlite").records()]
    rb = [(r[3], r[4]) for r in Journal(tmp_path / "b.sqlite").records()]
    assert ra == rb and len(ra) > 0
    assert a.kernel.portfolio.pnl_usd() == b.kernel.portfolio.pnl_usd()


def _volta(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "engine", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _events(output: bytes) -> list[dict]:
    out = []
    for line in output.decode().splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            pass
    return out


@pytest.mark.slow
def test_volta_run_with_duration_exits_zero(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = _volta("run", str(default_config_path()), "--duration", "6", cwd=tmp_path)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out.decode()[-3000:]
    elapsed = time.monotonic() - t0
    assert 6 <= elapsed < 90
    names = [e.get("event") for e in _events(out)]
    assert "node_started" in names and "status" in names and "node_stopped" in names
    assert (tmp_path / "var" / "paper.journal.sqlite").exists()


@pytest.mark.slow
def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    proc = _volta("run", "--log-format", "json", cwd=tmp_path)
    deadline = time.monotonic() + 90
    buf = b""
    assert proc.stdout is not None
    while b"node_started" not in buf and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        buf += line
    assert b"node_started" in buf, buf.decode()[-3000:]
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, (buf + out).decode()[-3000:]
    stopped = [e for e in _events(buf + out) if e.get("event") == "node_stopped"]
    assert stopped and stopped[0]["still_open"] == 0
