"""Volta's engine: the public API strategies and tools build on.

Strategies import from here (and from ``engine.pricing``), nothing deeper. See
``docs/strategies.md`` for the guide.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from engine.model import (
    BookStatus,
    BookStatusChanged,
    FundingRate,
    Instrument,
    InstrumentKind,
    Liquidity,
    MarkPrice,
    OptionSummary,
    OptionType,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    Trade,
    TradingState,
)

if TYPE_CHECKING:
    from engine.book import OrderBook
    from engine.chains import ChainView
    from engine.consolidated import ConsolidatedBook, ConsolidatedLevel, SweepChild
    from engine.option_routing import OptionKey, RoutedOrder, option_key
    from engine.orders import Order
    from engine.portfolio import Position
    from engine.strategy import Greeks, NoConfig, QuoteIds, Strategy, StrategyContext

# The model's types are imported above (cheap, needed by everything). Every other public name
# -> the module defining it, loaded on first use (PEP 562): a tool that only needs
# books and codecs (``volta replay``) does not pay for the strategy host, the risk gate and the
# Numba pricing kernels they pull in (about half a second of imports).
_HOME = {
    "OrderBook": "engine.book",
    "ChainView": "engine.chains",
    "ConsolidatedBook": "engine.consolidated", "ConsolidatedLevel": "engine.consolidated",
    "SweepChild": "engine.consolidated",
    "OptionKey": "engine.option_routing", "RoutedOrder": "engine.option_routing",
    "option_key": "engine.option_routing",
    "Order": "engine.orders",
    "Position": "engine.portfolio",
    "Greeks": "engine.strategy", "NoConfig": "engine.strategy", "QuoteIds": "engine.strategy",
    "Strategy": "engine.strategy", "StrategyContext": "engine.strategy",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # (once: later lookups are plain module attributes)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


__all__ = [
    "OptionKey", "RoutedOrder", "option_key",
    "BookStatus", "BookStatusChanged", "ChainView", "ConsolidatedBook", "ConsolidatedLevel",
    "FundingRate", "Greeks", "Instrument", "InstrumentKind", "Liquidity", "MarkPrice", "NoConfig",
    "OptionSummary", "OptionType", "Order", "OrderAccepted", "OrderAmended", "OrderBook",
    "OrderCancelled", "OrderDenied", "OrderExpired", "OrderFilled", "OrderRejected", "OrderStatus",
    "OrderSubmitted", "OrderType", "Position", "Quote", "QuoteIds", "Side", "Strategy",
    "StrategyContext", "SweepChild", "TimeInForce", "Trade", "TradingState",
]
