"""``volta status`` and ``volta kill`` against a running paper daemon (through its API)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.logging import configure_logging
from tests.operator.conftest import running_node


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_status_and_kill_through_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json", io.StringIO())  # the daemon's log off the CLI's stdout
    async with running_node(tmp_path, token=None, monkeypatch=monkeypatch) as r:
        k = r.node.kernel
        journal = r.node.journal_path
        await r.wait_for(lambda: k.counters.get("fills", 0) >= 1 and any(
            c.surface is not None for c in k.chains.values()), 20, "a fill and a fitted chain")
        capsys.readouterr()
        assert await _cli("status", "--journal", journal) == 0
        text = capsys.readouterr().out
        assert "state ACTIVE" in text and "positions:" in text and "sim:BTC-PERP" in text
        assert "vol surface:" in text and "ATM vol pts" in text and "risk limits:" in text
        assert await _cli("status", "--json", "--journal", journal) == 0
        snap = json.loads(capsys.readouterr().out)
        assert snap["state"]["state"] == "active" and "surface" in snap
        # the paper daemon generated its token; volta kill finds it next to the journal
        assert await _cli("kill", "--level", "1", "--reason", "cli drill", "--journal", journal) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["kill_level"] == 1 and k.killswitch.level == 1
        assert k.killswitch.source.startswith("operator:127.0.0.1 volta-cli")
        assert await _cli("kill", "--clear", "--journal", journal) == 0
        assert k.killswitch.level == 0
        # a wrong token from the environment is refused, and says so in one line
        monkeypatch.setenv("VOLTA_OPERATOR_TOKEN", "x" * 20)
        capsys.readouterr()
        assert await _cli("kill", "--journal", journal) == 1
        assert capsys.readouterr().err.strip() == (
            "volta kill: the daemon refused: wrong operator token; the token sent is "
            f"$VOLTA_OPERATOR_TOKEN's: set it to the daemon's token (or unset it to use {journal}.operator-token)")
        assert k.killswitch.level == 0


def test_status_without_a_daemon_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--journal", str(tmp_path / "none.sqlite")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("volta status: no running daemon with an operator API")
    (tmp_path / "j.sqlite.operator.json").write_text('{"url": "http://127.0.0.1:9/", "pid": 999999999}')
    assert main(["status", "--journal", str(tmp_path / "j.sqlite")]) == 1
    assert "is not running (stale" in capsys.readouterr().err


def test_status_of_a_url_that_is_not_volta_is_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong --url (another service's port, a typo) gives one line and exit 1, no traceback."""
    import http.server
    import threading

    bodies = {"/api/snapshot": b"<html>grafana</html>", "/json/api/snapshot": b'{"status": "ok"}'}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = bodies.get(self.path, b"")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        for url in (base, base + "json/", "http://[::1"):
            assert main(["status", "--url", url]) == 1, url
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith("volta status: ") and "Traceback" not in err[0], err
            assert "not a Volta" in err[0] or "not with a Volta snapshot" in err[0], err
    finally:
        server.shutdown()
        server.server_close()


def test_kill_signal_with_a_stale_pid_file_is_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    from engine.control import pid_path

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # the daemon was killed hard: its pid file names a process that is gone
    journal = tmp_path / "j.sqlite"
    pid_path(journal).write_text(f"{dead.pid}\n")
    assert main(["kill", "--signal", "--journal", str(journal)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"volta kill: no daemon is running with journal {journal} (pid {dead.pid} in "
                   f"{pid_path(journal)} is gone); nothing was sent"]


def test_status_shows_pnl_that_has_no_usd_price_as_unpriced(tmp_path: Path) -> None:
    """The USD total covers priced currencies only: an amount in a coin with no USD price yet
    (a coin-settled position before its index arrives) is shown beside it, never dropped."""
    from engine.config import load_config_text
    from engine.operator import make_operator
    from engine.operator.client import render_status
    from engine.runtime import run_virtual
    from tests.operator.conftest import paper_config_text

    config = load_config_text(paper_config_text(tmp_path / "j.sqlite"))
    node = run_virtual(config, 10.0)
    op = make_operator(node.kernel, config, node.journal_path)
    assert op is not None
    snap = {n: op.view(n) for n in ("state", "positions", "orders", "risk", "surface", "venues",
                                    "strategies", "alerts")}
    assert "unpriced" not in render_status(snap).splitlines()[0]
    snap["state"]["pnl_usd"]["unpriced"] = {"BTC": 0.0012}  # as Portfolio.pnl_usd reports one
    head = render_status(snap).splitlines()[0]
    assert "unpriced +0.0012 BTC (no USD price yet)" in head, head


def test_a_flat_position_has_no_average_price(tmp_path: Path) -> None:
    """A position closed to 0 has no entry price: shown as unknown ("-"), never as 0.00."""
    from engine.config import load_config_text
    from engine.operator.views import positions_view
    from engine.runtime import run_virtual
    from tests.operator.conftest import paper_config_text

    node = run_virtual(load_config_text(paper_config_text(tmp_path / "j.sqlite")), 5.0)
    pos = node.kernel.portfolio.position("sim:BTC-PERP")
    assert pos is not None
    pos.apply_fill(1, 0.01, 60_000.0, 0.0)
    pos.apply_fill(-1, 0.01, 60_010.0, 0.0)  # (on top of whatever the quoter held)
    if pos.qty:
        pos.apply_fill(-1 if pos.qty > 0 else 1, abs(pos.qty), 60_010.0, 0.0)
    row = next(p for p in positions_view(node.kernel) if p["instrument_id"] == "sim:BTC-PERP")
    assert row["qty"] == 0.0 and row["avg_price"] is None
    pos.apply_fill(1, 0.02, 60_000.0, 0.0)
    row = next(p for p in positions_view(node.kernel) if p["instrument_id"] == "sim:BTC-PERP")
    assert row["avg_price"] == 60_000.0


def test_ctrl_c_while_volta_kill_waits_says_the_command_is_queued(tmp_path: Path) -> None:
    """Ctrl-C while ``volta kill`` waits for a busy daemon's answer: one line saying the
    command is written (it will apply), exit 130, no traceback."""
    import signal
    import subprocess
    import sys
    import time

    from engine.control import control_path, pid_path
    from tests.operator.conftest import ROOT

    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # alive, silent
    journal = tmp_path / "j.sqlite"
    pid_path(journal).write_text(f"{busy.pid}\n")
    try:
        p = subprocess.Popen([sys.executable, "-m", "engine", "kill", "--journal", str(journal),
                              "--wait", "30"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        deadline = time.monotonic() + 30
        while not (control_path(journal).exists() and control_path(journal).stat().st_size):
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        assert p.returncode == 130, (out, err)
        assert "Traceback" not in err and err.strip().count("\n") == 0, err
        assert "interrupted while waiting; the command was written to" in err
    finally:
        busy.kill()
        busy.wait()


def test_kill_reaches_a_live_daemon_whose_api_has_control_disabled(tmp_path: Path) -> None:
    """A live daemon started without $VOLTA_OPERATOR_TOKEN serves a read-only API (control
    503) but still watches its control file: ``volta kill`` must get through that way."""
    import json as _json
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    from tests.operator.conftest import ROOT, paper_config_text

    journal = tmp_path / "j.sqlite"
    text = paper_config_text(journal, "enabled = true\n").replace('mode = "paper"', 'mode = "live"')
    text = re.sub(r"margin_buffer_pct = .*\n", "", text)
    text = re.sub(r"\[risk\.accounts\.sim\][^\[]*", "", text)  # live balances come from the venue
    cfg = tmp_path / "live.toml"
    cfg.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "VOLTA_OPERATOR_TOKEN"}
    log = tmp_path / "daemon.log"
    with open(log, "wb") as fh:
        daemon = subprocess.Popen([sys.executable, "-m", "engine", "run", str(cfg), "--duration", "60",
                                   "--log-format", "json"], cwd=tmp_path, env=env, stdout=fh,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "every venue reconciled" not in log.read_text():
            assert daemon.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        kill = subprocess.run([sys.executable, "-m", "engine", "kill", "--journal", str(journal),
                               "--reason", "drill"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
        assert kill.returncode == 0, (kill.stdout, kill.stderr)
        assert _json.loads(kill.stdout.strip().splitlines()[-1])["level"] == 1
        assert "control file" in kill.stderr  # says which way it went
    finally:
        daemon.send_signal(signal.SIGINT)
        daemon.wait(30)


def test_status_line_is_short_and_human(tmp_path: Path) -> None:
    from engine.runtime import run_virtual
    from engine.config import load_config_text
    from engine.status import status_line
    from tests.operator.conftest import paper_config_text

    node = run_virtual(load_config_text(paper_config_text(tmp_path / "j.sqlite")), 30.0)
    fields = node.status_log[-1]
    line = status_line(fields)
    assert len(line) < 200 and "\n" not in line
    assert line.startswith(("ACTIVE", "HALTED", "REDUCING")) and "USD" in line and "fills" in line
    buf = io.StringIO()
    configure_logging("info", "console", buf)
    from engine.logging import get_logger

    get_logger("volta.runtime").info("status", console_line=line, **fields)
    shown = buf.getvalue().strip()
    assert line in shown and "tops=" not in shown and len(shown) < 300
    buf = io.StringIO()
    configure_logging("info", "json", buf)
    get_logger("volta.runtime").info("status", console_line=line, **fields)
    assert json.loads(buf.getvalue())["tops"] == fields["tops"]  # JSON keeps the full structure


async def test_status_of_a_daemon_bound_off_loopback_sends_the_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json", io.StringIO())
    async with running_node(tmp_path, extra='host = "0.0.0.0"\n', monkeypatch=monkeypatch) as r:
        url = f"http://127.0.0.1:{r.op.port}/"
        capsys.readouterr()
        assert await _cli("status", "--url", url) == 0  # $VOLTA_OPERATOR_TOKEN is set
        assert "state ACTIVE" in capsys.readouterr().out
        monkeypatch.delenv("VOLTA_OPERATOR_TOKEN")
        assert await _cli("status", "--url", url) == 1
        err = capsys.readouterr().err.strip()
        assert err == (f"volta status: {url} answered 401: this request needs the operator token "
                       "(Authorization: Bearer <token>); set $VOLTA_OPERATOR_TOKEN to the daemon's token "
                       "(printed at its start)")
