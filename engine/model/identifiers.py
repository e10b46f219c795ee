"""Identifiers.

An instrument id is a plain string ``"<venue>:<symbol>"`` (``"deribit:BTC-PERPETUAL"``): it is
the key of every book, position and routing table, and a ``str`` hashes and compares faster than
any wrapper type on those hot paths.
"""

from __future__ import annotations

from typing import NewType

InstrumentId = NewType("InstrumentId", str)
ClientOrderId = NewType("ClientOrderId", str)
StrategyId = NewType("StrategyId", str)
Venue = NewType("Venue", str)

_SEP = ":"


def instrument_id(venue: str, symbol: str) -> InstrumentId:
    """Build the id of ``symbol`` on ``venue``."""
    if not venue or _SEP in venue:
        raise ValueError(f"invalid venue name {venue!r}")
    if not symbol:
        raise ValueError("empty symbol")
    return InstrumentId(f"{venue}{_SEP}{symbol}")


def split_instrument_id(iid: str) -> tuple[str, str]:
    """Return ``(venue, symbol)`` of an instrument id."""
    venue, sep, symbol = iid.partition(_SEP)
    if not sep or not venue or not symbol:
        raise ValueError(f"invalid instrument id {iid!r}: expected '<venue>:<symbol>'")
    return venue, symbol
