"""Cluster benchmarks over a real nats-server on loopback, each next to an in-process baseline
measured in the same run.

* ``book_latency``: a gateway (simulated venue, 20 ms market steps, 67 books) publishes; a
  node's NATS market-data adapter receives. Latency per book message = wall clock from the
  gateway's bus handler (the update accepted by its integrity layer) to the node's bus having
  applied it (book updated); both services run in this one process and event loop (the hop
  is real: TCP to nats-server and back), so the figure includes their sharing one CPU thread.
  Baseline: the same book updates published on an in-process kernel bus (``bus.publish`` of a
  ``BookDelta`` through the integrity layer into the book), per update.
* ``aggregator_throughput``: N exposure reports from 20 nodes published to the JetStream
  stream as fast as the client can; reports/s = N / (time until the aggregator applied the
  last one). Baseline: decode + ``FirmView.apply`` of the same reports in-process.
* ``budget_enforced``: ``Aggregator.send_budgets`` with a changed firm limit -> the node's gate
  enforcing it (the node's ``apply_grant`` done), p50/p99 over repeated changes. Baseline: the
  local ``RiskGate.set_budget`` call alone.

Run: ``python -m benchmarks.bench_cluster [OUTPUT.json]`` (default
``benchmarks/results/cluster.json``); ``make bench`` runs it with the others.
"""

from __future__ import annotations

import asyncio
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "cluster.json"


def _pct(xs: list[int] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q))


def _deploy(name: str) -> str:
    return (f'[deployment]\nname = "{name}"\nmode = "paper"\njournal = ":memory:"\nstatus_interval_s = 600\n'
            '[logging]\nlevel = "error"\n')


def _cluster(url: str, node_id: str, role: str, extra: str = "") -> str:
    return f'[cluster]\nnode_id = "{node_id}"\nrole = "{role}"\nservers = ["{url}"]\n{extra}'


async def _book_latency(url: str, seconds: float) -> dict[str, Any]:
    from cluster.gateway import serve_gateway
    from engine.clock import LiveClock
    from engine.config import load_config_text
    from engine.runtime import build_node

    gw_cfg = load_config_text(_deploy("gw") + '[venues.gw]\nadapter = "adapters.sim:SimVenue"\n'
                              '[venues.gw.params]\nvenue = "gw"\ntick_ms = 20\n[risk]\nkill_switch = true\n'
                              + _cluster(url, "gw", "gateway"))
    ready = asyncio.Event()
    gw_task = asyncio.get_running_loop().create_task(serve_gateway(gw_cfg, None, ready))
    await asyncio.wait_for(ready.wait(), 30)
    node_cfg = load_config_text(_deploy("n") + '[venues.gw]\nadapter = "adapters.nats:NatsMarketData"\n'
                                f'[venues.gw.params]\nservers = ["{url}"]\n'
                                "[pricing]\nchain_interval_s = 3600\n")  # transport, not pricing
    node = build_node(node_cfg, LiveClock(), ":memory:")
    await node.start()
    adapter = node.kernel.adapters["gw"]
    await asyncio.sleep(1.0)  # warm up: snapshots, first deltas
    adapter.latency_sink = sink = []
    await asyncio.sleep(seconds)
    adapter.latency_sink = None
    await node.stop()
    gw_task.cancel()
    try:
        await gw_task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001
        pass
    # Baseline: the same kind of update through an in-process kernel bus.
    from engine.kernel import Kernel
    from engine.model import BookDelta, BookSnapshot
    from engine.risk import RiskLimits

    k = Kernel(LiveClock(), RiskLimits())
    iid = "gw:BTC-PERP"
    k.bus.publish(BookSnapshot(iid, ((100.0, 1.0),), ((101.0, 1.0),), 1, 0, 0))
    base = []
    pc = time.perf_counter_ns
    for i in range(2, 20_002):
        d = BookDelta(iid, ((100.0, float(i % 7 + 1)),), (), i, i - 1, 0, 0)
        t0 = pc()
        k.bus.publish(d)
        base.append(pc() - t0)
    return {
        "messages": len(sink),
        "nats_p50_us": _pct(sink, 50) / 1e3, "nats_p99_us": _pct(sink, 99) / 1e3,
        "in_process_p50_us": _pct(base, 50) / 1e3, "in_process_p99_us": _pct(base, 99) / 1e3,
        "ratio_p50": _pct(sink, 50) / max(_pct(base, 50), 1.0),
    }


def _reports(n: int, nodes: int) -> list[Any]:
    from cluster.messages import ExposureReport, GreekBucket, PnlUsd, PositionRow, UnderlyingTotals, VenueExposure

    out = []
    for i in range(n):
        node = f"bench-{i % nodes}"
        d = 0.001 * i
        out.append(ExposureReport(
            node_id=node, incarnation=1, seq=i // nodes + 1, ts=i, trading_state="active", kill_level=0,
            budget_revision=1, totals=[UnderlyingTotals("BTC", d, 0.0, 10.0, -1.0, d * 60_000.0)],
            greeks=[GreekBucket("BTC", 0, d, 0.0, 0.0, 0.0), GreekBucket("BTC", 1_800_000_000 * 10**9, 0.0, 0.0, 10.0, -1.0)],
            positions=[PositionRow("sim:BTC-PERP", d, 60_000.0, 60_001.0, d * 60_001.0)],
            open_orders=[], venues=[VenueExposure("sim", d * 60_001.0, 0, 0)],
            pnl_usd=PnlUsd(0.0, 0.0, 0.0, 0.0)))
    return out


async def _aggregator_throughput(url: str, n: int) -> dict[str, Any]:
    from cluster.aggregator import Aggregator
    from cluster.firm import FirmView
    from cluster.messages import ExposureReport, encode, report_subject
    from engine.config import load_config_text

    nodes = 20
    cfg = load_config_text(_deploy("agg") + _cluster(url, "agg-bench", "aggregator",
                                                      "api_port = 0\nnode_stale_after_s = 60\n")).cluster
    assert cfg is not None
    agg = Aggregator(cfg)
    agg.firm.record_seqs = False
    await agg.start()
    payloads = [(report_subject(cfg.subject_prefix, r.node_id), encode(r)) for r in _reports(n, nodes)]
    import nats

    nc = await nats.connect(url)
    t0 = time.perf_counter()
    for subject, data in payloads:
        await nc.publish(subject, data)  # captured by the stream (core publish, no ack wait)
    await nc.flush()
    last = {f"bench-{i}": (n - 1 - ((n - 1 - i) % nodes)) // nodes + 1 for i in range(nodes)}
    while not all((st := agg.firm.nodes.get(k)) is not None and st.report is not None
                  and st.report.seq == s for k, s in last.items()):
        if time.perf_counter() - t0 > 120:
            break
        await asyncio.sleep(0.005)
    took = time.perf_counter() - t0
    applied = sum(st.applied for st in agg.firm.nodes.values())
    await nc.close()
    await agg.stop()
    # Baseline: decode + apply in-process.
    view = FirmView(cfg)
    view.record_seqs = False
    dec = msgspec.msgpack.Decoder(ExposureReport)
    b0 = time.perf_counter()
    for _, data in payloads:
        view.apply(dec.decode(data), 0.0)
    base = time.perf_counter() - b0
    return {"reports": n, "nodes": nodes, "applied": applied, "seconds": took,
            "reports_per_s": applied / took, "in_process_reports_per_s": n / base,
            "ratio": (n / base) / (applied / took)}


async def _budget_enforced(url: str, rounds: int) -> dict[str, Any]:
    from cluster.aggregator import Aggregator
    from engine.clock import LiveClock
    from engine.config import load_config_text
    from engine.config.schema import FirmUnderlyingLimits
    from engine.risk.limits import UnderlyingLimits
    from engine.runtime import build_node

    cfg = load_config_text(_deploy("agg") + _cluster(url, "agg-b", "aggregator",
                                                      'api_port = 0\nnodes = ["n1"]\nbudget_renew_s = 30\n'
                                                      "[cluster.firm.BTC]\nmax_delta = 10.0\n")).cluster
    assert cfg is not None
    agg = Aggregator(cfg)
    await agg.start()
    node = build_node(load_config_text(_deploy("n1") + '[venues.sim]\nadapter = "adapters.sim:SimVenue"\n'
                                       + _cluster(url, "n1", "node")), LiveClock(), ":memory:")
    await node.start()
    svc = node.cluster_service
    while agg.revision == 0 or not agg.leader:
        await asyncio.sleep(0.05)
    lat = []
    for i in range(rounds):
        limit = 10.0 + i % 5
        agg.cfg = msgspec.structs.replace(agg.cfg, firm={"BTC": FirmUnderlyingLimits(max_delta=limit)})
        agg.firm.cfg = agg.cfg
        t0 = time.perf_counter_ns()
        acks = await agg.send_budgets("bench")
        applied = svc.budget_applied_at.get(agg.revision)
        if acks.get("n1") and applied is not None:
            lat.append(applied - t0)
    gate = node.kernel.gate
    base = []
    for i in range(10_000):
        t0 = time.perf_counter_ns()
        gate.set_budget("BTC", UnderlyingLimits(max_delta=10.0 + i % 5))
        base.append(time.perf_counter_ns() - t0)
    await node.stop()
    await agg.stop()
    return {"rounds": rounds, "enforced": len(lat),
            "nats_p50_us": _pct(lat, 50) / 1e3, "nats_p99_us": _pct(lat, 99) / 1e3,
            "in_process_p50_us": _pct(base, 50) / 1e3, "in_process_p99_us": _pct(base, 99) / 1e3}


async def _main(seconds: float, reports: int, rounds: int) -> dict[str, Any]:
    import structlog

    from cluster.server import NatsServer
    from engine.logging import configure_logging

    configure_logging("error", "json")
    structlog.get_logger()
    with tempfile.TemporaryDirectory() as tmp, NatsServer(tmp) as server:
        return {"book_latency": await _book_latency(server.url, seconds),
                "aggregator_throughput": await _aggregator_throughput(server.url, reports),
                "budget_enforced": await _budget_enforced(server.url, rounds)}


def run(output: Path = DEFAULT_OUTPUT, seconds: float = 5.0, reports: int = 20_000,
        rounds: int = 100) -> dict[str, Any]:
    import uvloop

    result = uvloop.run(_main(seconds, reports, rounds))
    result["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    b, a, g = result["book_latency"], result["aggregator_throughput"], result["budget_enforced"]
    print(f"   gateway -> node book update: p50 {b['nats_p50_us']:.0f} us, p99 {b['nats_p99_us']:.0f} us "
          f"({b['messages']} msgs) | in-process p50 {b['in_process_p50_us']:.2f} us, "
          f"p99 {b['in_process_p99_us']:.2f} us")
    print(f"   aggregator: {a['reports_per_s']:,.0f} reports/s over NATS JetStream "
          f"({a['applied']}/{a['reports']}) | in-process apply {a['in_process_reports_per_s']:,.0f}/s")
    print(f"   budget change -> enforced at the node: p50 {g['nats_p50_us']:.0f} us, p99 "
          f"{g['nats_p99_us']:.0f} us | local set_budget p50 {g['in_process_p50_us']:.2f} us")
    return result


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT)
