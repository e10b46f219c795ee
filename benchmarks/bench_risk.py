"""Risk benchmarks: gate decision latency (per check, with and without accounts), journal write cost.

Theory of operation: each measurement has a baseline taken in the same run.

* ``gate``: ``RiskGate.check`` on a kernel holding 500 option positions (10 expiries x 25
  strikes x call/put) plus a perpetual, with every check enabled (instrument, lot/tick/min,
  book live, qty, notional, position incl. working, option collar model ± k·vega, open-order
  caps, duplicate window, portfolio delta/gamma/vega/vega-per-expiry after the fill, global
  and venue token buckets, strategy throttle). Each decision is timed alone with
  ``perf_counter_ns`` (timer overhead subtracted), orders cycle over options and the perp;
  p50/p99 against the 20 µs p99 target. Baseline: summing the Greeks of the 500 positions
  naively once (what every order would cost without the incremental totals).
* ``gate_with_accounts``: the same decisions with a paper account book (500 positions on the
  venue, refreshed by a 1 s timer as the runtime runs it), timed the same way; baseline: the
  ``gate`` figures of the same run. Both also in this thread's CPU time (``thread_time_ns``:
  what a shared, loaded host cannot inflate by descheduling us). Target: p99 <= 20 µs.
* ``per_check_us``: what each group of checks costs, as the p50 of the full gate minus the
  p50 of the same gate without that group, each variant on its own kernel with the same
  orders, interleaved batch by batch in one run (so load drift hits all alike); ``floor`` is
  the gate with every optional check off (identity, size, price, state, book, caps).
* ``journal``: ``Journal.write_command`` (insert + commit before send) per order with
  ``synchronous=NORMAL`` and ``FULL``; baseline ``write_event`` (insert, no commit).
* tick-to-order, with the gate timed inside the paper deployment (``gate_in_run``), is
  ``bench_execution``'s (its harness stamps the adapter's publish and submit).

Run: ``python -m benchmarks.bench_risk [OUTPUT.json]`` (default ``benchmarks/results/risk.json``).
"""

from __future__ import annotations

import dataclasses
import gc
import platform
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from engine.accounts import AccountBook, AccountSpec
from engine.clock import NS_PER_S, VirtualClock
from engine.journal import Journal
from engine.kernel import Kernel
from engine.model import (
    BookSnapshot,
    Instrument,
    InstrumentKind,
    Liquidity,
    OptionType,
    OrderFilled,
    Side,
    SubmitOrder,
)
from engine.risk import InstrumentLimits, RateLimit, RiskLimits, UnderlyingLimits

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "risk.json"
GATE_P99_TARGET_US = 20.0
JOURNAL_TARGET_US = 50.0
EXPIRY0 = 1_800_000_000 * NS_PER_S


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _timer_overhead() -> int:
    pc = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = pc()
        samples.append(pc() - t0)
    return int(statistics.median(samples))


def _options(n_expiries: int = 10, n_strikes: int = 25) -> list[Instrument]:
    out = []
    for e in range(n_expiries):
        for s in range(n_strikes):
            strike = 40_000.0 + 1_000.0 * s
            for ot in (OptionType.CALL, OptionType.PUT):
                out.append(Instrument(
                    venue="bench", symbol=f"BTC-E{e}-{int(strike)}-{ot.value[0].upper()}",
                    kind=InstrumentKind.OPTION, base="BTC", quote="USD", settle="USDC",
                    tick_size=1.0, lot_size=0.01, min_size=0.01, underlying="BTC", strike=strike,
                    option_type=ot, expiry_ns=EXPIRY0 + e * 7 * 86_400 * NS_PER_S))
    return out


def _gate_kernel(**overrides: Any) -> tuple[Kernel, list[Instrument], Instrument]:
    """The benchmark kernel; ``overrides`` replace fields of its ``RiskLimits``."""
    perp = Instrument(venue="bench", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                      quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001)
    opts = _options()
    limits = RiskLimits(
        max_order_qty=50.0, max_order_notional_usd=5e6, max_position_qty=1e6, price_band_pct=5.0,
        option_price_band_pct=50.0, option_collar_vega_k=50.0, max_open_orders=10_000,
        max_open_orders_per_instrument=1_000, max_open_orders_per_strategy=10_000,
        duplicate_window_ms=1.0, per_instrument={perp.id: InstrumentLimits(max_order_qty=20.0)},
        underlyings={"BTC": UnderlyingLimits(max_delta=1e9, max_gamma=1e9, max_vega_usd=1e12,
                                             max_vega_per_expiry_usd=1e12)},
        global_rate=RateLimit(1e12, 1e12), venue_rates={"bench": RateLimit(1e12, 1e12)},
        max_fills=10**9)
    limits = dataclasses.replace(limits, **overrides)
    k = Kernel(VirtualClock(1_700_000_000 * NS_PER_S), limits)
    k.add_instruments([perp, *opts])
    k.bus.publish(BookSnapshot(perp.id, ((59_990.0, 5.0),), ((60_010.0, 5.0),), 1, 0, 0))
    n = len(opts)
    chain = types.SimpleNamespace(surface=object(), index={o.id: i for i, o in enumerate(opts)},
                                  model_price=np.full(n, 1_050.0), vega=np.full(n, 5_000.0),
                                  forward=np.full(n, 60_000.0))
    k.portfolio.set_underlying_price("BTC", 60_000.0)
    for i, o in enumerate(opts):
        k.bus.publish(BookSnapshot(o.id, ((1_000.0, 50.0),), ((1_100.0, 50.0),), 1, 0, 0))
        k.option_chains.chain_of[o.id] = chain  # type: ignore[assignment]
        sign = 1.0 if o.option_type is OptionType.CALL else -1.0
        k.portfolio.set_greeks(o.id, sign * 0.5, 2e-5, 5_000.0, -30.0)
        k.portfolio.on_fill(OrderFilled(
            client_order_id="seed", venue_order_id="v", instrument_id=o.id, trade_id=f"s{i}",
            side=Side.BUY if i % 3 else Side.SELL, price=1_050.0, quantity=1.0 + (i % 5),
            remaining=0.0, liquidity=Liquidity.MAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))
    return k, opts, perp


def bench_gate(n: int = 30_000, accounts: bool = False) -> dict[str, Any]:
    """The gate alone on its kernel, decision by decision (``accounts``: with a paper account
    book); wall time and this thread's CPU time per decision."""
    k, opts, perp = _gate_kernel()
    if accounts:
        _with_accounts(k)
    gate = k.gate
    clock = k.clock
    assert isinstance(clock, VirtualClock)
    cmds = _orders(opts, perp, n, "b")
    overhead = _timer_overhead()
    pc, cpu = time.perf_counter_ns, time.thread_time_ns
    cpu_overhead = statistics.median(-(cpu() - cpu()) for _ in range(2_000))
    lat: list[float] = []
    lat_cpu: list[float] = []
    denied = 0
    gc.disable()
    try:
        t = clock.now_ns()
        for cmd in cmds:
            t += 2_000_000  # 2 ms apart: outside the duplicate window
            clock.advance_to(t)
            t0, c0 = pc(), cpu()
            d = gate.check(cmd)
            c1, t1 = cpu(), pc()
            lat.append(max(t1 - t0 - overhead, 0) / 1000.0)
            lat_cpu.append(max(c1 - c0 - cpu_overhead, 0) / 1000.0)
            denied += d is not None
    finally:
        gc.enable()
    p99 = _pct(lat, 0.99)
    out: dict[str, Any] = {
        "orders": n, "positions": len(k.portfolio.positions()), "denied": denied,
        "p50_us": round(_pct(lat, 0.50), 2), "p99_us": round(p99, 2),
        "p999_us": round(_pct(lat, 0.999), 2), "mean_us": round(statistics.fmean(lat), 2),
        "cpu_p50_us": round(_pct(lat_cpu, 0.5), 2), "cpu_p99_us": round(_pct(lat_cpu, 0.99), 2),
        "target_p99_us": GATE_P99_TARGET_US, "met": p99 <= GATE_P99_TARGET_US,
        "met_cpu": _pct(lat_cpu, 0.99) <= GATE_P99_TARGET_US, "timer_overhead_ns": overhead,
    }
    if not accounts:
        out["baseline_naive_greek_sum_p50_us"] = round(_naive_greek_sum(k, overhead), 2)
    return out


def _naive_greek_sum(k: Kernel, overhead: int) -> float:
    """Baseline: what one naive portfolio-Greek sum over every position costs (p50, µs)."""
    pc = time.perf_counter_ns
    positions = k.portfolio.positions()
    naive: list[float] = []
    for _ in range(2_000):
        t0 = pc()
        d = g = v = 0.0
        for p in positions:
            gpc = k.portfolio.greeks_per_contract(p.instrument.id)
            if gpc is not None:
                d += p.qty * gpc[0]
                g += p.qty * gpc[1]
                v += p.qty * gpc[2]
        naive.append((pc() - t0 - overhead) / 1000.0)
    return _pct(naive, 0.5)


def _orders(opts: list[Instrument], perp: Instrument, n: int, tag: str) -> list[SubmitOrder]:
    cmds = []
    for i in range(n):
        inst = perp if i % 4 == 0 else opts[i % len(opts)]
        price = 60_000.0 + (i % 9) if inst is perp else 1_040.0 + (i % 20)
        cmds.append(SubmitOrder(client_order_id=f"{tag}{i}", strategy_id="s", instrument_id=inst.id,
                                side=Side.BUY if i % 2 else Side.SELL, quantity=0.01 * (1 + i % 7),
                                price=price))
    return cmds


def _with_accounts(k: Kernel) -> None:
    """A paper account at the benchmark venue, refreshed by a 1 s timer (as the runtime does)."""
    book = AccountBook(k.portfolio, {"bench": AccountSpec("bench", {"USD": 1e12})}, 10.0, k.clock.now_ns)
    k.gate.accounts = book
    k.clock.every(NS_PER_S, lambda _: book.refresh())


# (name, RiskLimits overrides, with accounts): each drops one group of checks from "all"
_VARIANTS: tuple[tuple[str, dict[str, Any], bool], ...] = (
    ("all", {}, True),
    ("accounts", {}, False),
    ("greeks", {"underlyings": {}}, True),
    ("option_model_collar", {"option_collar_vega_k": None, "option_price_band_pct": 1e9,
                             "price_band_pct": 1e9}, True),
    ("duplicate_window", {"duplicate_window_ms": 0.0}, True),
    ("rate_limits", {"global_rate": None, "venue_rates": {}}, True),
    ("open_order_caps", {"max_open_orders_per_instrument": None,
                         "max_open_orders_per_strategy": None}, True),
    ("floor", {"underlyings": {}, "option_collar_vega_k": None, "option_price_band_pct": 1e9,
               "price_band_pct": 1e9, "duplicate_window_ms": 0.0, "global_rate": None,
               "venue_rates": {}, "max_open_orders_per_instrument": None,
               "max_open_orders_per_strategy": None}, False),
)


def bench_gate_checks(n: int = 12_000, batch: int = 200) -> dict[str, Any]:
    """``per_check_us`` (module docstring), from one interleaved run."""
    runs = []
    for name, overrides, accounts in _VARIANTS:
        k, opts, perp = _gate_kernel(**overrides)
        if accounts:
            _with_accounts(k)
        runs.append((name, k, _orders(opts, perp, n, name)))
    overhead = _timer_overhead()
    pc, cpu = time.perf_counter_ns, time.thread_time_ns
    cpu_overhead = statistics.median(-(cpu() - cpu()) for _ in range(2_000))
    wall: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    cpus: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    denied = dict.fromkeys(wall, 0)
    gc.disable()
    try:
        for start in range(0, n, batch):
            for name, k, cmds in runs:
                clock = k.clock
                assert isinstance(clock, VirtualClock)
                check = k.gate.check
                t = clock.now_ns()
                w, c = wall[name], cpus[name]
                for cmd in cmds[start:start + batch]:
                    t += 2_000_000  # 2 ms apart: outside the duplicate window
                    clock.advance_to(t)
                    t0, c0 = pc(), cpu()
                    d = check(cmd)
                    c1, t1 = cpu(), pc()
                    w.append(max(t1 - t0 - overhead, 0) / 1000.0)
                    c.append(max(c1 - c0 - cpu_overhead, 0) / 1000.0)
                    denied[name] += d is not None
    finally:
        gc.enable()
    base = _pct(cpus["all"], 0.5)
    return {
        "clock": "CPU time p50 of the full gate minus that of the gate without the group",
        "full_gate_p50_us": round(base, 2),
        "floor_p50_us": round(_pct(cpus["floor"], 0.5), 2),
        **{name: round(base - _pct(cpus[name], 0.5), 2) for name, _, _ in runs[1:-1]},
        "full_gate_wall_p50_us": round(_pct(wall["all"], 0.5), 2),
        "denied_per_variant": denied}


def bench_journal(tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cmd = SubmitOrder(client_order_id="j-1", strategy_id="s", instrument_id="bench:BTC-PERP",
                      side=Side.BUY, quantity=0.01, price=60_000.0)
    for mode, n in (("NORMAL", 3_000), ("FULL", 400)):
        j = Journal(tmp / f"j-{mode}.sqlite", mode)
        lat = []
        for i in range(n):
            t0 = time.perf_counter_ns()
            j.write_command(i, cmd)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
        j.close()
        out[mode.lower()] = {"p50_us": round(_pct(lat, 0.5), 1), "p99_us": round(_pct(lat, 0.99), 1),
                             "mean_us": round(statistics.fmean(lat), 1), "n": n}
    j = Journal(tmp / "j-events.sqlite")
    lat = []
    for i in range(3_000):
        t0 = time.perf_counter_ns()
        j.write_event(i, cmd)
        lat.append((time.perf_counter_ns() - t0) / 1000.0)
    j.close()
    out["baseline_write_event_no_commit"] = {"p50_us": round(_pct(lat, 0.5), 1),
                                             "mean_us": round(statistics.fmean(lat), 1)}
    out["target_us"] = JOURNAL_TARGET_US
    out["met"] = out["normal"]["p50_us"] <= JOURNAL_TARGET_US
    return out


def _quiet_logs() -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


def run(output_path: str | Path | None = DEFAULT_OUTPUT) -> dict[str, Any]:
    """Run every risk benchmark; write JSON to ``output_path`` (None: don't write)."""
    _quiet_logs()
    results: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    results["gate"] = bench_gate()
    results["gate_with_accounts"] = ga = bench_gate(accounts=True)
    ga["baseline_no_accounts_p50_us"] = results["gate"]["p50_us"]
    ga["baseline_no_accounts_p99_us"] = results["gate"]["p99_us"]
    results["per_check_us"] = bench_gate_checks()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results["journal"] = bench_journal(tmp)
    if output_path is not None:
        out = Path(output_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return results


if __name__ == "__main__":
    res = run(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT)
    print(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode())
