"""Deribit adapter: the sans-IO codec (``codec.DeribitCodec``), channel names and instruments."""

from adapters.deribit.codec import DeribitCodec, DeribitError

__all__ = ["DeribitCodec", "DeribitError"]
