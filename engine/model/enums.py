"""Enumerations shared by every layer.

String-valued so that journal rows, logs and JSON output stay readable and stable.
"""

from __future__ import annotations

from enum import StrEnum


class InstrumentKind(StrEnum):
    SPOT = "spot"
    PERPETUAL = "perpetual"
    FUTURE = "future"
    OPTION = "option"


class OptionType(StrEnum):
    CALL = "call"
    PUT = "put"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the sign of the position change."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class BookStatus(StrEnum):
    """Whether a book may be trusted.

    SYNCING: waiting for (or bridging to) a snapshot; LIVE: consistent and updating;
    STALE: an integrity check failed or the stream went silent; a resync is due.
    """

    SYNCING = "syncing"
    LIVE = "live"
    STALE = "stale"


class OrderStatus(StrEnum):
    INITIALIZED = "initialized"
    DENIED = "denied"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    PENDING_AMEND = "pending_amend"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class TradingState(StrEnum):
    """Kill-switch state of the risk gate."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"
