"""SIGHUP (the terminal or SSH session that started ``volta run`` went away) killed the daemon
on the spot: status 129, open orders left working at the venue, no final snapshot. It now
stops the node as SIGTERM and Ctrl-C do: strategies stop, open orders are cancelled, the
journal is flushed, status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def test_sighup_stops_the_node_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--journal", str(tmp_path / "j.sqlite"),
         "--duration", "60", "--log-format", "json"], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen_stop = False
        for line in proc.stderr:
            if '"node_started"' in line:
                proc.send_signal(signal.SIGHUP)
            if '"node_stopped"' in line:
                seen_stop = True
        assert proc.wait(timeout=60) == 0
        assert seen_stop
    finally:
        proc.kill()
        proc.wait()
