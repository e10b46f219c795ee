"""Summary statistics of a backtest: PnL, risk-adjusted returns, execution quality, Greeks.

Conventions: PnL is in USD (coin amounts converted at the coin's USD price of the moment, see
``Ledger.price_usd``; an amount with no price is listed under ``unpriced`` in its own currency
and ``total_usd`` is then None, never a silent 0). Sharpe and Sortino are computed on the PnL
increments of the sampling grid (the interval is stated as ``interval_s``); they are
annualised with sqrt(intervals per 365-day year) only for runs of at least one day, else
reported per interval only. They are scale-free, so no capital base is needed. Max drawdown is the largest fall of equity
from its running peak, in USD. Fill ratio is filled / submitted quantity over the orders that
reached the venue (risk-gate denials counted apart). Markouts are signed for the fill's side:
positive means the market moved in the fill's favour; a negative average is adverse selection.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.model import InstrumentKind, OrderStatus

YEAR_S = 365 * 86_400
DAY_S = 86_400


def _r(x: float, nd: int = 6) -> float | None:
    """JSON-safe rounding (None for NaN/inf) so the summary is byte-stable and valid JSON."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def risk_stats(ts: list[int], equity: list[float], interval_s: float) -> dict[str, Any]:
    """Sharpe/Sortino of the per-interval PnL increments, and drawdown.

    ``sharpe_per_interval``/``sortino_per_interval`` are mean / sd of the increments over one
    sampling interval (``interval_s``), not annualised. ``sharpe``/``sortino`` scale them by
    sqrt(intervals per 365-day year) only when the run spans at least one day; a shorter run
    reports them as None with ``annualisation_note`` saying why (annualising 15 minutes gives
    meaningless four-digit ratios)."""
    if len(equity) < 3:
        return {"sharpe": None, "sortino": None, "sharpe_per_interval": None,
                "sortino_per_interval": None, "interval_s": interval_s, "annualised": False,
                "annualisation_note": "fewer than 3 samples", "max_drawdown_usd": None,
                "max_drawdown_duration_s": None}
    eq = np.asarray(equity, dtype=np.float64)
    d = np.diff(eq)
    sd = float(d.std(ddof=1))
    sharpe_i = float(d.mean()) / sd if sd > 0 else math.nan
    down = np.minimum(d, 0.0)
    dd_sd = float(math.sqrt(np.mean(down * down)))
    sortino_i = float(d.mean()) / dd_sd if dd_sd > 0 else math.nan
    span_s = (ts[-1] - ts[0]) / 1e9 if len(ts) > 1 else 0.0
    annualised = span_s >= DAY_S
    scale = math.sqrt(YEAR_S / interval_s)
    note = "" if annualised else (f"not annualised: {span_s:,.0f} s of data is less than one day; "
                                  f"see sharpe_per_interval ({interval_s:g} s)")
    peak = np.maximum.accumulate(eq)
    dd = peak - eq
    # longest stretch below a previous peak
    longest = cur_start = 0
    t = np.asarray(ts, dtype=np.int64)
    under = dd > 1e-12
    for i in range(len(eq)):
        if not under[i]:
            cur_start = i
        else:
            longest = max(longest, int(t[i] - t[cur_start]))
    return {"sharpe": _r(sharpe_i * scale, 4) if annualised else None,
            "sortino": _r(sortino_i * scale, 4) if annualised else None,
            "sharpe_per_interval": _r(sharpe_i, 6), "sortino_per_interval": _r(sortino_i, 6),
            "interval_s": interval_s, "annualised": annualised, "annualisation_note": note,
            "max_drawdown_usd": _r(float(dd.max()), 4),
            "max_drawdown_duration_s": _r(longest / 1e9, 3)}


def risk_summary(ledger: Any) -> dict[str, Any]:
    """``summary.json`` ``risk``: ``risk_stats`` of the USD equity when every sample had a USD
    price for all of its amounts. Otherwise the USD equity is only its priced part (0 where
    nothing is priced), whose drawdown and ratios are not the run's: they are None with
    ``unpriced_note`` saying why, and ``by_currency`` has the same statistics of each
    currency's own PnL series (``max_drawdown`` in that currency)."""
    s = ledger.samples
    interval = ledger.cfg.sample_interval_s
    if ledger.complete:
        return risk_stats(s["ts"], s["equity"], interval)
    left_out = sorted(set(ledger.unpriced) | set().union(*ledger.unpriced_parts.values()))
    out: dict[str, Any] = {k: None for k in (
        "sharpe", "sortino", "sharpe_per_interval", "sortino_per_interval", "max_drawdown_usd",
        "max_drawdown_duration_s")}
    out.update(interval_s=interval, annualised=False, annualisation_note="",
               unpriced_note=(f"no USD price for {', '.join(left_out) or 'every amount'} during "
                              "the run (or a position without a mark): see risk.by_currency"))
    out["by_currency"] = {}
    for ccy, series in sorted(ledger.native_series.items()):
        st = risk_stats(s["ts"], series, interval)
        st["max_drawdown"] = st.pop("max_drawdown_usd")
        out["by_currency"][ccy] = st
    return out


def turnover(fills: list[dict[str, Any]]) -> dict[str, Any]:
    """Traded notional: ``turnover_usd`` (None when some fill's notional has no USD price),
    ``turnover_priced_usd`` (the priced fills) and ``turnover_unpriced`` (the others, per
    currency, in that currency)."""
    priced = 0.0
    unpriced: dict[str, float] = {}
    for f in fills:
        v = f["notional_usd"]
        if v == v:
            priced += v
        else:
            c = f["notional_currency"]
            unpriced[c] = unpriced.get(c, 0.0) + f["notional"]
    return {"turnover_usd": None if unpriced else _r(priced, 4),
            "turnover_priced_usd": _r(priced, 4),
            "turnover_unpriced": {c: _r(v, 10) for c, v in sorted(unpriced.items())}}


def _by_venue(pnl: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The engine's PnL per venue (USD; unpriced amounts per currency)."""
    return {v: {k: ({c: _r(a, 10) for c, a in x.items()} if k == "unpriced"
                    else x if isinstance(x, (bool, list)) else _r(x, 4))  # (partial, unmarked)
                for k, x in d.items()} for v, d in pnl.items()}


def _dist(values: list[float]) -> dict[str, Any]:
    """Mean, |mean|, |max| and sd over the samples where the figure is known;
    ``unknown_samples``: those where it was not (a position with no price or no Greeks)."""
    a = np.asarray([v for v in values if v == v], dtype=np.float64)
    unknown = len(values) - int(a.size)
    if a.size == 0:
        return {"mean": None, "abs_mean": None, "abs_max": None, "std": None,
                "unknown_samples": unknown}
    return {"mean": _r(float(a.mean())), "abs_mean": _r(float(np.abs(a).mean())),
            "abs_max": _r(float(np.abs(a).max())), "std": _r(float(a.std())),
            "unknown_samples": unknown}


def order_stats(orders: list[Any]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    sent_qty = filled_qty = 0.0
    sent = with_fill = 0
    for o in orders:
        st = str(o.status)
        counts[st] = counts.get(st, 0) + 1
        if o.status is OrderStatus.DENIED:
            continue
        sent += 1
        sent_qty += o.quantity
        filled_qty += o.filled
        with_fill += o.filled > 0
    return {"orders": len(orders), "by_status": dict(sorted(counts.items())),
            "sent_to_venue": sent,
            "fill_ratio_qty": _r(filled_qty / sent_qty if sent_qty else math.nan),
            "fill_ratio_orders": _r(with_fill / sent if sent else math.nan)}


def markout_stats(fills: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """One markout horizon over the fills it measured (a mid existed then): the USD total
    (None when nothing was measured, or some markout has no USD price: ``unpriced`` has
    those per currency), the USD mean over the priced ones, and the mean in bps."""
    measured = [f for f in fills if f[f"markout_{key}_native"] == f[f"markout_{key}_native"]]
    usd: list[float] = []
    unpriced: dict[str, float] = {}
    for f in measured:
        v = f[f"markout_{key}_usd"]
        if v == v:
            usd.append(v)
        else:
            c = f["pnl_currency"]
            unpriced[c] = unpriced.get(c, 0.0) + f[f"markout_{key}_native"]
    bps = [f[f"markout_{key}_bps"] for f in measured]
    return {"fills_measured": len(measured),
            "total_usd": _r(sum(usd), 4) if usd and not unpriced else None,
            "mean_usd_per_fill": _r(sum(usd) / len(usd) if usd and not unpriced else math.nan),
            "unpriced": {c: _r(v, 10) for c, v in sorted(unpriced.items())},
            "mean_bps": _r(float(np.mean(bps)) if bps else math.nan, 4)}


def unfunded(ledger: Any, funding: Any) -> list[str]:
    """Perpetuals held at some time in the run that no funding rate reached (``funding``: the
    node's ``FundingEngine``, None when it has none): their funding is unknown, not the 0 the
    figures show. Held during the run, not only at its end: a position closed before the end
    missed its funding as well."""
    rates = funding.rates if funding is not None else {}
    return sorted(iid for iid, pos in ledger.positions.items()
                  if pos.fills and pos.instrument.kind is InstrumentKind.PERPETUAL and iid not in rates)


def coins(amounts: dict[str, Any]) -> str:
    """Amounts in their own currencies, as the result line and the report write them
    (``+0.0012 BTC, -3.5 ETH``)."""
    return ", ".join(f"{v:+.8g} {c}" for c, v in amounts.items())


def pnl_summary(ledger: Any) -> dict[str, Any]:
    """``summary.json`` ``pnl``: USD figures by the engine's rule (``engine.pnl``: a figure none
    of whose amounts has a USD price is None, never 0; with a priced part it is that part),
    the amounts left out per currency (``unpriced``, net) and per figure (``unpriced_parts``),
    positions with no mark (``unmarked``), and the total per currency (``by_currency``)."""
    p = ledger.pnl
    unpriced = {c: _r(v, 10) for c, v in sorted(p["unpriced"].items())}
    unknown = bool(unpriced) or bool(p["unmarked"])
    return {"total_usd": None if unknown else _r(p["priced_total"], 4),
            "priced_total_usd": _r(p["priced_total"], 4),
            "realized_usd": _r(p["realized"], 4), "unrealized_usd": _r(p["unrealized"], 4),
            "fees_usd": _r(p["fees"], 4), "funding_usd": _r(p["funding"], 4),
            "unpriced": unpriced,
            "unpriced_parts": {fig: {c: _r(v, 10) for c, v in amounts.items()}
                               for fig, amounts in ledger.unpriced_parts.items() if amounts},
            "unmarked": list(p["unmarked"]),
            "by_currency": {c: _r(v, 10) for c, v in sorted(ledger.native.items())}}


def summarize(ledger: Any, orders: list[Any], extra: dict[str, Any],
              funding: Any = None) -> dict[str, Any]:
    """The ``summary.json`` document (deterministic: no wall-clock values); ``funding``: the
    node's ``FundingEngine`` (for ``funding.unfunded``)."""
    s = ledger.samples
    fills = ledger.fills
    maker = [f for f in fills if f["liquidity"] == "maker"]
    waits = [f["queue_wait_s"] for f in maker if f["queue_wait_s"] == f["queue_wait_s"]]
    markouts = {f"{h:g}s": markout_stats(fills, f"{h:g}s") for h in ledger.cfg.markout_s}
    per_inst: dict[str, Any] = {}
    for iid, pos in ledger.positions.items():
        per_inst[iid] = {"position": _r(pos.qty, 10), "position_exact": str(pos.exact_qty),
                         # (flat: no entry price, not a price of 0)
                         "avg_price": _r(pos.avg_price, 8) if pos.exact_qty != 0 else None,
                         "realized": _r(pos.realized, 8), "fees": _r(pos.fees, 8),
                         "funding": _r(pos.funding, 10),
                         "fills": pos.fills, "traded_qty": _r(float(pos.traded_qty), 10),
                         "pnl_currency": pos.pnl_currency}
    return {
        "pnl": pnl_summary(ledger),
        "risk": risk_summary(ledger),
        **turnover(fills),
        "fills": {"count": len(fills), "maker": len(maker), "taker": len(fills) - len(maker),
                  "quantity": _r(sum(f["quantity"] for f in fills), 10)},
        "orders": order_stats(orders),
        "queue": {"maker_fills_measured": len(waits),
                  "avg_wait_s": _r(float(np.mean(waits)) if waits else math.nan, 4),
                  "median_wait_s": _r(float(np.median(waits)) if waits else math.nan, 4)},
        "adverse_selection": markouts,
        "greeks": {"underlying": ledger.underlying, "delta": _dist(s["delta"]),
                   "gamma_1pct": _dist(s["gamma_1pct"]),
                   "vega_usd_per_vol_pt": _dist(s["vega"]), "theta_usd_per_day": _dist(s["theta_day"]),
                   "delta_other_assets": {a: _dist(v) for a, v in sorted(ledger.delta_other.items())}},
        "pnl_by_venue": _by_venue(ledger.k.portfolio.pnl_usd_by_venue()),
        "accounts": ledger.k.gate.accounts.summary() if ledger.k.gate.accounts is not None else None,
        "settlements": ledger.settlements,
        "funding": {"payments": len(getattr(ledger, "funding", [])),
                    "total_usd": _r(sum(f["amount_usd"] for f in getattr(ledger, "funding", [])), 6),
                    "unfunded": unfunded(ledger, funding),
                    "events": getattr(ledger, "funding", [])},
        "instruments": per_inst,
        "samples": len(s["ts"]),
        **extra,
    }
