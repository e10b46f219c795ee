"""Two-sided quotes of a strategy (``ctx.quote``): which order works each side, kept in step.

A quote is a bid/ask pair managed as one unit: each call amends the working orders in place (or
cancels and replaces them when an amend is impossible), and if either side cannot be placed
(denied by the gate, or later rejected by the venue, including a rejected amend that would leave
an order at its old price) both sides are pulled. So a quote is either two-sided at the latest
prices, one-sided because the strategy asked for it (or one side filled), or gone: never one
fresh side next to a stale one.

``QuoteBook`` holds the slots of one strategy (their one owner). Its ``StrategyContext`` builds
it over the order-entry port and the context's own order calls (submit, amend with its denial
event, ownership-checked cancel), forwards ``quote``/``quote_ids``/``cancel_quote`` to it, and
hands it every order event of the strategy before the strategy hears it (``track``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from engine.model import OrderRejected, OrderStatus, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from engine.execution.ports import OrderEntry
    from engine.orders import Order
    from engine.risk import Denial

SubmitFn = Callable[[str, Side, float, "float | None", OrderType, TimeInForce, bool, bool],
                    "tuple[str, Denial | None]"]
"""The context's submit: (instrument, side, qty, price, type, tif, post_only, reduce_only)."""
AmendFn = Callable[["Order", "float | None", "float | None"], bool]
"""The context's amend of an order: False when the gate denied it (the denial is published)."""


_BUY, _SELL, _LIMIT, _GTC = Side.BUY, Side.SELL, OrderType.LIMIT, TimeInForce.GTC
_PENDING_CANCEL, _PENDING_AMEND = OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_AMEND
"""(module globals: no enum attribute lookups per quote)"""


class QuoteIds(NamedTuple):
    """Client order ids of the two sides of a quote (None: that side is not working)."""

    bid: str | None
    ask: str | None


class QuoteBook:
    """Per instrument, the client order ids working the bid and the ask of one strategy's quote."""

    def __init__(self, orders: OrderEntry, submit: SubmitFn, amend: AmendFn,
                 cancel: Callable[[str], bool]) -> None:
        self._orders = orders
        self._submit = submit
        self._amend = amend
        self._cancel = cancel
        self._slots: dict[str, list[str | None]] = {}
        self._quote_of: dict[str, tuple[str, int]] = {}  # client order id -> (instrument, side)

    def quote(self, instrument_id: str, bid_px: float, bid_qty: float, ask_px: float,
              ask_qty: float, post_only: bool) -> QuoteIds:
        """Make the quote on ``instrument_id`` exactly this (``StrategyContext.quote``)."""
        # (a NaN price is not crossed: it goes to the gate, whose INVALID_PRICE pulls the quote)
        if bid_qty > 0 and ask_qty > 0 and bid_px >= ask_px:
            raise ValueError(f"crossed quote on {instrument_id}: bid {bid_px} >= ask {ask_px}")
        slots = self._slots.get(instrument_id)
        if slots is None:
            slots = self._slots[instrument_id] = [None, None]
        # the bid first, the ask only if the bid could be placed; an id is indexed when it is
        # new (a kept or amended one already is)
        ok = True
        for i, side, px, qty in ((0, _BUY, bid_px, bid_qty), (1, _SELL, ask_px, ask_qty)):
            coid, ok = self._side(instrument_id, slots[i], side, px, qty, post_only)
            if coid is not None and coid != slots[i]:
                self._quote_of[coid] = (instrument_id, i)
            slots[i] = coid
            if not ok:
                break
        if not ok:
            self.cancel(instrument_id)
        return QuoteIds(slots[0], slots[1])

    def ids(self, instrument_id: str) -> QuoteIds:
        slots = self._slots.get(instrument_id, (None, None))
        return QuoteIds(slots[0], slots[1])

    def cancel(self, instrument_id: str) -> None:
        """Pull both sides of the quote on ``instrument_id``."""
        slots = self._slots.get(instrument_id)
        if slots is None:
            return
        for coid in slots:
            if coid is not None:
                self._cancel(coid)
        slots[0] = slots[1] = None

    def forget(self, instrument_id: str | None) -> None:
        """Empty the slots of ``instrument_id`` (None: every instrument): their orders are being
        cancelled with all the strategy's others."""
        for iid in [iid for iid in self._slots if instrument_id in (None, iid)]:
            self._slots[iid] = [None, None]

    def _side(self, iid: str, current: str | None, side: Side, px: float, qty: float,
              post_only: bool) -> tuple[str | None, bool]:
        order = self._orders.order(current) if current is not None else None
        if order is not None and (not order.is_open or order.status is _PENDING_CANCEL):
            order = None
        if not qty > 0:
            if order is not None:
                self._orders.cancel(order)
            return None, True
        if order is not None:
            if order.price == px and abs(order.remaining - qty) < 1e-12:
                return order.client_order_id, True
            if order.status is not _PENDING_AMEND:
                if self._amend(order, px, order.filled + qty):
                    return order.client_order_id, True
                self._orders.cancel(order)
                return None, False
            self._orders.cancel(order)  # an amend is in flight: cancel/replace
        coid, denial = self._submit(iid, side, qty, px, _LIMIT, _GTC, post_only, False)
        return (None, False) if denial is not None else (coid, True)

    def track(self, event: Any) -> None:
        """Keep the slots in step with an order event (before the strategy hears it)."""
        where = self._quote_of.get(event.client_order_id)
        if where is None:
            return
        iid, i = where
        slots = self._slots[iid]
        order = self._orders.order(event.client_order_id)
        if isinstance(event, OrderRejected) and slots[i] == event.client_order_id:
            # a refused submit leaves one side missing, a refused amend leaves it stale
            self.cancel(iid)
        if order is None or not order.is_open:
            self._quote_of.pop(event.client_order_id, None)
            if slots[i] == event.client_order_id:
                slots[i] = None
