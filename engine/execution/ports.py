"""Narrow ports: what strategies, the kill switch and the operator may see and do.

Theory of operation: nobody gets the kernel. The runtime (``Kernel.strategy_ports``,
``Kernel.killswitch_ports``) builds these small interfaces over the parts that own each piece
of state, and hands each client only what it needs:

| port                  | owner behind it           | used by                                  |
| --------------------- | ------------------------- | ---------------------------------------- |
| ``OrderEntry``        | ``ExecutionCore``         | strategies, kill switch, operator        |
| ``MarketView``        | books, instruments, chains | strategies                              |
| ``PortfolioView``     | ``Portfolio``             | strategies, kill switch, operator        |
| ``TradingControl``    | ``TradingStateOwner``     | kill switch, reconciliation, operator    |
| ``StrategyHost``      | the kernel's dispatch     | strategies (subscriptions, timers)       |
| ``StateStore``        | the journal               | strategies (``save_state``)              |

The protocols are structural (``typing.Protocol``): a test may hand a strategy or the kill
switch a fake of any one of them. This module imports no other engine module but the model,
so neither ``engine.strategy`` nor ``engine.killswitch`` depends on the kernel (the former
kernel <-> strategy/killswitch cycle is forbidden by tests/test_import_rules.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from engine.model import Instrument, SubmitOrder, TradingState

if TYPE_CHECKING:
    from engine.book import OrderBook
    from engine.orders import Order
    from engine.portfolio import Position
    from engine.risk import Denial


class OrderEntry(Protocol):
    """Commands in, order state out (read-only ``Order`` objects)."""

    def submit(self, cmd: SubmitOrder) -> Denial | None: ...
    def cancel(self, order: Order) -> bool: ...
    def amend(self, order: Order, price: float | None, quantity: float | None) -> Denial | None: ...
    def cancel_all(self, instrument_id: str | None = None, strategy_id: str | None = None) -> int: ...
    def order(self, client_order_id: str) -> Order | None: ...
    def open_orders(self, instrument_id: str | None = None,
                    strategy_id: str | None = None) -> list[Order]: ...


class MarketView(Protocol):
    """Instruments, live books and option chains (read-only)."""

    instruments: dict[str, Instrument]
    books: dict[str, OrderBook]
    chains: dict[str, Any]

    def book(self, instrument_id: str) -> OrderBook | None: ...


class PortfolioView(Protocol):
    """Positions, Greeks and PnL (read-only)."""

    def position(self, instrument_id: str) -> Position | None: ...
    def positions(self) -> list[Position]: ...
    def delta(self, underlying: str) -> float: ...
    def greeks(self, underlying: str) -> tuple[float, float, float, float]: ...
    def uncounted(self, underlying: str, greek: str = "delta") -> list[str]: ...
    def pnl_usd(self) -> dict[str, float]: ...

    @property
    def greeks_uncounted(self) -> Mapping[str, int]:
        """Per underlying, how many positions its Greek totals leave out (absent: none)."""


class TradingControl(Protocol):
    """The trading state and its holds (one owner: ``TradingStateOwner``)."""

    @property
    def state(self) -> TradingState: ...
    def hold(self, source: str, state: TradingState, reason: str = "") -> TradingState: ...
    def release(self, source: str, reason: str = "") -> TradingState: ...
    def holds(self) -> dict[str, str]: ...
    def venue_halt(self, venue: str) -> str: ...


class StrategyHost(Protocol):
    """Subscriptions and timers of one process's strategies (the kernel's dispatch)."""

    def subscribe(self, strategy_id: str, instrument_id: str, *, books: bool = False,
                  trades: bool = False, ticker: bool = False) -> None: ...
    def subscribe_chain(self, strategy_id: str, chain_key: str) -> None: ...
    def set_strategy_timer(self, strategy_id: str, name: str, interval_ns: int,
                           repeat: bool = True) -> Any: ...


class StateStore(Protocol):
    def save_state(self, strategy_id: str, ts: int, payload: bytes) -> None: ...
    def load_state(self, strategy_id: str) -> bytes | None: ...


@dataclass(frozen=True)
class StrategyPorts:
    """Everything a ``StrategyContext`` works through."""

    orders: OrderEntry
    market: MarketView
    portfolio: PortfolioView
    trading: TradingControl
    host: StrategyHost
    now_ns: Callable[[], int]
    publish: Callable[[Any], None]
    limits: Callable[[], Any]  # the risk limits in force (read-only)
    log: Any
    state: StateStore | None = None
    routing: Any = None  # engine.option_routing.OptionRouter: routed option orders


@dataclass(frozen=True)
class KillSwitchPorts:
    """Everything the kill switch works through."""

    orders: OrderEntry
    portfolio: PortfolioView
    trading: TradingControl
    working_qty: Callable[[str, Any], float]
    cancel_everything_at_venues: Callable[[], None]
    now_ns: Callable[[], int]
    limits: Any
    journal: Any = None
