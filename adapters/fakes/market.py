"""A fake venue's authoritative market: a generated L2 book and a matching engine for orders.

Shared by the Binance and Bybit fakes (both trade linear perpetuals on a price/lot grid); the
Deribit and OKX fakes keep their own books, whose sequence ids and level formats differ.

Theory of operation: prices live on an integer tick grid (no float keys). Bids sit strictly below
``center`` and asks strictly above it, so the book can never cross. ``step()`` moves the market a
little (the center by at most one tick, one to three levels re-sized or deleted) and records every
level it touched in ``pending``; the venue protocol layer turns ``flush()`` into one delta event
with the sizes *as they are now* (absolute sizes, as every venue sends). Orders are matched
against this book: a marketable order takes liquidity level by level (the levels change and go
out with the next delta); a resting order fills at its own price when the market moves through it
(the aggressor is not modelled in the book). A seeded ``random.Random`` makes every run of a test
the same.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

BUY, SELL = "buy", "sell"


@dataclass(slots=True)
class FakeFill:
    trade_id: str
    price: float
    qty: float
    maker: bool
    fee: float
    ts_ms: int


@dataclass(slots=True)
class FakeOrder:
    client_id: str
    order_id: str
    symbol: str
    side: str
    qty: float
    price_ticks: int | None
    tif: str = "GTC"
    post_only: bool = False
    reduce_only: bool = False
    filled: float = 0.0
    notional: float = 0.0
    status: str = "new"  # new | partially_filled | filled | cancelled | expired | rejected
    created_ms: int = 0
    updated_ms: int = 0
    fills: list[FakeFill] = field(default_factory=list)

    @property
    def remaining(self) -> float:
        return max(round(self.qty - self.filled, 9), 0.0)

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partially_filled")

    @property
    def avg_price(self) -> float:
        return self.notional / self.filled if self.filled > 0 else 0.0


class FakeBook:
    """One instrument's book on a tick grid; see the module docstring."""

    def __init__(self, symbol: str, rng: random.Random, *, mid: float = 60_000.0,
                 tick: float = 0.1, lot: float = 0.001, levels: int = 20) -> None:
        self.symbol = symbol
        self.rng = rng
        self.tick = tick
        self.lot = lot
        self.decimals = max(len(repr(tick).split(".")[1]) if "." in repr(tick) else 0, 0)
        self.qty_decimals = len(repr(lot).split(".")[1]) if "." in repr(lot) else 0
        self.levels = levels
        self.center = round(mid / tick)
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}
        self.pending_bids: set[int] = set()
        self.pending_asks: set[int] = set()
        for k in range(1, levels + 1):
            self._set(True, self.center - k, self._size())
            self._set(False, self.center + k, self._size())
        self.pending_bids.clear()
        self.pending_asks.clear()

    # -- formatting --------------------------------------------------------------------------
    def px(self, ticks: int) -> str:
        return f"{ticks * self.tick:.{self.decimals}f}"

    def qty(self, q: float) -> str:
        return f"{q:.{self.qty_decimals}f}"

    def ticks(self, price: float) -> int:
        return round(price / self.tick)

    def _size(self) -> float:
        return round(self.rng.randint(1, 500) * self.lot, self.qty_decimals)

    # -- state -------------------------------------------------------------------------------
    def _set(self, bid: bool, ticks: int, size: float) -> None:
        side = self.bids if bid else self.asks
        if size <= 0:
            side.pop(ticks, None)
        else:
            side[ticks] = size
        (self.pending_bids if bid else self.pending_asks).add(ticks)

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None

    def levels_sorted(self, depth: int | None = None) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        return (bids[:depth], asks[:depth]) if depth else (bids, asks)

    def as_floats(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The whole book as (price, size) floats, best first (what a client book should hold)."""
        bids, asks = self.levels_sorted()
        return ([(float(self.px(p)), s) for p, s in bids], [(float(self.px(p)), s) for p, s in asks])

    def step(self) -> None:
        """Move the market a little (never crossing)."""
        rng = self.rng
        if rng.random() < 0.3:
            self.center += rng.choice((-1, 1))
            for p in [p for p in self.bids if p >= self.center]:
                self._set(True, p, 0.0)
            for p in [p for p in self.asks if p <= self.center]:
                self._set(False, p, 0.0)
        for _ in range(rng.randint(1, 3)):
            bid = rng.random() < 0.5
            k = rng.randint(1, self.levels)
            p = self.center - k if bid else self.center + k
            self._set(bid, p, 0.0 if rng.random() < 0.15 else self._size())
        for bid, side in ((True, self.bids), (False, self.asks)):
            if len(side) < 3:
                self._set(bid, self.center - 1 if bid else self.center + 1, self._size())
        far_b, far_a = self.center - self.levels * 2, self.center + self.levels * 2
        for p in [p for p in self.bids if p < far_b]:
            self._set(True, p, 0.0)
        for p in [p for p in self.asks if p > far_a]:
            self._set(False, p, 0.0)

    def flush(self) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Levels touched since the last flush, with their sizes now (0 = removed)."""
        b = [(p, self.bids.get(p, 0.0)) for p in sorted(self.pending_bids, reverse=True)]
        a = [(p, self.asks.get(p, 0.0)) for p in sorted(self.pending_asks)]
        self.pending_bids.clear()
        self.pending_asks.clear()
        return b, a

    def take(self, side: str, qty: float, limit_ticks: int | None) -> list[tuple[int, float]]:
        """Consume opposite liquidity up to ``limit_ticks`` (None: market); returns the fills."""
        fills: list[tuple[int, float]] = []
        book = self.asks if side == BUY else self.bids
        left = qty
        while left > 1e-12 and book:
            p = min(book) if side == BUY else max(book)
            if limit_ticks is not None and (p > limit_ticks if side == BUY else p < limit_ticks):
                break
            q = min(left, book[p])
            q = round(q, self.qty_decimals + 3)
            fills.append((p, q))
            left -= q
            self._set(side != BUY, p, round(book[p] - q, self.qty_decimals + 3))
        return fills

    def crosses(self, side: str, price_ticks: int) -> bool:
        best = self.best_ask() if side == BUY else self.best_bid()
        return best is not None and (price_ticks >= best if side == BUY else price_ticks <= best)


class FakeMatcher:
    """Orders of the fake venue's single account, matched against its books.

    ``place``/``cancel``/``amend`` and ``on_step`` return the orders whose state changed (the
    venue layer turns them into its private-stream events). ``positions`` is signed per symbol.
    """

    def __init__(self, books: dict[str, FakeBook], fee_rate: float = 0.0002,
                 taker_fee_rate: float = 0.0005) -> None:
        self.books = books
        self.fee_rate = fee_rate
        self.taker_fee_rate = taker_fee_rate
        self.orders: dict[str, FakeOrder] = {}  # by client id
        self.by_id: dict[str, FakeOrder] = {}
        self.positions: dict[str, float] = dict.fromkeys(books, 0.0)
        self.entry: dict[str, float] = dict.fromkeys(books, 0.0)
        self._ids = itertools.count(8_000_000_001)
        self._trades = itertools.count(9_000_000_001)

    def next_order_id(self) -> str:
        return str(next(self._ids))

    def place(self, o: FakeOrder, now_ms: int) -> None:
        o.created_ms = o.updated_ms = now_ms
        self.orders[o.client_id] = o
        self.by_id[o.order_id] = o
        book = self.books[o.symbol]
        if o.post_only and o.price_ticks is not None and book.crosses(o.side, o.price_ticks):
            o.status = "expired"  # Binance GTX / Bybit PostOnly: never takes liquidity
            return
        for p, q in book.take(o.side, o.qty, o.price_ticks):
            self._fill(o, float(book.px(p)), q, False, now_ms)
        if o.remaining > 0 and (o.price_ticks is None or o.tif in ("IOC", "FOK")):
            o.status = "expired"  # the unfilled remainder (FOK is treated like IOC here)

    def _fill(self, o: FakeOrder, price: float, q: float, maker: bool, now_ms: int) -> None:
        rate = self.fee_rate if maker else self.taker_fee_rate
        o.fills.append(FakeFill(str(next(self._trades)), price, q, maker,
                                round(price * q * rate, 8), now_ms))
        o.filled = round(o.filled + q, 9)
        o.notional += price * q
        o.updated_ms = now_ms
        o.status = "filled" if o.remaining <= 1e-12 else "partially_filled"
        signed = q if o.side == BUY else -q
        pos = self.positions[o.symbol]
        new = round(pos + signed, 9)
        if pos == 0 or (pos > 0) == (signed > 0):
            self.entry[o.symbol] = (self.entry[o.symbol] * abs(pos) + price * q) / abs(new) if new else 0.0
        elif new == 0 or (new > 0) != (pos > 0):
            self.entry[o.symbol] = price if new else 0.0
        self.positions[o.symbol] = new

    def cancel(self, o: FakeOrder, now_ms: int) -> bool:
        if not o.is_open:
            return False
        o.status = "cancelled"
        o.updated_ms = now_ms
        return True

    def amend(self, o: FakeOrder, price_ticks: int | None, qty: float | None, now_ms: int) -> bool:
        if not o.is_open or (qty is not None and qty <= o.filled):
            return False
        if price_ticks is not None:
            o.price_ticks = price_ticks
        if qty is not None:
            o.qty = qty
        o.updated_ms = now_ms
        return True

    def on_step(self, now_ms: int) -> list[FakeOrder]:
        """Resting orders the market moved through fill (maker) at their own price."""
        changed = []
        for o in self.orders.values():
            if not o.is_open or o.price_ticks is None:
                continue
            book = self.books[o.symbol]
            if book.crosses(o.side, o.price_ticks):
                self._fill(o, float(book.px(o.price_ticks)), o.remaining, True, now_ms)
                changed.append(o)
        return changed

    def open_orders(self, symbol: str | None = None) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]
