"""Volta's engine: the public API strategies and tools build on.

Strategies import from here (and from ``engine.pricing``), nothing deeper.
"""

from engine.book import OrderBook
from engine.model import (
    BookStatus,
    BookStatusChanged,
    Instrument,
    InstrumentKind,
    Liquidity,
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
from engine.strategy import NoConfig, Strategy, StrategyContext

__all__ = [
    "BookStatus", "BookStatusChanged", "Instrument", "InstrumentKind", "Liquidity", "NoConfig",
    "OptionSummary", "OptionType", "OrderAccepted", "OrderAmended", "OrderBook", "OrderCancelled",
    "OrderDenied", "OrderExpired", "OrderFilled", "OrderRejected", "OrderStatus",
    "OrderSubmitted", "OrderType", "Quote", "Side", "Strategy", "StrategyContext",
    "TimeInForce", "Trade", "TradingState",
]
