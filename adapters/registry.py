"""Venue name -> codec factory (and checksum function), imported lazily.

Theory of operation: the table holds import paths, not classes, so a venue whose package is
missing or broken fails only when that venue is asked for (``CodecUnavailable``), never at
import time of the registry or for the other venues.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# venue -> ("module:attribute", constructor keyword arguments)
CODECS: dict[str, tuple[str, dict[str, Any]]] = {
    "deribit": ("adapters.deribit.codec:DeribitCodec", {}),
    "okx": ("adapters.okx.codec:OkxCodec", {}),
    "bybit": ("adapters.bybit.codec:BybitCodec", {}),
    "derive": ("adapters.derive.codec:DeriveCodec", {}),
    "binance-spot": ("adapters.binance.codec:BinanceCodec", {"market": "spot"}),
    "binance-usdm": ("adapters.binance.codec:BinanceCodec", {"market": "usdm"}),
    "binance-coinm": ("adapters.binance.codec:BinanceCodec", {"market": "coinm"}),
}

# venue -> "module:function" computing the venue's book checksum from an ``OrderBook``.
CHECKSUMS: dict[str, str] = {
    "okx": "adapters.okx.codec:okx_checksum",
}


class CodecUnavailable(RuntimeError):
    """The venue is unknown, or its codec module cannot be imported."""


def _resolve(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except Exception as exc:  # ImportError, SyntaxError, AttributeError, errors at import time
        raise CodecUnavailable(f"cannot load {path}: {exc!r}") from exc


def venues() -> list[str]:
    return sorted(CODECS)


def codec_factory(venue: str) -> Callable[[], Any]:
    """A zero-argument callable building a fresh codec for ``venue``."""
    try:
        path, kwargs = CODECS[venue]
    except KeyError:
        raise CodecUnavailable(f"unknown venue {venue!r}; known: {', '.join(venues())}") from None
    cls = _resolve(path)
    return lambda: cls(**kwargs)


def create_codec(venue: str) -> Any:
    """A fresh codec for ``venue`` (raises ``CodecUnavailable``)."""
    return codec_factory(venue)()


def checksum_fn(venue: str) -> Callable[[Any], int] | None:
    """The venue's checksum function, None if it has none (raises ``CodecUnavailable`` if it
    should have one and it cannot be loaded)."""
    path = CHECKSUMS.get(venue)
    return _resolve(path) if path else None
