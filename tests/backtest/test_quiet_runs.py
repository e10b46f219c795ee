"""Quiet runs of a replay (``backtest.batches``): found right, and applying them in one step
changes nothing a per-event replay would show (summary, fills, counters, bus count, last trade)."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import msgspec
import numpy as np
import pytest

from backtest import runner
from backtest import store as stores
from backtest.batches import QuietRuns, quiet_runs
from backtest.batches import none as no_runs
from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import Quote, Trade
from engine.risk import RiskLimits
from engine.strategy import Strategy

ROOT = Path(__file__).resolve().parents[2]
MARKETDATA = Path(os.environ.get("VOLTA_MARKETDATA", ROOT / ".." / "shared" / "marketdata"))
USDM = MARKETDATA / "binance-usdm" / "binance-usdm-btcusdt-2024-08-08.jsonl.gz"
D, T, Q = stores.DELTA, stores.TRADE, stores.QUOTE
NAN = math.nan


def _events(kind: list[int], price: list[float]) -> list[object]:
    """Stand-ins for the events (``quiet_runs`` reads a trade's price only)."""
    return [Trade("v:X", p, 1.0, None, "", 0, 0) if k == T else None
            for k, p in zip(kind, price)]


def test_runs_found_by_hand() -> None:
    # events:   0  1  2  3  4  5  6  7  8     (instrument 1 at 7: a run ends there)
    kind = [D, Q, Q, T, Q, D, Q, Q, Q]
    inst = [0, 0, 0, 0, 0, 0, 0, 1, 1]
    bid = [NAN, 10.0, 11.0, NAN, 9.0, NAN, 12.0, 50.0, 49.0]
    ask = [NAN, 10.5, 11.5, NAN, 9.5, NAN, 12.5, 51.0, 52.0]
    tpx = [NAN, NAN, NAN, 10.2, NAN, NAN, NAN, NAN, NAN]
    cols = {"kind": np.array(kind, np.int8), "inst": np.array(inst, np.int32),
            "ts": np.arange(9, dtype=np.int64) * 10,
            "quote_bid": np.array(bid), "quote_ask": np.array(ask)}
    r = quiet_runs(cols, _events(kind, tpx))
    # runs of quotes and trades: [1, 5) and [7, 9); of quotes only: [1, 3), [4, 5), [6, 7),
    # [7, 9); every event of a run gets the run's end and the bounds of the whole run: lowest
    # ask or trade price (9.5), highest bid or trade price (11.0) on [1, 5); asks 10.5/11.5 and
    # bids 10/11 on the quotes [1, 3); asks 51/52, bids 50/49 on [7, 9)
    assert list(r.end) == [0, 5, 5, 5, 5, 5, 7, 9, 9]
    assert list(r.lo)[1:5] == [9.5] * 4 and list(r.hi)[1:5] == [11.0] * 4
    assert list(r.qend) == [0, 3, 3, 3, 5, 5, 7, 9, 9]
    assert list(r.qlo)[1:3] == [10.5, 10.5] and list(r.qhi)[1:3] == [11.0, 11.0]
    assert (r.qlo[4], r.qhi[4]) == (9.5, 9.0) and (r.qlo[6], r.qhi[6]) == (12.5, 12.0)
    assert list(r.lo)[7:] == [51.0, 51.0] and list(r.hi)[7:] == [50.0, 50.0]
    assert math.isnan(r.lo[0]) and math.isnan(r.hi[5]) and math.isnan(r.qlo[3])
    assert list(r.cum_quotes) == [0, 0, 1, 2, 2, 3, 3, 4, 5, 6]
    assert list(r.last_trade) == [-1, -1, -1, 3, 3, 3, 3, 3, 3]
    assert list(r.ts) == [0, 10, 20, 30, 40, 50, 60, 70, 80]


def test_a_nan_price_leaves_its_run_unbounded() -> None:
    kind = [Q, T, Q, Q, D]
    tpx = [NAN, 1.7, NAN, NAN, NAN]
    cols = {"kind": np.array(kind, np.int8), "inst": np.zeros(5, np.int32),
            "ts": np.arange(5, dtype=np.int64), "quote_bid": np.array([1.0, NAN, 2.0, NAN, NAN]),
            "quote_ask": np.array([1.5, NAN, 2.5, NAN, NAN])}
    cols["quote_bid"][3], cols["quote_ask"][3] = 3.0, NAN  # a NaN ask: no bound
    r = quiet_runs(cols, _events(kind, tpx))
    assert list(r.end) == [4, 4, 4, 4, 4] and list(r.qend) == [1, 1, 4, 4, 4]
    assert all(math.isnan(r.lo[i]) for i in range(4)) and r.hi[0] == 3.0
    assert (r.qlo[0], r.qhi[0]) == (1.5, 1.0)
    assert math.isnan(r.qlo[2]) and r.qhi[2] == 3.0


def test_columns_from_events_match_the_stored_columns(tmp_path: Path) -> None:
    data = stores.synthetic({"seed": 3, "expiries_days": [7.0], "strikes_per_expiry": 2},
                            "sim", 1_767_225_600_000_000_000, 5.0)
    stores.save(data, tmp_path / "s")
    loaded = stores.load(tmp_path / "s")
    built = stores.columns_of(loaded.events)
    assert loaded.columns is not None
    for k in ("kind", "ts", "inst"):
        assert np.array_equal(built[k], loaded.columns[k]), k
    for k in ("quote_bid", "quote_ask", "trade_px"):
        assert np.array_equal(built[k], loaded.columns[k], equal_nan=True), k
    trades = [i for i, ev in enumerate(loaded.events) if isinstance(ev, Trade)]
    assert trades and [built["trade_px"][i] for i in trades] == [loaded.events[i].price
                                                                 for i in trades]
    assert np.isnan(np.delete(built["trade_px"], trades)).all()
    # the runs from the stored trade prices are those from the events' own prices
    with_col = quiet_runs(loaded.columns, loaded.events)
    without = quiet_runs({k: v for k, v in loaded.columns.items() if k != "trade_px"},
                         loaded.events)
    for name in (f.name for f in dataclasses.fields(QuietRuns)):
        assert np.array_equal(np.asarray(getattr(with_col, name)),
                              np.asarray(getattr(without, name)), equal_nan=True), name


class _Listener(Strategy[msgspec.Struct]):
    Config = msgspec.Struct

    def on_start(self) -> None:
        self.quotes = 0

    def on_ticker(self, event: object) -> None:
        self.quotes += 1


def test_kernel_is_quiet_only_without_listeners() -> None:
    k = Kernel(VirtualClock(0), RiskLimits())
    assert k.quiet_market("v:X")
    k.absorb_quiet("v:X", 3, 2, 101.5)
    assert k.bus.published == 3 and k.counters["quotes"] == 2 and k.last_trade["v:X"] == 101.5
    k.absorb_quiet("v:X", 1, 0, None)
    assert k.bus.published == 4 and k.counters["quotes"] == 2 and k.last_trade["v:X"] == 101.5
    k.add_strategy("s", _Listener(None, msgspec.Struct()))  # type: ignore[arg-type]
    k.subscribe("s", "v:X", ticker=True)
    assert not k.quiet_market("v:X") and k.quiet_market("v:Y")
    assert not k.absorb_if_quiet("v:X", 5, 5, 99.0)  # refused: nothing changes
    assert k.bus.published == 4 and k.counters["quotes"] == 2 and k.last_trade["v:X"] == 101.5
    assert k.absorb_if_quiet("v:Y", 2, 1, 7.0)
    assert k.bus.published == 6 and k.counters["quotes"] == 3 and k.last_trade["v:Y"] == 7.0
    k.bus.subscribe(Quote, lambda ev: None)
    assert not k.quiet_market("v:Y")  # someone else hears quotes
    assert not k.absorb_if_quiet("v:Y", 2, 1, 8.0) and k.last_trade["v:Y"] == 7.0


def _per_event(data: stores.EventStore) -> QuietRuns:
    return no_runs(len(data.events))


@pytest.mark.skipif(not USDM.is_file(), reason=f"recorded data not found: {USDM}")
@pytest.mark.parametrize("strategy", [True, False], ids=["quoter", "no-strategy"])
def test_batched_replay_equals_the_per_event_replay(strategy: bool, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = load_with_overrides(ROOT / "config" / "backtest-binance.toml",
                                    [("backtest.data.files", [str(USDM)])])
    if not strategy:
        config = msgspec.structs.replace(config, strategies=[])
    full = stores.from_captures([USDM])
    part = stores.EventStore(full.events[:30_000], full.instruments, full.meta)  # no columns
    stores.save(part, tmp_path / "s")
    data = stores.load(tmp_path / "s")
    batched = run_backtest(config, data=data, progress_every_s=0.0)
    monkeypatch.setattr(runner, "_quiet_runs", _per_event)
    single = run_backtest(config, data=data, progress_every_s=0.0)
    for r in (batched, single):
        r.summary.pop("wall_s", None)
    assert batched.summary == single.summary
    kb, ks = batched.node.kernel, single.node.kernel
    assert kb.bus.published == ks.bus.published
    assert dict(kb.counters) == dict(ks.counters) and kb.counters["quotes"] > 10_000
    assert kb.last_trade == ks.last_trade and kb.clock.now_ns() == ks.clock.now_ns()
    if strategy:
        assert batched.summary["fills"]["count"] > 0


def test_runs_are_found_once_per_store_and_again_for_new_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    data = stores.synthetic({"seed": 3, "expiries_days": [7.0], "strikes_per_expiry": 2},
                            "sim", 1_767_225_600_000_000_000, 5.0)
    data.columns = stores.columns_of(data.events)
    found: list[int] = []
    real = runner.quiet_runs

    def counted(cols: dict[str, np.ndarray], events: list[object]) -> QuietRuns:
        found.append(len(events))
        return real(cols, events)

    monkeypatch.setattr(runner, "quiet_runs", counted)
    first = runner._quiet_runs(data)
    assert runner._quiet_runs(data) is first and found == [len(data.events)]
    # fewer events: the columns no longer match, so they and the runs are built again
    data.events = data.events[:-3]
    again = runner._quiet_runs(data)
    assert again is not first and found == [len(data.events) + 3, len(data.events)]
    assert len(again.end) == len(data.events)
