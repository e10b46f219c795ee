"""Real nats-server processes (127.0.0.1, ephemeral ports, JetStream in a temp dir, always
killed) and in-process cluster services for the cluster tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.server import NatsServer, NatsServerError, server_binary
from engine.clock import LiveClock
from engine.config import load_config_text
from engine.config.schema import VoltaConfig
from engine.runtime import Node, build_node

try:
    server_binary()
    import nats  # noqa: F401
except (NatsServerError, ImportError) as exc:  # pragma: no cover - the dev extra installs both
    pytest.skip(f"cluster extra not installed: {exc}", allow_module_level=True)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    with NatsServer(tmp_path / "nats") as server:
        yield server


def cluster_table(urls: list[str], node_id: str, role: str = "node", **extra: Any) -> str:
    lines = ["[cluster]", f'node_id = "{node_id}"', f'role = "{role}"',
             "servers = [" + ", ".join(f'"{u}"' for u in urls) + "]"]
    firm = extra.pop("firm", None)
    for k, v in extra.items():
        lines.append(f"{k} = {_toml(v)}")
    if firm:
        for und, lim in firm.items():
            lines.append(f"[cluster.firm.{und}]")
            lines += [f"{k} = {_toml(v)}" for k, v in lim.items()]
    return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v)


DEPLOY = '[deployment]\nname = "{name}"\nmode = "paper"\njournal = ":memory:"\nstatus_interval_s = 60\n' \
         '[logging]\nlevel = "warning"\n'


def gateway_config(urls: list[str], tick_ms: int = 50) -> VoltaConfig:
    return load_config_text(DEPLOY.format(name="gateway") + f"""
[venues.gw]
adapter = "adapters.sim:SimVenue"
[venues.gw.params]
venue = "gw"
tick_ms = {tick_ms}
[risk]
kill_switch = true
""" + cluster_table(urls, "gateway-1", "gateway"))


def md_venue(urls: list[str], symbols: list[str] | None = None) -> str:
    return f"""
[venues.gw]
adapter = "adapters.nats:NatsMarketData"
[venues.gw.params]
servers = {_toml(urls)}
symbols = {_toml(symbols or [])}
"""


def sim_node_config(urls: list[str], node_id: str = "node-sim", **cluster: Any) -> VoltaConfig:
    return load_config_text(DEPLOY.format(name=node_id) + md_venue(urls, ["BTC-PERP"]) + """
[venues.sim]
adapter = "adapters.sim:SimVenue"
[venues.sim.params]
seed = 3
[risk]
max_order_qty = 5.0
max_position_qty = 20.0
price_band_pct = 20.0
""" + cluster_table(urls, node_id, **{"report_interval_s": 0.1, "heartbeat_interval_s": 0.2,
                                      **cluster}))


def deribit_node_config(urls: list[str], ws_url: str, node_id: str = "node-deribit",
                        **cluster: Any) -> VoltaConfig:
    return load_config_text(DEPLOY.format(name=node_id) + md_venue(urls, ["BTC-PERP"]) + f"""
[venues.deribit]
adapter = "adapters.deribit.session:DeribitVenue"
[venues.deribit.params]
ws_url = "{ws_url}"
client_id = "fake-id"
client_secret = "fake-secret"
instruments = ["BTC-PERPETUAL"]
channels = ["book", "trades"]
book_interval = "raw"
heartbeat_interval_s = 10
[risk]
max_order_qty = 1000.0
max_position_qty = 5000.0
max_order_notional_usd = 1000000.0
price_band_pct = 20.0
""" + cluster_table(urls, node_id, **{"report_interval_s": 0.1, "heartbeat_interval_s": 0.2,
                                      **cluster}))


def aggregator_config(urls: list[str], agg_id: str = "agg-1", **cluster: Any) -> VoltaConfig:
    return load_config_text(DEPLOY.format(name=agg_id) + cluster_table(
        urls, agg_id, "aggregator", **{"api_port": 0, "node_stale_after_s": 1.0,
                                       "budget_renew_s": 0.25, "lease_ttl_s": 1.5, **cluster}))


class Running:
    """Services started in this event loop, stopped in reverse order."""

    def __init__(self) -> None:
        self._stops: list[Callable[[], Any]] = []

    async def gateway(self, urls: list[str], **kw: Any) -> Any:
        from cluster.gateway import serve_gateway

        ready = asyncio.Event()
        task = asyncio.get_running_loop().create_task(serve_gateway(gateway_config(urls, **kw), None, ready))
        await asyncio.wait_for(ready.wait(), 20)
        self._stops.append(lambda: _cancel(task))
        return task

    async def node(self, config: VoltaConfig) -> Node:
        node = build_node(config, LiveClock(), journal_path=":memory:")
        await node.start()
        tasks = [asyncio.get_running_loop().create_task(a.run()) for a in node.kernel.adapters.values()]

        async def stop() -> None:
            await node.stop()
            for t in tasks:
                t.cancel()
        self._stops.append(stop)
        return node

    async def aggregator(self, config: VoltaConfig) -> Any:
        from cluster.aggregator import Aggregator

        assert config.cluster is not None
        agg = Aggregator(config.cluster)
        await agg.start()
        self._stops.append(agg.stop)
        return agg

    async def close(self) -> None:
        for stop in reversed(self._stops):
            try:
                await asyncio.wait_for(stop(), 10)
            except Exception:  # noqa: BLE001 - stop the rest
                pass


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001
        pass


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    r = Running()
    try:
        yield r
    finally:
        await r.close()


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll ``pred`` until true; returns the seconds it took. Fails the test on timeout."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0
