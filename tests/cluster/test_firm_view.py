"""Pure parts: budget allocation, breaches, report ordering, the gate's tighter-of merge."""

from __future__ import annotations

from engine.clock import VirtualClock
from engine.config.schema import ClusterConfig, FirmUnderlyingLimits
from engine.kernel import Kernel
from engine.risk import RiskLimits, UnderlyingLimits

from cluster.firm import FirmView
from cluster.messages import ExposureReport, PnlUsd, UnderlyingTotals


def _cfg(**kw: object) -> ClusterConfig:
    base = dict(node_id="agg", role="aggregator", nodes=["a", "b", "c"],
                firm={"BTC": FirmUnderlyingLimits(max_delta=6.0, max_vega_usd=3000.0)})
    base.update(kw)
    return ClusterConfig(**base)  # type: ignore[arg-type]


def _report(node: str, seq: int, delta: float, inc: int = 1) -> ExposureReport:
    return ExposureReport(node_id=node, incarnation=inc, seq=seq, ts=0, trading_state="active",
                          kill_level=0, budget_revision=0,
                          totals=[UnderlyingTotals("BTC", delta, 0.0, 0.0, 0.0, None)], greeks=[],
                          positions=[], open_orders=[], venues=[], pnl_usd=PnlUsd(0.0, 0.0, 0.0, 0.0))


def test_budgets_split_firm_limits_by_weight_and_shrink_on_breach() -> None:
    view = FirmView(_cfg(node_weights={"a": 2.0}, breach_budget_factor=0.25))
    alloc = view.allocate()
    # weights 2:1:1 of 6 BTC -> 3, 1.5, 1.5; of 3000 USD vega -> 1500, 750, 750
    assert (alloc["a"]["BTC"].max_delta, alloc["b"]["BTC"].max_delta) == (3.0, 1.5)
    assert (alloc["a"]["BTC"].max_vega_usd, alloc["c"]["BTC"].max_vega_usd) == (1500.0, 750.0)
    assert alloc["a"]["BTC"].max_gamma is None  # no firm limit -> no budget
    view.apply(_report("a", 1, 4.0), 0.0)
    view.apply(_report("b", 1, 2.5), 0.0)
    assert view.breaches() == {"BTC": ["delta"]}  # 6.5 > 6
    view.breached = view.breaches()
    assert view.allocate()["a"]["BTC"].max_delta == 3.0 * 0.25


def test_reports_apply_once_in_order_and_gaps_are_counted() -> None:
    view = FirmView(_cfg())
    assert view.apply(_report("a", 1, 1.0), 0.0)
    assert view.apply(_report("a", 2, 2.0), 0.0)
    assert not view.apply(_report("a", 2, 2.0), 0.0)  # redelivered
    assert not view.apply(_report("a", 1, 1.0), 0.0)  # replayed
    assert view.apply(_report("a", 5, 5.0), 0.0)      # 3 and 4 not (yet) here
    st = view.nodes["a"]
    assert (st.applied, st.duplicates, st.missing) == (3, 2, 2)
    assert not view.apply(_report("a", 3, 3.0), 0.0)  # late: fills the gap, state stays at 5
    assert (st.late, st.missing) == (1, 1)
    assert view.greeks()["BTC"]["delta"] == 5.0
    assert view.apply(_report("a", 1, 0.5, inc=2), 0.0)  # restarted node: new incarnation
    assert not view.apply(_report("a", 4, 4.0, inc=1), 0.0)  # its previous life: superseded
    assert (st.applied, st.missing) == (4, 0)
    assert view.greeks()["BTC"]["delta"] == 0.5


def test_a_rebuilt_view_counts_no_report_of_an_earlier_life_as_missing() -> None:
    """An aggregator restarted after node a's report 40 rebuilds from the stream's latest
    report per node: 1..39 were taken by its previous life, not lost."""
    view = FirmView(_cfg())
    assert view.apply(_report("a", 40, 4.0), 0.0, baseline=True)
    st = view.nodes["a"]
    assert st.missing == 0
    assert not view.apply(_report("a", 38, 3.8), 0.0)  # the durable consumer's redelivery
    assert view.apply(_report("a", 43, 4.3), 0.0)      # 41 and 42 not (yet) here: a real gap
    assert (st.missing, st.applied) == (2, 2)
    assert not view.apply(_report("a", 41, 4.1), 0.0)
    assert st.missing == 1
    assert view.apply(_report("a", 1, 0.1, inc=2), 0.0)  # the node restarts: counted afresh
    assert view.apply(_report("a", 3, 0.3, inc=2), 0.0)
    assert st.missing == 1


def test_successive_baselines_never_count_a_negative_gap() -> None:
    """The rebuild's ordered consumer delivers the latest report per node, then goes on with
    the reports the nodes publish meanwhile, each applied as a baseline: 50 then 51 leave no
    gap (the failover test saw reports_missing -1 here)."""
    view = FirmView(_cfg())
    st = view.nodes["a"]
    assert view.apply(_report("a", 50, 5.0), 0.0, baseline=True)
    assert view.apply(_report("a", 51, 5.1), 0.0, baseline=True)
    assert st.missing == 0  # 1..50 an earlier life's, 51 here
    assert view.apply(_report("a", 54, 5.4), 0.0)  # after the rebuild: 52 and 53 not here
    assert st.missing == 2
    assert view.apply(_report("a", 60, 6.0), 0.0, baseline=True)  # a later rebuild's baseline
    assert st.missing == 0


def test_staleness_keeps_the_last_exposure() -> None:
    view = FirmView(_cfg(node_stale_after_s=3.0, nodes=["a"]))
    view.apply(_report("a", 1, 1.5), 10.0)
    assert view.update_staleness(12.0) == ([], [])
    assert view.update_staleness(13.5) == (["a"], [])
    assert view.greeks()["BTC"]["delta"] == 1.5
    view.seen("a", 14.0)
    assert view.update_staleness(14.1) == ([], ["a"])


def test_the_gate_enforces_the_tighter_of_budget_and_own_limit() -> None:
    k = Kernel(VirtualClock(0), RiskLimits(underlyings={"BTC": UnderlyingLimits(max_delta=2.0)}))
    gate = k.gate
    gate.set_budget("BTC", UnderlyingLimits(max_delta=5.0, max_vega_usd=100.0))
    assert gate._greek_limits["BTC"] == UnderlyingLimits(max_delta=2.0, max_vega_usd=100.0)
    gate.set_budget("BTC", UnderlyingLimits(max_delta=0.5))
    assert gate._greek_limits["BTC"].max_delta == 0.5
    gate.set_budget("BTC", None)  # budget withdrawn: the configured limit again
    assert gate._greek_limits["BTC"] == UnderlyingLimits(max_delta=2.0)
    gate.set_budget("ETH", UnderlyingLimits(max_delta=1.0))
    assert gate._greek_limits["ETH"].max_delta == 1.0
    gate.set_budget("ETH", None)
    assert "ETH" not in gate._greek_limits


def test_venue_collateral_and_margin_from_the_adapters_account_view() -> None:
    from cluster.exposure import build_report
    from engine.model import Instrument, InstrumentKind

    class Account:  # what a Deribit session keeps from user.portfolio.<ccy>
        venue = "acct"
        balances = {"BTC": {"equity": 2.5, "balance": 2.4, "initial_margin": 0.1},
                    "USDC": {"equity": 1000.0, "initial_margin": 0.0}}

    class NoView:
        venue = "plain"

    k = Kernel(VirtualClock(0), RiskLimits())
    k.adapters.update({"acct": Account(), "plain": NoView()})  # type: ignore[dict-item]
    perp = Instrument(venue="acct", symbol="BTC-PERPETUAL",
                      kind=InstrumentKind.PERPETUAL, base="BTC", quote="USD", settle="BTC",
                      underlying="btc_usd", tick_size=0.5, lot_size=10.0, min_size=10.0,
                      contract_size=10.0, inverse=True)
    k.add_instruments([perp])
    rows = {v.venue: v for v in build_report(k, "n", 1, 1, 0, 0).venues}
    assert rows["acct"].collateral_usd is None  # BTC has no price yet: unknown, not 0
    k.portfolio.set_underlying_price("btc_usd", 60_000.0)
    rows = {v.venue: v for v in build_report(k, "n", 1, 1, 0, 0).venues}
    assert rows["acct"].collateral_usd == 2.5 * 60_000.0 + 1000.0
    assert rows["acct"].margin_used_usd == 0.1 * 60_000.0
    assert "plain" not in rows  # no positions, no orders, no account view: nothing to say


def test_firm_pnl_carries_funding_and_what_has_no_usd_price() -> None:
    """A node's PnL in a coin with no USD price yet is not in its USD figures; the firm view
    must carry it (and funding, which the total includes) instead of dropping it."""
    from cluster.exposure import build_report
    from cluster.messages import decoder, encode
    from engine.operator.client import render_firm
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel()
    real = k.portfolio.pnl_usd
    k.portfolio.pnl_usd = lambda: {**real(), "funding": 1.5, "total": real()["total"] + 1.5,  # type: ignore[method-assign]
                                   "unpriced": {"ETH": -0.25}}
    report = decoder(ExposureReport).decode(encode(build_report(k, "a", 1, 1, 0, 0)))
    view = FirmView(_cfg())
    view.apply(report, 0.0)
    other = _report("b", 1, 0.0)  # a node that reports no funding and nothing unpriced
    view.apply(other, 0.0)
    assert view.pnl_usd()["funding"] == 1.5
    assert view.pnl_unpriced() == {"ETH": -0.25}
    snap = {"kind": "firm", "firm": {**view.view(0.0), "aggregator": {"id": "x", "leader": True}},
            "alerts": []}
    head = render_firm(snap).splitlines()[0]
    assert "funding 1.50" in head and "unpriced -0.25 ETH" in head, head


def test_the_firm_view_names_positions_a_nodes_greek_totals_leave_out() -> None:
    """A node holding a call with no Greeks yet reports totals without it: the report carries
    which positions are left out, and the firm view names them (node and instrument) next to
    the firm totals, instead of a silently incomplete delta."""
    from cluster.exposure import build_report
    from cluster.messages import decoder, encode
    from engine.model import Liquidity, OrderFilled, Side
    from engine.operator.client import render_firm
    from tests.engine.conftest import CALL, PERP, make_kernel

    k, _venue = make_kernel()
    for inst, qty, tid in ((PERP, 0.3, "t1"), (CALL, 2.0, "t2")):
        k.portfolio.on_fill(OrderFilled(client_order_id=tid, venue_order_id="v", instrument_id=inst.id,
                                        trade_id=tid, side=Side.BUY, price=1_500.0, quantity=qty,
                                        remaining=0.0, liquidity=Liquidity.MAKER, fee=0.0,
                                        fee_currency="USD", ts_event=0, ts_recv=0))
    report = decoder(ExposureReport).decode(encode(build_report(k, "a", 1, 1, 0, 0)))
    btc = next(t for t in report.totals if t.underlying == "BTC")
    assert btc.delta == 0.3 and btc.uncounted["delta"] == [CALL.id]
    view = FirmView(_cfg())
    view.apply(report, 0.0)
    view.apply(_report("b", 1, 0.5), 0.0)  # an older node's report: nothing left out
    assert view.greeks()["BTC"]["delta"] == 0.8
    out = view.view(0.0)["greeks_incomplete"]
    assert out == {"BTC": {g: [f"a: {CALL.id}"] for g in ("delta", "gamma", "vega", "theta")}}
    # volta status --url <aggregator> says so under its header (it showed 0.8 as the whole delta)
    snap = {"kind": "firm", "firm": {**view.view(0.0), "aggregator": {"id": "x", "leader": True}},
            "alerts": []}
    lines = render_firm(snap).splitlines()
    assert f"  BTC delta {0.3 + 0.5:.4f} BTC leaves out 1 position(s) without a delta: a: {CALL.id}" in lines


def test_a_node_whose_heartbeats_name_reports_that_do_not_come_is_lagging() -> None:
    view = FirmView(_cfg(node_stale_after_s=3.0))
    view.apply(_report("a", 4, 1.0), 0.0)
    view.seen("a", 1.0, 1, 4)  # heartbeat: latest report 4, held: nothing behind
    view.seen("a", 2.0, 1, 5)  # report 5 built: normally here within a report interval
    assert view.update_lagging(4.0) == ([], []) and view.nodes["a"].behind == 1  # 2 s < 3 s
    view.apply(_report("a", 5, 1.5), 4.5)
    assert view.update_lagging(9.0) == ([], [])  # it came: never lagging
    view.seen("a", 10.0, 1, 7)
    view.seen("a", 11.0, 1, 9)  # 6..9 never come while the node lives
    assert view.update_lagging(12.9) == ([], [])
    assert view.update_lagging(13.1) == (["a"], [])  # 3 s after the first heartbeat naming one
    assert view.nodes["a"].lagging and view.nodes["a"].behind == 4 and not view.nodes["a"].stale
    assert view.view(13.1)["nodes"]["a"]["reports_lagging"] is True
    view.apply(_report("a", 9, 2.0), 14.0)
    assert view.update_lagging(14.0) == ([], ["a"]) and view.nodes["a"].behind == 0
    # a restarted node: its new life's heartbeats before its first report
    view.seen("a", 20.0, 2, 1)
    assert view.nodes["a"].behind is None  # another life's: unknown how many
    assert view.update_lagging(23.1) == (["a"], [])
    view.apply(_report("a", 1, 0.0, inc=2), 23.5)
    assert view.update_lagging(23.5) == ([], ["a"])
