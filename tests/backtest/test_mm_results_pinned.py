"""The example quoter's results on the Binance USD-M recording are pinned: a speed-up of the
replay loop (quiet runs, dispatch, timers) must not change a single fill.

The pinned figures are those of the replay before the loop's batching was widened (the same
models as ``benchmarks/bench_backtest.py``'s comparison with hftbacktest: constant 8 ms order
and 4 ms response latency, the power-2 queue model), and the batched replay is compared with
the per-event replay (no quiet run at all) fill by fill on the whole recording. Each fee is
checked against the maker fee times the notional, computed here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from backtest import runner
from backtest import store as stores
from backtest.batches import none as no_runs
from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides

ROOT = Path(__file__).resolve().parents[2]
MARKETDATA = Path(os.environ.get("VOLTA_MARKETDATA", ROOT / ".." / "shared" / "marketdata"))
USDM = MARKETDATA / "binance-usdm" / "binance-usdm-btcusdt-2024-08-08.jsonl.gz"
MAKER_FEE = 0.0002  # config/backtest-binance.toml

pytestmark = pytest.mark.skipif(not USDM.is_file(), reason=f"recorded data not found: {USDM}")


def _config() -> Any:
    config, _ = load_with_overrides(ROOT / "config" / "backtest-binance.toml", [
        ("backtest.data.files", [str(USDM)]),
        ("venues.binance-usdm.params.order_latency", {"kind": "constant", "ms": 8.0}),
        ("venues.binance-usdm.params.response_latency", {"kind": "constant", "ms": 4.0}),
        ("venues.binance-usdm.params.queue", {"model": "power", "exponent": 2.0})])
    return config


def _digest(fills: list[dict[str, Any]]) -> str:
    rows = ";".join(f"{f['ts_recv']},{f['side']},{f['price']!r},{f['quantity']!r},"
                    f"{f['liquidity']}" for f in fills)
    return hashlib.sha256(rows.encode()).hexdigest()


@pytest.fixture(scope="module")
def data() -> stores.EventStore:
    return stores.from_captures([USDM])


def test_quoter_fills_and_pnl_are_pinned(data: stores.EventStore) -> None:
    r = run_backtest(_config(), data=data, progress_every_s=0.0)
    fills = r.ledger.fills
    assert len(fills) == r.summary["fills"]["count"] == 354
    assert _digest(fills) == "0c64e632dfd5a388c5a411dd371190ad474ccfb68f854a4341ebcaf0ff7333b9"
    pnl = r.summary["pnl"]
    assert (pnl["total_usd"], pnl["realized_usd"], pnl["fees_usd"]) == (-39.8454, -13.3191,
                                                                         26.6436)
    for f in fills:  # every fill a maker fill, its fee the maker rate on the notional (USDT)
        assert f["liquidity"] == "maker"
        assert f["fee_usd"] == pytest.approx(MAKER_FEE * f["price"] * f["quantity"], rel=1e-9)
    assert sum(f["fee_usd"] for f in fills) == pytest.approx(26.6436, abs=5e-5)
    assert r.node.kernel.counters["quotes"] == 66089


def test_batched_replay_fills_equal_the_per_event_replay(
        data: stores.EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    batched = run_backtest(_config(), data=data, progress_every_s=0.0)
    monkeypatch.setattr(runner, "_quiet_runs", lambda d: no_runs(len(d.events)))
    single = run_backtest(_config(), data=data, progress_every_s=0.0)
    assert batched.ledger.fills == single.ledger.fills
    for r in (batched, single):
        r.summary.pop("wall_s", None)
    assert batched.summary == single.summary
    kb, ks = batched.node.kernel, single.node.kernel
    assert kb.bus.published == ks.bus.published and kb.clock.now_ns() == ks.clock.now_ns()
