"""/metrics in the Prometheus text format, parsed with prometheus_client's own parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.model import Side
from engine.operator.metrics import NodeMetrics
from tests.operator.conftest import running_node


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_parse_and_agree_with_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        k = r.node.kernel
        await r.wait_for(lambda: k.counters.get("fills", 0) >= 1, 20, "a fill")
        await r.wait_for(lambda: r.op.metrics.loop_lag._sum.get() >= 0 and r.op.tape.rates, 5, "a rate sample")
        status, _ = await r.post("api/control/kill", {"level": 1})
        assert status == 200
        # the quoter pulls its quotes while halted and sends nothing: an order of our own is
        # denied TRADING_HALTED (a denial by reason to check the counter against)
        from engine.model import Side, SubmitOrder

        k.execution.submit(SubmitOrder(client_order_id="probe-1", strategy_id="probe",
                                       instrument_id="sim:BTC-PERP", side=Side.BUY, quantity=0.01,
                                       price=50_000.0))
        await r.wait_for(lambda: sum(k.gate.denied.values()) > 0, 10, "a denial while halted")
        async with r.session.get(r.url + "metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await resp.text()
        snap = await r.get("api/snapshot")
        m = _samples(text)
        families = {f.name for f in text_string_to_metric_families(text)}
        for name in ("volta_venue_connected", "volta_venue_messages_per_second", "volta_books",
                     "volta_book_gaps", "volta_book_checksum_failures", "volta_book_resyncs",
                     "volta_orders_submitted", "volta_fills", "volta_order_denials", "volta_order_rejects",
                     "volta_position_contracts", "volta_pnl_usd", "volta_portfolio_greek",
                     "volta_greek_limit_use_ratio", "volta_kill_level", "volta_trading_state",
                     "volta_event_loop_lag_seconds", "volta_strategy_callback_seconds",
                     "volta_loss_limit_use_ratio"):
            assert name in families, name
        for fam in text_string_to_metric_families(text):
            assert fam.name.startswith("volta_")
            if fam.type == "counter":
                assert all(s.name.endswith(("_total", "_created")) for s in fam.samples), fam.name
        assert m[("volta_kill_level", ())] == 1.0
        assert m[("volta_trading_state", (("state", "halted"),))] == 1.0
        assert m[("volta_trading_state", (("state", "active"),))] == 0.0
        assert m[("volta_venue_connected", (("venue", "sim"),))] == 1.0
        assert m[("volta_venue_halted", (("venue", "sim"),))] == 0.0  # (the global kill halts it)
        live = snap["venues"]["sim"]["books"]["live"]
        assert m[("volta_books", (("status", "live"), ("venue", "sim")))] == live
        assert m[("volta_fills_total", ())] >= snap["state"]["fills"] >= 1
        denials = {key[1][0][1]: v for key, v in m.items() if key[0] == "volta_order_denials_total"}
        assert denials and all(0 < v <= snap["risk"]["denials"][reason] for reason, v in denials.items())
        qty = sum(p["qty"] for p in snap["positions"] if p["instrument_id"] == "sim:BTC-PERP")
        if qty:
            assert m[("volta_position_contracts", (("instrument", "sim:BTC-PERP"),))] == pytest.approx(qty, abs=0.02)
        # limit use = |delta| / 0.5 BTC (paper limit), first principles from the metric itself
        delta = m[("volta_portfolio_greek", (("greek", "delta"), ("underlying", "BTC")))]
        assert m[("volta_greek_limit_use_ratio", (("greek", "delta"), ("underlying", "BTC")))] == pytest.approx(
            abs(delta) / 0.5)
        assert m[("volta_event_loop_lag_seconds_count", ())] >= 1
        assert m[("volta_strategy_callback_seconds_count", (("strategy", "mm-1"),))] > 0
        pnl = {c: m[("volta_pnl_usd", (("component", c),))] for c in ("realized", "unrealized", "fees", "total")}
        assert pnl["total"] == pytest.approx(pnl["realized"] + pnl["unrealized"] - pnl["fees"], abs=1e-9)


async def test_grafana_dashboard_uses_only_exported_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import re

    from tests.operator.conftest import ROOT

    dash = json.loads((ROOT / "docs" / "grafana" / "volta-dashboard.json").read_text())
    used = {m for p in dash["panels"] for t in p["targets"] for m in re.findall(r"volta_[a-z_]+", t["expr"])}
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        await r.wait_for(lambda: r.node.kernel.counters.get("fills", 0) >= 1, 20, "a fill")
        async with r.session.get(r.url + "metrics") as resp:
            text = await resp.text()
    fams = list(text_string_to_metric_families(text))
    exported = {s.name for fam in fams for s in fam.samples}
    declared = {fam.name for fam in fams}  # a labelled family with no sample yet (no denial)
    missing = {m for m in used if m not in exported and m.removesuffix("_total") not in declared}
    assert used and not missing, missing


def test_ack_latency_is_submitted_to_accepted_on_the_same_clock() -> None:
    from engine.model import OrderAccepted, OrderCancelled, OrderRejected, OrderSubmitted
    from engine.operator.metrics import NodeMetrics
    from engine.operator.tape import Tape
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel()
    tape = Tape(k)
    metrics = NodeMetrics(k, tape)
    pub = k.bus.publish
    pub(OrderSubmitted(client_order_id="a", strategy_id="s", instrument_id="fake:BTC-PERP", ts=1_000_000_000))
    pub(OrderSubmitted(client_order_id="b", strategy_id="s", instrument_id="fake:BTC-PERP", ts=2_000_000_000))
    pub(OrderSubmitted(client_order_id="c", strategy_id="s", instrument_id="fake:BTC-PERP", ts=3_000_000_000))
    pub(OrderAccepted(client_order_id="a", venue_order_id="v", instrument_id="fake:BTC-PERP",
                      ts_event=0, ts_recv=1_003_000_000))  # 3 ms
    pub(OrderRejected(client_order_id="b", instrument_id="fake:BTC-PERP", reason="x",
                      ts_event=0, ts_recv=2_200_000_000))  # 200 ms
    pub(OrderCancelled(client_order_id="c", instrument_id="fake:BTC-PERP", reason="x", ts_event=0, ts_recv=0))
    # a synchronous venue answers before the router publishes OrderSubmitted: 0 s, still paired
    pub(OrderAccepted(client_order_id="d", venue_order_id="v", instrument_id="fake:BTC-PERP",
                      ts_event=0, ts_recv=4_000_000_000))
    pub(OrderSubmitted(client_order_id="d", strategy_id="s", instrument_id="fake:BTC-PERP", ts=4_000_000_000))
    tape.drain()
    m = _samples(metrics.render().decode())
    assert m[("volta_order_ack_latency_seconds_count", ())] == 3
    assert m[("volta_order_ack_latency_seconds_sum", ())] == pytest.approx(0.003 + 0.2)
    assert m[("volta_order_ack_latency_seconds_bucket", (("le", "0.0025"),))] == 1
    assert m[("volta_order_ack_latency_seconds_bucket", (("le", "0.005"),))] == 2
    assert m[("volta_order_ack_latency_seconds_bucket", (("le", "0.25"),))] == 3
    assert tape.event_counts["OrderRejected"] == 1
    assert m[("volta_order_rejects_total", (("reason", "other"), ("venue", "fake")))] == 1
    hist = metrics.histogram(metrics.ack_latency)
    assert sum(hist["count"]) == 3 and hist["le_ms"][-1] is None


async def test_a_stream_client_that_cannot_keep_up_is_dropped_not_buffered() -> None:
    from engine.operator.tape import CLIENT_QUEUE, StreamClient

    c = StreamClient()
    for i in range(CLIENT_QUEUE + 5):
        c.put({"type": "tick", "i": i})
    assert c.dropped and c.queue.qsize() == CLIENT_QUEUE
    c.close()  # nothing more is queued for a dropped client
    assert c.queue.qsize() == CLIENT_QUEUE
    ok = StreamClient()
    ok.put({"type": "tick"})
    ok.close()
    assert [ok.queue.get_nowait() for _ in range(3)] == [{"type": "tick"}, {"type": "bye"}, None]


def test_every_exported_metric_is_documented_with_its_labels(tmp_path: Path) -> None:
    """docs/operator.md's metrics table is what a user builds dashboards and alerts from: every
    family /metrics exports is in it, and each help text says what the figure is."""
    import re

    from engine.clock import LiveClock
    from engine.config import load_config_text
    from engine.operator import make_operator
    from engine.operator.server import SAMPLE_S
    from engine.runtime import build_node
    from tests.operator.conftest import ROOT, paper_config_text

    config = load_config_text(paper_config_text(tmp_path / "j.sqlite"))
    node = build_node(config, LiveClock())
    op = make_operator(node.kernel, config, node.journal_path)
    assert op is not None
    try:
        text = op.metrics.render().decode()
    finally:
        node.kernel.journal.close()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    doc = (ROOT / "docs" / "operator.md").read_text()
    table = doc[doc.index("## Metrics"):doc.index("## Alerts")]
    documented = {n.removesuffix("_total") for n in re.findall(r"`(volta_[a-z_]+)`", table)}
    exported = {n for n in fams if not n.endswith("_created")}  # (prometheus_client's own)
    assert exported - documented == set()
    components = {s.labels["component"] for s in fams["volta_pnl_usd"].samples}
    row = next(line for line in table.splitlines() if "`volta_pnl_usd`" in line)
    assert all(c in row for c in components), (components, row)
    # the lag histogram's help names the timer the operator really runs
    assert f"ran a {SAMPLE_S * 1000:g} ms timer" in fams["volta_event_loop_lag_seconds"].documentation


def test_positions_left_out_of_a_greek_total_are_a_metric() -> None:
    """A call with no Greeks yet is in no Greek total: /metrics says how many positions each
    total leaves out, so an alert can fire on an incomplete delta (0 once it is known)."""
    from engine.model import Liquidity, OrderFilled, Side
    from engine.operator.metrics import NodeMetrics
    from engine.operator.tape import Tape
    from tests.engine.conftest import CALL, PERP, make_kernel

    k, _venue = make_kernel()
    pf = k.portfolio
    pf.set_underlying_price("BTC", 60_000.0)
    for inst, qty, tid in ((PERP, 0.3, "t1"), (CALL, 2.0, "t2")):
        pf.on_fill(OrderFilled(client_order_id=tid, venue_order_id="v", instrument_id=inst.id,
                               trade_id=tid, side=Side.BUY, price=1_500.0, quantity=qty,
                               remaining=0.0, liquidity=Liquidity.MAKER, fee=0.0,
                               fee_currency="USD", ts_event=0, ts_recv=0))
    metrics = NodeMetrics(k, Tape(k))
    m = _samples(metrics.render().decode())
    key = "volta_portfolio_greek_uncounted_positions"
    assert {g: m[(key, (("greek", g), ("underlying", "BTC")))]
            for g in ("delta", "gamma", "vega_usd", "theta_usd_day")} == dict.fromkeys(
        ("delta", "gamma", "vega_usd", "theta_usd_day"), 1.0)
    assert m[("volta_portfolio_greek", (("greek", "delta"), ("underlying", "BTC")))] == pytest.approx(0.3)
    pf.set_greeks(CALL.id, 0.5, 2e-5, 60.0, -30.0, raw=True)
    m = _samples(metrics.render().decode())
    assert m[(key, (("greek", "delta"), ("underlying", "BTC")))] == 0.0
    assert m[("volta_portfolio_greek", (("greek", "delta"), ("underlying", "BTC")))] == pytest.approx(1.3)


def test_a_partial_pnl_total_is_flagged_in_the_metrics() -> None:
    """volta_pnl_usd{component="total"} is the priced part when something has no USD price: a
    number like any other. A loss alert built on it could not tell; the flag says so."""
    from engine.operator.tape import Tape
    from tests.engine.test_pnl_unpriced import INV, PERP, _fill, _kernel

    k = _kernel()  # no index price for BTC yet
    metrics = NodeMetrics(k, Tape(k))
    _fill(k, PERP, Side.BUY, 1.0, 60_000.0, 0.0)
    _fill(k, PERP, Side.SELL, 1.0, 60_100.0, 0.0)  # realized 100 USD
    m = _samples(metrics.render().decode())
    assert m[("volta_pnl_usd", (("component", "total"),))] == pytest.approx(100.0)
    assert m[("volta_pnl_usd_partial", ())] == 0.0
    _fill(k, INV, Side.BUY, 100.0, 60_000.0, 0.0001)  # a BTC fee, and BTC has no USD price
    m = _samples(metrics.render().decode())
    assert m[("volta_pnl_usd", (("component", "total"),))] == pytest.approx(100.0)  # the priced part
    assert m[("volta_pnl_usd_partial", ())] == 1.0
