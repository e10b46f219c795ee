"""The single USDT margin account of a tick-grid fake venue (Binance USD-M, Bybit linear).

Theory of operation: the fake's account holds ``deposit`` USDT; every fill's fee comes out of
it (the wallet balance). Unrealized PnL is each position x (book mid - entry). Margins follow
a linear rule with one leverage and one maintenance rate: IM = (|position| x mid + every open
order's remaining x its price) / leverage, MM = |position| x mid x maintenance rate. The
venue's fake serializes these figures in its own API's shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.fakes.market import FakeBook, FakeMatcher


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """USDT amounts."""

    wallet: float
    unrealized: float
    initial_margin: float
    maintenance_margin: float

    @property
    def equity(self) -> float:
        return self.wallet + self.unrealized


class FakeLinearAccount:
    """See the module docstring; ``deposit`` can be changed by a test at any time."""

    def __init__(self, matcher: FakeMatcher, books: dict[str, FakeBook], *,
                 deposit: float = 1_000_000.0, leverage: float = 20.0,
                 maintenance_rate: float = 0.004) -> None:
        self.matcher = matcher
        self.books = books
        self.deposit = deposit
        self.leverage = leverage
        self.maintenance_rate = maintenance_rate

    def _mid(self, symbol: str) -> float:
        book = self.books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        ticks = book.center if bid is None or ask is None else (bid + ask) / 2
        return ticks * book.tick

    def figures(self) -> AccountFigures:
        m = self.matcher
        fees = sum(f.fee for o in m.orders.values() for f in o.fills)
        upl = position_value = 0.0
        for sym, pos in m.positions.items():
            if pos:
                mid = self._mid(sym)
                upl += pos * (mid - m.entry[sym])
                position_value += abs(pos) * mid
        working = sum(o.remaining * o.price_ticks * self.books[o.symbol].tick
                      for o in m.orders.values() if o.is_open and o.price_ticks is not None)
        return AccountFigures(self.deposit - fees, upl, (position_value + working) / self.leverage,
                              position_value * self.maintenance_rate)
