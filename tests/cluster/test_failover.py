"""Failures with real processes: kill -9 of the aggregator (restart; standby take-over) and of
a JetStream server in a 3-server R3 cluster."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cluster.server import free_port, start_cluster
from engine.model import TradingState
from tests.cluster.conftest import (
    DEPLOY,
    aggregator_config,
    cluster_table,
    load_config_text,
    sim_node_config,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
SIM_PERP = "sim:BTC-PERP"


class AggregatorProcess:
    """``volta aggregator`` as a real process (killed with SIGKILL at the end, at worst)."""

    def __init__(self, tmp: Path, urls: list[str], agg_id: str, port: int = 0, **cluster: Any) -> None:
        self.port = port or free_port()
        self.path = tmp / f"{agg_id}.toml"
        table = cluster_table(urls, agg_id, "aggregator", **{
            "api_port": self.port, "node_stale_after_s": 1.0, "budget_renew_s": 0.25,
            "lease_ttl_s": 1.5, **cluster})
        self.path.write_text(DEPLOY.format(name=agg_id) + table)
        self.log = tmp / f"{agg_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AggregatorProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "engine", "aggregator", str(self.path)],
                                         cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    async def get(self, what: str = "firm") -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession() as s, \
                    s.get(f"http://127.0.0.1:{self.port}/api/{what}", timeout=aiohttp.ClientTimeout(total=1)) as r:
                return await r.json()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None

    async def wait_up(self, timeout: float = 20.0) -> None:
        t0 = time.monotonic()
        while await self.get("health") is None:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"aggregator exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() - t0 > timeout:
                pytest.fail(f"aggregator not up: {self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)


@pytest.fixture
def procs() -> Any:
    started: list[AggregatorProcess] = []
    yield started
    for p in started:
        p.kill9()


async def _wait_view(agg: AggregatorProcess, pred: Any, timeout: float, what: str) -> dict[str, Any]:
    t0 = time.monotonic()
    while True:
        view = await agg.get()
        if view is not None and pred(view):
            return view
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out waiting for {what}: {view}")
        await asyncio.sleep(0.1)


def _sim_only_node(urls: list[str], node_id: str, **cluster: Any) -> Any:
    text = DEPLOY.format(name=node_id) + """
[venues.sim]
adapter = "adapters.sim:SimVenue"
[risk]
max_position_qty = 1000.0
""" + cluster_table(urls, node_id, **{"report_interval_s": 0.05, "heartbeat_interval_s": 0.2, **cluster})
    return load_config_text(text)


async def test_aggregator_kill9_restart_rebuilds_the_same_view_and_nodes_fail_closed(
        nats_server, running, procs, tmp_path: Path) -> None:
    urls = [nats_server.url]
    agg = AggregatorProcess(tmp_path, urls, "agg-1", nodes=["n1", "n2"]).start()
    procs.append(agg)
    a = await running.node(_sim_only_node(urls, "n1", aggregator_timeout_s=1.0))
    b = await running.node(_sim_only_node(urls, "n2", aggregator_timeout_s=1.0))
    await agg.wait_up()
    await wait_for(lambda: a.kernel.gate.state is TradingState.ACTIVE and b.kernel.gate.state is TradingState.ACTIVE,
                   10, "budgets -> ACTIVE")
    a.kernel.portfolio.adjust_position(SIM_PERP, 2.0, 60_000.0)  # linear: exactly 2 BTC
    b.kernel.portfolio.adjust_position(SIM_PERP, -0.5, 60_000.0)
    expected = 2.0 * a.kernel.instruments[SIM_PERP].contract_size - 0.5 * b.kernel.instruments[SIM_PERP].contract_size
    before = await _wait_view(agg, lambda v: math.isclose(v["greeks"].get("BTC", {}).get("delta", 0), expected,
                                                          abs_tol=1e-9), 10, "firm delta 1.5")

    agg.kill9()
    t0 = time.monotonic()
    await wait_for(lambda: a.kernel.gate.state is TradingState.REDUCING and b.kernel.gate.state is TradingState.REDUCING,
                   5, "nodes reduce-only without the aggregator")
    assert time.monotonic() - t0 < 2.5  # aggregator_timeout_s = 1 (+ renewal period)
    assert "aggregator" in a.kernel.gate.hold_reasons["cluster"]

    again = AggregatorProcess(tmp_path, urls, "agg-1", agg.port, nodes=["n1", "n2"])
    again.start()
    procs.append(again)
    await again.wait_up()
    after = await again.get()
    assert after is not None and after["aggregator"]["rebuilt_reports"] >= 2
    assert after["greeks"] == before["greeks"]  # the same firm view, from the stream alone
    # every report the first life applied was received: none counts as missing after it
    assert [after["nodes"][n]["reports_missing"] for n in ("n1", "n2")] == [0, 0]
    for n in ("n1", "n2"):  # (marks move on; the positions are what they were)
        def held(view: dict[str, Any], n: str = n) -> list[tuple[str, float]]:
            return [(p["instrument_id"], p["qty"]) for p in view["nodes"][n]["report"]["positions"]]
        assert held(after) == held(before)
    await wait_for(lambda: a.kernel.gate.state is TradingState.ACTIVE and b.kernel.gate.state is TradingState.ACTIVE,
                   5, "nodes resume on renewed budgets")


async def test_a_standby_aggregator_takes_over_when_the_leader_is_killed(
        nats_server, running, procs, tmp_path: Path) -> None:
    urls = [nats_server.url]
    one = AggregatorProcess(tmp_path, urls, "agg-1", nodes=["n1"]).start()
    two = AggregatorProcess(tmp_path, urls, "agg-2", nodes=["n1"]).start()
    procs += [one, two]
    node = await running.node(_sim_only_node(urls, "n1", aggregator_timeout_s=6.0))
    await one.wait_up()
    await two.wait_up()
    leader = standby = None
    t0 = time.monotonic()
    while leader is None:
        h1, h2 = await one.get("health"), await two.get("health")
        if h1 and h1["leader"]:
            leader, standby = one, two
        elif h2 and h2["leader"]:
            leader, standby = two, one
        elif time.monotonic() - t0 > 10:
            pytest.fail("no leader")
        await asyncio.sleep(0.1)
    h = await standby.get("health")
    assert h is not None and not h["leader"]  # exactly one leads
    await wait_for(lambda: node.kernel.gate.state is TradingState.ACTIVE, 10, "budgets")
    leader.kill9()
    t0 = time.monotonic()
    while not ((await standby.get("health")) or {}).get("leader"):
        if time.monotonic() - t0 > 8:
            pytest.fail("the standby did not take over")
        await asyncio.sleep(0.1)
    took = time.monotonic() - t0
    assert took < 4.0, f"take-over took {took:.2f}s"  # lease_ttl_s 1.5 + renewal step + polling
    alerts = await standby.get("alerts")
    assert any(a["kind"] == "leader" and "leads" in a["message"] for a in alerts or [])
    # the node never noticed: budgets renewed by the new leader within its timeout
    await asyncio.sleep(0.5)
    assert node.kernel.gate.state is TradingState.ACTIVE
    assert node.cluster_service.budget_revision > 0


async def test_r3_cluster_loses_a_server_and_no_report_is_lost_or_applied_twice(
        running, tmp_path: Path) -> None:
    servers = start_cluster(tmp_path / "nats", 3)
    try:
        urls = [s.url for s in servers]
        agg = await running.aggregator(aggregator_config(urls, nodes=["n1", "n2"], replicas=3,
                                                         node_stale_after_s=5.0))
        nodes = [await running.node(_sim_only_node(urls, n, replicas=3, aggregator_timeout_s=10.0))
                 for n in ("n1", "n2")]

        q = 0.0

        async def churn(seconds: float, until: Any = lambda: False) -> None:
            nonlocal q
            end = time.monotonic() + seconds
            while time.monotonic() < end and not until():
                q += 0.01
                for n in nodes:
                    n.kernel.portfolio.adjust_position(SIM_PERP, q, 60_000.0)
                await asyncio.sleep(0.03)

        await churn(1.5)
        at_kill = {n.cluster_service.node_id: n.cluster_service.seq for n in nodes}
        servers[0].kill()  # kill -9 one of the three, mid-run
        # JetStream re-elects the stream's leader (seconds on a busy machine): publishes wait,
        # unacknowledged reports are retried; go on until reports flow again on both nodes.
        await churn(30.0, until=lambda: all(n.cluster_service.seq > at_kill[n.cluster_service.node_id] + 10
                                            for n in nodes))
        for n in nodes:
            svc = n.cluster_service
            await wait_for(lambda svc=svc: svc._pending is None and svc.in_sync(), 20, "reports acknowledged")
            await wait_for(lambda svc=svc: (agg.firm.nodes[svc.node_id].report or None) is not None
                           and agg.firm.nodes[svc.node_id].report.seq == svc.seq, 20, "aggregator caught up")
        for n in nodes:  # a message lost in flight is redelivered after the ack wait (2 s)
            st = agg.firm.nodes[n.cluster_service.node_id]
            await wait_for(lambda st=st: st.missing == 0, 10, "every report received")
        for n in nodes:
            svc = n.cluster_service
            st = agg.firm.nodes[svc.node_id]
            seqs = [s for inc, s in st.received_seqs if inc == svc.incarnation]
            assert sorted(seqs) == list(range(1, svc.seq + 1)), (svc.node_id, st.missing, st.duplicates)
            assert st.applied + st.late == svc.seq  # each report taken once, none twice
            assert st.report is not None and st.report.seq == svc.seq  # the state is the newest
            assert at_kill[svc.node_id] > 5 and svc.seq > at_kill[svc.node_id] + 5  # reports on both sides
    finally:
        for s in servers:
            s.kill()


NODE_SCRIPT = """
import asyncio, sys
from engine.clock import LiveClock
from engine.config import load_config
from engine.runtime import build_node

async def main():
    node = build_node(load_config(sys.argv[1]), LiveClock(), ":memory:")
    await node.start()
    node.kernel.portfolio.adjust_position("sim:BTC-PERP", float(sys.argv[2]), 60000.0)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_node_killed_with_sigkill_is_stale_alerted_and_still_counted(
        nats_server, running, tmp_path: Path) -> None:
    urls = [nats_server.url]
    agg = await running.aggregator(aggregator_config(urls, nodes=["n1", "n2"]))
    cfg = tmp_path / "n1.toml"
    cfg.write_text(DEPLOY.format(name="n1") + '[venues.sim]\nadapter = "adapters.sim:SimVenue"\n'
                   + cluster_table(urls, "n1", report_interval_s=0.05, heartbeat_interval_s=0.2))
    proc = subprocess.Popen([sys.executable, "-c", NODE_SCRIPT, str(cfg), "1.25"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        other = await running.node(_sim_only_node(urls, "n2"))
        other.kernel.portfolio.adjust_position(SIM_PERP, -0.25, 60_000.0)
        cs = other.kernel.instruments[SIM_PERP].contract_size
        expected = (1.25 - 0.25) * cs  # linear perps: qty * contract size, from both nodes
        await wait_for(lambda: math.isclose(agg.firm.greeks().get("BTC", {}).get("delta", 0.0), expected,
                                            abs_tol=1e-9), 20, "both nodes' exposure in the firm view")
        await wait_for(lambda: not agg.firm.nodes["n1"].stale, 5, "n1 live")
        proc.send_signal(signal.SIGKILL)  # the node process dies: no goodbye report
        proc.wait(5)
        await wait_for(lambda: agg.firm.nodes["n1"].stale, 5, "n1 stale")
        assert any(al.kind == "node_stale" and al.node_id == "n1" for al in agg.alerts)
        assert not agg.firm.nodes["n2"].stale
        assert math.isclose(agg.firm.greeks()["BTC"]["delta"], expected, abs_tol=1e-9)  # still counted
        view = agg.view()
        assert view["nodes"]["n1"]["stale"] is True
        assert view["nodes"]["n1"]["report"]["positions"][0]["qty"] == 1.25
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


async def test_a_lease_bucket_gone_is_said_not_silent(nats_server) -> None:  # type: ignore[no-untyped-def]
    """Standby because another aggregator leads: normal, quiet. Standby because the lease
    bucket is gone (nats-server restarted without its JetStream store): logged, once."""
    import nats
    from structlog.testing import capture_logs

    from cluster.connection import ensure_bucket
    from cluster.lease import LeaderLease

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        kv = await ensure_bucket(js, "lease_test", 1, ttl_s=5.0)
        with capture_logs() as logs:
            assert await LeaderLease(kv, "a").tick()
            standby = LeaderLease(kv, "b")
            assert not await standby.tick()
            assert [e for e in logs if e["event"] == "lease_unavailable"] == []
            await js.delete_key_value("lease_test")
            for _ in range(3):
                assert not await standby.tick()
        said = [e for e in logs if e["event"] == "lease_unavailable"]
        assert len(said) == 1 and said[0]["holder"] == "b" and "JetStream store" in said[0]["detail"], said
    finally:
        await nc.close()
