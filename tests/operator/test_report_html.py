"""The backtest report's HTML: perpetual-only runs, per-strategy numbers, and a real browser."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from backtest.html import render
from engine.model import Instrument, InstrumentKind
from tests.operator.conftest import ROOT
from tests.operator.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

PERP = Instrument(venue="sim", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC", quote="USD",
                  settle="USD", tick_size=0.5, lot_size=0.001)
T0 = 1_767_225_600 * 10**9


def _fake_ledger(n: int = 600) -> Any:
    ts = [T0 + i * 10**9 for i in range(n)]
    eq = [10 * math.sin(i / 40) - i * 0.01 for i in range(n)]
    zeros = [0.0] * n
    fills = []
    strategies = {}
    for i in range(0, n, 50):
        sid = "mm-a" if (i // 50) % 2 else "mm-b"
        coid = f"{sid}-{i}"
        strategies[coid] = SimpleNamespace(strategy_id=sid)
        fills.append({"ts_event": ts[i] + 1, "instrument": PERP.id, "client_order_id": coid,
                      "side": "buy" if i % 100 else "sell", "price": 60000.0 + i, "quantity": 0.01,
                      "liquidity": "maker" if i % 150 else "taker", "fee_usd": 0.12, "notional_usd": 600.0 + i / 100,
                      "markout_1s_usd": 0.5, "markout_10s_usd": math.nan, "markout_1s_bps": 3.0})
    kernel = SimpleNamespace(instruments={PERP.id: PERP}, orders=SimpleNamespace(get=strategies.get))
    return SimpleNamespace(
        k=kernel, fills=fills, traded={PERP.id: None}, underlying="BTC",
        samples={"ts": ts, "equity": eq, "realized": eq, "fees": [0.1] * n, "delta": zeros,
                 "gamma_1pct": zeros, "vega": zeros, "theta_day": zeros, "underlying": zeros},
        mids={PERP.id: [60000.0 + i for i in range(n)]}, pos_series={PERP.id: zeros})


SUMMARY = {"pnl": {"total_usd": -6.0, "realized_usd": -6.0, "unrealized_usd": 0.0, "fees_usd": 1.44},
           "risk": {"sharpe": -1.0, "sortino": None, "max_drawdown_usd": 20.0}, "turnover_usd": 7200.0,
           "fills": {"count": 12, "maker": 8, "taker": 4}, "orders": {"fill_ratio_qty": 0.5},
           "queue": {"avg_wait_s": 1.0}, "adverse_selection": {}, "events": 1000,
           "data": {"source": "synthetic", "params": {"seed": 1}}, "span": {"simulated_s": 600, "start_ns": T0},
           "strategies": [{"id": "mm-a", "class": "x:Y"}, {"id": "mm-b", "class": "x:Y"}]}


def _charts(text: str) -> list[dict[str, Any]]:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    assert m
    return json.loads(m.group(1).replace("<\\/", "</"))["charts"]


def test_perpetual_only_run_has_no_greek_charts_and_correct_breakdown() -> None:
    ledger = _fake_ledger()
    text = render("perp only", SUMMARY, ledger, max_points=200)
    charts = _charts(text)
    titles = [c["title"] for c in charts]
    assert not any(t.startswith("Greeks") for t in titles)
    assert "No option traded: no Greek charts." in text
    assert titles[:3] == ["Equity (USD)", "Drawdown (USD)", "Position and delta"]
    # downsampled on one grid, first and last sample kept, the drawdown's minimum kept
    eq_chart = charts[0]
    assert len(eq_chart["x"]) <= 200 + 2 and eq_chart["x"][0] == T0 / 1e9 and eq_chart["x"][-1] == (T0 + 599e9) / 1e9
    eq = ledger.samples["equity"]
    peak, dd = -math.inf, []
    for v in eq:
        peak = max(peak, v)
        dd.append(v - peak)
    assert min(x for x in charts[1]["series"][0]["data"] if x is not None) == pytest.approx(min(dd), rel=1e-5)
    # per strategy, from the fills by hand: 12 fills alternating mm-b (even blocks) / mm-a
    rows = re.findall(r"<tr><td>(mm-[ab])</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td><td>([^<]*)</td>", text)
    by = {r[0]: r for r in rows}
    a = [f for f in ledger.fills if f["client_order_id"].startswith("mm-a")]
    b = [f for f in ledger.fills if f["client_order_id"].startswith("mm-b")]
    assert int(by["mm-a"][1]) == len(a) == 6 and int(by["mm-b"][1]) == len(b) == 6
    assert int(by["mm-a"][2]) == sum(1 for f in a if f["liquidity"] == "maker")
    assert float(by["mm-b"][6]) == pytest.approx(0.12 * 6, rel=1e-3)
    # the 10 s markout is unknown for every fill: shown as unknown, not 0
    assert "<td>–</td>" in text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_report_renders_offline_in_a_browser(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")
    from backtest.cli import main

    cfg = (ROOT / "config" / "backtest.toml").read_text().replace("duration_s = 900.0", "duration_s = 300.0")
    (tmp_path / "bt.toml").write_text(cfg)
    assert main([str(tmp_path / "bt.toml"), "--output", str(tmp_path / "out"), "--seed", "3", "--quiet"]) == 0
    report = tmp_path / "out" / "report.html"
    errors: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1250, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        n = page.locator(".chart").count()
        assert n >= 6
        page.wait_for_function(f"document.querySelectorAll('.chart canvas').length === {n}")
        titles = page.locator(".chart .chart-title").all_inner_texts()
        assert any(t.startswith("Greeks: vega") for t in titles)
        # vega and theta: two y axes on that chart (uPlot draws one .u-axis per axis: x, y, y2)
        vega = page.locator(".chart", has_text="Greeks: vega")
        assert vega.locator(".u-axis").count() == 3
        # the legend is below the plot area, never over it
        box_plot = vega.locator(".u-over").bounding_box()
        box_legend = vega.locator(".u-legend").bounding_box()
        assert box_legend["y"] >= box_plot["y"] + box_plot["height"]
        if os.environ.get("VOLTA_SCREENSHOTS"):
            (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
            page.set_viewport_size({"width": 1250, "height": 1500})
            page.locator("h2", has_text="Per strategy").scroll_into_view_if_needed()
            page.evaluate("window.scrollTo(0, document.querySelector('h2:nth-of-type(2)').offsetTop - 10)")
            page.screenshot(path=str(ROOT / "docs" / "img" / "backtest-report.png"), full_page=False)
        browser.close()
    assert errors == []
    assert requests == [report.as_uri()]
