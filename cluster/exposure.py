"""A node's exposure report, read from the kernel through its public state.

Greeks per (canonical underlying, ``Instrument.asset``, expiry) are the sums of each position's
own contribution to the portfolio's running totals (``Position.contrib``), so they add up to
the node's totals; the totals themselves are the portfolio's. Gross notional per venue is the credit-risk figure:
``|qty| * contract_size * underlying price`` for linear products and options (USD for inverse
ones, whose contracts are USD-sized); a position whose underlying has no price is counted as
unpriced, never as 0. Venue collateral and margin come from the adapter's account view where
it keeps one: ``account_summary()`` (a dict with ``collateral_usd``/``margin_used_usd``) or
per-currency ``balances`` as the venue pushes them (Deribit's ``user.portfolio``: ``equity``,
``initial_margin``), converted to USD at the currency's underlying price; a currency without a
price, or a venue without an account view, is unknown (``None``), never 0.
"""

from __future__ import annotations

import math
from typing import Any

from cluster.messages import (
    ExposureReport,
    GreekBucket,
    OpenOrderRow,
    PnlUsd,
    PositionRow,
    UnderlyingTotals,
    VenueExposure,
)
from engine.kernel import Kernel
from engine.model import canonical_asset, is_usd


def _num(x: float) -> float | None:
    return x if x == x and math.isfinite(x) else None


def build_report(kernel: Kernel, node_id: str, incarnation: int, seq: int, ts: int,
                 budget_revision: int) -> ExposureReport:
    pf = kernel.portfolio
    buckets: dict[tuple[str, int], list[float]] = {}
    positions: list[PositionRow] = []
    venues: dict[str, list[Any]] = {}  # venue -> [gross, unpriced, open orders]
    assets: set[str] = set()
    for pos in pf.positions():
        inst = pos.instrument
        und = inst.asset
        assets.add(und)
        if pos.qty == 0.0:
            continue
        key = (und, inst.expiry_ns)
        b = buckets.get(key)
        if b is None:
            b = buckets[key] = [0.0, 0.0, 0.0, 0.0]
        c = pos.contrib
        b[0] += c[0]
        b[1] += c[1]
        b[2] += c[2]
        b[3] += c[3]
        px = pf.underlying_prices.get(und, math.nan)
        if inst.inverse:
            notional: float | None = abs(pos.qty) * inst.contract_size
        else:
            notional = _num(abs(pos.qty) * inst.contract_size * px)
        v = venues.setdefault(inst.venue, [0.0, 0, 0])
        if notional is None:
            v[1] += 1
        else:
            v[0] += notional
        positions.append(PositionRow(inst.id, pos.qty, pos.avg_price, _num(pos.mark), notional))
    open_rows: list[OpenOrderRow] = []
    for o in kernel.orders.open_orders():
        open_rows.append(OpenOrderRow(o.client_order_id, o.instrument_id, str(o.side), o.remaining,
                                      _num(o.price) if o.price is not None else None))
        venues.setdefault(o.instrument_id.partition(":")[0], [0.0, 0, 0])[2] += 1
    totals = []
    for und in sorted(assets):
        # The portfolio keys totals and prices by the canonical asset already: one lookup.
        d, g, v, t = pf.greeks(und)
        px = pf.underlying_prices.get(und, math.nan)
        left_out = {name: ids for name in ("delta", "gamma", "vega", "theta")
                    if (ids := pf.uncounted(und, name))}  # (named, never a silent 0)
        totals.append(UnderlyingTotals(und, d, g, v, t, _num(d * px), left_out))
    venue_rows = []
    accounts = {name: acct for name, adapter in kernel.adapters.items()
                if (acct := _account(adapter, kernel)) is not None}
    for name in accounts:
        venues.setdefault(name, [0.0, 0, 0])
    for name, (gross, unpriced, n_open) in sorted(venues.items()):
        collateral, margin = accounts.get(name, (None, None))
        venue_rows.append(VenueExposure(name, gross, unpriced, n_open, collateral_usd=collateral,
                                        margin_used_usd=margin))
    pnl = pf.pnl_usd()
    return ExposureReport(
        node_id=node_id, incarnation=incarnation, seq=seq, ts=ts,
        trading_state=str(kernel.gate.state), kill_level=kernel.killswitch.level,
        budget_revision=budget_revision, totals=totals,
        greeks=[GreekBucket(u, e, b[0], b[1], b[2], b[3]) for (u, e), b in sorted(buckets.items())],
        positions=positions, open_orders=open_rows, venues=venue_rows,
        # the priced parts (a figure with nothing priced is NaN there): unpriced goes beside
        pnl_usd=PnlUsd(*(x if x == x else 0.0 for x in (pnl["realized"], pnl["unrealized"], pnl["fees"])),
                       pnl["priced_total"], pnl["funding"] if pnl["funding"] == pnl["funding"] else 0.0,
                       dict(pnl["unpriced"])))


def _usd_price(kernel: Kernel, ccy: str) -> float | None:
    """USD per unit of ``ccy``: 1 for USD coins (``is_usd``), else the portfolio's index price
    of the canonical asset (``XBT`` is ``BTC``), else unknown."""
    if is_usd(ccy):
        return 1.0
    px = kernel.portfolio.underlying_prices.get(canonical_asset(ccy), math.nan)
    return px if px == px and px > 0 else None


def _account(adapter: Any, kernel: Kernel) -> tuple[float | None, float | None] | None:
    """(collateral USD, initial margin used USD) of one venue account, or None: no view."""
    summary = getattr(adapter, "account_summary", None)
    if callable(summary):
        got = summary()
        if isinstance(got, dict):
            return got.get("collateral_usd"), got.get("margin_used_usd")
    balances = getattr(adapter, "balances", None)
    if not isinstance(balances, dict) or not balances:
        return None
    collateral: float | None = 0.0
    margin: float | None = 0.0
    for ccy, data in balances.items():
        if not isinstance(data, dict):
            continue
        px = _usd_price(kernel, str(ccy).upper())
        eq = data.get("equity", data.get("balance"))
        im = data.get("initial_margin")
        collateral = None if collateral is None or px is None or not isinstance(eq, (int, float)) \
            else collateral + float(eq) * px
        margin = None if margin is None or px is None or not isinstance(im, (int, float)) \
            else margin + float(im) * px
    return collateral, margin
