"""Budget revisions across aggregators: a standby that takes over from a leader whose clock was
ahead of its own still has its budgets applied by the nodes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.cluster.conftest import DEPLOY, aggregator_config, cluster_table, load_config_text, wait_for

AHEAD_NS = 3600 * 10**9


class _ClockAhead:
    """``time`` as ``cluster.aggregator`` sees it, with the wall clock an hour ahead."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def time_ns() -> int:
        return time.time_ns() + AHEAD_NS


def _node(urls: list[str]) -> Any:
    return load_config_text(DEPLOY.format(name="n1") + '[venues.sim]\nadapter = "adapters.sim:SimVenue"\n'
                            + cluster_table(urls, "n1", report_interval_s=0.05, heartbeat_interval_s=0.2))


async def test_a_standby_whose_clock_is_behind_the_old_leaders_has_its_budgets_applied(
        nats_server, running, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    urls = [nats_server.url]
    monkeypatch.setattr("cluster.aggregator.time", _ClockAhead())
    old = await running.aggregator(aggregator_config(urls, "agg-1", nodes=["n1"],
                                                     firm={"BTC": {"max_delta": 10.0}}))
    n1 = await running.node(_node(urls))
    svc = n1.cluster_service
    await wait_for(lambda: old.leader and svc.budgets.get("BTC") is not None
                   and svc.budgets["BTC"].max_delta == 10.0, 10, "the first leader's budget")
    assert svc.budget_revision > time.time_ns() + AHEAD_NS // 2  # its clock's revision
    monkeypatch.undo()  # the standby's clock is right

    new = await running.aggregator(aggregator_config(urls, "agg-2", nodes=["n1"],
                                                     firm={"BTC": {"max_delta": 4.0}}))
    await old.stop()  # the lease is released: the standby leads within a quarter of its TTL
    await wait_for(lambda: new.leader, 5, "the standby leads")
    # one node: its budget is the whole firm limit of the new leader, 4 BTC
    await wait_for(lambda: svc.budgets["BTC"].max_delta == 4.0, 5, "the new leader's budget applied")
    acks = await new.send_budgets("test")
    assert acks == {"n1": True} and svc.budget_revision == new.revision
