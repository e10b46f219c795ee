"""One gateway, two nodes (the simulated venue; the fake Deribit venue), the aggregator: the
firm view, budgets enforced by each node's gate, firm breach mitigation, a silent node."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

from adapters.deribit.fake import DeribitFake
from engine.model import OrderType, Side, SubmitOrder, TradingState
from engine.risk.limits import Reason
from tests.cluster.conftest import aggregator_config, deribit_node_config, sim_node_config, wait_for

SIM_PERP = "sim:BTC-PERP"
DERIBIT_PERP = "deribit:BTC-PERPETUAL"


async def _cluster(running: Any, urls: list[str], fake: DeribitFake, **firm: Any) -> tuple[Any, Any, Any]:
    await running.gateway(urls)
    agg = await running.aggregator(aggregator_config(urls, nodes=["node-sim", "node-deribit"], **firm))
    a = await running.node(sim_node_config(urls))
    b = await running.node(deribit_node_config(urls, fake.url))
    for n in (a, b):  # fail-closed until the first budget, then ACTIVE
        await wait_for(lambda n=n: not n.cluster_service.held and n.cluster_service.budget_revision > 0,
                       10, "the node's first budget")
    await wait_for(lambda: all(b.kernel.books.get(i) is not None and b.kernel.books[i].is_live
                               for i in (DERIBIT_PERP,)), 10, "deribit book")
    return agg, a, b


def _own(node: Any, i: int, canonical: str = "BTC") -> float:
    """The node's own view: its portfolio's Greek ``i`` summed over every underlying key of
    ``canonical`` (Deribit's ``btc_usd`` index is BTC)."""
    pf = node.kernel.portfolio
    keys = {pf.underlying_of(iid) for iid, inst in node.kernel.instruments.items()
            if inst.base.upper() == canonical}
    return sum(pf.greeks(k)[i] for k in keys if k is not None)


def _perp_price(node: Any, iid: str) -> float:
    return node.kernel.books[iid].mid()


async def _consistent(agg: Any, nodes: list[Any], timeout: float = 10.0) -> None:
    """Wait for a moment where every node's latest state is the report the aggregator applied."""
    def ok() -> bool:
        for n in nodes:
            svc = n.cluster_service
            st = agg.firm.nodes.get(svc.node_id)
            if st is None or st.report is None or st.report.seq != svc.seq or not svc.in_sync():
                return False
        return True
    await wait_for(ok, timeout, "the aggregator to hold every node's current report")


async def test_firm_greeks_are_the_sum_of_the_nodes_and_budgets_bind_locally(nats_server, running) -> None:
    urls = [nats_server.url]
    async with DeribitFake(("BTC-PERPETUAL",), seed=5, step_s=0.02) as fake:
        agg, a, b = await _cluster(running, urls, fake, firm={"BTC": {"max_delta": 10.0}})
        px_a = _perp_price(a, SIM_PERP)
        a.kernel.portfolio.adjust_position(SIM_PERP, 2.0, px_a)
        b.kernel.portfolio.adjust_position(DERIBIT_PERP, 30_000.0, _perp_price(b, DERIBIT_PERP))
        await _consistent(agg, [a, b])
        firm = agg.firm.greeks()["BTC"]
        for i, g in enumerate(("delta", "gamma", "vega_usd", "theta_usd_day")):
            own = _own(a, i) + _own(b, i)
            assert math.isclose(firm[g], own, rel_tol=1e-12, abs_tol=1e-9), (g, firm[g], own)
        # First principles: a linear perp's delta is qty * contract size (1 BTC per contract on
        # the simulator); Deribit's inverse perp is 10 USD per contract: 30000*10/price BTC.
        inst_b = b.kernel.instruments[DERIBIT_PERP]
        px_b = b.kernel.portfolio.position(DERIBIT_PERP).mark  # an inverse delta is priced at its mark
        expected_b = 30_000.0 * inst_b.contract_size / px_b
        assert math.isclose(_own(b, 0), expected_b, rel_tol=1e-9)
        assert math.isclose(a.kernel.portfolio.greeks("BTC")[0],
                            2.0 * a.kernel.instruments[SIM_PERP].contract_size, rel_tol=1e-12)
        # per-expiry buckets add up to the totals; credit risk per venue
        by_exp = agg.firm.greeks_by_expiry()["BTC"]
        assert math.isclose(sum(x["delta"] for x in by_exp.values()), firm["delta"], abs_tol=1e-9)
        venues = agg.firm.venues()
        assert set(venues) == {"sim", "deribit"}
        assert math.isclose(venues["deribit"]["gross_notional_usd"], 30_000.0 * inst_b.contract_size)  # inverse: USD contracts
        assert venues["sim"]["collateral_usd"] is None  # unknown, not 0

        # Budgets: the firm's 10 BTC split equally -> 5 BTC per node, enforced by A's own gate.
        assert a.cluster_service.budgets["BTC"].max_delta == pytest.approx(5.0)
        def order(qty: float, n: int) -> SubmitOrder:
            return SubmitOrder(client_order_id=f"t-{n}", strategy_id="t", instrument_id=SIM_PERP,
                               side=Side.BUY, quantity=qty, order_type=OrderType.LIMIT,
                               price=a.kernel.books[SIM_PERP].best_bid_price(), ts=a.clock.now_ns())
        denial = a.kernel.gate.check(order(3.5, 1))  # 2 + 3.5 = 5.5 BTC > 5
        assert denial is not None and denial.reason == Reason.MAX_DELTA, denial
        assert a.kernel.gate.check(order(2.5, 2)) is None  # 4.5 BTC: within budget

        # A budget change is acknowledged and binds at once.
        t0 = time.perf_counter_ns()
        acks = await agg.send_budgets("test: tighter")
        assert acks == {"node-sim": True, "node-deribit": True}
        assert agg.firm.nodes["node-sim"].budget_ack_revision == agg.revision
        assert a.cluster_service.budget_applied_at[agg.revision] >= t0


async def test_a_firm_delta_breach_halts_every_node_within_a_second(nats_server, running) -> None:
    urls = [nats_server.url]
    async with DeribitFake(("BTC-PERPETUAL",), seed=6, step_s=0.02) as fake:
        agg, a, b = await _cluster(running, urls, fake, firm={"BTC": {"max_delta": 3.0}})
        await wait_for(lambda: agg.leader, 5, "a leader")
        t0 = time.monotonic()
        a.kernel.portfolio.adjust_position(SIM_PERP, 4.0, _perp_price(a, SIM_PERP))  # 4 BTC > 3
        took = await wait_for(lambda: all(n.kernel.gate.state is TradingState.HALTED for n in (a, b)),
                              5, "both nodes halted")
        assert time.monotonic() - t0 < 1.0, f"halted after {took:.3f}s"
        assert a.kernel.killswitch.level == 1 and b.kernel.killswitch.level == 1
        assert "aggregator" in a.kernel.killswitch.source
        assert any(al.kind == "firm_breach" for al in agg.alerts)
        assert agg.firm.breached == {"BTC": ["delta"]}
        # budgets of the breached underlying shrank (factor 0: only reducing orders pass)
        await wait_for(lambda: a.cluster_service.budgets["BTC"].max_delta == 0.0, 3, "shrunk budget")
        await wait_for(lambda: {c["node"] for c in agg.kill_commands.values() if c["acked"]}
                       == {"node-sim", "node-deribit"}, 3, "both kill commands acknowledged")
