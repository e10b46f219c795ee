"""A second Ctrl-C after the node stopped (its journal closed, ``node_stopped`` logged) came
while the interpreter was still tearing down (about half a second) and killed the process by
SIGINT: exit status -2 / 130 for a run that ended cleanly. Once the run is over, SIGINT is
ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_ctrl_c_after_node_stopped_keeps_status_0(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--virtual", "--duration", "2", "--log-format",
         "json"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if '"node_stopped"' in line:
                time.sleep(0.2)  # main() has returned: the interpreter is tearing down
                proc.send_signal(signal.SIGINT)  # what an impatient second Ctrl-C does
                break
        else:
            raise AssertionError("no node_stopped line")
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
