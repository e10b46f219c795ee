"""What a snapshot keeps of the portfolio (``Portfolio.snapshot`` / ``restore``): every position's
exact quantity and PnL parts, the counters, and the newest trade ids seen."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class PositionState(msgspec.Struct, frozen=True, kw_only=True):
    """One position as a snapshot keeps it: the exact quantity, and every PnL part."""

    instrument_id: str
    quantity: Decimal
    avg_price: float
    realized: float
    fees: float
    funding: float
    traded: Decimal
    fills: int
    mark: float
    other_fees: dict[str, float] = {}
    """Fees charged in currencies other than the position's (``Position.other_fees``)."""


class PortfolioState(msgspec.Struct, frozen=True, kw_only=True):
    """``Portfolio.snapshot``: positions, counters and the newest trade ids seen."""

    positions: list[PositionState]
    trades: list[tuple[str, str]]
    fills: int
    duplicate_fills: int
    adjustments: int
