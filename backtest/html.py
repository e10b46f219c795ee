"""A self-contained HTML report: interactive uPlot charts (zoom, hover) and tables, offline.

One file, nothing fetched: the charting library (uPlot, vendored with the operator dashboard,
MIT) and its stylesheet are inlined, and the data is one JSON document in the page. Each chart
is a ``<div class="chart" data-title=...>`` that the inline script fills; series are
downsampled on one shared time grid by keeping, per bucket, the samples where any series of
that chart has its minimum or maximum, so spikes and drawdowns survive. Legends sit under the
plot (never over a line); vega and theta have their own axes; Greek charts appear only when
the run traded options. Numbers are written with fixed precision, so the same run gives the
same bytes.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from backtest.metrics import coins

MAX_FILL_ROWS = 1000


def _vendor(name: str) -> str:
    return (resources.files("engine.operator") / "static" / "vendor" / name).read_text(encoding="utf-8")


def _r(v: Any, digits: int = 6) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return float(f"{f:.{digits}g}")


def _indices(n: int, series: Sequence[Sequence[float]], max_points: int) -> list[int]:
    """Sample indices keeping each bucket's min and max of every series (aligned x)."""
    if n <= max_points:
        return list(range(n))
    buckets = max(1, max_points // (2 * max(1, len(series))))
    size = n / buckets
    keep: set[int] = {0, n - 1}
    for b in range(buckets):
        lo, hi = int(b * size), min(n, int((b + 1) * size))
        if lo >= hi:
            continue
        for ys in series:
            seg = [(ys[i], i) for i in range(lo, hi) if ys[i] == ys[i]]
            if seg:
                keep.add(min(seg)[1])
                keep.add(max(seg)[1])
    return sorted(keep)


def _time_chart(title: str, ts: Sequence[int], series: list[dict[str, Any]], max_points: int,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    idx = _indices(len(ts), [s["values"] for s in series], max_points)
    xs = [ts[i] / 1e9 for i in idx]
    out = {"title": title, "x": xs,
           "series": [{**{k: v for k, v in s.items() if k != "values"},
                       "data": [_r(s["values"][i]) for i in idx]} for s in series]}
    if extra:
        out.update(extra)
    return out


def _fills_chart(iid: str, ts: Sequence[int], mids: Sequence[float], fills: list[dict[str, Any]],
                 max_points: int, unit: str) -> dict[str, Any]:
    idx = _indices(len(ts), [mids], max_points)
    points: dict[float, list[float | None]] = {t: [_r(mids[i]), None, None]
                                                for i, t in ((i, ts[i] / 1e9) for i in idx)}
    for f in fills[: max_points * 2]:
        t = f["ts_event"] / 1e9
        row = points.setdefault(t, [None, None, None])
        row[1 if f["side"] == "buy" else 2] = _r(f["price"])
    xs = sorted(points)
    return {"title": f"Fills on the price: {iid}", "x": xs, "unit": unit, "series": [
        {"label": "mid", "data": [points[t][0] for t in xs], "spanGaps": True},
        {"label": "buy fills", "data": [points[t][1] for t in xs], "points": "buy"},
        {"label": "sell fills", "data": [points[t][2] for t in xs], "points": "sell"}]}


def _fmt_t(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _nice(v: float) -> str:
    a = abs(v)
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:,.2f}"
    if a >= 1:
        return f"{v:.3f}"
    return f"{v:.4g}"


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return _nice(v)
    return str(v)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _kv_table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_cell(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _describe(summary: dict[str, Any]) -> str:
    d = summary.get("data", {})
    span = summary.get("span", {})
    src = d.get("source", "?")
    if src == "capture":
        what = "captures " + ", ".join(Path(f).name for f in d.get("files", []))
    elif src == "catalog":
        days = d.get("days") or ["no day"]
        what = (f"catalog {d.get('catalog')} ({', '.join(d.get('datasets', []))}; "
                f"{days[0] if len(days) == 1 else f'{days[0]}..{days[-1]}, {len(days)} days'})")
    elif src == "synthetic":
        p = d.get("params", {})
        what = (f"synthetic generator (seed {p.get('seed')}, vol {p.get('annual_vol')}, "
                f"{len(p.get('expiries_days', ()))} expiries x {p.get('strikes_per_expiry')} strikes)")
    else:
        what = "venue-generated market (" + ", ".join(d.get("venues", [])) + ")"
    strategies = ", ".join(f"{s['id']} ({s['class']})" for s in summary.get("strategies", []))
    for key, iids in (d.get("not_replayed") or {}).items():
        what += (f"; no definition (orders refused) for {', '.join(iids)}" if key == "undefined"
                 else f"; {key} not replayed (no [venues] entry): {len(iids)} instruments skipped")
    gaps = d.get("missing_days") or {}
    if gaps:
        what += "; NO DATA for " + "; ".join(f"{iid} on {', '.join(days)}"
                                             for iid, days in gaps.items())
    return (f"Data: {what}; {span.get('simulated_s')} s simulated from "
            f"{_fmt_t(span.get('start_ns', 0))} UTC. Strategies: {strategies}.")


def _strategy_of(ledger: Any, coid: str) -> str:
    order = ledger.k.orders.get(coid)
    return order.strategy_id if order is not None else "?"


def _usd(v: float) -> float | str:
    """A USD figure, or "unpriced" when it has no USD price (NaN): never shown as 0 or blank."""
    return "unpriced" if v != v else v


def _part(pnl: dict[str, Any], figure: str) -> Any:
    """A PnL figure in USD with the amounts no USD price converted (``unpriced_parts``) beside
    it in their own currencies: 'unpriced: +0.0012 BTC' when nothing of it has a price."""
    usd = pnl.get(f"{figure}_usd")
    left_out = pnl.get("unpriced_parts", {}).get(figure)
    if not left_out:
        return usd
    return f"unpriced: {coins(left_out)}" if usd is None else f"{_cell(usd)} + {coins(left_out)} unpriced"


def _price_currency(ledger: Any, iid: str) -> str:
    """The currency an instrument's price is in: the coin for coin-premium options."""
    inst = ledger.k.instruments.get(iid)
    if inst is None:
        return "?"
    return inst.settle if inst.premium_in_coin else inst.quote


def strategy_breakdown(ledger: Any, markout_keys: Sequence[str]) -> list[list[Any]]:
    """Per strategy: fills, maker/taker, contracts, notional, fees and markouts (USD)."""
    agg: dict[str, dict[str, Any]] = {}
    for f in ledger.fills:
        sid = _strategy_of(ledger, f["client_order_id"])
        a = agg.setdefault(sid, {"fills": 0, "maker": 0, "taker": 0, "qty": 0.0, "notional": 0.0,
                                 "fees": 0.0, "instruments": set(),
                                 **{k: 0.0 for k in markout_keys}, **{k + "#": 0 for k in markout_keys}})
        a["fills"] += 1
        a["maker" if f["liquidity"] == "maker" else "taker"] += 1
        a["qty"] += f["quantity"]
        a["notional"] += f["notional_usd"]  # (NaN, no USD price: the total is unpriced too)
        a["fees"] += f["fee_usd"]
        a["instruments"].add(f["instrument"])
        for k in markout_keys:
            v = f.get(k, math.nan)
            if v == v:
                a[k] += v
                a[k + "#"] += 1
            elif f.get(k[:-3] + "native", math.nan) == f.get(k[:-3] + "native", math.nan):
                a[k] = math.nan  # measured, but no USD price: the total is unpriced
    rows = []
    for sid in sorted(agg):
        a = agg[sid]
        rows.append([sid, a["fills"], a["maker"], a["taker"], a["qty"], _usd(a["notional"]),
                     _usd(a["fees"]), len(a["instruments"])]
                    + [_usd(a[k]) if a[k + "#"] or a[k] != a[k] else None for k in markout_keys])
    return rows


def render(title: str, summary: dict[str, Any], ledger: Any, max_points: int) -> str:
    """The whole report page."""
    s = ledger.samples
    ts = s["ts"]
    eq = s["equity"]
    peak = -math.inf
    dd = []
    for v in eq:
        peak = max(peak, v) if v == v else peak
        dd.append(v - peak if v == v and peak > -math.inf else math.nan)
    und = ledger.underlying or "underlying"
    complete = getattr(ledger, "complete", True)
    charts = [
        _time_chart("Equity (USD)" if complete else "Equity (USD, priced currencies only)", ts, [{"label": "equity", "values": eq},
                                         {"label": "realized", "values": s["realized"]},
                                         {"label": "fees (negative)", "values": [-f for f in s["fees"]]}],
                    max_points, {"unit": "USD"}),
        _time_chart("Drawdown (USD)" if complete else "Drawdown (USD, priced currencies only)", ts, [{"label": "drawdown", "values": dd, "fill": True}],
                    max_points, {"unit": "USD"}),
        _time_chart("Position and delta", ts,
                    [{"label": f"net delta ({und})", "values": s["delta"]}]
                    + [{"label": f"net delta ({a})", "values": v}
                       for a, v in sorted(getattr(ledger, "delta_other", {}).items())]
                    + [{"label": f"pos {iid.partition(':')[2]}", "values": ledger.pos_series[iid]}
                       for iid in list(ledger.traded)[:4]], max_points, {"unit": "contracts / " + und}),
    ]
    if not complete:  # (the USD chart leaves amounts out: each currency's own PnL)
        charts[2:2] = [_time_chart(f"Equity ({c})", ts, [{"label": f"PnL in {c}", "values": v}],
                                   max_points, {"unit": c})
                       for c, v in sorted(getattr(ledger, "native_series", {}).items())]
    for iid in list(ledger.traded)[:4]:
        charts.append(_fills_chart(iid, ts, ledger.mids[iid],
                                   [f for f in ledger.fills if f["instrument"] == iid], max_points,
                                   _price_currency(ledger, iid)))
    traded_options = any(getattr(ledger.k.instruments.get(iid), "is_option", False) for iid in ledger.traded)
    if traded_options:
        charts += [
            _time_chart("Greeks: gamma (delta change per 1% move)", ts,
                        [{"label": "gamma", "values": s["gamma_1pct"]}], max_points, {"unit": und}),
            _time_chart("Greeks: vega (USD per vol point) and theta (USD per day)", ts,
                        [{"label": "vega (USD/vol pt)", "values": s["vega"]},
                         {"label": "theta (USD/day)", "values": s["theta_day"], "scale": "theta"}],
                        max_points, {"unit": "USD/vol pt", "unit2": "USD/day"}),
        ]
    pnl, risk = summary["pnl"], summary["risk"]
    unpriced = coins(pnl.get("unpriced", {}))
    if pnl.get("unmarked"):
        unpriced += f"{', ' if unpriced else ''}no mark for {', '.join(pnl['unmarked'])}"
    iv = risk.get("interval_s")
    usd = "USD, priced currencies only" if unpriced else "USD"  # (the parts leave those out)
    rows = [("total PnL (USD)", pnl["total_usd"] if not unpriced else f"unknown: {unpriced} unpriced"),
            (f"realized ({usd})", _part(pnl, "realized")),
            (f"unrealized ({usd})", _part(pnl, "unrealized")), (f"fees ({usd})", _part(pnl, "fees")),
            (f"funding ({usd}, + received)", _part(pnl, "funding")),
            ("PnL per currency", coins(pnl.get("by_currency", {}))),
            (f"Sharpe per {iv:g} s interval" if iv else "Sharpe per interval", risk.get("sharpe_per_interval")),
            (f"Sortino per {iv:g} s interval" if iv else "Sortino per interval", risk.get("sortino_per_interval")),
            ("Sharpe (annualised)", risk["sharpe"] if risk["sharpe"] is not None
             else f"n/a ({risk.get('unpriced_note') or risk.get('annualisation_note') or 'not enough data'})"),
            ("Sortino (annualised)", risk["sortino"] if risk["sortino"] is not None
             else f"n/a ({risk.get('unpriced_note') or risk.get('annualisation_note') or 'not enough data'})"),
            (f"max drawdown ({usd})", risk["max_drawdown_usd"] if "unpriced_note" not in risk
             else f"n/a ({risk['unpriced_note']})")]
    for c, r in risk.get("by_currency", {}).items():
        rows += [(f"max drawdown ({c})", r["max_drawdown"]),
                 (f"Sharpe per {iv:g} s interval ({c} PnL)", r["sharpe_per_interval"])]
    turnover = summary["turnover_usd"]
    if summary.get("turnover_unpriced"):
        priced = summary.get("turnover_priced_usd")
        turnover = f"unknown: {coins(summary['turnover_unpriced'])} unpriced" + (
            f" (priced part {_cell(priced)} USD)" if priced else "")
    rows += [("turnover (USD)", turnover), ("fills", summary["fills"]["count"]),
            ("maker / taker", f"{summary['fills']['maker']} / {summary['fills']['taker']}"),
            ("fill ratio (qty)", summary["orders"]["fill_ratio_qty"]),
            ("avg queue wait (s)", summary["queue"]["avg_wait_s"])]
    for h, m in summary["adverse_selection"].items():
        total = _cell(m["total_usd"]) if not m.get("unpriced") else f"unpriced: {coins(m['unpriced'])}"
        rows.append((f"markout {h} (USD total / bps mean)", f"{total} / {_cell(m['mean_bps'])}"))
    rows.append(("events replayed", summary.get("events")))
    errors = {k: v for k, v in summary.get("engine", {}).get("strategy_errors", {}).items() if v}
    if errors:
        rows.append(("strategy errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()),
                     "raised: see the log; these results are not the strategy's own"))
    markout_keys = sorted({k for f in ledger.fills for k in f if k.startswith("markout_") and k.endswith("s_usd")},
                          key=lambda k: float(k[8:].split("s_")[0]))
    per_strategy = _table(["strategy", "fills", "maker", "taker", "contracts", "notional (USD)", "fees (USD)",
                           "instruments"] + [f"{k[8:].split('_')[0]} markout (USD)" for k in markout_keys],
                          strategy_breakdown(ledger, markout_keys))
    fills = ledger.fills
    fill_rows = [[_fmt_t(f["ts_event"]), _strategy_of(ledger, f["client_order_id"]), f["instrument"], f["side"],
                  f["price"], _price_currency(ledger, f["instrument"]), f["quantity"], f["liquidity"],
                  _usd(f["fee_usd"]), _usd(f["notional_usd"])]
                 for f in fills[:MAX_FILL_ROWS]]
    more = (f"<p>First {MAX_FILL_ROWS} of {len(fills)} fills; all of them are in fills.csv.</p>"
            if len(fills) > MAX_FILL_ROWS else "")
    fills_table = _table(["time (UTC)", "strategy", "instrument", "side", "price", "price in", "qty", "liquidity",
                          "fee (USD)", "notional (USD)"], fill_rows, "fills")
    data = json.dumps({"charts": charts}, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    divs = "".join(f'<div class="chart" data-i="{i}" data-title="{html.escape(c["title"])}"></div>'
                   for i, c in enumerate(charts))
    greeks_note = "" if traded_options else "<p class=\"note\">No option traded: no Greek charts.</p>"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_vendor('uPlot.min.css')}\n{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(_describe(summary))}</p>"
            f"<h2>Summary</h2>{_kv_table(rows)}<h2>Per strategy</h2>{per_strategy}"
            f"<h2>Charts</h2><p class=\"note\">Drag to zoom (double-click to reset); hover for values.</p>"
            f"{divs}{greeks_note}<h2>Fills</h2>{more}{fills_table}"
            f'<script type="application/json" id="report-data">{data}</script>'
            f"<script>{_vendor('uPlot.iife.min.js')}</script><script>{SCRIPT}</script></body></html>\n")


CSS = """body{font-family:system-ui,sans-serif;margin:20px;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
table.fills{display:block;max-height:420px;overflow:auto}
.chart{margin:14px 0}.chart-title{font-weight:600;font-size:13px;margin-bottom:2px}
.note{color:#666;font-size:12px}"""

# Renders every chart from the embedded JSON: UTC time axis, legend below the plot, a second
# y axis where a series names its own scale, fills as triangles, drag-to-zoom.
SCRIPT = r"""
(function(){
"use strict";
var D = JSON.parse(document.getElementById("report-data").textContent);
var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
function tri(up, color) {
  return function(u, si, i0, i1) {
    var ctx = u.ctx, d = u.data[si], xs = u.data[0], r = 5 * devicePixelRatio;
    ctx.save(); ctx.fillStyle = color;
    for (var i = i0; i <= i1; i++) {
      if (d[i] == null) continue;
      var x = u.valToPos(xs[i], "x", true), y = u.valToPos(d[i], "y", true);
      ctx.beginPath();
      if (up) { ctx.moveTo(x, y - r); ctx.lineTo(x + r, y + r); ctx.lineTo(x - r, y + r); }
      else { ctx.moveTo(x, y + r); ctx.lineTo(x + r, y - r); ctx.lineTo(x - r, y - r); }
      ctx.fill();
    }
    ctx.restore();
    return null;
  };
}
var utc = function(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); };
document.querySelectorAll(".chart").forEach(function(el) {
  var c = D.charts[+el.dataset.i];
  var title = document.createElement("div");
  title.className = "chart-title"; title.textContent = c.title; el.appendChild(title);
  var series = [{label: "time (UTC)"}], data = [c.x], hasTheta = false;
  c.series.forEach(function(s, n) {
    var color = COLORS[n % COLORS.length], o = {label: s.label, stroke: color, width: 1.4, spanGaps: !!s.spanGaps};
    if (s.scale) { o.scale = s.scale; hasTheta = true; }
    if (s.fill) o.fill = "rgba(214,39,40,.15)";
    if (s.points === "buy" || s.points === "sell") {
      o.stroke = s.points === "buy" ? "#2ca02c" : "#d62728";
      o.paths = tri(s.points === "buy", o.stroke); o.points = {show: false};
    }
    series.push(o); data.push(s.data);
  });
  // 24 h UTC tick labels on uPlot's round time steps; right padding so the last one is whole
  var hms = function(u, splits) { return splits.map(function(t) {
    var iso = new Date(t * 1e3).toISOString(); return iso.slice(11, 19); }); };
  var axes = [{space: 90, values: hms}, {label: c.unit || "", size: 70}];
  if (hasTheta) axes.push({scale: "theta", side: 1, label: c.unit2 || "", size: 70, grid: {show: false}});
  var width = Math.min(1180, el.clientWidth || 1100);
  new uPlot({width: width, height: 260, tzDate: utc, padding: [10, hasTheta ? 10 : 44, 0, 0], series: series, axes: axes,
             scales: {x: {time: true}}, legend: {live: true}, cursor: {drag: {x: true, y: false}}}, data, el);
});
})();
"""
