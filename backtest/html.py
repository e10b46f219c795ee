"""A self-contained HTML report: inline SVG charts and tables, no scripts, no network.

Each chart is one ``<svg>`` element whose ``<title>`` names it (screen readers and tests read
it). Series are downsampled by keeping the minimum and maximum of each bucket, so spikes and
drawdowns survive; numbers are written with fixed precision, so the same run gives the same
bytes.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 1100, 260, 80, 20, 28, 30
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _downsample(ts: Sequence[int], ys: Sequence[float], n: int) -> list[tuple[int, float]]:
    pts = [(t, y) for t, y in zip(ts, ys) if y == y and math.isfinite(y)]
    if len(pts) <= n:
        return pts
    out: list[tuple[int, float]] = []
    size = len(pts) / (n // 2)
    i = 0.0
    while int(i) < len(pts):
        bucket = pts[int(i):int(i + size)] or pts[int(i):int(i) + 1]
        lo = min(bucket, key=lambda p: p[1])
        hi = max(bucket, key=lambda p: p[1])
        out.extend(sorted({lo, hi}))
        i += size
    return out


def _fmt_t(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%H:%M:%S")


def _nice(v: float) -> str:
    a = abs(v)
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.3f}"
    return f"{v:.4g}"


def chart(title: str, ts: Sequence[int], series: Sequence[tuple[str, Sequence[float]]],
          max_points: int, markers: Sequence[tuple[int, float, str]] = (),
          fill_zero: bool = False) -> str:
    """One line chart as an ``<svg>`` element (markers: (ts, y, "buy"|"sell"))."""
    lines = [(name, _downsample(ts, ys, max_points)) for name, ys in series]
    all_pts = [p for _, pts in lines for p in pts] + [(t, y) for t, y, _ in markers if y == y]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" role="img">', f"<title>{html.escape(title)}</title>",
             f'<text x="{PAD_L}" y="18" class="ct">{html.escape(title)}</text>']
    if not all_pts:
        parts.append(f'<text x="{W // 2}" y="{H // 2}" text-anchor="middle">no data</text></svg>')
        return "".join(parts)
    t0, t1 = min(p[0] for p in all_pts), max(p[0] for p in all_pts)
    y0, y1 = min(p[1] for p in all_pts), max(p[1] for p in all_pts)
    if fill_zero:
        y0, y1 = min(y0, 0.0), max(y1, 0.0)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1.0, y1 + 1.0
    span_t = max(t1 - t0, 1)
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(t: int) -> float:
        return PAD_L + (t - t0) / span_t * pw

    def y(v: float) -> float:
        return PAD_T + (y1 - v) / (y1 - y0) * ph

    parts.append(f'<rect x="{PAD_L}" y="{PAD_T}" width="{pw}" height="{ph}" class="pl"/>')
    for k in range(5):
        v = y0 + (y1 - y0) * k / 4
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="g"/>'
                     f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{_nice(v)}</text>')
        tk = t0 + span_t * k // 4
        parts.append(f'<text x="{x(tk):.1f}" y="{H - 10}" text-anchor="middle">{_fmt_t(tk)}</text>')
    if y0 < 0 < y1:
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(0):.1f}" y2="{y(0):.1f}" class="z"/>')
    lx = PAD_L + 8
    for n, (name, pts) in enumerate(lines):
        color = COLORS[n % len(COLORS)]
        if pts:
            d = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.3">'
                         f"<title>{html.escape(name)}</title></polyline>")
        parts.append(f'<text x="{lx}" y="{PAD_T + 14}" fill="{color}">{html.escape(name)}</text>')
        lx += 7 * len(name) + 24
    for t, v, side in markers[: max_points * 2]:
        if v != v:
            continue
        if side == "buy":
            parts.append(f'<path d="M{x(t):.1f},{y(v) - 5:.1f} l4,8 h-8 z" class="buy"/>')
        else:
            parts.append(f'<path d="M{x(t):.1f},{y(v) + 5:.1f} l4,-8 h-8 z" class="sell"/>')
    parts.append("</svg>")
    return "".join(parts)


CSS = """body{font-family:system-ui,sans-serif;margin:20px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
svg.chart{display:block;margin:6px 0;font-size:11px}.ct{font-size:13px;font-weight:600}
.pl{fill:#fcfcfc;stroke:#bbb}.g{stroke:#eee}.z{stroke:#888;stroke-dasharray:4 3}
.buy{fill:#2ca02c}.sell{fill:#d62728}"""


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_cell(v))}</td></tr>"
                   for k, v in rows)
    return f"<table>{body}</table>"


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return _nice(v)
    return str(v)


def _describe(summary: dict[str, Any]) -> str:
    d = summary.get("data", {})
    span = summary.get("span", {})
    src = d.get("source", "?")
    if src == "capture":
        what = "captures " + ", ".join(Path(f).name for f in d.get("files", []))
    elif src == "synthetic":
        p = d.get("params", {})
        what = (f"synthetic generator (seed {p.get('seed')}, vol {p.get('annual_vol')}, "
                f"{len(p.get('expiries_days', ()))} expiries x {p.get('strikes_per_expiry')} strikes)")
    else:
        what = "venue-generated market (" + ", ".join(d.get("venues", [])) + ")"
    strategies = ", ".join(f"{s['id']} ({s['class']})" for s in summary.get("strategies", []))
    return (f"Data: {what}; {span.get('simulated_s')} s simulated from "
            f"{_fmt_t(span.get('start_ns', 0))} UTC. Strategies: {strategies}.")


def render(title: str, summary: dict[str, Any], ledger: Any, max_points: int) -> str:
    """The whole report page."""
    s = ledger.samples
    ts = s["ts"]
    eq = s["equity"]
    peak = -math.inf
    dd = []
    for v in eq:
        peak = max(peak, v)
        dd.append(v - peak)
    charts = [
        chart("Equity (USD)", ts, [("equity", eq), ("realized", s["realized"]),
                                   ("fees", [-f for f in s["fees"]])], max_points),
        chart("Drawdown (USD)", ts, [("drawdown", dd)], max_points, fill_zero=True),
        chart("Position and delta", ts,
              [(f"net delta ({ledger.underlying or 'underlying'})", s["delta"])]
              + [(f"pos {iid.partition(':')[2]}", ledger.pos_series[iid])
                 for iid in list(ledger.traded)[:4]],
              max_points, fill_zero=True),
    ]
    for iid in list(ledger.traded)[:4]:
        marks = [(f["ts_event"], f["price"], f["side"]) for f in ledger.fills
                 if f["instrument"] == iid]
        charts.append(chart(f"Fills on the price: {iid}", ts, [("mid", ledger.mids[iid])],
                            max_points, markers=marks))
    charts += [
        chart("Greeks: gamma (delta change per 1% move)", ts, [("gamma", s["gamma_1pct"])],
              max_points, fill_zero=True),
        chart("Greeks: vega (USD per vol point) and theta (USD per day)", ts,
              [("vega", s["vega"]), ("theta", s["theta_day"])], max_points, fill_zero=True),
    ]
    pnl, risk = summary["pnl"], summary["risk"]
    unpriced = ", ".join(f"{v:+.8g} {c}" for c, v in pnl.get("unpriced", {}).items())
    iv = risk.get("interval_s")
    rows = [("total PnL (USD)", pnl["total_usd"] if not unpriced else f"unknown: {unpriced} unpriced"),
            ("realized (USD)", pnl["realized_usd"]),
            ("unrealized (USD)", pnl["unrealized_usd"]), ("fees (USD)", pnl["fees_usd"]),
            ("funding (USD, + received)", pnl.get("funding_usd")),
            ("PnL per currency", ", ".join(f"{v:+.8g} {c}" for c, v in pnl.get("by_currency", {}).items())),
            (f"Sharpe per {iv:g} s interval" if iv else "Sharpe per interval", risk.get("sharpe_per_interval")),
            (f"Sortino per {iv:g} s interval" if iv else "Sortino per interval", risk.get("sortino_per_interval")),
            ("Sharpe (annualised)", risk["sharpe"] if risk["sharpe"] is not None
             else f"n/a ({risk.get('annualisation_note') or 'not enough data'})"),
            ("Sortino (annualised)", risk["sortino"] if risk["sortino"] is not None
             else f"n/a ({risk.get('annualisation_note') or 'not enough data'})"),
            ("max drawdown (USD)", risk["max_drawdown_usd"]),
            ("turnover (USD)", summary["turnover_usd"]), ("fills", summary["fills"]["count"]),
            ("maker / taker", f"{summary['fills']['maker']} / {summary['fills']['taker']}"),
            ("fill ratio (qty)", summary["orders"]["fill_ratio_qty"]),
            ("avg queue wait (s)", summary["queue"]["avg_wait_s"])]
    for h, m in summary["adverse_selection"].items():
        rows.append((f"markout {h} (USD total / bps mean)", f"{_cell(m['total_usd'])} / {_cell(m['mean_bps'])}"))
    rows.append(("events replayed", summary.get("events")))
    data = html.escape(_describe(summary))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{data}</p><h2>Summary</h2>{_table(rows)}"
            "<h2>Charts</h2>" + "".join(charts) + "</body></html>\n")
