"""The fake OKX venue's market: instrument rows, a generated L2 book with OKX's strings,
sequence ids and checksum, and matching. Test infrastructure, no I/O.

Theory of operation. A book keeps integer tick and lot counts (exact), and renders levels as
the strings OKX would send (``"60000.1"``, ``"12"``); the checksum is computed over exactly
those strings with the codec's own ``okx_checksum_from_levels``, as OKX defines it. Every
change advances ``seq_id`` by a random 1..3 (OKX's ids increase but are not contiguous), so a
client has to chain ``prevSeqId`` rather than count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from adapters.okx.checksum import okx_checksum_from_levels


@dataclass(slots=True)
class Spec:
    inst_id: str
    tick: float
    decimals: int
    mid_ticks: int
    ct_val: str

    def row(self) -> dict[str, str]:
        """The ``GET /api/v5/public/instruments?instType=SWAP`` entry."""
        family = self.inst_id.rsplit("-", 1)[0]
        base, quote = family.split("-")
        return {"instType": "SWAP", "instId": self.inst_id, "instFamily": family, "uly": family,
                "baseCcy": "", "quoteCcy": "", "settleCcy": base if quote == "USD" else quote,
                "ctVal": self.ct_val, "ctMult": "1", "ctValCcy": quote if quote == "USD" else base,
                "ctType": "inverse" if quote == "USD" else "linear", "optType": "", "stk": "",
                "listTime": "1535424203000", "expTime": "", "lever": "100",
                "tickSz": f"{self.tick:.{self.decimals}f}", "lotSz": "1", "minSz": "1",
                "state": "live"}


def spec_for(inst_id: str) -> Spec:
    """Perpetual swaps with whole-contract lots: ``BTC-USD-SWAP``, ``ETH-USDT-SWAP`` ..."""
    if not inst_id.endswith("-SWAP") or inst_id.count("-") != 2:
        raise ValueError(f"the fake OKX lists perpetual swaps only, not {inst_id!r}")
    if inst_id.startswith("BTC"):
        return Spec(inst_id, 0.1, 1, 600_000, "100" if "-USD-" in inst_id else "0.01")
    return Spec(inst_id, 0.01, 2, 300_000, "10" if "-USD-" in inst_id else "0.1")


@dataclass(slots=True)
class FakeBook:
    spec: Spec
    rng: random.Random
    bids: dict[int, int] = field(default_factory=dict)  # ticks -> contracts
    asks: dict[int, int] = field(default_factory=dict)
    seq_id: int = 5000

    def seed(self, levels: int = 30) -> None:
        for i in range(1, levels + 1):
            self.bids[self.spec.mid_ticks - i] = self.rng.randint(1, 400)
            self.asks[self.spec.mid_ticks + i] = self.rng.randint(1, 400)

    def px(self, ticks: int) -> str:
        return f"{ticks * self.spec.tick:.{self.spec.decimals}f}"

    def price(self, ticks: int) -> float:
        return float(self.px(ticks))

    def ticks(self, price: float) -> int:
        return round(price / self.spec.tick)

    def on_tick(self, price: float) -> bool:
        return abs(price / self.spec.tick - round(price / self.spec.tick)) < 1e-6

    def level(self, ticks: int, size: int) -> list[str]:
        return [self.px(ticks), str(size), "0", str(self.rng.randint(1, 9) if size else 0)]

    def levels(self, depth: int = 400) -> tuple[list[list[str]], list[list[str]]]:
        bids = [self.level(t, q) for t, q in sorted(self.bids.items(), reverse=True)[:depth]]
        asks = [self.level(t, q) for t, q in sorted(self.asks.items())[:depth]]
        return bids, asks

    def float_levels(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        return ([(self.price(t), float(q)) for t, q in sorted(self.bids.items(), reverse=True)],
                [(self.price(t), float(q)) for t, q in sorted(self.asks.items())])

    def checksum(self) -> int:
        bids = [(self.px(t), str(q)) for t, q in sorted(self.bids.items(), reverse=True)[:25]]
        asks = [(self.px(t), str(q)) for t, q in sorted(self.asks.items())[:25]]
        return okx_checksum_from_levels(bids, asks)

    def next_ids(self) -> tuple[int, int]:
        prev = self.seq_id
        self.seq_id += self.rng.randint(1, 3)
        return prev, self.seq_id

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None

    def step(self) -> tuple[list[list[str]], list[list[str]]]:
        """One random non-crossing change: (bid levels, ask levels) as OKX writes them."""
        is_bid = self.rng.random() < 0.5
        side = self.bids if is_bid else self.asks
        if side and len(side) > 10 and self.rng.random() < 0.25:
            t = self.rng.choice(list(side))
            del side[t]
            lv = self.level(t, 0)
        else:
            ref = (self.best_bid() if is_bid else self.best_ask()) or self.spec.mid_ticks
            t = ref + (-1 if is_bid else 1) * self.rng.randint(-1, 12)
            other = self.best_ask() if is_bid else self.best_bid()
            if other is not None and ((is_bid and t >= other) or (not is_bid and t <= other)):
                t = other - 1 if is_bid else other + 1
            side[t] = self.rng.randint(1, 400)
            lv = self.level(t, side[t])
        return ([lv], []) if is_bid else ([], [lv])

    def take(self, is_buy: bool, size: int, limit: int | None
             ) -> tuple[list[tuple[int, int]], list[list[str]]]:
        """Take up to ``size`` contracts within ``limit`` ticks: fills and level changes."""
        side = self.asks if is_buy else self.bids
        fills: list[tuple[int, int]] = []
        changes: list[list[str]] = []
        left = size
        for t in sorted(side, reverse=not is_buy):
            if left <= 0 or (limit is not None and (t > limit if is_buy else t < limit)):
                break
            q = min(left, side[t])
            fills.append((t, q))
            left -= q
            side[t] -= q
            if side[t] == 0:
                del side[t]
            changes.append(self.level(t, side.get(t, 0)))
        return fills, changes

    def available(self, is_buy: bool, limit: int | None) -> int:
        side = self.asks if is_buy else self.bids
        return sum(q for t, q in side.items() if limit is None or (t <= limit if is_buy else t >= limit))


def snapshot_push(inst_id: str, book: FakeBook, ts_ms: int) -> dict[str, Any]:
    bids, asks = book.levels()
    return {"arg": {"channel": "books", "instId": inst_id}, "action": "snapshot",
            "data": [{"asks": asks, "bids": bids, "ts": str(ts_ms), "checksum": book.checksum(),
                      "prevSeqId": -1, "seqId": book.seq_id}]}
