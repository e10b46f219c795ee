"""The result folder: ``summary.json``, ``fills.csv``, ``orders.csv``, ``report.html``.

Everything written here is a function of the run alone (no wall-clock values, fixed float
formatting, sorted keys where order is not already deterministic), so the same config, data and
seed produce byte-identical files. Throughput figures (wall time, events/s) go to ``perf.json``,
which is the one file expected to differ between runs.
"""

from __future__ import annotations

import csv
import io
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from backtest.html import render
from backtest.runner import BacktestResult

ORDER_COLUMNS = ("client_order_id", "strategy_id", "instrument", "side", "type", "time_in_force",
                 "post_only", "price", "quantity", "filled", "avg_fill_price", "fees",
                 "fee_currency", "status",
                 "reject_reason", "ts_submitted", "venue_order_id")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        # 12 significant digits: binary noise (0.15000000000000002) never reaches a CSV
        return "" if math.isnan(v) else repr(float(f"{v:.12g}"))
    return "" if v is None else str(v)


def step_decimals(step: float) -> int | None:
    """Decimal places of an instrument's tick or lot size (0.5 -> 1, 1e-4 -> 4, 10 -> 0)."""
    if not (isinstance(step, float | int) and math.isfinite(step) and step > 0):
        return None
    exponent = Decimal(repr(float(step))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _at(v: Any, decimals: int | None, extra: int = 0) -> str:
    """``v`` at ``decimals`` places (plus up to ``extra`` more, trailing zeros dropped)."""
    if not isinstance(v, float | int) or isinstance(v, bool) or decimals is None:
        return _fmt(v)
    if math.isnan(v):
        return ""
    text = f"{v:.{decimals + extra}f}"
    if extra and "." in text:
        head, tail = text.split(".")
        tail = tail[:decimals] + tail[decimals:].rstrip("0")
        text = f"{head}.{tail}" if tail else head
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in columns])
    return buf.getvalue()


def fills_csv(result: BacktestResult) -> str:
    fills = result.ledger.fills
    cols = ["ts_event", "ts_recv", "instrument", "client_order_id", "trade_id", "side", "price",
            "quantity", "liquidity", "fee", "fee_currency", "fee_usd", "notional_usd",
            "queue_wait_s", "ahead_at_entry"]
    for h in result.ledger.cfg.markout_s:
        cols += [f"markout_{h:g}s_usd", f"markout_{h:g}s_bps"]
    rows = list(fills)
    for s in result.ledger.settlements:
        rows.append({"ts_event": s["ts"], "ts_recv": s["ts"], "instrument": s["instrument"],
                     "trade_id": "settlement", "side": "settle", "price": s["settlement_price"],
                     "quantity": s["quantity"], "liquidity": "settlement"})
    return _csv(rows, cols)


def orders_csv(result: BacktestResult) -> str:
    """One row per order; prices at the instrument's tick precision (an average fill price
    with up to 4 more places), quantities at its lot precision, fees with their currency, and
    the denial's reason code in ``reject_reason`` for orders the risk gate denied."""
    rows = []
    instruments = result.node.kernel.instruments
    # the unit of an order's fees: its fills' fee currency (an order never filled paid none)
    fee_ccy = {f["client_order_id"]: f["fee_currency"] for f in result.ledger.fills}
    for o in result.node.kernel.orders:
        c = o.command
        inst = instruments.get(o.instrument_id)
        px = step_decimals(inst.tick_size) if inst is not None else None
        qty = step_decimals(inst.lot_size) if inst is not None else None
        rows.append({"client_order_id": o.client_order_id, "strategy_id": o.strategy_id,
                     "instrument": o.instrument_id, "side": str(o.side),
                     "type": str(c.order_type), "time_in_force": str(c.time_in_force),
                     "post_only": c.post_only, "price": _at(o.price, px),
                     "quantity": _at(o.quantity, qty), "filled": _at(o.filled, qty),
                     # no fill, no average price: empty (unpriced), never 0
                     "avg_fill_price": _at(o.avg_fill_price, px, extra=4) if o.filled > 0 else "",
                     "fees": o.fees, "fee_currency": fee_ccy.get(o.client_order_id, ""),
                     "status": str(o.status), "reject_reason": o.reject_reason,
                     "ts_submitted": c.ts, "venue_order_id": o.venue_order_id})
    return _csv(rows, list(ORDER_COLUMNS))


def write_outputs(result: BacktestResult, out: str | Path, title: str) -> Path:
    """Write the result folder; returns its path."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    summary = result.summary
    (root / "summary.json").write_bytes(
        msgspec.json.format(msgspec.json.encode(summary), indent=2) + b"\n")
    (root / "fills.csv").write_text(fills_csv(result), encoding="utf-8")
    (root / "orders.csv").write_text(orders_csv(result), encoding="utf-8")
    max_points = result.ledger.cfg.max_points
    (root / "report.html").write_text(render(title, summary, result.ledger, max_points),
                                      encoding="utf-8")
    perf = {"events": result.events, "wall_s": round(result.wall_s, 4),
            "events_per_s": round(result.events_per_s)}
    (root / "perf.json").write_bytes(msgspec.json.encode(perf) + b"\n")
    return root
