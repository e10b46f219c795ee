"""The order rules both simulators apply: one set of reject codes, one validation, one fee rule.

The simulated venue (``adapters.sim.matching``, synthetic market) and the replay exchange
(``backtest.exchange``, recorded market) are two feeds of one matching model; what a venue
refuses and what it charges must not depend on which feed a run uses. Both call these
functions in the same order: instrument (unknown, not active), duplicate id, quantity (finite,
positive, on the lot, at least the minimum), price (given for a limit, finite, positive, on the
tick), post-only (a GTC limit that does not cross). Reasons are the stable strings below
(``OrderRejected.reason`` / ``OrderCancelled.reason``), listed in docs/backtesting.md.
"""

from __future__ import annotations

import math
from typing import Final

from engine.model import Instrument, InstrumentKind, OrderType, TimeInForce

_EPS = 1e-12


class Reject:
    """``OrderRejected.reason`` codes of the simulators."""

    UNKNOWN_INSTRUMENT: Final = "unknown_instrument"
    INSTRUMENT_NOT_ACTIVE: Final = "instrument_not_active"
    DUPLICATE_CLIENT_ORDER_ID: Final = "duplicate_client_order_id"
    INVALID_QUANTITY: Final = "invalid_quantity"
    QUANTITY_NOT_ON_LOT: Final = "quantity_not_on_lot"
    QUANTITY_BELOW_MIN: Final = "quantity_below_min"
    QUANTITY_BELOW_FILLED: Final = "quantity_below_filled"
    PRICE_REQUIRED: Final = "price_required"
    INVALID_PRICE: Final = "invalid_price"
    PRICE_NOT_ON_TICK: Final = "price_not_on_tick"
    POST_ONLY_REQUIRES_GTC_LIMIT: Final = "post_only_requires_gtc_limit"
    POST_ONLY_WOULD_CROSS: Final = "post_only_would_cross"
    UNKNOWN_ORDER: Final = "unknown_order"
    MARKET_CLOSED: Final = "market_closed"
    """Replayed data only: no trustworthy book yet for the instrument."""


class Ended:
    """``OrderCancelled.reason`` codes of the simulators."""

    CANCELLED: Final = "cancelled"
    IOC_UNFILLED: Final = "ioc_unfilled"
    FOK_UNFILLED: Final = "fok_unfilled"
    SELF_TRADE_PREVENTION: Final = "self_trade_prevention"


def check_instrument(inst: Instrument | None) -> str | None:
    if inst is None:
        return Reject.UNKNOWN_INSTRUMENT
    if not inst.active:
        return Reject.INSTRUMENT_NOT_ACTIVE
    return None


def check_quantity(inst: Instrument, qty: float | None) -> str | None:
    """None when ``qty`` contracts may be ordered on ``inst``, else the reason."""
    if qty is None or not math.isfinite(qty) or qty <= 0:
        return Reject.INVALID_QUANTITY
    if not inst.is_on_lot(qty):
        return Reject.QUANTITY_NOT_ON_LOT
    if qty < inst.min_size - _EPS:
        return Reject.QUANTITY_BELOW_MIN
    return None


def check_price(inst: Instrument, price: float | None) -> str | None:
    """None when ``price`` is a valid limit price on ``inst``, else the reason."""
    if price is None:
        return Reject.PRICE_REQUIRED
    if not math.isfinite(price) or price <= 0:
        return Reject.INVALID_PRICE
    if not inst.is_on_tick(price):
        return Reject.PRICE_NOT_ON_TICK
    return None


def check_post_only(order_type: OrderType, tif: TimeInForce) -> str | None:
    """Post-only orders must be GTC limits (a post-only market or IOC order cannot rest)."""
    if order_type is not OrderType.LIMIT or tif is not TimeInForce.GTC:
        return Reject.POST_ONLY_REQUIRES_GTC_LIMIT
    return None


def would_cross(buy: bool, price: float, best_opposite: float | None) -> bool:
    """A limit at ``price`` would trade against the best opposite price (None/NaN: empty side)."""
    if best_opposite is None or best_opposite != best_opposite:
        return False
    return price >= best_opposite if buy else price <= best_opposite


def fee(inst: Instrument, price: float, qty: float, maker: bool, underlying: float,
        option_fee_cap: float) -> float:
    """Fee in the settlement currency for ``qty`` contracts at ``price`` (negative = rebate).

    ``rate * notional``: linear contracts on ``qty * contract_size * price``; inverse contracts
    (contract size in USD) on ``qty * contract_size / price`` coins; options on the underlying's
    notional (``underlying`` price, in coin for coin-premium options), capped at
    ``option_fee_cap`` of the premium, as Deribit, OKX and Bybit charge.
    """
    rate = inst.maker_fee if maker else inst.taker_fee
    notional = qty * inst.contract_size
    if inst.kind is InstrumentKind.OPTION:
        und = 1.0 if inst.premium_in_coin else (underlying if underlying == underlying else 0.0)
        base = abs(rate) * notional * und
        cap = option_fee_cap * price * notional
        return round(math.copysign(min(base, cap), rate), 12)
    if inst.inverse:
        return round(rate * notional / price, 12)
    return round(rate * notional * price, 12)
