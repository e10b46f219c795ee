"""The fake Deribit venue's market: instrument definitions, a generated L2 book per instrument
and order matching against it. Test infrastructure, no I/O.

Theory of operation. Each book is two ``{price: amount}`` dicts on a tick grid and a
``change_id`` that grows by a random 1..3 per change (Deribit's ids are increasing, not
contiguous, so a client must chain ``prev_change_id`` rather than count). ``step()`` makes one
random change (new level, new size, or delete) that never crosses the book and returns the
change as Deribit writes it (``[[action, price, amount]]`` per side). Matching takes liquidity
from the opposite side level by level and returns the changed levels, so the caller can
broadcast them like any other change: the fake's book stays the authority tests compare with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

PERPETUAL_EXPIRY_MS = 32_503_708_800_000  # what Deribit reports for perpetuals (year 3000)


@dataclass(slots=True)
class Spec:
    symbol: str
    kind: str  # "future" | "option"
    currency: str
    tick: float
    min_amount: float
    mid: float
    fee_rate: float

    def definition(self) -> dict[str, Any]:
        """The ``public/get_instruments`` entry (fields as Deribit sends them)."""
        d: dict[str, Any] = {
            "instrument_name": self.symbol, "kind": self.kind, "base_currency": self.currency,
            "quote_currency": "USD" if self.kind == "future" else self.currency,
            "counter_currency": "USD", "settlement_currency": self.currency,
            "instrument_type": "reversed", "tick_size": self.tick,
            "min_trade_amount": self.min_amount, "contract_size": 10.0 if self.kind == "future" else 1.0,
            "maker_commission": 0.0, "taker_commission": self.fee_rate, "is_active": True,
            "price_index": f"{self.currency.lower()}_usd", "creation_timestamp": 1_700_000_000_000,
        }
        if self.kind == "future":
            d.update(settlement_period="perpetual", future_type="reversed",
                     expiration_timestamp=PERPETUAL_EXPIRY_MS)
        else:
            _, _, strike, cp = self.symbol.split("-")
            d.update(settlement_period="month", strike=float(strike),
                     option_type="call" if cp == "C" else "put",
                     expiration_timestamp=4_102_444_800_000)
        return d


def spec_for(symbol: str) -> Spec:
    """A plausible definition from the name: ``BTC-PERPETUAL`` or ``BTC-27DEC30-60000-C``."""
    ccy = symbol.split("-")[0]
    if symbol.endswith("-PERPETUAL"):
        return Spec(symbol, "future", ccy, 0.5, 10.0, 60_000.0 if ccy == "BTC" else 3_000.0, 0.0005)
    if symbol.count("-") == 3:
        return Spec(symbol, "option", ccy, 0.0005, 0.1, 0.05, 0.0003)
    raise ValueError(f"fake Deribit lists perpetuals and options only, not {symbol!r}")


def _r(x: float) -> float:
    return round(x, 8)


@dataclass(slots=True)
class FakeBook:
    spec: Spec
    rng: random.Random
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    change_id: int = 1000

    def seed(self, levels: int = 15) -> None:
        t, mid = self.spec.tick, self.spec.mid
        for i in range(1, levels + 1):
            self.bids[_r(mid - i * t)] = self._amount()
            self.asks[_r(mid + i * t)] = self._amount()

    def _amount(self) -> float:
        return _r(self.spec.min_amount * self.rng.randint(1, 50))

    def best_bid(self) -> float | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> float | None:
        return min(self.asks) if self.asks else None

    def levels(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(bids best first, asks best first)."""
        return (sorted(self.bids.items(), reverse=True), sorted(self.asks.items()))

    def next_ids(self) -> tuple[int, int]:
        prev = self.change_id
        self.change_id += self.rng.randint(1, 3)
        return prev, self.change_id

    def step(self) -> tuple[list[list[Any]], list[list[Any]]]:
        """One random non-crossing change: (bid changes, ask changes)."""
        is_bid = self.rng.random() < 0.5
        side = self.bids if is_bid else self.asks
        other_best = self.best_ask() if is_bid else self.best_bid()
        t = self.spec.tick
        roll = self.rng.random()
        if side and roll < 0.25 and len(side) > 5:
            px = self.rng.choice(list(side))
            del side[px]
            change = [["delete", px, 0.0]]
        else:
            ref = (self.best_bid() if is_bid else self.best_ask()) or self.spec.mid
            px = _r(ref + (-1 if is_bid else 1) * t * self.rng.randint(-1, 10))
            if other_best is not None and ((is_bid and px >= other_best) or
                                           (not is_bid and px <= other_best)):
                px = _r(other_best - t if is_bid else other_best + t)
            action = "change" if px in side else "new"
            side[px] = self._amount()
            change = [[action, px, side[px]]]
        return (change, []) if is_bid else ([], change)

    def take(self, is_buy: bool, amount: float, limit: float | None
             ) -> tuple[list[tuple[float, float]], list[list[Any]]]:
        """Take up to ``amount`` from the opposite side at prices within ``limit``.

        Returns the fills ``[(price, amount)]`` and the level changes for the broadcast."""
        side = self.asks if is_buy else self.bids
        fills: list[tuple[float, float]] = []
        changes: list[list[Any]] = []
        left = amount
        for px in sorted(side, reverse=not is_buy):
            if left <= 1e-12:
                break
            if limit is not None and ((is_buy and px > limit) or (not is_buy and px < limit)):
                break
            q = min(left, side[px])
            fills.append((px, _r(q)))
            left = _r(left - q)
            rest = _r(side[px] - q)
            if rest <= 1e-12:
                del side[px]
                changes.append(["delete", px, 0.0])
            else:
                side[px] = rest
                changes.append(["change", px, rest])
        return fills, changes

    def available(self, is_buy: bool, limit: float | None) -> float:
        side = self.asks if is_buy else self.bids
        return sum(q for px, q in side.items()
                   if limit is None or (px <= limit if is_buy else px >= limit))
