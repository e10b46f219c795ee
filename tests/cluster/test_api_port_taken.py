"""An aggregator whose API port is taken fails to start without holding the leader lease."""

from __future__ import annotations

import asyncio
import socket

import pytest

from cluster.connection import NatsUnavailable
from tests.cluster.conftest import aggregator_config, wait_for


async def test_a_start_failing_on_a_taken_port_never_holds_the_lease(nats_server, running) -> None:  # type: ignore[no-untyped-def]
    """The lease task started before the API was served: with its port taken the start failed,
    but the lease was already (or about to be) taken, and the real leader waited up to
    lease_ttl_s for an aggregator that was not there."""
    from cluster.aggregator import Aggregator
    from cluster.lease import KEY

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        cfg = aggregator_config([nats_server.url], "agg-bad", api_port=port, lease_ttl_s=30.0).cluster
        assert cfg is not None
        bad = Aggregator(cfg)
        with pytest.raises(NatsUnavailable, match=f"cannot serve the firm view on 127.0.0.1:{port}"):
            await asyncio.wait_for(bad.start(), 30)
        await asyncio.sleep(1.0)  # time for a lease task left behind to take the lease
        assert not bad.leader
        good = await running.aggregator(aggregator_config([nats_server.url], "agg-good",
                                                          lease_ttl_s=30.0))
        assert good._lease is not None
        # leads at its first tick, not after the 30 s lease of the failed one
        await wait_for(lambda: good.leader, 5.0, "the real aggregator to lead")
        entry = await good._lease.kv.get(KEY)
        assert entry.value == b"agg-good"
    finally:
        holder.close()
