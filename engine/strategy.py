"""The strategy plugin API (first cut).

A strategy is a class with synchronous callbacks; the engine calls them one at a time, on the
event loop's thread, in event order. A callback must not block or await: it reads state
through its ``StrategyContext`` and acts by submitting or cancelling orders, which return at
once (the risk gate's decision and the venue's answers come back as order events).

Strategies are named in config by import path (``"strategies.examples.mm:Quoter"``) and get
their parameters decoded into their own typed ``Config`` (a msgspec Struct), so a typo in a
parameter is a config error with its key path, not a runtime surprise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgspec

from engine.model import (
    BookStatusChanged,
    Instrument,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
    Trade,
)

if TYPE_CHECKING:
    from engine.book import OrderBook
    from engine.kernel import Kernel
    from engine.orders import Order
    from engine.portfolio import Position


class NoConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Config type of a strategy that takes no parameters."""


C = TypeVar("C", bound=msgspec.Struct)


class Strategy(Generic[C]):
    """Base class of every strategy. Override the callbacks you need."""

    Config: ClassVar[type[msgspec.Struct]] = NoConfig

    def __init__(self, ctx: StrategyContext, config: C) -> None:
        self.ctx = ctx
        self.config = config

    @property
    def id(self) -> str:
        return self.ctx.strategy_id

    def on_start(self) -> None:
        """Called once, after the venues are connected, before market data flows to you."""

    def on_book(self, book: OrderBook) -> None:
        """A subscribed book changed (read-only: never mutate it)."""

    def on_trade(self, trade: Trade) -> None:
        """A public trade on a subscribed instrument."""

    def on_book_status(self, event: BookStatusChanged) -> None:
        """A subscribed book became SYNCING, LIVE or STALE."""

    def on_order_event(self, event: Any) -> None:
        """Any event about one of your orders (denied, accepted, filled, cancelled ...)."""

    def on_timer(self, name: str, now_ns: int) -> None:
        """A timer set with ``ctx.set_timer`` fired."""

    def on_stop(self) -> None:
        """Called once at shutdown, before open orders are cancelled."""


class StrategyContext:
    """What a strategy may see and do. Everything here is synchronous and non-blocking."""

    def __init__(self, kernel: Kernel, strategy_id: str, venue: str) -> None:
        self._k = kernel
        self.strategy_id = strategy_id
        self.venue = venue
        self._next_id = 0
        self._prefix = f"{strategy_id}-{_base36(kernel.clock.now_ns() // 1_000_000)}"
        self.log = kernel.log.bind(strategy=strategy_id)

    # -- time -------------------------------------------------------------------------------
    def now_ns(self) -> int:
        return self._k.clock.now_ns()

    def set_timer(self, name: str, interval_s: float) -> None:
        """Call ``on_timer(name, now)`` every ``interval_s`` seconds (virtual or live)."""
        self._k.set_strategy_timer(self.strategy_id, name, int(interval_s * 1e9))

    # -- market data ------------------------------------------------------------------------
    def instrument_id(self, symbol: str, venue: str | None = None) -> str:
        """The id of ``symbol`` on ``venue`` (default: this strategy's venue)."""
        return f"{venue or self.venue}:{symbol}"

    def instrument(self, instrument_id: str) -> Instrument | None:
        return self._k.instruments.get(instrument_id)

    def instruments(self, venue: str | None = None) -> list[Instrument]:
        return [i for i in self._k.instruments.values() if venue is None or i.venue == venue]

    def book(self, instrument_id: str) -> OrderBook | None:
        return self._k.book(instrument_id)

    def subscribe_book(self, instrument_id: str) -> None:
        self._k.subscribe(self.strategy_id, instrument_id, books=True)

    def subscribe_trades(self, instrument_id: str) -> None:
        self._k.subscribe(self.strategy_id, instrument_id, trades=True)

    # -- positions and orders ---------------------------------------------------------------
    def position(self, instrument_id: str) -> Position | None:
        return self._k.portfolio.position(instrument_id)

    def open_orders(self, instrument_id: str | None = None) -> list[Order]:
        return self._k.orders.open_orders(instrument_id, self.strategy_id)

    def order(self, client_order_id: str) -> Order | None:
        return self._k.orders.get(client_order_id)

    def new_client_order_id(self) -> str:
        """Unique, deterministic (given the start time), and tagged with the strategy id."""
        self._next_id += 1
        return f"{self._prefix}-{self._next_id}"

    def submit_limit(self, instrument_id: str, side: Side, quantity: float, price: float, *,
                     post_only: bool = False, tif: TimeInForce = TimeInForce.GTC,
                     reduce_only: bool = False) -> str:
        """Send a limit order through the risk gate; returns its client order id at once."""
        return self._submit(instrument_id, side, quantity, price, OrderType.LIMIT, tif,
                            post_only, reduce_only)

    def submit_market(self, instrument_id: str, side: Side, quantity: float, *,
                      reduce_only: bool = False) -> str:
        return self._submit(instrument_id, side, quantity, None, OrderType.MARKET,
                            TimeInForce.IOC, False, reduce_only)

    def _submit(self, instrument_id: str, side: Side, quantity: float, price: float | None,
                order_type: OrderType, tif: TimeInForce, post_only: bool, reduce_only: bool) -> str:
        coid = self.new_client_order_id()
        cmd = SubmitOrder(client_order_id=coid, strategy_id=self.strategy_id,
                          instrument_id=instrument_id, side=side, quantity=quantity,
                          order_type=order_type, price=price, time_in_force=tif,
                          post_only=post_only, reduce_only=reduce_only, ts=self.now_ns())
        self._k.router.submit(cmd)
        return coid

    def cancel(self, client_order_id: str) -> bool:
        order = self._k.orders.get(client_order_id)
        if order is None or order.strategy_id != self.strategy_id:
            return False
        return self._k.router.cancel(order)

    def cancel_all(self, instrument_id: str | None = None) -> int:
        return self._k.router.cancel_all(instrument_id, self.strategy_id)

    def amend(self, client_order_id: str, *, price: float | None = None,
              quantity: float | None = None) -> bool:
        """Request a price/quantity change; False if the order is unknown, closed or denied."""
        order = self._k.orders.get(client_order_id)
        if order is None or order.strategy_id != self.strategy_id:
            return False
        return self._k.router.amend(order, price, quantity) is None


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
