"""The pre-trade risk gate: every order passes here, synchronously, before it can leave.

Theory of operation: ``RiskGate.check`` runs the checks in a fixed order, cheapest and most
fundamental first, and returns the first failure as a ``Denial`` carrying a stable reason
code and the numbers behind it (``None`` means approved). Working orders count toward limits
from the moment they are approved. Cancels are never checked: reducing risk is always
allowed. The gate is not bypassable: strategies only ever reach the router through it.
The trading state is the kill switch: ACTIVE trades; REDUCING allows only orders that shrink
a position; HALTED denies every new order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.book import OrderBook
from engine.model import Instrument, OrderType, SubmitOrder, TradingState
from engine.orders import OrderBookkeeper
from engine.portfolio import Portfolio


class Reason:
    """Stable denial reason codes (documented in the README)."""

    TRADING_HALTED = "TRADING_HALTED"
    REDUCE_ONLY = "REDUCE_ONLY"
    UNKNOWN_INSTRUMENT = "UNKNOWN_INSTRUMENT"
    INSTRUMENT_INACTIVE = "INSTRUMENT_INACTIVE"
    BOOK_NOT_LIVE = "BOOK_NOT_LIVE"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    OFF_TICK = "OFF_TICK"
    OFF_LOT = "OFF_LOT"
    BELOW_MIN_SIZE = "BELOW_MIN_SIZE"
    MAX_ORDER_QTY = "MAX_ORDER_QTY"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    MAX_POSITION = "MAX_POSITION"
    PRICE_BAND = "PRICE_BAND"
    NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"


@dataclass(frozen=True, slots=True)
class Denial:
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class InstrumentLimits:
    max_order_qty: float | None = None
    max_position_qty: float | None = None


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_qty: float = 10.0
    max_order_notional_usd: float = 250_000.0
    max_position_qty: float = 50.0
    price_band_pct: float = 5.0
    option_price_band_pct: float = 50.0
    max_open_orders: int = 200
    per_instrument: dict[str, InstrumentLimits] = field(default_factory=dict)


class RiskGate:
    """Synchronous pre-trade checks over the engine's live state."""

    def __init__(self, limits: RiskLimits, instruments: dict[str, Instrument],
                 books: Callable[[str], OrderBook | None], orders: OrderBookkeeper,
                 portfolio: Portfolio, state: TradingState = TradingState.ACTIVE) -> None:
        self.limits = limits
        self.instruments = instruments
        self.books = books
        self.orders = orders
        self.portfolio = portfolio
        self.state = state
        self.approved = 0
        self.denied: dict[str, int] = {}

    def set_state(self, state: TradingState) -> None:
        self.state = state

    def check(self, cmd: SubmitOrder) -> Denial | None:
        denial = self._check(cmd)
        if denial is None:
            self.approved += 1
        else:
            self.denied[denial.reason] = self.denied.get(denial.reason, 0) + 1
        return denial

    def _check(self, cmd: SubmitOrder) -> Denial | None:
        lim = self.limits
        if self.state is TradingState.HALTED:
            return Denial(Reason.TRADING_HALTED, "kill switch: trading is halted")
        if cmd.client_order_id in self.orders:
            return Denial(Reason.DUPLICATE_ORDER_ID, f"client order id {cmd.client_order_id} reused")
        inst = self.instruments.get(cmd.instrument_id)
        if inst is None:
            return Denial(Reason.UNKNOWN_INSTRUMENT, f"{cmd.instrument_id} is not a known instrument")
        if not inst.active:
            return Denial(Reason.INSTRUMENT_INACTIVE, f"{cmd.instrument_id} is not tradable")
        qty = cmd.quantity
        if not (qty > 0 and math.isfinite(qty)):
            return Denial(Reason.INVALID_QUANTITY, f"quantity {qty} must be positive")
        if not inst.is_on_lot(qty):
            return Denial(Reason.OFF_LOT, f"quantity {qty} is not a multiple of lot {inst.lot_size}")
        if qty < inst.min_size:
            return Denial(Reason.BELOW_MIN_SIZE, f"quantity {qty} < min size {inst.min_size}")
        price = cmd.price
        if cmd.order_type is OrderType.LIMIT:
            if price is None or not (price > 0 and math.isfinite(price)):
                return Denial(Reason.INVALID_PRICE, f"limit price {price} must be positive")
            if not inst.is_on_tick(price):
                return Denial(Reason.OFF_TICK, f"price {price} is not a multiple of tick {inst.tick_size}")

        pos = self.portfolio.position(cmd.instrument_id)
        pos_qty = pos.qty if pos is not None else 0.0
        signed = cmd.side.sign * qty
        reduces = pos_qty != 0.0 and (pos_qty > 0) != (signed > 0) and qty <= abs(pos_qty) + 1e-12
        if self.state is TradingState.REDUCING and not reduces:
            return Denial(Reason.REDUCE_ONLY, f"reduce-only: position {pos_qty}, order {signed:+}")

        book = self.books(cmd.instrument_id)
        if book is None or not book.is_live:
            status = "missing" if book is None else str(book.status)
            return Denial(Reason.BOOK_NOT_LIVE, f"book of {cmd.instrument_id} is {status}")

        per = lim.per_instrument.get(cmd.instrument_id)
        max_qty = per.max_order_qty if per and per.max_order_qty is not None else lim.max_order_qty
        if qty > max_qty:
            return Denial(Reason.MAX_ORDER_QTY, f"quantity {qty} > max {max_qty}")

        reference = _reference_price(book, cmd.side.sign)
        if math.isnan(reference):
            return Denial(Reason.NO_REFERENCE_PRICE, f"book of {cmd.instrument_id} has no prices")
        und_px = self.portfolio.underlying_prices.get(inst.underlying or inst.base, reference)
        notional = inst.notional_usd(qty, price if price is not None else reference, und_px)
        if notional > lim.max_order_notional_usd:
            return Denial(Reason.MAX_ORDER_NOTIONAL,
                          f"notional {notional:,.0f} USD > max {lim.max_order_notional_usd:,.0f}")

        max_pos = per.max_position_qty if per and per.max_position_qty is not None else lim.max_position_qty
        working = sum(o.remaining for o in self.orders.open_orders(cmd.instrument_id)
                      if o.side is cmd.side)
        worst = abs(pos_qty + cmd.side.sign * (working + qty))
        if worst > max_pos and not reduces:
            return Denial(Reason.MAX_POSITION,
                          f"position could reach {worst} (now {pos_qty}, working {working}) > max {max_pos}")

        if price is not None:
            band = lim.option_price_band_pct if inst.is_option else lim.price_band_pct
            mid = book.mid()
            ref = mid if not math.isnan(mid) else reference
            deviation = abs(price - ref) / ref * 100.0
            if deviation > band:
                return Denial(Reason.PRICE_BAND,
                              f"price {price} is {deviation:.2f}% from reference {ref} (band {band}%)")

        open_count = len(self.orders.open_orders())
        if open_count >= lim.max_open_orders:
            return Denial(Reason.MAX_OPEN_ORDERS, f"{open_count} open orders >= max {lim.max_open_orders}")
        return None


def _reference_price(book: OrderBook, side_sign: int) -> float:
    """Mid if both sides exist, else the touch on the side the order would trade against."""
    mid = book.mid()
    if not math.isnan(mid):
        return mid
    return book.best_ask_price() if side_sign > 0 else book.best_bid_price()
