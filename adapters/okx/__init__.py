"""OKX v5 adapter: the sans-IO codec (``codec.OkxCodec``), checksum, channels and instruments."""

from adapters.okx.checksum import okx_checksum, okx_checksum_from_levels
from adapters.okx.codec import OkxCodec, OkxError

__all__ = ["OkxCodec", "OkxError", "okx_checksum", "okx_checksum_from_levels"]
