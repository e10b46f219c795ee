"""``volta kill`` does one command per call: two that contradict each other are refused
before anything is sent (``--clear --signal`` used to trip level 1 by SIGUSR1)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType

import pytest

from engine.control import control_path, kill_main, pid_path


@pytest.mark.parametrize("argv", [
    ["--clear", "--signal"], ["--status", "--signal"], ["--clear", "--level", "3"],
    ["--enable-strategy", "mm", "--level", "2"], ["--clear", "--status"],
    ["--clear", "--enable-strategy", "mm"],
])
def test_contradicting_commands_are_refused_and_nothing_is_sent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    journal = tmp_path / "j.sqlite"
    pid_path(journal).write_text(f"{os.getpid()}\n")  # a "daemon": this test process
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old = signal.signal(signal.SIGUSR1, note)
    try:
        with pytest.raises(SystemExit) as exc:
            kill_main([*argv, "--journal", str(journal), "--wait", "0"])
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert exc.value.code == 2
    assert "are different commands: give one" in capsys.readouterr().err
    assert received == []
    assert not control_path(journal).exists()


def test_level_with_signal_is_one_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "j.sqlite"
    pid_path(journal).write_text(f"{os.getpid()}\n")
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old = signal.signal(signal.SIGUSR1, note)
    try:
        assert kill_main(["--level", "1", "--signal", "--journal", str(journal)]) == 0
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert received == [signal.SIGUSR1]


@pytest.mark.parametrize("wait", ["-5", "nan", "inf", "soon"])
def test_a_wait_that_is_no_number_of_seconds_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], wait: str) -> None:
    journal = tmp_path / "j.sqlite"
    pid_path(journal).write_text(f"{os.getpid()}\n")  # a "daemon" that would get the command
    with pytest.raises(SystemExit) as exc:
        kill_main(["--journal", str(journal), "--wait", wait])
    assert exc.value.code == 2
    assert "argument --wait: expected a number of seconds >= 0" in capsys.readouterr().err
    assert not control_path(journal).exists()
