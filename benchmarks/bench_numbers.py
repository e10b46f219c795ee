"""Cost of exact accounting and of the account-margin check, each against a baseline in the
same run.

* ``fill``: ``Position.apply_fill`` with exact (Decimal) quantities against the same
  arithmetic on floats (the accounting before issue 12), per fill.
* ``gate_margin``: ``RiskGate.check`` on the risk benchmark's kernel (500 positions on one
  venue) with a configured account book refreshed by a 1 s timer (as the runtime runs it),
  against the same gate without one. ``refresh_ms`` is what one refresh of that account costs
  (off the order path; also paid by the first check after a fill).
"""

from __future__ import annotations

import gc
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.bench_risk import _gate_kernel, _pct, _quiet_logs, _timer_overhead
from engine.accounts import AccountBook, AccountSpec
from engine.clock import NS_PER_S, VirtualClock
from engine.model import Instrument, InstrumentKind, Side, SubmitOrder
from engine.portfolio import Position

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "numbers.json"
INST = Instrument(venue="b", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC", quote="USD",
                  settle="USD", tick_size=0.5, lot_size=0.001)


class _FloatPosition:
    """The float-summing baseline (same branches, no Decimal)."""

    def __init__(self) -> None:
        self.qty = 0.0
        self.avg = 0.0
        self.realized = 0.0

    def apply_fill(self, sign: int, qty: float, price: float) -> None:
        signed = sign * qty
        if self.qty == 0.0 or (self.qty > 0) == (signed > 0):
            new = self.qty + signed
            self.avg = (abs(self.qty) * self.avg + qty * price) / abs(new)
            self.qty = new
            return
        closing = min(qty, abs(self.qty))
        d = 1.0 if self.qty > 0 else -1.0
        self.realized += d * closing * (price - self.avg)
        self.qty += signed


def bench_fill(n: int = 200_000) -> dict[str, Any]:
    fills = [(1 if i % 3 else -1, 0.001 * (1 + i % 7), 60_000.0 + (i % 11)) for i in range(n)]
    pc = time.perf_counter_ns
    gc.disable()
    try:
        exact = Position(INST)
        t0 = pc()
        for s, q, p in fills:
            exact.apply_fill(s, q, p, 0.0)
        t_exact = (pc() - t0) / n
        flt = _FloatPosition()
        t0 = pc()
        for s, q, p in fills:
            flt.apply_fill(s, q, p)
        t_float = (pc() - t0) / n
    finally:
        gc.enable()
    return {"fills": n, "exact_ns_per_fill": round(t_exact, 1), "baseline_float_ns_per_fill": round(t_float, 1),
            "ratio": round(t_exact / t_float, 2), "exact_position": str(exact.exact_qty),
            "float_position": repr(flt.qty)}


def _gate_latencies(k: Any, opts: list[Instrument], n: int, tag: str) -> list[float]:
    clock = k.clock
    assert isinstance(clock, VirtualClock)
    overhead = _timer_overhead()
    pc = time.perf_counter_ns
    lat: list[float] = []
    t = clock.now_ns()
    gc.disable()
    try:
        for i in range(n):
            inst = opts[i % len(opts)]
            cmd = SubmitOrder(client_order_id=f"{tag}{i}", strategy_id="s", instrument_id=inst.id,
                              side=Side.SELL if i % 2 else Side.BUY, quantity=0.01 * (1 + i % 7),
                              price=1_040.0 + (i % 20))
            t += 2_000_000
            clock.advance_to(t)
            t0 = pc()
            k.gate.check(cmd)
            lat.append(max(pc() - t0 - overhead, 0) / 1000.0)
    finally:
        gc.enable()
    return lat


def bench_gate_margin(n: int = 5_000) -> dict[str, Any]:
    k, opts, _ = _gate_kernel()
    base = _gate_latencies(k, opts, n, "a")
    k2, opts2, _ = _gate_kernel()
    book = AccountBook(k2.portfolio, {"bench": AccountSpec("bench", {"USD": 1e12})}, 10.0, k2.clock.now_ns)
    k2.gate.accounts = book
    k2.clock.every(NS_PER_S, lambda _: book.refresh())  # as the runtime does: off the order path
    with_acc = _gate_latencies(k2, opts2, n, "b")
    t0 = time.perf_counter()
    for _ in range(20):
        book.refresh()
    refresh_ms = (time.perf_counter() - t0) / 20 * 1e3
    return {"orders": n, "positions": len(k2.portfolio.positions()), "refresh_ms": round(refresh_ms, 3),
            "p50_us": round(_pct(with_acc, 0.5), 2), "p99_us": round(_pct(with_acc, 0.99), 2),
            "p999_us": round(_pct(with_acc, 0.999), 2),
            "mean_us": round(statistics.fmean(with_acc), 2),
            "baseline_no_accounts_p50_us": round(_pct(base, 0.5), 2),
            "baseline_no_accounts_p99_us": round(_pct(base, 0.99), 2),
            "baseline_no_accounts_p999_us": round(_pct(base, 0.999), 2)}


def run(output_path: str | Path | None = DEFAULT_OUTPUT) -> dict[str, Any]:
    _quiet_logs()
    results: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                               "fill": bench_fill(), "gate_margin": bench_gate_margin()}
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    if output_path is not None:
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
        Path(output_path).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return results
