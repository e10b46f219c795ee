"""A nats-server restarted with a wiped JetStream store (or the stream deleted by an operator):
the running services notice, recreate what they use with the configured settings, and the
firm view is rebuilt from the nodes' next reports within a bounded time."""

from __future__ import annotations

import asyncio
import math
import shutil
from typing import Any

import pytest
from structlog.testing import capture_logs

from engine.model import TradingState
from tests.cluster.conftest import DEPLOY, aggregator_config, cluster_table, load_config_text, wait_for

SIM_PERP = "sim:BTC-PERP"
RECOVERY_S = 10.0  # the bound: detection (1 s) + reconnect + recreation + a report interval


def _node(urls: list[str], node_id: str) -> Any:
    return load_config_text(DEPLOY.format(name=node_id) + """
[venues.sim]
adapter = "adapters.sim:SimVenue"
[risk]
max_position_qty = 1000.0
""" + cluster_table(urls, node_id, report_interval_s=0.05, heartbeat_interval_s=0.2,
                    aggregator_timeout_s=2.0))


async def _one_node_at_one_btc(running: Any, urls: list[str]) -> tuple[Any, Any, float]:
    """An aggregator and node n1 holding 1 contract of the linear perp, in the firm view;
    (aggregator, node, BTC per contract)."""
    agg = await running.aggregator(aggregator_config(urls, nodes=["n1"]))
    n1 = await running.node(_node(urls, "n1"))
    cs = n1.kernel.instruments[SIM_PERP].contract_size
    n1.kernel.portfolio.adjust_position(SIM_PERP, 1.0, 60_000.0)  # (sets the position)
    await wait_for(lambda: math.isclose(agg.firm.greeks().get("BTC", {}).get("delta", 0.0), cs), 10, "delta")
    return agg, n1, cs


def _wipe_and_restart(server: Any) -> None:
    server.stop()
    shutil.rmtree(server.store_dir / server.name)  # the JetStream store: streams, buckets, consumers
    server.start()  # the same port: the clients reconnect to an empty JetStream


async def _stream_reports(url: str, node_id: str) -> int:
    """Reports of ``node_id`` in the reports stream right now (0 if it does not exist)."""
    import nats

    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info("VOLTA_RISK", subjects_filter=f"volta.risk.{node_id}.report")
        return sum((info.state.subjects or {}).values())
    except Exception:  # noqa: BLE001 - no stream
        return 0
    finally:
        await nc.close()


async def test_a_wiped_store_is_recreated_and_the_firm_view_rebuilt(nats_server, running) -> None:  # type: ignore[no-untyped-def]
    urls = [nats_server.url]
    agg = await running.aggregator(aggregator_config(urls, nodes=["n1"]))
    n1 = await running.node(_node(urls, "n1"))
    cs = n1.kernel.instruments[SIM_PERP].contract_size
    n1.kernel.portfolio.adjust_position(SIM_PERP, 2.0, 60_000.0)  # (sets the position) linear perp: 2 * cs BTC
    await wait_for(lambda: math.isclose(agg.firm.greeks().get("BTC", {}).get("delta", 0.0), 2.0 * cs),
                   10, "the firm delta before the wipe")
    await wait_for(lambda: agg.leader and n1.kernel.gate.state is TradingState.ACTIVE, 10, "leased")
    assert agg.store.losses == 0 and agg.store.ok

    with capture_logs() as logs:
        _wipe_and_restart(nats_server)
        # Nothing changed at the node: its latest state must still reach the new stream (the
        # nodes are asked to report again), so a restarted aggregator could rebuild from it.
        await wait_for(lambda: agg.store.losses == 1 and agg.store.ok, RECOVERY_S, "the store recreated")
        n = 0
        for _ in range(int(RECOVERY_S / 0.1)):
            n = await _stream_reports(nats_server.url, "n1")
            if n:
                break
            await asyncio.sleep(0.1)
        assert n >= 1, "the node's latest state was not republished to the recreated stream"
        # A change after the wipe reaches the firm view (before the fix: never, the consumer was gone).
        n1.kernel.portfolio.adjust_position(SIM_PERP, 3.0, 60_000.0)  # 3 * cs BTC now
        took = await wait_for(lambda: math.isclose(agg.firm.greeks().get("BTC", {}).get("delta", 0.0),
                                                   3.0 * cs), RECOVERY_S, "the firm delta after the wipe")
        assert took < RECOVERY_S
        # The lease bucket is back: the aggregator leads and the node trades.
        await wait_for(lambda: agg.leader and n1.kernel.gate.state is TradingState.ACTIVE, RECOVERY_S,
                       "leader again, node released")
    lost = [e for e in logs if e["event"] == "jetstream_store_lost"]
    assert len(lost) == 1 and lost[0]["log_level"] == "warning", lost
    assert "VOLTA_RISK" in lost[0]["lost"][0]
    health = agg.health()
    assert health["store"]["losses"] == 1 and health["store"]["ok"] is True
    assert health["store"]["lost_at_ns"] <= health["store"]["recovered_at_ns"]
    assert any(a.kind == "store_lost" for a in agg.alerts)
    metrics = agg.metrics().decode()
    assert "volta_firm_store_losses_total 1.0" in metrics and "volta_firm_store_ok 1.0" in metrics

    # A second aggregator started now rebuilds the node's exposure from the recreated stream.
    other = await running.aggregator(aggregator_config(urls, "agg-2", nodes=["n1"]))
    assert math.isclose(other.firm.greeks()["BTC"]["delta"], 3.0 * cs)


async def test_a_stream_deleted_by_an_operator_is_recreated(nats_server, running) -> None:  # type: ignore[no-untyped-def]
    import nats

    agg, n1, cs = await _one_node_at_one_btc(running, [nats_server.url])
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jetstream().delete_stream("VOLTA_RISK")
    finally:
        await nc.close()
    await wait_for(lambda: agg.store.losses == 1 and agg.store.ok, RECOVERY_S, "the stream recreated")
    n1.kernel.portfolio.adjust_position(SIM_PERP, -2.0, 60_000.0)
    await wait_for(lambda: math.isclose(agg.firm.greeks().get("BTC", {}).get("delta", 0.0), -2.0 * cs),
                   RECOVERY_S, "the firm delta after the deletion")


@pytest.mark.parametrize("tick_ms", [50, 600_000])
async def test_the_gateway_recreates_its_snapshot_bucket(nats_server, running, tick_ms: int) -> None:  # type: ignore[no-untyped-def]
    """Nodes started after the wipe find the gateway's instrument list and books again, also
    when the gateway's books are quiet (600 s between ticks: it has nothing to write)."""
    import nats

    await running.gateway([nats_server.url], tick_ms=tick_ms)
    await asyncio.sleep(2.5)  # the first books are in the bucket: nothing left to write
    _wipe_and_restart(nats_server)
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()

        async def listed() -> bool:
            try:
                kv = await js.key_value("volta_md_snapshots")
                await kv.get("gw._instruments")
                return True
            except Exception:  # noqa: BLE001 - not yet
                return False
        for _ in range(int(RECOVERY_S / 0.2)):
            if await listed():
                break
            await asyncio.sleep(0.2)
        assert await listed(), "the gateway did not recreate its bucket and instrument list"
    finally:
        await nc.close()


async def test_health_and_metrics_show_the_store_lost_until_it_is_back(
        nats_server, running, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import nats

    from cluster.connection import NatsUnavailable

    agg = await running.aggregator(aggregator_config([nats_server.url], nodes=["n1"]))
    assert agg.health()["ok"] is True
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jetstream().delete_stream("VOLTA_RISK")
    finally:
        await nc.close()

    async def refused(*_: Any, **__: Any) -> bool:
        raise NatsUnavailable("JetStream cannot provide the stream VOLTA_RISK: test")
    monkeypatch.setattr("cluster.aggregator.ensure_reports_stream", refused)  # cannot recreate yet
    try:
        await agg.check_store()
    except NatsUnavailable:
        pass
    health = agg.health()
    assert health["ok"] is False and health["store"]["ok"] is False
    assert health["store"]["lost"] == ["stream VOLTA_RISK"] and health["store"]["losses"] == 1
    assert "volta_firm_store_ok 0.0" in agg.metrics().decode()
    assert agg.view()["aggregator"]["store"]["ok"] is False
    monkeypatch.undo()
    await agg.check_store()
    assert agg.health()["ok"] is True and agg.store.losses == 1  # the same loss, not a second


async def test_reports_the_stream_refuses_are_said_while_heartbeats_keep_the_node_fresh(
        nats_server, running) -> None:  # type: ignore[no-untyped-def]
    """The stream exists but stores nothing more (full: an operator's cap, a full disk): the
    node's heartbeats keep it fresh, so its stale exposure must be named another way."""
    import dataclasses

    import nats
    from nats.js.api import DiscardPolicy

    agg, n1, cs = await _one_node_at_one_btc(running, [nats_server.url])
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("VOLTA_RISK")
        full = dataclasses.replace(info.config, max_msgs=info.state.messages, discard=DiscardPolicy.NEW)
        await js.update_stream(full)  # no room for one more report
        n1.kernel.portfolio.adjust_position(SIM_PERP, 2.0, 60_000.0)
        # node_stale_after_s = 1 in aggregator_config: said within that and a heartbeat or two
        await wait_for(lambda: any(a.kind == "reports_lagging" and a.node_id == "n1" for a in agg.alerts),
                       5, "a reports_lagging alert")
        assert not agg.firm.nodes["n1"].stale  # (heartbeats: the node is alive)
        row = agg.view()["nodes"]["n1"]
        assert row["reports_lagging"] is True and row["reports_behind"] >= 1
        assert "volta_firm_node_reports_lagging{node=\"n1\"} 1.0" in agg.metrics().decode()
        assert math.isclose(agg.firm.greeks()["BTC"]["delta"], cs)  # what it holds: the old figure
        await js.update_stream(dataclasses.replace(info.config))  # room again
        await wait_for(lambda: math.isclose(agg.firm.greeks()["BTC"]["delta"], 2.0 * cs), 10, "caught up")
        await wait_for(lambda: any(a.kind == "reports_caught_up" for a in agg.alerts), 5, "caught up alert")
        assert agg.view()["nodes"]["n1"]["reports_lagging"] is False
    finally:
        await nc.close()


async def test_a_server_restarted_without_jetstream_is_a_lost_store(nats_server, running) -> None:  # type: ignore[no-untyped-def]
    """nats-server restarted on the same port but without -js: every JetStream request goes
    unanswered. That is not 'cannot ask right now': the health must say the store is lost."""
    from cluster.server import NatsServer

    agg = await running.aggregator(aggregator_config([nats_server.url], nodes=["n1"]))
    nats_server.stop()
    bare = NatsServer(nats_server.store_dir, nats_server.port, name="bare", jetstream=False).start()
    try:
        await wait_for(lambda: not agg.store.ok, 10, "the store reported lost")
        assert agg.health()["ok"] is False
        assert agg.store.lost == ["JetStream (the server runs without it)"]
    finally:
        bare.stop()
    nats_server.start()  # with JetStream and its store again
    await wait_for(lambda: agg.store.ok and agg.health()["ok"], 15, "the store back")
    assert agg.store.losses == 1
