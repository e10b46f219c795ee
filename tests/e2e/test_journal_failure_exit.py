"""A run whose journal failed ends with exit code 5 and one line naming the journal and the
cause: the node halted trading at the failure (kill level 2) and ran on HALTED until stopped,
which a supervisor must not read as a clean run (it used to exit 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.journal import Journal, JournalError


def test_a_run_whose_journal_failed_exits_5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    calls = [0]
    prepare = Journal.prepare_log

    def failing_after_a_while(self: Journal) -> None:  # the core's 200 ms journal timer
        calls[0] += 1
        if calls[0] > 20:  # ~4 simulated seconds in: the device is gone
            raise JournalError("disk I/O error")
        prepare(self)

    monkeypatch.setattr(Journal, "prepare_log", failing_after_a_while)
    code = main(["run", "--virtual", "--duration", "10", "--journal", "j.sqlite",
                 "--log-format", "json"])
    err = capsys.readouterr().err
    assert code == 5, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last == ("volta run: stopped after a journal failure (j.sqlite): disk I/O error; "
                    "trading was halted from then on and nothing unjournaled was sent")
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert [ln["cause"] for ln in lines if ln["event"] == "journal_failed_trading_halted"] == \
        ["disk I/O error"]


def test_a_clean_run_still_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--virtual", "--duration", "3", "--journal", "j.sqlite"]) == 0
