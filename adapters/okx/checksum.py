"""OKX order-book checksum (CRC32 over the top 25 levels, the venue's own strings).

Theory of operation (https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel,
"Checksum"): take the best 25 bids (descending) and best 25 asks (ascending) and interleave
them ``bid1_px:bid1_sz:ask1_px:ask1_sz:bid2_px:...``; when one side has fewer levels, the
other side's remaining levels continue alone. The price and size strings are the ones the
venue sent (``"5.16"`` and ``"5.160"`` differ), so the book must keep them. ``zlib.crc32`` of
the ASCII string, read as a signed 32-bit integer, equals the message's ``checksum``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Protocol

CHECKSUM_DEPTH = 25
_SIGN = 1 << 31
_WRAP = 1 << 32


class RawLevelBook(Protocol):
    """Alternative book interface ``okx_checksum`` accepts: raw strings, best level first."""

    def raw_levels(self, is_bid: bool, n: int) -> Sequence[tuple[str, str]]: ...


def okx_checksum_from_levels(bids: Sequence[tuple[str, str]],
                             asks: Sequence[tuple[str, str]]) -> int:
    """Signed CRC32 of the top-25 interleaving of raw ``(price, size)`` strings, best first."""
    nb = min(len(bids), CHECKSUM_DEPTH)
    na = min(len(asks), CHECKSUM_DEPTH)
    parts: list[str] = []
    append = parts.append
    for i in range(max(nb, na)):
        if i < nb:
            b = bids[i]
            append(b[0])
            append(b[1])
        if i < na:
            a = asks[i]
            append(a[0])
            append(a[1])
    crc = zlib.crc32(":".join(parts).encode("ascii"))
    return crc - _WRAP if crc >= _SIGN else crc


def okx_checksum(book: Any) -> int:
    """Checksum of a book that keeps the venue's raw strings (the ``ChecksumFn`` for OKX).

    Reads ``engine.book.OrderBook.raw_depth_bids(n)`` / ``raw_depth_asks(n)`` (best first);
    any other book type may instead offer ``raw_levels(is_bid, n)`` (``RawLevelBook``).
    """
    depth_bids = getattr(book, "raw_depth_bids", None)
    if depth_bids is not None:
        return okx_checksum_from_levels(depth_bids(CHECKSUM_DEPTH),
                                        book.raw_depth_asks(CHECKSUM_DEPTH))
    raw_levels = getattr(book, "raw_levels", None)
    if raw_levels is not None:
        return okx_checksum_from_levels(raw_levels(True, CHECKSUM_DEPTH),
                                        raw_levels(False, CHECKSUM_DEPTH))
    raise TypeError(f"{type(book).__name__} keeps no raw level strings")
