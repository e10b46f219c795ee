"""A normalized L2 order book for one instrument.

Each side is a ``SortedDict`` from price to size. Prices are floats parsed from the venue's
decimal strings: parsing maps equal decimals to the same double, so keys never drift (no
arithmetic ever produces a key). The book applies what it is given; deciding whether an
update may be applied (sequence continuity, checksums, crossing) is the integrity layer's job
(``engine.integrity``), which owns the book's ``status``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedDict

from engine.model import BookDelta, BookSnapshot, BookStatus, Level


class OrderBook:
    """Price levels, best prices and depth for one instrument."""

    __slots__ = ("instrument_id", "bids", "asks", "seq", "ts_event", "ts_recv", "status",
                 "updates", "max_depth")

    def __init__(self, instrument_id: str, max_depth: int = 0) -> None:
        self.instrument_id = instrument_id
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.seq = -1
        self.ts_event = 0
        self.ts_recv = 0
        self.status = BookStatus.SYNCING
        self.updates = 0
        self.max_depth = max_depth

    # -- mutation ---------------------------------------------------------------------------
    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.seq = -1

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the whole book with ``snap``."""
        self.bids = SortedDict((p, s) for p, s in snap.bids if s > 0.0)
        self.asks = SortedDict((p, s) for p, s in snap.asks if s > 0.0)
        if snap.depth:
            self.max_depth = snap.depth
        self.seq = snap.seq
        self.ts_event = snap.ts_event
        self.ts_recv = snap.ts_recv
        self.updates += 1
        self._truncate()

    def apply_delta(self, delta: BookDelta) -> None:
        """Apply absolute level sizes (0 removes a level; removing an unknown level is a no-op)."""
        _apply_side(self.bids, delta.bids)
        _apply_side(self.asks, delta.asks)
        self.seq = delta.seq
        self.ts_event = delta.ts_event
        self.ts_recv = delta.ts_recv
        self.updates += 1
        if self.max_depth:
            self._truncate()

    def _truncate(self) -> None:
        # Depth-limited venue books do not delete levels that fall out of the window.
        n = self.max_depth
        if not n:
            return
        bids, asks = self.bids, self.asks
        while len(bids) > n:
            bids.popitem(0)
        while len(asks) > n:
            asks.popitem(-1)

    # -- queries ----------------------------------------------------------------------------
    def best_bid(self) -> Level | None:
        return self.bids.peekitem(-1) if self.bids else None

    def best_ask(self) -> Level | None:
        return self.asks.peekitem(0) if self.asks else None

    def best_bid_price(self) -> float:
        """Best bid price, or NaN when the side is empty (cheap for hot paths)."""
        return self.bids.peekitem(-1)[0] if self.bids else float("nan")

    def best_ask_price(self) -> float:
        return self.asks.peekitem(0)[0] if self.asks else float("nan")

    def mid(self) -> float:
        """Mid price, or NaN if either side is empty."""
        if not self.bids or not self.asks:
            return float("nan")
        return 0.5 * (self.bids.peekitem(-1)[0] + self.asks.peekitem(0)[0])

    def spread(self) -> float:
        if not self.bids or not self.asks:
            return float("nan")
        return self.asks.peekitem(0)[0] - self.bids.peekitem(-1)[0]

    def is_crossed(self) -> bool:
        return bool(self.bids) and bool(self.asks) and self.bids.peekitem(-1)[0] >= self.asks.peekitem(0)[0]

    def depth_bids(self, levels: int = 10) -> list[Level]:
        """Best ``levels`` bids, best first."""
        keys = self.bids.keys()
        n = len(keys)
        return [(keys[i], self.bids[keys[i]]) for i in range(n - 1, max(n - 1 - levels, -1), -1)]

    def depth_asks(self, levels: int = 10) -> list[Level]:
        """Best ``levels`` asks, best first."""
        keys = self.asks.keys()
        return [(k, self.asks[k]) for k in keys[:levels]]

    def size_at(self, side_is_bid: bool, price: float) -> float:
        return (self.bids if side_is_bid else self.asks).get(price, 0.0)

    def volume_to(self, side_is_bid: bool, limit_price: float) -> float:
        """Total size on one side at prices at least as good as ``limit_price``."""
        if side_is_bid:
            return sum(self.bids[p] for p in self.bids.irange(minimum=limit_price))
        return sum(self.asks[p] for p in self.asks.irange(maximum=limit_price))

    @property
    def is_live(self) -> bool:
        return self.status is BookStatus.LIVE

    def __repr__(self) -> str:
        return (f"OrderBook({self.instrument_id}, {self.status}, bid={self.best_bid()}, "
                f"ask={self.best_ask()}, seq={self.seq})")


def _apply_side(side: SortedDict, levels: Iterable[Level]) -> None:
    for price, size in levels:
        if size > 0.0:
            side[price] = size
        elif price in side:
            del side[price]
