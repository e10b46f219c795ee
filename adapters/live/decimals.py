"""Decimal fields of venue bodies (sans-IO, shared by the venues' private decoders): account
figures, optional order fields, fill prices and quantities."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def amount(row: Mapping[str, Any], field: str) -> float:
    """``row[field]`` as a finite float: a decimal string or a JSON number. Anything else
    (missing, ``null``, ``""``, ``"NaN"``, ``"1e400"``, ``true``) raises ``KeyError`` or
    ``ValueError``: an account figure is exact or the body is malformed, never 0."""
    value = row[field]
    if value.__class__ not in (str, int, float):
        raise ValueError(f"{field} is not a decimal: {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{field} is not finite: {value!r}")
    return x


def decimal_or_zero(value: Any) -> float:
    """An optional decimal field of an order or position row (a price or fee a venue sends as
    ``""`` or omits when there is none yet): 0.0 then; the caller decides what 0 means
    (``price > 0`` or None). Anything else that is not a finite decimal (``"NaN"``,
    ``"1e400"``, ``true``, which ``float()`` reads as 1.0) raises ``ValueError``: a fee or a
    price is exact or the body is malformed."""
    if value is None or value == "":
        return 0.0
    if value.__class__ not in (str, int, float):
        raise ValueError(f"not a decimal: {value!r}")
    x = float(value)
    if x - x:  # NaN for NaN and the infinities, 0.0 for every finite number
        raise ValueError(f"not a finite number: {value!r}")
    return x


def fill_number(value: Any, field: str) -> float:
    """A fill's price or quantity: a decimal string (or number) that is finite and positive;
    anything else (``false``, ``"NaN"``, ``"1e400"``, ``"0"``) is a malformed frame, never a
    fill of nothing at no price. Raises ``ValueError`` (turned into the protocol error)."""
    if value.__class__ not in (str, int, float):
        raise ValueError(f"{field} is not a decimal: {value!r}")
    x = float(value)
    if not (math.isfinite(x) and x > 0.0):
        raise ValueError(f"{field} must be a positive finite number, got {value!r}")
    return x
