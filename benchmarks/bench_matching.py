"""The matching core's costs: market events at the replay exchange, and order commands through
the core on both feeds.

* **Market events** (the backtest's hot path): the Binance USD-M BTCUSDT recording (93,954
  events: depth diffs, bookTicker, trades), decoded once, replayed through
  ``ReplayExchange.market_handlers`` with the exchange sharing one ``BookKeeper`` with a stand-in
  engine (as ``volta backtest`` does without market-data latency). The baseline, same run:
  the instrument has no order of ours, so its quotes and trades go straight on and its depth
  only updates the book. Measured against it: one bid and one ask of ours resting far from
  the touch (per-event work at a level with no order of ours: the cheap tests on our best
  prices, the queue bookkeeping of our two levels on each depth event).
* **Commands**: a post-only bid submitted and cancelled, through the simulated venue (synthetic
  book, its delta published) and through the replay exchange (recorded book), no latency; the
  baseline is building the two order events alone (``OrderAccepted`` + ``OrderCancelled``).

Timings are process CPU time, best of ``REPEAT``, collector off in the timed loops. Run:
``python -m benchmarks.bench_matching [OUT.json]`` (default ``benchmarks/results/matching.json``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from adapters.sim import SimVenue, SimVenueParams
from backtest import store as stores
from backtest.exchange import ReplayExchange
from backtest.schema import ExchangeParams, InstrumentSpec
from engine.clock import VirtualClock
from engine.integrity import BookKeeper
from engine.model import (
    BookDelta,
    BookSnapshot,
    CancelOrder,
    OrderAccepted,
    OrderCancelled,
    OrderType,
    Side,
    SubmitOrder,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "matching.json"
USDM = "binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz"
REPEAT = 5
COMMANDS = 20_000
_clock = time.process_time


def marketdata_dir() -> Path:
    env = os.environ.get("VOLTA_MARKETDATA")
    return Path(env) if env else ROOT / ".." / "shared" / "marketdata"


def _best(fn: Callable[[], Any], repeat: int = REPEAT) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t = _clock()
            fn()
            best = min(best, _clock() - t)
        finally:
            gc.enable()
    return best


def _usdm_exchange() -> ReplayExchange:
    return ReplayExchange(ExchangeParams(venue="binance-usdm", instruments=[InstrumentSpec(
        symbol="BTCUSDT", kind="perpetual", base="BTC", quote="USDT", settle="USDT",
        tick_size=0.1, lot_size=0.001, min_size=0.001)]))


def _market_pass(events: list[Any], far_orders: bool) -> Callable[[], None]:
    """One replay of ``events`` through a fresh exchange (orders placed after the first book)."""

    def run() -> None:
        ex = _usdm_exchange()
        keeper = BookKeeper(stale_after_ns=0)
        ex.bind(lambda ev: None, VirtualClock(events[0].ts_recv))
        ex.share_books(keeper)
        on_delta, on_snapshot = keeper.on_delta, keeper.on_snapshot

        def engine(cls: type) -> Callable[[Any], Any]:  # the stand-in engine: it keeps the book
            if cls is BookDelta:
                return on_delta
            if cls is BookSnapshot:
                return on_snapshot
            return lambda ev: None

        handlers: dict[str, dict[type, Callable[[Any], None]]] = {}
        placed = not far_orders
        for ev in events:
            iid = ev.instrument_id
            h = handlers.get(iid)
            if h is None:
                h = handlers[iid] = ex.market_handlers(iid, engine)
            h.get(type(ev), h[object])(ev)
            if not placed:
                book = ex.book(iid)
                if book is not None and book.is_live:
                    placed = True
                    mid = 0.5 * (book.best_bid_price() + book.best_ask_price())
                    for coid, side, px in (("far-bid", Side.BUY, round(mid * 0.9, 1)),
                                           ("far-ask", Side.SELL, round(mid * 1.1, 1))):
                        ex.submit(SubmitOrder(client_order_id=coid, strategy_id="b",
                                              instrument_id=iid, side=side, quantity=0.001,
                                              price=px, order_type=OrderType.LIMIT,
                                              post_only=True))
                    assert len(ex.orders) == 2, "the far orders must rest"
        if far_orders:
            assert len(ex.orders) == 2, "the far orders never filled"

    return run


def bench_market_events(md: Path) -> dict[str, Any] | None:
    path = md / USDM
    if not path.is_file():
        return None
    events = stores.from_captures([path]).events
    n = len(events)
    base = _best(_market_pass(events, far_orders=False))
    far = _best(_market_pass(events, far_orders=True))
    return {
        "events": n,
        "baseline_no_orders": {"seconds": round(base, 4), "ns_per_event": round(base / n * 1e9, 1)},
        "far_orders": {"seconds": round(far, 4), "ns_per_event": round(far / n * 1e9, 1)},
        "extra_ns_per_event_far_orders": round((far - base) / n * 1e9, 1),
        "ratio_far_orders_vs_baseline": round(far / base, 3),
    }


def _submit_cancel(submit: Callable[[Any], None], cancel: Callable[[Any], None], iid: str,
                   price: float) -> Callable[[], None]:
    cmds = [(SubmitOrder(client_order_id=f"c{k}", strategy_id="b", instrument_id=iid,
                         side=Side.BUY, quantity=0.001, price=price, order_type=OrderType.LIMIT,
                         post_only=True),
             CancelOrder(client_order_id=f"c{k}", strategy_id="b", instrument_id=iid))
            for k in range(COMMANDS)]

    def run() -> None:
        for s, c in cmds:
            submit(s)
            cancel(c)
    return run


def bench_commands() -> dict[str, Any]:
    # the simulated venue: its perp book fixed (bids 59990 x 2, asks 60010 x 1), no latency
    sim = SimVenue(SimVenueParams(seed=1))
    out: list[Any] = []
    clock = VirtualClock(1_795_000_000 * 10**9)
    sim.bind(out.append, clock)
    asyncio.run(sim.start())
    perp = sim.instruments()[0].id
    sim.set_book(perp, [(59990.0, 2.0)], [(60010.0, 1.0)])

    def fresh_sim() -> Callable[[], None]:
        out.clear()
        return _submit_cancel(sim.submit, sim.cancel, perp, 59980.0)

    ex = _usdm_exchange()
    ex.bind(lambda ev: None, VirtualClock(clock.now_ns()))
    iid = ex.instruments()[0].id
    ex.on_market(BookSnapshot(iid, ((59990.0, 2.0),), ((60010.0, 1.0),), 1, 0, 0))

    def events_only() -> None:
        for k in range(COMMANDS):
            OrderAccepted(client_order_id="c", venue_order_id="v", instrument_id=iid,
                          ts_event=k, ts_recv=k)
            OrderCancelled(client_order_id="c", instrument_id=iid, reason="cancelled",
                           ts_event=k, ts_recv=k)

    t_sim = _best(lambda: fresh_sim()())
    run_ex = _submit_cancel(ex.submit, ex.cancel, iid, 59980.0)
    t_ex = _best(run_ex)
    t_base = _best(events_only)
    us = 1e6 / COMMANDS
    return {"submit_cancel_pairs": COMMANDS,
            "baseline_events_only_us_per_pair": round(t_base * us, 2),
            "sim_venue_us_per_pair": round(t_sim * us, 2),
            "replay_exchange_us_per_pair": round(t_ex * us, 2),
            "sim_venue_vs_baseline": round(t_sim / t_base, 2),
            "replay_exchange_vs_baseline": round(t_ex / t_base, 2)}


def run(output_path: str | Path = DEFAULT_OUTPUT) -> dict[str, Any]:
    res = {"market_events": bench_market_events(marketdata_dir()), "commands": bench_commands()}
    if res["market_events"] is None:
        res["market_events_skipped"] = f"recording not found: {USDM} under the market-data folder"
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    Path(output_path).write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2))
    return res


if __name__ == "__main__":
    result = run(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
