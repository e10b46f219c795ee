"""The periodic status line: what the daemon is doing, in one compact log event."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from engine.kernel import Kernel
from engine.model import BookStatus, InstrumentKind


def _fmt(x: float, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def status_fields(kernel: Kernel, max_tops: int = 3) -> dict[str, Any]:
    """The fields of one status event (also used by tests and ``volta status``)."""
    books = kernel.books
    live = sum(1 for b in books.values() if b.status is BookStatus.LIVE)
    tops: list[str] = []
    # Perpetuals and futures first, then the at-the-money options of the nearest expiry:
    # what a desk looks at first.
    ordered = sorted(books.values(), key=lambda b: _display_rank(kernel, b.instrument_id))
    shown = ordered[:max_tops]
    on_venues = Counter(b.instrument_id.partition(":")[2] for b in shown)
    for book in shown:
        bid, ask = book.best_bid(), book.best_ask()
        sym = book.instrument_id.partition(":")[2]  # (venue:symbol when on more than one venue)
        tops.append(f"{book.instrument_id if on_venues[sym] > 1 else sym} "
                    f"{_fmt(bid[0]) if bid else '-'}/{_fmt(ask[0]) if ask else '-'}")
    positions = []
    held = [pos for pos in kernel.portfolio.positions() if pos.qty != 0.0]
    held_on = Counter(p.instrument.symbol for p in held)
    twice = {sym for sym, n in held_on.items() if n > 1}
    for pos in held:
        inst = pos.instrument  # quantity in contracts; the price in its own currency
        ccy = inst.settle if inst.premium_in_coin else inst.quote
        name = inst.id if inst.symbol in twice else inst.symbol  # (venue:symbol when ambiguous)
        positions.append(f"{name} {pos.qty:+g}@{_fmt(pos.avg_price)} {ccy}")
    pnl = kernel.portfolio.pnl_usd()
    deltas = {u: round(kernel.portfolio.delta(u), 4) for u in kernel.portfolio.underlyings()}
    return {
        "tops": " | ".join(tops),
        "books_live": f"{live}/{len(books)}",
        "working": len(kernel.orders.open_orders()),
        "fills": kernel.counters.get("fills", 0),
        "denied": sum(kernel.gate.denied.values()),
        "rejected": kernel.counters.get("rejects", 0),  # by the venues (denied: by the gate)
        "positions": ", ".join(positions) or "flat",
        # USD figures; None: nothing of it has a USD price (never 0); pnl_partial: the total
        # leaves out the amounts under unpriced (in their own currency) and unmarked
        "pnl_usd": _usd(pnl["total"], 2),
        "realized_usd": _usd(pnl["realized"], 2),
        "unrealized_usd": _usd(pnl["unrealized"], 2),
        "fees_usd": _usd(pnl["fees"], 2),
        "funding_usd": _usd(pnl["funding"], 4),
        **({"pnl_partial": True} if pnl["partial"] else {}),
        **({"unpriced": {c: f"{v:+.8g} {c}" for c, v in pnl["unpriced"].items()}}
           if pnl["unpriced"] else {}),
        **({"unmarked": pnl["unmarked"]} if pnl["unmarked"] else {}),
        "delta": deltas,
        "state": str(kernel.gate.state),
        **_risk_fields(kernel),
        **_chain_fields(kernel),
    }


def status_line(fields: dict[str, Any]) -> str:
    """The status event as one short line a person reads at a glance (console logs); the JSON
    log keeps every field."""
    parts = [f"{str(fields['state']).upper()}"]
    if fields.get("kill_level"):
        parts[0] += f" kill {fields['kill_level']}"
    if fields.get("holds"):
        parts[0] += " (" + ", ".join(sorted(fields["holds"])) + ")"
    if fields.get("venues_halted"):
        parts[0] += " | " + ", ".join(f"{v} halted" for v in sorted(fields["venues_halted"]))
    parts.append(_pnl_text(fields))
    parts.append(_positions_text(fields["positions"]))
    parts.append(f"{fields['working']} working, {fields['fills']} fills, {fields['denied']} denied, "
                 f"{fields.get('rejected', 0)} rejected by venue")
    parts.append(f"books {fields['books_live']} live")
    for key, val in fields.items():
        if key.startswith("chain_") and isinstance(val, dict):
            parts.append(_chain_text(key[6:], val))
    unfunded = fields.get("funding", {}).get("unfunded")
    if unfunded:  # funding_usd leaves them out: their funding is unknown, not 0
        n = len(unfunded)
        why = ("not booked live: in the venue's account" if fields["funding"].get("booked") is False
               else "no funding rate")
        parts.append(f"funding unknown for {n} perp{'s' if n > 1 else ''} ({why})")
    failing = [f"{sid} {t['errors']:g}" for sid, t in sorted(fields.get("strategies", {}).items())
               if t.get("errors")]
    if failing:  # callbacks that raised: the engine goes on, the line must not look healthy
        parts.append("strategy errors: " + ", ".join(failing))
    worst = max(((und, k, v) for und, g in fields.get("greeks", {}).items()
                 for k, v in g.get("used_pct", {}).items()), key=lambda t: t[2], default=None)
    if worst is not None:
        parts.append(f"max use {worst[0]} {worst[1]} {worst[2]:.0f}%")
    for und, g in sorted(fields.get("greeks", {}).items()):
        left_out = g.get("delta_incomplete")
        if left_out:  # a delta that leaves positions out is never shown as if complete
            n = len(left_out)
            parts.append(f"delta {g.get('delta', 0.0):+.4f} {und} (+{n} position{'s' if n > 1 else ''} "
                         f"without a delta)")
    return " | ".join(parts)


def _positions_text(held: str, width: int = 48) -> str:
    """The positions that fit in ``width`` characters, whole, and how many more there are
    (a cut '...' hid how many positions the line left out)."""
    if len(held) <= width:
        return held
    items = held.split(", ")
    shown = [items[0]]
    for item in items[1:]:
        if len(", ".join(shown)) + 2 + len(item) > width:
            break
        shown.append(item)
    return ", ".join(shown) + f" (+{len(items) - len(shown)} more)"


def _usd(x: float, digits: int) -> float | None:
    """A USD figure for the JSON event: None when unknown (JSON has no NaN; never 0)."""
    return round(x, digits) if x == x else None


def _pnl_text(fields: dict[str, Any]) -> str:
    """'PnL +1.23 USD', 'PnL +1.23 USD partial (unpriced: +0.001 BTC)' or 'PnL unpriced
    (+0.001 BTC)': what the USD figure leaves out is said, an unknown never reads as 0."""
    left_out = list(fields.get("unpriced", {}).values())
    n = len(fields.get("unmarked", ()))
    if n:
        left_out.append(f"{n} position{'s' if n > 1 else ''} without a mark")
    total = fields["pnl_usd"]
    if total is None:
        return "PnL unpriced" + (f" ({', '.join(left_out)})" if left_out else "")
    text = f"PnL {total:+,.2f} USD"
    if left_out:
        text += f" partial ({'unpriced: ' if fields.get('unpriced') else ''}{', '.join(left_out)})"
    return text


def _risk_fields(kernel: Kernel) -> dict[str, Any]:
    """Portfolio Greeks per underlying and how much of each risk limit is used."""
    gate, pf = kernel.gate, kernel.portfolio
    lim = gate.limits
    greeks: dict[str, Any] = {}
    for und in sorted(set(pf.underlyings()) | set(lim.underlyings)):
        # numbers rounded (NaN, unknown, left out); "<greek>_incomplete": positions left out
        g = {k: v if isinstance(v, list) else round(v, 6)
             for k, v in pf.greeks_summary(und).items() if v == v}
        by_venue = pf.delta_by_venue(und)
        if len(by_venue) > 1:  # the per-venue breakdown of the canonical underlying's delta
            g["delta_by_venue"] = {v: round(d, 6) for v, d in sorted(by_venue.items())}
        ul = lim.underlyings.get(und)
        if ul is not None:
            used = {"delta": (g.get("delta", 0.0), ul.max_delta), "gamma": (g.get("gamma", 0.0), ul.max_gamma),
                    "vega": (g.get("vega_usd", 0.0), ul.max_vega_usd)}
            g["used_pct"] = {k: round(100.0 * abs(v) / m, 1) for k, (v, m) in used.items() if m}
        greeks[und] = g
    out: dict[str, Any] = {
        "greeks": greeks,
        "open_orders_used": f"{kernel.orders.open_count()}/{lim.max_open_orders}",
        "denials": dict(gate.denied),
        "rejects_by_reason": {k[8:]: n for k, n in sorted(kernel.counters.items()) if k.startswith("rejects:")},
        "kill_level": kernel.killswitch.level,
    }
    if gate.holds:
        out["holds"] = {k: str(v) for k, v in gate.holds.items()}
    halted = kernel.trading.halted_venues()
    if halted:  # venues halted on their own (their streams, their reconciliation)
        out["venues_halted"] = halted
    if gate.disabled_strategies:
        out["disabled_strategies"] = dict(gate.disabled_strategies)
    loss = kernel.killswitch.loss
    if loss.enabled:
        out["loss_used"] = {"daily_loss_usd": round(loss.daily_loss, 2), "max_daily_loss_usd": loss.max_daily_loss,
                            "drawdown_usd": round(loss.drawdown, 2), "max_drawdown_usd": loss.max_drawdown}
    if gate.accounts is not None:
        out["accounts"] = gate.accounts.summary()  # balances, equity, IM/MM, exposure per venue
    in_doubt = len(kernel.orders.in_doubt())
    if in_doubt:
        out["orders_in_doubt"] = in_doubt
    return out


def _chain_fields(kernel: Kernel) -> dict[str, Any]:
    """ATM vol, 25-delta risk reversal and fit error of every chain (vol points; None: no
    surface), with or without a surface: when no expiry fits, ``slices`` says why."""
    return {f"chain_{key}": {k: (None if isinstance(v, float) and v != v else v)  # (JSON: no NaN)
                             for k, v in chain.summary().items()}
            for key, chain in kernel.chains.items()}


def _chain_text(name: str, chain: dict[str, Any]) -> str:
    """'sim:BTC ATM vol 57.3%', with the expiries left unfitted and, with no surface at all,
    the first reason (the JSON event's ``slices`` has each expiry's)."""
    n = chain.get("slices_not_fitted", 0)
    unfitted = f"{n} expir{'y' if n == 1 else 'ies'} not fitted"
    atm = chain.get("atm_vol_pts")
    if atm is not None:
        return f"{name} ATM vol {atm:.1f}%" + (f" (+{unfitted})" if n else "")
    why = next(iter(chain.get("slices", {}).values()), "")
    return f"{name} no vol surface" + (f" ({unfitted}: {why})" if why else "")


def _display_rank(kernel: Kernel, instrument_id: str) -> tuple[int, int, float, str]:
    inst = kernel.instruments.get(instrument_id)
    if inst is None:
        return (9, 0, 0.0, instrument_id)
    if inst.kind is InstrumentKind.OPTION:
        und = kernel.portfolio.underlying_prices.get(inst.asset, math.nan)
        distance = abs(inst.strike - und) if und == und else inst.strike
        return (5, inst.expiry_ns, distance, instrument_id)
    rank = {InstrumentKind.PERPETUAL: 0, InstrumentKind.FUTURE: 1, InstrumentKind.SPOT: 2}[inst.kind]
    return (rank, inst.expiry_ns, 0.0, instrument_id)
