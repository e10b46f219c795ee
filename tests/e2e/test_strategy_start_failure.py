"""A strategy whose ``on_start`` raises stops the node (exit 4, one line), it does not run a
deployment with a strategy that never started; the other strategies' orders are cancelled.

Before: ``volta run`` with the quoter on a misspelt instrument (``BTC-PRP``) logged the
exception, then ran the node for its whole duration with the strategy dead and exited 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import default_config_path

OPENER = '''
import msgspec
from engine import Side, Strategy


class OpenerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class Opener(Strategy[OpenerConfig]):
    """Rests one bid below the market (within the gate's 5 % band) as it starts."""

    Config = OpenerConfig

    def on_start(self) -> None:
        self.ctx.submit_limit(self.ctx.instrument_id("BTC-PERP"), Side.BUY, 0.01, 58_000.0)
'''


def _deployment(tmp: Path) -> Path:
    (tmp / "opener_strategy.py").write_text(OPENER)
    src = default_config_path().read_text()
    head = src[:src.index("[[strategies]]")]
    cfg = tmp / "two.toml"
    cfg.write_text(head + '''
[[strategies]]
id = "opener"
class = "opener_strategy:Opener"
venue = "sim"

[[strategies]]
id = "mm-typo"
class = "strategies.examples.mm:Quoter"
venue = "sim"

[strategies.params]
instrument = "BTC-PRP"
''')
    return cfg


def test_a_strategy_that_fails_to_start_stops_the_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = _deployment(tmp_path)
    code = main(["run", str(cfg), "--virtual", "--duration", "30", "--journal", "j.sqlite",
                 "--log-format", "json"])
    err = capsys.readouterr().err
    assert code == 4
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("volta run: strategy mm-typo failed to start: "
                           "ValueError: unknown instrument sim:BTC-PRP (at ")
    assert last.endswith(")") and "strategies/examples/mm.py:" in last  # the strategy's line
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    failed = [ln for ln in lines if ln["event"] == "strategy_start_failed"]
    assert [(ln["strategy"], ln["level"]) for ln in failed] == [("mm-typo", "error")]
    assert not any(ln["event"] == "strategy_callback_failed" for ln in lines)
    # stopped at once (no status line of a running node after it), the opener's bid cancelled
    stopped = [ln for ln in lines if ln["event"] == "node_stopped"]
    assert len(stopped) == 1
    assert stopped[0]["cancelled_orders"] == 1 and stopped[0]["still_open"] == 0
    assert stopped[0]["timestamp"] == "2026-01-01T00:00:00.000000Z"  # simulated time: no run
    # the journal holds the opener's order and its cancel: nothing sent was left working
    from engine.journal import Journal

    j = Journal(tmp_path / "j.sqlite")
    try:
        kinds = [name for _s, _t, _d, name, _o in j.records()]
    finally:
        j.close()
    assert kinds.count("SubmitOrder") == 1 and kinds.count("CancelOrder") == 1


def test_every_strategy_starting_is_a_normal_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = _deployment(tmp_path)
    cfg.write_text(cfg.read_text().replace('"BTC-PRP"', '"BTC-PERP"'))
    assert main(["run", str(cfg), "--virtual", "--duration", "5", "--log-format", "json"]) == 0
    assert "failed to start" not in capsys.readouterr().err


def test_a_strategy_failing_after_a_late_reconciliation_ends_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconciliation failed at start (trading held), succeeded on the retry: the strategies
    start then, in a task; one that raises records the failure and asks the run to stop
    (``volta run`` then stops the node and exits 4, as at start)."""
    import asyncio

    import engine.runtime as runtime
    from engine.clock import NS_PER_S, VirtualClock
    from engine.config import load_config
    from engine.startup import StrategyStartFailed

    monkeypatch.chdir(tmp_path)
    node = runtime.build_node(load_config(_deployment(tmp_path)), VirtualClock(1_767_225_600 * NS_PER_S),
                              tmp_path / "j.sqlite")
    real, calls = runtime.recover, []

    async def recover_on_retry(kernel: object, **kw: object) -> bool:
        calls.append(kw)
        return False if len(calls) == 1 else await real(kernel, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime, "recover", recover_on_retry)
    stop = asyncio.Event()
    node.request_stop = stop.set

    async def drive() -> None:
        await node.start()  # no failure yet: the strategies wait for reconciliation
        assert node.start_failure is None and not node.kernel.strategies_running
        await asyncio.wait_for(stop.wait(), 10.0)  # the retry, then the strategies' start
        await node.stop()

    asyncio.run(drive())
    assert len(calls) == 2
    failure = node.start_failure
    assert isinstance(failure, StrategyStartFailed) and list(failure.failures) == ["mm-typo"]
    assert failure.failures["mm-typo"].startswith("ValueError: unknown instrument sim:BTC-PRP (at ")
    assert node.kernel.strategy_errors["mm-typo"] == 1


def test_a_backtest_node_logs_the_failure_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``strategy_start_failure_stops`` False (what the backtester sets: its result then says a
    strategy raised): the failure is a failed callback with its traceback, the node starts."""
    import asyncio

    import structlog.testing

    import engine.runtime as runtime
    from engine.clock import NS_PER_S, VirtualClock
    from engine.config import load_config

    monkeypatch.chdir(tmp_path)
    node = runtime.build_node(load_config(_deployment(tmp_path)), VirtualClock(1_767_225_600 * NS_PER_S),
                              ":memory:")
    node.strategy_start_failure_stops = False

    async def drive() -> None:
        await node.start()
        await node.stop()

    with structlog.testing.capture_logs() as logs:
        asyncio.run(drive())
    failed = [ln for ln in logs if ln["event"] == "strategy_callback_failed"]
    assert [(ln["strategy"], ln["callback"]) for ln in failed] == [("mm-typo", "on_start")]
    assert failed[0]["error"] == "ValueError" and failed[0]["exc_info"] is True  # (traceback)
    assert node.start_failure is None and node.kernel.strategy_errors["mm-typo"] == 1
    assert not any(ln["event"] == "strategy_start_failed" for ln in logs)
