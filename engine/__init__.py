"""Volta's engine: the public API strategies and tools build on.

Strategies import from here (and from ``engine.pricing``), nothing deeper. See
``docs/strategies.md`` for the guide.
"""

from typing import TYPE_CHECKING, Any

from engine.book import OrderBook
from engine.consolidated import ConsolidatedBook, ConsolidatedLevel, SweepChild
from engine.option_routing import OptionKey, RoutedOrder, option_key
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
from engine.orders import Order
from engine.portfolio import Position
from engine.strategy import Greeks, NoConfig, QuoteIds, Strategy, StrategyContext

if TYPE_CHECKING:
    from engine.chains import ChainView


def __getattr__(name: str) -> Any:
    # ``ChainView`` pulls in the Numba pricing kernels (about half a second of imports):
    # loaded on first use, so tools that never price (``volta replay``, codecs, books) start fast.
    if name == "ChainView":
        from engine.chains import ChainView

        return ChainView
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = [
    "OptionKey", "RoutedOrder", "option_key",
    "BookStatus", "BookStatusChanged", "ChainView", "ConsolidatedBook", "ConsolidatedLevel",
    "FundingRate", "Greeks", "Instrument", "InstrumentKind", "Liquidity", "MarkPrice", "NoConfig",
    "OptionSummary", "OptionType", "Order", "OrderAccepted", "OrderAmended", "OrderBook",
    "OrderCancelled", "OrderDenied", "OrderExpired", "OrderFilled", "OrderRejected", "OrderStatus",
    "OrderSubmitted", "OrderType", "Position", "Quote", "QuoteIds", "Side", "Strategy",
    "StrategyContext", "SweepChild", "TimeInForce", "Trade", "TradingState",
]
