"""Read-only JSON views of a running kernel for the operator API, dashboard and ``volta status``.

Every function reads the kernel through its public state (books, orders, portfolio, gate,
kill switch, chains, adapters) and returns plain builtins ready for JSON. They run on the
event loop between handlers, on request (or on the stream's slow timer), never per market
message. Numbers carry their unit in the key (``_usd``, ``_vol_pts``, ``_ns``); a value that is
not known (no mark, no fit) is ``None`` and rendered "unpriced"/"-", never 0.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from engine.model import BookStatus, InstrumentKind, NS_PER_YEAR
from engine.greeks import GREEKS

if TYPE_CHECKING:
    from engine.kernel import Kernel
    from engine.operator.tape import Tape
    from engine.orders import Order


def num(x: float | None, digits: int | None = None) -> float | None:
    """``None`` for a missing/NaN/inf number (JSON has no NaN), else ``x`` (rounded)."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits) if digits is not None else float(x)


def state_view(k: Kernel) -> dict[str, Any]:
    gate, ks = k.gate, k.killswitch
    pnl = k.portfolio.pnl_usd()
    return {
        "state": str(gate.state),
        "kill_level": ks.level,
        "kill_reason": ks.reason,
        "holds": {src: {"state": str(st), "reason": gate.hold_reasons.get(src, "")}
                  for src, st in gate.holds.items()},
        # each venue's own state (a venue halted by its streams halts no other venue)
        "venues": k.trading.venues(),
        "disabled_strategies": dict(gate.disabled_strategies),
        "now_ns": k.clock.now_ns(),
        "open_orders": k.orders.open_count(),
        "fills": k.counters.get("fills", 0),
        "denied": sum(gate.denied.values()),
        "approved": gate.approved,
        # USD figures (null: nothing of it priced); ``partial``: the total leaves out ``unpriced``
        # (amounts per currency with no USD price yet) and ``unmarked`` (positions with no mark)
        "pnl_usd": {key: (v if isinstance(v, (dict, list, bool)) else num(v, 2)) for key, v in pnl.items()},
    }


def positions_view(k: Kernel) -> list[dict[str, Any]]:
    out = []
    for pos in k.portfolio.positions():
        if pos.qty == 0.0 and pos.fills == 0:
            continue
        inst = pos.instrument
        mark = pos.mark if math.isfinite(pos.mark) else None
        out.append({
            "instrument_id": inst.id, "kind": str(inst.kind), "qty": pos.qty,
            # flat: no entry price (the portfolio keeps 0.0 there), unknown rather than 0
            "avg_price": num(pos.avg_price) if pos.qty else None, "mark": mark,
            "unrealized": num(pos.unrealized()) if mark is not None else None,
            "realized": num(pos.realized), "fees": num(pos.fees),
            "pnl_currency": pos.pnl_currency, "fills": pos.fills,
            "delta_per_contract": num(pos.delta_per_contract),
        })
    return out


def order_view(o: Order) -> dict[str, Any]:
    c = o.command
    return {"client_order_id": c.client_order_id, "strategy_id": c.strategy_id,
            "instrument_id": c.instrument_id, "side": str(c.side), "type": str(c.order_type),
            "price": o.price, "quantity": o.quantity, "filled": o.filled,
            "avg_fill_price": num(o.avg_fill_price) if o.filled else None,
            "status": str(o.status), "venue_order_id": o.venue_order_id,
            "in_doubt": o.in_doubt, "reject_reason": o.reject_reason, "ts": c.ts}


def open_orders_view(k: Kernel) -> list[dict[str, Any]]:
    return [order_view(o) for o in k.orders.open_orders()]


def greeks_view(k: Kernel) -> dict[str, Any]:
    """Portfolio Greeks per underlying (with limit use), per expiry and per strike.

    Units: delta in underlying units, gamma in underlying units per 1 USD, vega in USD per vol
    point, theta in USD per day - the portfolio's units. Per-position rows multiply the
    position by the per-contract Greeks the portfolio holds.
    """
    pf, lim = k.portfolio, k.gate.limits
    unds = sorted(set(pf.underlyings()) | set(lim.underlyings))
    out: dict[str, Any] = {}
    for und in unds:
        d, g, v, t = pf.greeks(und)
        px = pf.underlying_prices.get(und, math.nan)
        ul = lim.underlyings.get(und)
        limits = {}
        if ul is not None:
            for name, val, cap in (("delta", d, ul.max_delta), ("gamma", g, ul.max_gamma),
                                   ("vega_usd", v, ul.max_vega_usd)):
                if cap:
                    limits[name] = {"value": num(val), "limit": cap,
                                    "used_pct": num(100.0 * abs(val) / cap, 1)}
        by_expiry: dict[str, dict[str, float]] = {}
        by_strike: list[dict[str, Any]] = []
        for pos in pf.positions():
            inst = pos.instrument
            if inst.asset != und or pos.qty == 0.0:
                continue
            gpc = pf.greeks_per_contract(inst.id)
            if gpc is None:  # (no Greeks yet: named below, in no figure)
                continue
            row = {name: pos.qty * x for name, x in zip(("delta", "gamma", "vega_usd", "theta_usd_day"), gpc)}
            key = _expiry_label(inst.expiry_ns) if inst.expiry_ns else "perpetual"
            acc = by_expiry.setdefault(key, {"delta": 0.0, "gamma": 0.0, "vega_usd": 0.0, "theta_usd_day": 0.0})
            for name, x in row.items():
                if math.isfinite(x):
                    acc[name] += x
            if inst.kind is InstrumentKind.OPTION:
                by_strike.append({"instrument_id": inst.id, "expiry": key, "strike": inst.strike,
                                  "type": str(inst.option_type), "qty": pos.qty,
                                  **{n: num(x) for n, x in row.items()}})
        out[und] = {"delta": num(d), "delta_usd": num(d * px), "gamma": num(g), "vega_usd": num(v),
                    "theta_usd_day": num(t), "underlying_price": num(px), "limits": limits,
                    "by_expiry": {e: {n: num(x) for n, x in r.items()} for e, r in by_expiry.items()},
                    "by_strike": by_strike}
        # positions a total leaves out (their Greek unknown): named, never a silent 0
        out[und].update({f"{n}_incomplete": ids for n in GREEKS if (ids := pf.uncounted(und, n))})
        out[und]["unpriced_positions"] = out[und].get("delta_incomplete", [])  # (the dashboard's)
    return out


def _expiry_label(expiry_ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(expiry_ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d")


def _arr(a: Any, lo: int, hi: int, scale: float = 1.0, digits: int = 4) -> list[float | None]:
    return [num(float(x) * scale, digits) for x in a[lo:hi]]


def surface_view(k: Kernel) -> dict[str, Any]:
    """Per chain and expiry: strikes, bid/ask/mid/venue-mark/model IVs (vol points), SVI
    parameters (total-variance units), fit RMSE (vol points) and arbitrage flags."""
    out: dict[str, Any] = {}
    now = k.clock.now_ns()
    for key, ch in k.chains.items():
        surf = ch.surface
        arb = ch.arbitrage
        bfly = Counter(round(float(v.expiry), 9) for v in arb.butterfly) if arb is not None else Counter()
        cal = len(arb.calendar) if arb is not None else 0
        expiries = []
        for e, exp_ns in enumerate(ch.expiries_ns):
            lo, hi = int(ch.expiry_start[e]), int(ch.expiry_start[e + 1])
            T = (int(exp_ns) - now) / NS_PER_YEAR
            # the fit's own time to expiry (taken at the last refit), which its slices carry
            T_fit = round((int(exp_ns) - ch.last_refresh_ns) / NS_PER_YEAR, 9)
            svi = None
            if surf is not None:
                for i, te in enumerate(surf.expiries):
                    if abs(float(te) - T_fit) < 1e-9:
                        p = surf.params[i]
                        svi = {"a": float(p.a), "b": float(p.b), "rho": float(p.rho), "m": float(p.m),
                               "sigma": float(p.sigma),
                               "T_years": float(te), "forward": num(float(surf.forwards[i]))}
                        break
            fwd = num(float(ch.forward[lo])) if hi > lo else None
            atm = None
            if surf is not None and svi is not None:
                atm = num(100.0 * float(surf.vol(surf.forward(svi["T_years"]), svi["T_years"])), 3)
            expiries.append({
                "expiry": _expiry_label(int(exp_ns)), "expiry_ns": int(exp_ns), "T_years": num(T, 6),
                "forward": fwd, "atm_vol_pts": atm,
                "strike": [float(x) for x in ch.strike[lo:hi]],
                "is_call": [bool(x) for x in ch.is_call[lo:hi]],
                "bid_iv": _arr(ch.bid_iv, lo, hi, 100.0), "ask_iv": _arr(ch.ask_iv, lo, hi, 100.0),
                "mid_iv": _arr(ch.mid_iv, lo, hi, 100.0),
                "mark_iv": _arr(ch.venue_mark_iv, lo, hi, 100.0),
                "model_iv": _arr(ch.model_vol, lo, hi, 100.0),
                "svi": svi, "fit_rmse_vol_pts": num(float(ch.rmse_vol[e]), 4),
                "arbitrage": {"butterfly": bfly.get(T_fit, 0) if svi else 0},
            })
        out[key] = {"underlying": ch.underlying, "refreshes": ch.refreshes,
                    "last_refresh_ns": ch.last_refresh_ns, "expiries": expiries,
                    "arbitrage": {"butterfly": 0 if arb is None else len(arb.butterfly),
                                  "calendar": cal}}
    return out


def books_view(k: Kernel, top: int = 5, instrument: str | None = None) -> dict[str, Any]:
    out = {}
    for iid, book in k.books.items():
        if instrument is not None and iid != instrument:
            continue
        out[iid] = {"status": str(book.status), "seq": book.seq, "ts_recv": book.ts_recv,
                    "updates": book.updates,
                    "bids": [[p, s] for p, s in book.depth_bids(top)],
                    "asks": [[p, s] for p, s in book.depth_asks(top)]}
    return out


def venues_view(k: Kernel, tape: Tape) -> dict[str, Any]:
    """Per venue: connection (the worst of its streams, each in ``streams``; ``venue``: the
    whole venue), ``rate_limited`` (rate-limit answers seen), books by status, message rate
    (1/s), and the orders it refused: ``rejects`` by reason category (see
    ``engine.operator.rejects``), ``last_reject`` the latest with the venue's own words."""
    by_venue: dict[str, Counter[str]] = {v: Counter() for v in k.adapters}
    for iid, book in k.books.items():
        by_venue.setdefault(iid.partition(":")[0], Counter())[str(book.status)] += 1
    for v in (*tape.rejects, *tape.connection):
        by_venue.setdefault(v, Counter())
    return {v: {"connection": tape.connection.get(v, "connected" if v in k.adapters else "unknown"),
                "streams": {s or "venue": st for s, st in sorted(tape.streams.get(v, {}).items())},
                "rate_limited": tape.rate_limited.get(v, 0),
                "books": {s: c.get(s, 0) for s in (str(BookStatus.LIVE), str(BookStatus.SYNCING),
                                                   str(BookStatus.STALE))},
                "messages_per_s": num(tape.rates.get(v), 1),
                "instruments": sum(1 for i in k.instruments.values() if i.venue == v),
                "rejects": dict(sorted(tape.rejects.get(v, {}).items())),
                "rejects_total": sum(tape.rejects.get(v, {}).values()),
                "last_reject": tape.last_reject.get(v)}
            for v, c in by_venue.items()}


def risk_view(k: Kernel) -> dict[str, Any]:
    """Each configured limit and how much of it is in use now."""
    gate, lim = k.gate, k.gate.limits
    rows: list[dict[str, Any]] = []

    def add(name: str, used: float | None, limit: float | None, unit: str) -> None:
        if limit:
            rows.append({"limit": name, "used": num(used), "max": limit, "unit": unit,
                         "used_pct": num(100.0 * abs(used) / limit, 1) if used is not None else None})

    add("open_orders", k.orders.open_count(), lim.max_open_orders, "orders")
    worst = max((abs(p.qty) for p in k.portfolio.positions()), default=0.0)
    add("max_position_qty", worst, lim.max_position_qty, "contracts")
    for und, ul in lim.underlyings.items():
        d, g, v, _t = k.portfolio.greeks(und)
        add(f"{und}.delta", d, ul.max_delta, und)
        add(f"{und}.gamma", g, ul.max_gamma, f"{und}/USD")
        add(f"{und}.vega", v, ul.max_vega_usd, "USD/vol pt")
        if ul.max_vega_per_expiry_usd:
            for exp, vv in k.portfolio.vega_by_expiry(und).items():
                add(f"{und}.vega[{_expiry_label(exp) if exp else 'perp'}]", vv,
                    ul.max_vega_per_expiry_usd, "USD/vol pt")
    loss = k.killswitch.loss
    if loss.enabled:
        add("daily_loss", loss.daily_loss, loss.max_daily_loss, "USD")
        add("drawdown", loss.drawdown, loss.max_drawdown, "USD")
    return {"limits": rows, "denials": dict(gate.denied),
            "last_denial": list(gate.last_denial) if gate.last_denial else None,
            "state": str(gate.state), "kill_level": k.killswitch.level}


def loss_use_pct(k: Kernel) -> float | None:
    """The larger of daily-loss and drawdown use (%), or None without loss limits."""
    loss = k.killswitch.loss
    if not loss.enabled:
        return None
    used = [100.0 * loss.daily_loss / loss.max_daily_loss if loss.max_daily_loss else 0.0,
            100.0 * loss.drawdown / loss.max_drawdown if loss.max_drawdown else 0.0]
    return max(used)


def strategies_view(k: Kernel) -> dict[str, Any]:
    timing = k.strategy_timing()
    disabled = k.gate.disabled_strategies
    return {sid: {"state": ("disabled" if sid in disabled else
                            "running" if k.strategies_running else "stopped"),
                  "disabled_reason": disabled.get(sid, ""),
                  "open_orders": k.orders.open_count(strategy_id=sid),
                  "callbacks": timing.get(sid, {})}
            for sid in k.strategies}
