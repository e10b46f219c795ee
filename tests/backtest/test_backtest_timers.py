"""The runtime's timers in a backtest: the in-memory journal commits once a virtual second
(a live journal keeps its 200 ms bound on what a crash loses), and no record is lost."""

from __future__ import annotations

from pathlib import Path

from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
from engine.clock import NS_PER_S, LiveClock, VirtualClock
from engine.execution.core import ExecutionCore
from engine.runtime import checkpoint_interval_ns

ROOT = Path(__file__).resolve().parents[2]


def test_commit_cadence_by_journal_and_clock() -> None:
    assert checkpoint_interval_ns(True, VirtualClock(0)) == NS_PER_S  # a backtest
    assert checkpoint_interval_ns(False, VirtualClock(0)) == NS_PER_S // 5  # a file journal
    assert checkpoint_interval_ns(True, LiveClock()) == NS_PER_S // 5  # paper/live in memory
    assert checkpoint_interval_ns(False, LiveClock()) == NS_PER_S // 5


def test_backtest_commits_once_a_virtual_second_and_keeps_every_record(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seconds = 30.0
    config, _ = load_with_overrides(ROOT / "config" / "backtest.toml",
                                    [("backtest.data.duration_s", seconds)])
    timed: list[int] = []
    real = ExecutionCore.checkpoint

    def counted(self: ExecutionCore, now_ns: int | None = None) -> None:
        if now_ns is not None:  # the timer's calls (a stop checkpoints without a time)
            timed.append(now_ns)
        real(self, now_ns)

    monkeypatch.setattr(ExecutionCore, "checkpoint", counted)
    result = run_backtest(config, progress_every_s=0.0)
    # one firing per virtual second of the session (30 s: 29 or 30 by where it starts),
    # one second apart; at 200 ms it would have been ~150
    assert seconds - 1 <= len(timed) <= seconds
    assert {b - a for a, b in zip(timed, timed[1:])} == {NS_PER_S}
    journal = result.node.kernel.journal
    assert journal is not None and journal.memory
    # everything appended reached a commit: nothing waits in the buffer at the end
    assert journal.uncommitted() == [] and journal.seq > 0
    assert result.summary["fills"]["count"] > 0
