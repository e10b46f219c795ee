"""Order state: a transition table and the book of orders the engine knows about.

Theory of operation (h11-style): every order is in one ``OrderStatus``. What can happen to an
order is a small set of *triggers* (``submit``, ``deny``, ``accept``, ``reject``, ``fill``,
``fill_final``, ``cancel_request``, ``cancelled``, ``amend_request``, ``amended``,
``expire``, ``cancel_rejected``, ``amend_rejected``). ``TRANSITIONS[state][trigger]`` is
the next state; a trigger missing from the table is illegal: it is reported (counted, and
returned as an ``IllegalTransition``) and never applied. ``RESTORE`` marks transitions back to
the state before a pending cancel/amend (the venue refused the cancel or the amend).

Fills are de-duplicated by the venue's trade id, so a fill replayed by a reconnect or a
reconciliation is never counted twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.model import OrderStatus, Side, SubmitOrder

S = OrderStatus
RESTORE = "restore"
_LIVE_TRIGGERS = {
    "accept": S.ACCEPTED,
    "reject": S.REJECTED,
    "fill": S.PARTIALLY_FILLED,
    "fill_final": S.FILLED,
    "cancel_request": S.PENDING_CANCEL,
    "amend_request": S.PENDING_AMEND,
    "cancelled": S.CANCELLED,
    "expire": S.EXPIRED,
}
TRANSITIONS: dict[OrderStatus, dict[str, OrderStatus | str]] = {
    S.INITIALIZED: {"submit": S.SUBMITTED, "deny": S.DENIED},
    S.SUBMITTED: dict(_LIVE_TRIGGERS),
    S.ACCEPTED: {k: v for k, v in _LIVE_TRIGGERS.items() if k != "reject"} | {"accept": S.ACCEPTED},
    S.PARTIALLY_FILLED: {k: v for k, v in _LIVE_TRIGGERS.items() if k not in ("reject", "accept")},
    S.PENDING_CANCEL: {
        "fill": S.PENDING_CANCEL,
        "fill_final": S.FILLED,
        "cancelled": S.CANCELLED,
        "expire": S.EXPIRED,
        "accept": S.PENDING_CANCEL,
        "cancel_rejected": RESTORE,
        "cancel_request": S.PENDING_CANCEL,
    },
    S.PENDING_AMEND: {
        "fill": S.PENDING_AMEND,
        "fill_final": S.FILLED,
        "amended": RESTORE,
        "amend_rejected": RESTORE,
        "cancelled": S.CANCELLED,
        "expire": S.EXPIRED,
        "cancel_request": S.PENDING_CANCEL,
    },
    S.DENIED: {},
    S.FILLED: {},
    S.CANCELLED: {},
    S.REJECTED: {},
    S.EXPIRED: {},
}
TERMINAL = frozenset(s for s, t in TRANSITIONS.items() if not t)
OPEN = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_AMEND})


class IllegalTransition(Exception):
    def __init__(self, client_order_id: str, state: OrderStatus, trigger: str) -> None:
        super().__init__(f"order {client_order_id}: '{trigger}' is not allowed in state {state}")
        self.client_order_id = client_order_id
        self.state = state
        self.trigger = trigger


class Order:
    """The engine's view of one order (mutable; only ``OrderBookkeeper`` changes it)."""

    __slots__ = ("command", "status", "price", "quantity", "filled", "avg_fill_price",
                 "venue_order_id", "fees", "trade_ids", "_before_pending", "reject_reason")

    def __init__(self, command: SubmitOrder) -> None:
        self.command = command
        self.status = S.INITIALIZED
        self.price = command.price
        self.quantity = command.quantity
        self.filled = 0.0
        self.avg_fill_price = 0.0
        self.venue_order_id = ""
        self.fees = 0.0
        self.trade_ids: set[str] = set()
        self._before_pending: OrderStatus | None = None
        self.reject_reason = ""

    @property
    def client_order_id(self) -> str:
        return self.command.client_order_id

    @property
    def instrument_id(self) -> str:
        return self.command.instrument_id

    @property
    def strategy_id(self) -> str:
        return self.command.strategy_id

    @property
    def side(self) -> Side:
        return self.command.side

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled, 0.0)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def __repr__(self) -> str:
        return (f"Order({self.client_order_id} {self.side} {self.quantity}@{self.price} "
                f"{self.instrument_id} {self.status} filled={self.filled})")


class OrderBookkeeper:
    """All orders of this process, by client order id, with their state machine applied."""

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}  # insertion-ordered index of the OPEN orders
        self.illegal_transitions = 0

    def __contains__(self, client_order_id: str) -> bool:
        return client_order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def get(self, client_order_id: str) -> Order | None:
        return self._orders.get(client_order_id)

    def add(self, command: SubmitOrder) -> Order:
        if command.client_order_id in self._orders:
            raise ValueError(f"duplicate client order id {command.client_order_id}")
        order = Order(command)
        self._orders[command.client_order_id] = order
        return order

    def transition(self, order: Order, trigger: str) -> OrderStatus:
        """Apply ``trigger``; raises ``IllegalTransition`` (state unchanged) if not allowed."""
        target = TRANSITIONS[order.status].get(trigger)
        if target is None:
            self.illegal_transitions += 1
            raise IllegalTransition(order.client_order_id, order.status, trigger)
        if target == RESTORE:
            restored = order._before_pending or S.ACCEPTED
            if restored is S.ACCEPTED and order.filled > 0:
                restored = S.PARTIALLY_FILLED
            order._before_pending = None
            target = restored
        elif target in (S.PENDING_CANCEL, S.PENDING_AMEND) and order.status not in (
                S.PENDING_CANCEL, S.PENDING_AMEND):
            order._before_pending = order.status
        order.status = target  # type: ignore[assignment]
        if target in OPEN:
            self._open[order.client_order_id] = order
        else:
            self._open.pop(order.client_order_id, None)
        return order.status

    def apply_fill(self, order: Order, trade_id: str, price: float, quantity: float, fee: float,
                   remaining: float | None = None) -> bool:
        """Record a fill; False (and nothing changed) if ``trade_id`` was already applied."""
        if trade_id in order.trade_ids:
            return False
        left = (order.quantity - order.filled - quantity) if remaining is None else remaining
        self.transition(order, "fill_final" if left <= 1e-12 else "fill")
        order.trade_ids.add(trade_id)
        total = order.filled + quantity
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * quantity) / total
        order.filled = total
        order.fees += fee
        return True

    def open_orders(self, instrument_id: str | None = None, strategy_id: str | None = None) -> list[Order]:
        return [o for o in self._open.values()
                if (instrument_id is None or o.instrument_id == instrument_id)
                and (strategy_id is None or o.strategy_id == strategy_id)]

    def __iter__(self) -> Iterator[Order]:
        return iter(self._orders.values())
