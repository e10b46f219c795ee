"""Operator benchmark: tick-to-order with the operator surface on (and a dashboard connected)
against off, in the same run.

Theory of operation: the paper deployment (simulated venue + example quoter) runs on a
virtual clock paced to real time (each 100 ms step waits for the wall clock), so every run sees
the same seeded market and sends the same orders while the operator's 250 ms sampler, the
stream and the poller run at their real cadence. Latency is stamped as in ``bench_risk``:
a first bus handler stamps each market-data event as it arrives and the router's ``on_sent``
hook stamps the order leaving; only orders caused directly by a market-data event count.
"On" starts the operator's HTTP server in the same event loop with a live SSE stream client
reading every message and a dashboard-like poller fetching ``/api/snapshot`` every 250 ms, so
the operator's sampler, views, JSON encoding and fan-out all interleave with the trading path
(between the 100 ms steps of the paced drive loop). Off and on runs alternate (off, on, off,
on, ...) after one uncounted warm-up run, to spread machine noise over both; the result is the
median of the per-run p50 and p99 latencies and their ratio on/off. Target: on <= 1.05 x off.

Run: ``python -m benchmarks.bench_operator [OUTPUT.json]`` (default ``benchmarks/results/operator.json``).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import orjson

from engine.clock import NS_PER_S, VirtualClock
from engine.model import BookDelta, BookSnapshot, SubmitOrder

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "operator.json"
TARGET_RATIO = 1.05


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _one_run(journal: Path, operator_on: bool, seconds: int) -> dict[str, Any]:
    import aiohttp

    from engine.config import default_config_path, load_config
    from engine.operator import make_operator
    from engine.runtime import build_node

    cfg = load_config(default_config_path())
    cfg = msgspec.structs.replace(cfg, operator=msgspec.structs.replace(cfg.operator, port=0, enabled=operator_on))
    start = 1_767_225_600 * NS_PER_S
    clock = VirtualClock(start)
    node = build_node(cfg, clock, journal)
    k = node.kernel
    pc = time.perf_counter_ns
    stamp = [0, False]
    lat: list[float] = []

    def md_in(_ev: Any) -> None:
        stamp[0], stamp[1] = pc(), True

    for t in (BookDelta, BookSnapshot):
        k.bus._handlers.setdefault(t, []).insert(0, md_in)  # benchmark harness only
    flush = k.bus.on_idle

    def flush_then_done() -> None:
        # (the orders a book event caused are sent by the group commit when the bus goes
        # idle after it: the clock stops there)
        try:
            if flush is not None:
                flush()
        finally:
            stamp[1] = False

    k.bus.on_idle = flush_then_done

    def on_sent(_cmd: SubmitOrder) -> None:
        if stamp[1]:
            lat.append((pc() - stamp[0]) / 1000.0)

    k.router.on_sent = on_sent
    op = make_operator(k, cfg, str(journal)) if operator_on else None
    clients: list[asyncio.Task[Any]] = []
    received = [0, 0]
    session = None
    if op is not None:
        url = await op.start()
        session = aiohttp.ClientSession()

        async def stream() -> None:
            async with session.get(url + "api/stream") as resp:
                async for _line in resp.content:
                    received[0] += 1

        async def poll() -> None:
            while True:
                async with session.get(url + "api/snapshot") as resp:
                    await resp.read()
                received[1] += 1
                await asyncio.sleep(0.25)

        clients = [asyncio.get_running_loop().create_task(stream()),
                   asyncio.get_running_loop().create_task(poll())]
    await node.start()
    t0 = time.perf_counter()
    t = start
    for step in range(1, seconds * 10 + 1):
        t += NS_PER_S // 10
        clock.advance_to(t)
        # real-time pacing: the same seeded market and orders in every run, while the
        # operator's timers, stream and poller run at their real cadence against it
        await asyncio.sleep(max(0.0, t0 + step / 10 - time.perf_counter()))
    wall = time.perf_counter() - t0
    await node.stop()
    for c in clients:
        c.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    if session is not None:
        await session.close()
    if op is not None:
        await op.stop()
    return {"orders": len(lat), "p50_us": _pct(lat, 0.5) if lat else None,
            "p99_us": _pct(lat, 0.99) if lat else None, "wall_s": round(wall, 2),
            "stream_lines": received[0], "snapshots": received[1]}


def run(output_path: str | Path | None = DEFAULT_OUTPUT, rounds: int = 2, seconds: int = 60) -> dict[str, Any]:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    os.environ.setdefault("VOLTA_OPERATOR_TOKEN", "benchmark-operator-token-0000")
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(_one_run(Path(d) / "warmup.sqlite", True, 10))  # caches, imports: not counted
        for i in range(rounds):
            for mode in ("off", "on"):
                res = asyncio.run(_one_run(Path(d) / f"{mode}{i}.sqlite", mode == "on", seconds))
                runs[mode].append(res)
    summary: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                               "virtual_seconds_per_run": seconds, "rounds": rounds, "runs": runs}
    for mode in ("off", "on"):
        summary[mode] = {"p50_us": round(statistics.median(r["p50_us"] for r in runs[mode]), 1),
                         "p99_us": round(statistics.median(r["p99_us"] for r in runs[mode]), 1),
                         "orders": sum(r["orders"] for r in runs[mode])}
    summary["ratio_p50"] = round(summary["on"]["p50_us"] / summary["off"]["p50_us"], 3)
    summary["ratio_p99"] = round(summary["on"]["p99_us"] / summary["off"]["p99_us"], 3)
    summary["target_ratio"] = TARGET_RATIO
    summary["met"] = summary["ratio_p50"] <= TARGET_RATIO
    if output_path is not None:
        out = Path(output_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return summary


if __name__ == "__main__":
    res = run(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT)
    print(orjson.dumps({k: v for k, v in res.items() if k != "runs"}, option=orjson.OPT_INDENT_2).decode())
