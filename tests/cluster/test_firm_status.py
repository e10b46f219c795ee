"""``volta status --url <aggregator>`` and the aggregator's ``/metrics``: the firm view on the
operator's status command and in Prometheus, against a real aggregator (NATS started by the
test, 127.0.0.1) holding a simulated node's reports."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from engine.operator.client import status_main
from tests.cluster.conftest import aggregator_config, sim_node_config, wait_for

SIM_PERP = "sim:BTC-PERP"


def _status(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = status_main(argv)
    return code, out.getvalue(), err.getvalue()


async def test_volta_status_reads_the_aggregators_firm_view(nats_server: Any, running: Any) -> None:
    urls = [nats_server.url]
    await running.gateway(urls)
    agg = await running.aggregator(aggregator_config(
        urls, nodes=["node-sim"], firm={"BTC": {"max_delta": 4.0}}))
    node = await running.node(sim_node_config(urls))
    await wait_for(lambda: node.cluster_service.budget_revision > 0, 10, "the node's budget")
    await wait_for(lambda: node.kernel.books.get(SIM_PERP) is not None
                   and node.kernel.books[SIM_PERP].is_live, 10, "the sim book")
    node.kernel.portfolio.adjust_position(SIM_PERP, 1.5, node.kernel.books[SIM_PERP].mid())

    def holds_it() -> bool:
        st = agg.firm.nodes.get("node-sim")
        return st is not None and st.report is not None and any(
            t.delta == 1.5 for t in st.report.totals)
    await wait_for(holds_it, 10, "the aggregator to hold the position")
    url = f"http://127.0.0.1:{agg.api_port}/"

    code, text, err = await asyncio.to_thread(_status, ["--url", url, "--json"])
    assert code == 0, err
    snap = json.loads(text)
    assert snap["kind"] == "firm"
    assert snap["firm"]["greeks"]["BTC"]["delta"] == 1.5  # a perp: 1 BTC per contract
    assert snap["firm"]["firm_limits"]["BTC"]["max_delta"] == 4.0

    code, text, err = await asyncio.to_thread(_status, ["--url", url])
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0].startswith(f"firm view  aggregator {agg.id} (leader)")
    assert "firm limits: none breached" in lines
    btc = next(line.split() for line in lines if line.strip().startswith("BTC "))
    # underlying, delta, delta USD, gamma, vega, theta, max delta, delta use %, vega use %
    assert btc[1] == "1.5000" and btc[6] == "4.0000"
    assert btc[7] == f"{1.5 / 4.0 * 100:.1f}"  # 37.5 % of the firm's delta limit
    node_row = next(line.split() for line in lines if line.strip().startswith("node-sim "))
    assert node_row[1] == "active" and node_row[-2:] == ["BTC", "+1.5000"]
    assert any(line.strip().startswith("sim ") for line in lines)  # the venue row

    def scrape() -> str:
        with urllib.request.urlopen(url + "metrics", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return resp.read().decode()
    m = {(s.name, tuple(sorted(s.labels.items()))): s.value
         for fam in text_string_to_metric_families(await asyncio.to_thread(scrape))
         for s in fam.samples}
    assert m[("volta_firm_greek", (("greek", "delta"), ("underlying", "BTC")))] == 1.5
    assert m[("volta_firm_limit_use_ratio", (("greek", "delta"), ("underlying", "BTC")))] == 1.5 / 4.0
    assert m[("volta_firm_limit_breached", (("underlying", "BTC"),))] == 0.0
    assert m[("volta_firm_node_stale", (("node", "node-sim"),))] == 0.0
    assert m[("volta_firm_aggregator_leader", ())] == 1.0
    assert m[("volta_firm_venue_gross_notional_usd", (("venue", "sim"),))] > 0
    # no account view on that node: collateral is unknown, so absent rather than 0
    assert ("volta_firm_venue_collateral_usd", (("venue", "sim"),)) not in m


def test_volta_status_names_an_aggregator_that_does_not_answer() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    code, out, err = _status(["--url", f"http://127.0.0.1:{port}/"])
    assert code == 1 and out == ""
    assert err.startswith(f"volta status: the daemon at http://127.0.0.1:{port}/ does not answer")
    assert len(err.strip().splitlines()) == 1


async def test_volta_status_shows_a_lost_store_and_a_lagging_node() -> None:
    """The aggregator's own API (served by the test, no NATS needed for what it shows) with its
    JetStream store lost and a node whose reports stopped arriving: ``volta status`` showed
    neither, so the operator read a frozen firm view as a current one."""
    import time

    from cluster.aggregator import Aggregator
    from tests.cluster.test_firm_view import _cfg, _report

    agg = Aggregator(_cfg(node_stale_after_s=3.0, api_port=0))
    now = time.monotonic()
    agg.firm.apply(_report("a", 4, 1.0), now)
    agg.firm.seen("a", now, 1, 9)  # heartbeats name report 9; the view holds 4: 5 behind
    agg.firm.apply(_report("b", 2, 0.5), now)
    agg.firm.seen("b", now, 1, 2)  # b is current
    agg.firm.update_lagging(now + 3.5)  # 3.5 s > node_stale_after_s without report 9: lagging
    agg.store.note_lost(["stream VOLTA_RISK", "consumer agg-agg"])
    await agg._serve_api()
    try:
        code, text, err = await asyncio.to_thread(_status, ["--url", f"http://127.0.0.1:{agg.api_port}/"])
    finally:
        await agg.stop()
    assert code == 0, err
    lines = text.splitlines()
    assert ("  JetStream store LOST (stream VOLTA_RISK, consumer agg-agg): the firm view holds the last "
            "reports it got until the aggregator has recreated the store and the nodes have reported "
            "again") in lines
    head = next(line.split() for line in lines if line.strip().startswith("node "))
    assert head[:9] == ["node", "state", "kill", "seen", "s", "ago", "reports", "missing", "behind"]
    a = next(line.split() for line in lines if line.strip().startswith("a "))
    b = next(line.split() for line in lines if line.strip().startswith("b "))
    col = 6  # node, state, kill, seen s ago, reports, missing, behind
    # a: 9 - 4 = 5 reports named and not here, for longer than node_stale_after_s
    assert a[col:col + 2] == ["LAGGING", str(9 - 4)]
    assert b[col] == "0" and "LAGGING" not in b
