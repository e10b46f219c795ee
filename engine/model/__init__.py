"""The domain model: instruments, identifiers, market-data events, order commands and events.

The bottom of the dependency graph: the standard library, msgspec and sortedcontainers only.
"""

from engine.model.account import AccountReported
from engine.model.assets import MarginType, canonical_asset, is_usd
from engine.model.codec import Codec, VenueProtocolError
from engine.model.enums import (
    BookStatus,
    InstrumentKind,
    Liquidity,
    OptionType,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from engine.model.identifiers import (
    ClientOrderId,
    InstrumentId,
    StrategyId,
    Venue,
    instrument_id,
    split_instrument_id,
)
from engine.model.instrument import NS_PER_YEAR, Instrument, step_fraction
from engine.model.market import (
    BookDelta,
    BookSnapshot,
    BookStatusChanged,
    DeltaColumns,
    FundingRate,
    Level,
    MarketEvent,
    MarkPrice,
    OptionSummary,
    Quote,
    RawLevel,
    Trade,
    VenueStatusChanged,
)
from engine.model.orders import (
    AmendOrder,
    CancelOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderCommand,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    OrderSubmitted,
    PositionReport,
    PositionSettled,
    SubmitOrder,
    VenueReconciliation,
)

__all__ = [
    "AccountReported",
    "AmendOrder", "BookDelta", "Codec", "VenueProtocolError", "BookSnapshot", "BookStatus", "DeltaColumns", "BookStatusChanged", "CancelOrder",
    "ClientOrderId", "FundingRate", "Instrument", "InstrumentId", "InstrumentKind", "Level",
    "Liquidity", "MarkPrice", "MarketEvent", "NS_PER_YEAR", "OptionSummary", "OptionType",
    "OrderAccepted", "OrderAmended", "OrderCancelled", "OrderCommand", "OrderDenied",
    "OrderEvent", "OrderExpired", "OrderFilled", "OrderRejected", "OrderStatus",
    "OrderSubmitted", "OrderType", "Quote", "RawLevel", "Side", "StrategyId", "SubmitOrder",
    "TimeInForce", "Trade", "TradingState", "Venue", "VenueStatusChanged", "OrderStatusReport",
    "PositionReport", "PositionSettled", "VenueReconciliation", "instrument_id", "split_instrument_id",
    "MarginType", "canonical_asset", "is_usd", "step_fraction",
]
