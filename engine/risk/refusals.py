"""Why the gate refuses an order: every ``Denial`` it gives, and the exact tail decisions.

Theory of operation: ``RiskGate.check`` (``engine.risk.gate``) only tests; when a test fails
it calls one function here, which builds the ``Denial`` (reason code, text, numbers). So the
check's own code is the approval path alone, compact: in a live process the gate runs between
other work with cold caches, and every cache line of code or data an approval touches costs
more than its instructions. The texts are what operators and the journal see (docs/risk.md):
stable, pinned by the tests.

Three checks have a cheap test in the gate and an exact decision here, reached only when the
cheap test does not clear the order: the option model collar (``model_collar``: model price ±
k·vega, or ``BAND`` when the chain has no model price yet, so that the gate's percentage band
applies), the portfolio Greeks after the order (``greek_limits``) and the vega of the order's
expiry (``vega_expiry``). Nothing here holds state: each function reads what it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.risk.facts import InstrumentFacts
from engine.risk.limits import Denial, Reason

BAND: Denial = Denial(Reason.PRICE_BAND, "(no model price: the percentage band applies)")
"""``model_collar``'s answer when the model cannot decide (a marker, never given out)."""

_ZEROS = (0.0,) * 6


# -- identity and size ------------------------------------------------------------------------
def strategy_disabled(sid: str, why: str) -> Denial:
    return Denial(Reason.STRATEGY_DISABLED, f"strategy {sid} disabled: {why}")


def order_id_reused(client_order_id: str) -> Denial:
    return Denial(Reason.DUPLICATE_ORDER_ID, f"client order id {client_order_id} reused")


def unknown_instrument(iid: str) -> Denial:
    return Denial(Reason.UNKNOWN_INSTRUMENT, f"{iid} is not a known instrument")


def inactive(iid: str) -> Denial:
    return Denial(Reason.INSTRUMENT_INACTIVE, f"{iid} is not tradable")


def invalid_quantity(qty: float) -> Denial:
    return Denial(Reason.INVALID_QUANTITY, f"quantity {qty} must be positive", qty, 0.0)


def off_lot(qty: float, lot: float) -> Denial:
    return Denial(Reason.OFF_LOT, f"quantity {qty} is not a multiple of lot {lot}", qty, lot)


def below_min_size(qty: float, min_size: float) -> Denial:
    return Denial(Reason.BELOW_MIN_SIZE, f"quantity {qty} < min size {min_size}", qty, min_size)


def invalid_price(price: float | None) -> Denial:
    return Denial(Reason.INVALID_PRICE, f"limit price {price} must be positive")


def off_tick(price: float, tick: float) -> Denial:
    return Denial(Reason.OFF_TICK, f"price {price} is not a multiple of tick {tick}", price, tick)


def max_order_qty(qty: float, cap: float) -> Denial:
    return Denial(Reason.MAX_ORDER_QTY, f"quantity {qty} > max {cap}", qty, cap)


# -- trading state ----------------------------------------------------------------------------
def halted(hold_reasons: Mapping[str, str]) -> Denial:
    why = "; ".join(f"{k}: {v}" for k, v in hold_reasons.items() if v) or "halted"
    return Denial(Reason.TRADING_HALTED, f"trading is halted ({why})")


def reduce_only_state(signed_qty: float, pos_qty: float) -> Denial:
    return Denial(Reason.REDUCE_ONLY, f"reduce-only: position {pos_qty}, order {signed_qty:+}",
                  signed_qty, pos_qty)


def reduce_only_order(signed_qty: float, pos_qty: float) -> Denial:
    return Denial(Reason.REDUCE_ONLY, f"reduce-only order would not reduce position {pos_qty}",
                  signed_qty, pos_qty)


# -- market and notional ----------------------------------------------------------------------
def book_not_live(iid: str, book: Any) -> Denial:
    status = "missing" if book is None else str(book.status)
    return Denial(Reason.BOOK_NOT_LIVE, f"book of {iid} is {status}")


def no_reference_price(iid: str) -> Denial:
    return Denial(Reason.NO_REFERENCE_PRICE, f"book of {iid} has no prices")


def unpriced(f: InstrumentFacts) -> Denial:
    return Denial(Reason.UNPRICED, f"no USD price for {f.asset if f.is_option else f.inst.quote} yet: "
                                   f"the notional of {f.iid} is unknown")


def max_notional(notional: float, cap: float) -> Denial:
    return Denial(Reason.MAX_ORDER_NOTIONAL, f"notional {notional:,.0f} USD > max {cap:,.0f}",
                  notional, cap)


def max_position(worst: float, pos_qty: float, working: float, cap: float) -> Denial:
    return Denial(Reason.MAX_POSITION,
                  f"position could reach {worst:g} (now {pos_qty:g}, working {working:g}) > max {cap:g}",
                  worst, cap)


# -- the price collar -------------------------------------------------------------------------
def band(price: float, deviation: float, kind: str | None, ref: float, band_pct: float) -> Denial:
    """The percentage band's denial (``kind``: the collar reference, None for the mid)."""
    return Denial(Reason.PRICE_BAND,
                  f"price {price} is {deviation:.2f}% from {kind or 'mid'} {ref} (band {band_pct}%)",
                  deviation, band_pct)


def model_collar(f: InstrumentFacts, price: float, chain: Any) -> Denial | None:
    """An option priced by its chain's model: the price must lie within model ± k·vega (k in
    vol points, never tighter than ``f.min_collar``; it replaces the blunt percentage band).
    None: inside; ``BAND`` when the chain has no model price yet (the band applies)."""
    if chain is None or chain.surface is None:
        return BAND
    n = chain.index.get(f.iid)
    model = chain.model_price.item(n)
    vega = chain.vega.item(n) / 100.0  # per vol point
    if model != model or vega != vega:
        return BAND
    if f.inst.premium_in_coin:
        fwd = chain.forward.item(n)
        model, vega = model / fwd, vega / fwd
    k = f.collar_k
    allowed = max(k * vega, f.min_collar)
    dev = abs(price - model)
    if dev > allowed:
        return Denial(Reason.PRICE_BAND,
                      f"price {price} is {dev:.4g} from model {model:.4g} "
                      f"(allowed {k:g} vol pts x vega {vega:.4g} = {allowed:.4g})", dev, allowed)
    return None


# -- pacing -----------------------------------------------------------------------------------
def open_orders(n_open: int, cap: float, scope: str = "") -> Denial:
    """``scope``: "" for every order, else `` on <instrument>`` or `` of <strategy>``."""
    return Denial(Reason.MAX_OPEN_ORDERS, f"{n_open} open orders{scope} >= max {cap}", n_open, cap)


def duplicate_order(side: str, qty: float, price: float | None, iid: str, ago_ms: float,
                    window_ms: float) -> Denial:
    return Denial(Reason.DUPLICATE_ORDER, f"same {side} {qty:g}@{price} on {iid} {ago_ms:.0f} ms ago "
                                          f"(window {window_ms:g} ms)", ago_ms, window_ms)


def global_rate(rate: Any, burst: float) -> Denial:
    return Denial(Reason.RATE_LIMIT_GLOBAL, f"global order rate above {rate}", 0.0, burst)


def venue_rate(venue: str, burst: float) -> Denial:
    return Denial(Reason.RATE_LIMIT_VENUE, f"order rate to {venue} above its limit", 0.0, burst)


# -- Greeks -----------------------------------------------------------------------------------
def no_greeks(f: InstrumentFacts) -> Denial:
    return Denial(Reason.NO_GREEKS, f"no Greeks yet for {f.iid}: cannot check {f.asset} limits")


def greeks_incomplete(f: InstrumentFacts, uncounted: Callable[[str, str], list[str]]) -> Denial | None:
    """A limited Greek whose portfolio total leaves positions out (their Greek not known yet:
    no fit, no venue Greeks, no price): an order adding risk cannot be checked against that
    limit. None when every limited Greek's total is complete."""
    names = [name for _i, _lim, _code, name in f.greek_checks or ()]
    if f.vega_expiry_limit is not None and "vega" not in names:
        names.append("vega")
    for name in names:
        ids = uncounted(f.asset, name)
        if ids:
            shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
            return Denial(Reason.NO_GREEKS, f"{f.asset} {name} not known for {shown}: cannot "
                                            f"check the {f.asset} {name} limit")
    return None


def greek_limits(f: InstrumentFacts, signed_qty: float, g: tuple[float, ...], tot: Any,
                 w: Any) -> Denial | None:
    """The exact per-Greek decision (the gate's fast test of every Greek at once failed for
    one at least): the first limit the order would cross, worst case with every same-signed
    working order; an order that lowers the absolute Greek always passes."""
    und = f.asset
    for i, limit, code, name in f.greek_checks or ():
        now = tot[i]
        add = signed_qty * g[i]
        cand = now + add
        worst = max(abs(cand + w[2 * i]), abs(cand + w[2 * i + 1]))
        if worst > limit and abs(cand) >= abs(now):
            return Denial(code, f"{und} {name} would reach {worst:.6g} (now {now:.6g}, "
                                f"order {add:+.6g}) > max {limit:g}", worst, limit)
    return None


def vega_expiry(f: InstrumentFacts, signed_qty: float, g: tuple[float, ...], now_v: float,
                we: Any) -> Denial | None:
    """The exact decision on the vega of the order's expiry (``now_v``: the portfolio's vega
    of that expiry, ``we``: the working orders' (long, short) sums of it, or None)."""
    cap = f.vega_expiry_limit
    if cap is not None:
        we = we or _ZEROS
        cand = now_v + signed_qty * g[2]
        worst = max(abs(cand + we[0]), abs(cand + we[1]))
        if worst > cap and abs(cand) >= abs(now_v):
            return Denial(Reason.MAX_VEGA_EXPIRY,
                          f"{f.asset} vega of expiry {f.expiry_ns} would reach {worst:.6g} "
                          f"> max {cap:g}", worst, cap)
    return None
