"""Decimal fields of venue account bodies (sans-IO, shared by the venues' private decoders)."""

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
