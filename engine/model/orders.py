"""Order commands (imperative) and order events (past tense).

Commands flow strategy -> risk gate -> router -> venue; events flow back. A command is never
changed after it is created: an amend is a new ``AmendOrder``. Quantities are in contracts.

The commands and order events hold only scalars (strings, numbers, enums), so they can never
be part of a reference cycle: ``gc=False`` keeps them out of the cyclic collector (one less
tracked allocation per command and event on the order path).
"""

from __future__ import annotations

import msgspec

from engine.model.enums import Liquidity, OrderType, Side, TimeInForce


class SubmitOrder(msgspec.Struct, frozen=True, gc=False):
    """A new order. The field order is fixed: the strategy SDK builds it positionally (the
    order path of every quoter); name the fields everywhere else."""

    client_order_id: str
    strategy_id: str
    instrument_id: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.LIMIT
    price: float | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    ts: int = 0


class CancelOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    strategy_id: str
    instrument_id: str
    ts: int = 0


class AmendOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    strategy_id: str
    instrument_id: str
    quantity: float | None = None
    price: float | None = None
    ts: int = 0


OrderCommand = SubmitOrder | CancelOrder | AmendOrder


class OrderDenied(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The risk gate refused the order before it left; ``reason`` is a stable code."""

    client_order_id: str
    strategy_id: str
    instrument_id: str
    reason: str
    detail: str
    ts: int


class OrderSubmitted(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The order passed the gate and was handed to the venue session."""

    client_order_id: str
    strategy_id: str
    instrument_id: str
    ts: int


class OrderAccepted(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    venue_order_id: str
    instrument_id: str
    ts_event: int
    ts_recv: int


class OrderRejected(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The venue refused the order (or an amend/cancel of it)."""

    client_order_id: str
    instrument_id: str
    reason: str
    ts_event: int
    ts_recv: int


class OrderFilled(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A (partial) fill. ``remaining`` is what is still working after it; 0 means filled."""

    client_order_id: str
    venue_order_id: str
    instrument_id: str
    trade_id: str
    side: Side
    price: float
    quantity: float
    remaining: float
    liquidity: Liquidity
    fee: float
    fee_currency: str
    ts_event: int
    ts_recv: int

    @property
    def is_final(self) -> bool:
        return self.remaining <= 0.0


class OrderAmended(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    instrument_id: str
    price: float
    quantity: float
    ts_event: int
    ts_recv: int


class OrderCancelled(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    instrument_id: str
    reason: str
    ts_event: int
    ts_recv: int


class OrderExpired(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    instrument_id: str
    ts_event: int
    ts_recv: int


OrderEvent = (
    OrderDenied
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderFilled
    | OrderAmended
    | OrderCancelled
    | OrderExpired
)


class OrderStatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the venue says about one order, in answer to a query or during reconciliation.

    ``status`` is an ``OrderStatus`` value; ``filled`` is the cumulative filled quantity.
    ``client_order_id`` may be empty for orders placed outside this process.
    """

    client_order_id: str
    venue_order_id: str
    instrument_id: str
    side: Side
    status: str
    price: float | None
    quantity: float
    filled: float
    avg_fill_price: float
    ts_event: int
    ts_recv: int


class PositionReport(msgspec.Struct, frozen=True, kw_only=True):
    """The venue's view of one position (signed quantity in the instrument's units)."""

    instrument_id: str
    quantity: float
    avg_price: float
    ts_event: int
    ts_recv: int


class PositionSettled(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The venue settled an expired option or future: the position is gone, paid at
    ``settlement_price``.

    ``quantity``: the position settled, signed contracts (+ long). ``settlement_price``: in the
    instrument's price unit (a coin-premium option's intrinsic / delivery price in coin, a
    USD-premium option's intrinsic in USD, a future's delivery price). ``delivery_price``: the
    venue's delivery (index) price in USD the settlement was computed from."""

    venue: str
    instrument_id: str
    quantity: float
    settlement_price: float
    delivery_price: float
    ts_event: int
    ts_recv: int


class VenueReconciliation(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a venue reports at start-up or after a reconnect, for reconciliation."""

    venue: str
    open_orders: tuple[OrderStatusReport, ...]
    fills: tuple[OrderFilled, ...]
    positions: tuple[PositionReport, ...]
    ts: int
