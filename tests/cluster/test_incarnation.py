"""A node's lives are ordered by incarnation; a restart on a clock that is behind (an NTP step
back, another machine) must still be a newer life than the one before it."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from tests.cluster.conftest import DEPLOY, aggregator_config, cluster_table, load_config_text, wait_for

SIM_PERP = "sim:BTC-PERP"
SKEW_NS = 3600 * 10**9  # the restarted node's clock is an hour behind its previous life's


class _ClockBehind:
    """``time`` as ``cluster.node`` sees it, with the wall clock an hour behind."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def time_ns() -> int:
        return time.time_ns() - SKEW_NS


def _node(urls: list[str]) -> Any:
    return load_config_text(DEPLOY.format(name="n1") + """
[venues.sim]
adapter = "adapters.sim:SimVenue"
[risk]
max_position_qty = 1000.0
""" + cluster_table(urls, "n1", report_interval_s=0.05, heartbeat_interval_s=0.2))


async def test_a_node_restarted_on_a_clock_behind_is_a_newer_life(
        nats_server, running, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    urls = [nats_server.url]
    agg = await running.aggregator(aggregator_config(urls, nodes=["n1"]))
    first = await running.node(_node(urls))
    cs = first.kernel.instruments[SIM_PERP].contract_size
    first.kernel.portfolio.adjust_position(SIM_PERP, 1.0, 60_000.0)  # (sets the position)
    await wait_for(lambda: math.isclose(agg.firm.greeks().get("BTC", {}).get("delta", 0.0), cs),
                   10, "the first life's delta")
    old = first.cluster_service.incarnation
    await first.stop()

    monkeypatch.setattr("cluster.node.time", _ClockBehind())
    second = await running.node(_node(urls))
    assert second.cluster_service.incarnation > old  # continues from the stream, not the clock
    second.kernel.portfolio.adjust_position(SIM_PERP, -2.0, 60_000.0)
    # before: every report of the new life was dropped as one of an older life (counted as a
    # duplicate) while its heartbeats kept the node fresh: the firm view kept +1 for good
    await wait_for(lambda: math.isclose(agg.firm.greeks().get("BTC", {}).get("delta", 0.0), -2.0 * cs),
                   10, "the second life's delta")
    assert agg.firm.nodes["n1"].report.incarnation == second.cluster_service.incarnation


async def test_a_restarting_node_reports_nothing_before_it_has_recovered_its_positions(
        nats_server, running, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The node service starts before the journal and the venues are read (an unreachable NATS
    fails first); a report built then says 'flat' for a node that holds positions, and the
    firm view would take it as the new life's state until reconciliation ends (seconds, or
    as long as a venue is down). Until then the previous life's last report must stand."""
    import asyncio

    import engine.runtime
    from engine.clock import LiveClock
    from engine.runtime import build_node

    urls = [nats_server.url]
    agg = await running.aggregator(aggregator_config(urls, nodes=["n1"]))
    first = await running.node(_node(urls))
    cs = first.kernel.instruments[SIM_PERP].contract_size
    first.kernel.portfolio.adjust_position(SIM_PERP, 1.0, 60_000.0)
    await wait_for(lambda: math.isclose(agg.firm.greeks().get("BTC", {}).get("delta", 0.0), cs),
                   10, "the first life's delta")
    await first.stop()

    reconciled = asyncio.Event()
    real_recover = engine.runtime.recover

    async def slow_recover(*args: Any, **kwargs: Any) -> bool:
        await asyncio.wait_for(reconciled.wait(), 20)  # a venue slow to answer
        return await real_recover(*args, **kwargs)
    monkeypatch.setattr("engine.runtime.recover", slow_recover)
    second = build_node(_node(urls), LiveClock(), journal_path=":memory:")
    starting = asyncio.get_running_loop().create_task(second.start())
    running._stops.append(second.stop)
    await wait_for(lambda: second.cluster_service is not None and second.cluster_service._tasks,
                   10, "the new life's cluster service")
    await asyncio.sleep(1.0)  # 20 report intervals, 5 heartbeats
    assert math.isclose(agg.firm.greeks()["BTC"]["delta"], cs)  # the last known exposure stands
    assert agg.firm.nodes["n1"].report.incarnation == first.cluster_service.incarnation
    reconciled.set()
    await asyncio.wait_for(starting, 20)
    # recovered (an in-memory journal, a fresh simulated venue: flat), its report is the truth now
    await wait_for(lambda: agg.firm.nodes["n1"].report.incarnation == second.cluster_service.incarnation,
                   10, "the new life's first report")
    assert agg.firm.greeks().get("BTC", {}).get("delta", 0.0) == 0.0  # (no BTC left at all)
