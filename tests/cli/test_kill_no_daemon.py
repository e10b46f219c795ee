"""``volta kill`` with no daemon running says so and queues nothing (issue 18, item 9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.control import control_path, kill_main, pid_path


def test_no_daemon_nothing_queued(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jp = tmp_path / "j.sqlite"
    assert kill_main(["--journal", str(jp), "--level", "2", "--reason", "drill"]) == 1
    err = capsys.readouterr().err
    assert "no daemon is running" in err and "nothing was sent" in err and "stays queued" not in err
    assert not control_path(jp).exists()  # a daemon started later has nothing stale to ignore


def test_stale_pid_file_is_not_a_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jp = tmp_path / "j.sqlite"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    pid_path(jp).write_text(f"{dead.pid}\n")
    assert kill_main(["--journal", str(jp)]) == 1
    assert "no daemon is running" in capsys.readouterr().err
    assert not control_path(jp).exists()


def test_help_explains_level_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        kill_main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "1 halt new orders, 2 also cancel every open order, 3 also flatten" in out
    assert "written to the journal and the logs" in out
    assert "no daemon running" in out
