"""Bybit v5 adapter: the sans-IO codec (``codec.BybitCodec``) and its helpers."""

from adapters.bybit.codec import BybitCodec
from adapters.bybit.events import VenueError

__all__ = ["BybitCodec", "VenueError"]
