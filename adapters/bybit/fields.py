"""Field parsers shared by the Bybit v5 decoders.

Theory of operation: Bybit v5 sends every price, size, rate and most timestamps as JSON
strings (``"27450.50"``, ``"1673280000000"``) and a few timestamps as JSON integers (``ts``,
``cts``, ``T``). These helpers turn them into floats and integer nanoseconds and raise
``VenueProtocolError`` on anything else, so the decoders stay short and a malformed frame can
never leak another exception type. ``""`` is Bybit's way of saying "no value" (an empty
funding rate on a future, an empty IV on a perpetual): the ``opt_*`` helpers map it to NaN
or ``None``; the strict ones reject it.
"""

from __future__ import annotations

import math
from typing import Any

from engine.model import Level, VenueProtocolError

VENUE = "bybit"
NAN = math.nan
_INF = math.inf
_NS_PER_MS = 1_000_000


def bad(message: str) -> VenueProtocolError:
    """A venue-side protocol error tagged with this venue."""
    return VenueProtocolError(f"bybit: {message}", venue=VENUE, remote=True)


def levels(raw: Any) -> tuple[Level, ...]:
    """``[["price", "size"], ...]`` -> ``((price, size), ...)``.

    Bybit v5 orderbook (https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook):
    sizes are absolute, ``"0"`` deletes the level. Prices must be finite and positive, sizes
    finite and non-negative; anything else (NaN, ``"inf"``, a three-element RPI level) is a
    protocol error, because a NaN key would silently corrupt a sorted book.
    """
    if raw.__class__ is not list:
        raise bad(f"book side is not a list: {type(raw).__name__}")
    # Parse in one comprehension (ValueError on a level that is not a pair), then check in a
    # second tight loop: about twice as fast as checking inside an append loop.
    out = tuple([(float(p), float(s)) for p, s in raw])
    for pf, sf in out:
        # One chained comparison also rejects NaN (every comparison with NaN is false).
        if not (0.0 < pf < _INF and 0.0 <= sf < _INF):
            raise bad(f"invalid book level {pf!r}, {sf!r}")
    return out


def num(value: Any, name: str = "") -> float:
    """A required finite number sent as a decimal string (or a JSON number)."""
    if value.__class__ is bool:
        raise bad(f"{name}: boolean where a number was expected")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise bad(f"{name}: not a number: {value!r}") from None
    if f - f != 0.0:  # NaN or +-inf
        raise bad(f"{name}: non-finite number {value!r}")
    return f


def opt_num(value: Any, name: str = "") -> float:
    """A number that may be absent (``None``) or empty (``""``): NaN then."""
    if value is None or value == "":
        return NAN
    return num(value, name)


def ms_to_ns(value: Any, name: str = "ts") -> int:
    """Milliseconds since the epoch (JSON integer or digit string) -> integer nanoseconds."""
    cls = value.__class__
    if cls is int:
        return value * _NS_PER_MS
    if cls is str and value.isdigit():
        return int(value) * _NS_PER_MS
    raise bad(f"{name}: invalid millisecond timestamp {value!r}")


def opt_ms_to_ns(value: Any, name: str = "ts") -> int | None:
    """Like ``ms_to_ns`` but ``None``/``""``/``"0"``/``0`` mean "not set"."""
    if value is None or value == "" or value == "0" or value == 0:
        return None
    return ms_to_ns(value, name)


def string(value: Any, name: str) -> str:
    """A required non-empty string field."""
    if value.__class__ is not str or not value:
        raise bad(f"{name}: expected a non-empty string, got {value!r}")
    return value


def uint(value: Any, name: str) -> int:
    """A required non-negative JSON integer (update ids, sequence numbers)."""
    if value.__class__ is not int or value < 0:
        raise bad(f"{name}: expected a non-negative integer, got {value!r}")
    return value
