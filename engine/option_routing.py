"""Routed option orders: buy (or sell) N of one option wherever it is best, net of fees.

Theory of operation. The same option (underlying, expiry, strike, call/put) lists on several
venues under different names, units and premium currencies: Deribit and OKX quote the premium
in the coin (``premium_in_coin``), Derive in USDC; a contract is ``contract_size`` coins. An
``OptionKey`` names the option canonically (the coin, ``Instrument.asset``: the one mapping
of ``engine.model.assets``; the expiry's UTC day, the strike, the
type); ``OptionRouter.route`` finds every listed instrument with that key whose book is LIVE
and turns each of its levels into common terms:

    size  (coins)          = contracts * contract_size
    price (USD per coin)   = venue price * (index if premium_in_coin else 1)

(an option's price is per coin of underlying on every venue, as ``Instrument`` defines it;
only the contract differs: 1 coin on Deribit and Derive, ``ctVal * ctMult`` on OKX)
    net   (USD per coin)   = price + taker_fee * index   (buy; minus for a sell)

(option fees on these venues are a fraction of the underlying's value, per coin). A coin-
premium venue whose index price is unknown is *unpriced* and left out, never priced at 0.
Levels are walked best first (net) across venues within the parent's USD limit; each venue
gets whole lots (``round_size``, at least ``min_size``) and one IOC child at the worst venue
price it reaches. Every child passes the risk gate on its own (``ExecutionRouter.submit``).

``RoutedOrder`` is the parent: its children (client order ids), state and fills are read from
the engine's own order records (each child's record held by its parent from its submission:
an ended child the bookkeeper's retention rule drops still counts), so they are never a second
copy of the truth: ``filled``
(coins), ``avg_price_usd`` (per coin), ``fills`` (per trade), ``state`` (``working``,
``filled``, ``partially_filled``, ``unfilled``, ``denied``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple, Protocol

from engine.book import OrderBook
from engine.model import (
    BookStatus,
    Instrument,
    InstrumentKind,
    OptionType,
    OrderStatus,
    Side,
    SubmitOrder,
    TimeInForce,
)
from engine.orders import TERMINAL, Order
from engine.risk import Denial

__all__ = ["OptionKey", "OptionRouter", "RoutedFill", "RoutedOrder", "option_key"]

_DAY_NS = 86_400 * 1_000_000_000
_EPS = 1e-12


class OptionKey(NamedTuple):
    """One option whatever the venue: coin, expiry day (UTC, ns at 00:00), strike, type."""

    asset: str
    expiry_day_ns: int
    strike: float
    option_type: OptionType


def option_key(inst: Instrument) -> OptionKey | None:
    """The canonical key of an option instrument (None for anything else)."""
    if inst.kind is not InstrumentKind.OPTION or inst.option_type is None:
        return None
    return OptionKey(inst.asset, inst.expiry_ns // _DAY_NS * _DAY_NS, float(inst.strike),
                     inst.option_type)


class Submit(Protocol):
    def __call__(self, cmd: SubmitOrder) -> Denial | None: ...


class RoutedFill(NamedTuple):
    client_order_id: str
    instrument_id: str
    coins: float
    price_usd: float
    """Per coin of underlying, at the index the parent was routed with."""


class RoutedOrder:
    """The parent of a routed option order; see the module docstring."""

    def __init__(self, parent_id: str, key: OptionKey, side: Side, quantity: float,
                 orders: Callable[[str], Order | None], usd_per_unit: Mapping[str, float],
                 coins_per_contract: Mapping[str, float]) -> None:
        self.parent_id = parent_id
        self.key = key
        self.side = side
        self.quantity = quantity
        self.children: list[str] = []
        self.denials: dict[str, Denial] = {}
        self.unplaced = quantity
        """Coins no venue offered within the limit when routed (never sent)."""
        self.excluded: dict[str, str] = {}
        """Instrument id -> why it was left out (book not live, unpriced)."""
        self._orders = orders
        self._kids: dict[str, Order] = {}
        self._usd = usd_per_unit
        self._coins = coins_per_contract

    def child(self, coid: str) -> Order | None:
        """The order record of child ``coid`` (None: never made)."""
        order = self._kids.get(coid)
        if order is None:
            order = self._orders(coid)
            if order is not None:  # (the same record: kept if the bookkeeper drops it)
                self._kids[coid] = order
        return order

    @property
    def filled(self) -> float:
        """Coins filled across every child."""
        total = 0.0
        for coid in self.children:
            o = self.child(coid)
            if o is not None:
                total += o.filled * self._coins[o.instrument_id]
        return total

    @property
    def fills(self) -> list[RoutedFill]:
        out = []
        for coid in self.children:
            o = self.child(coid)
            if o is not None and o.filled > 0:
                out.append(RoutedFill(coid, o.instrument_id, o.filled * self._coins[o.instrument_id],
                                      o.avg_fill_price * self._usd[o.instrument_id]))
        return out

    @property
    def avg_price_usd(self) -> float:
        """Average premium per coin in USD; NaN before any fill (unknown, not 0)."""
        fills = self.fills
        coins = sum(f.coins for f in fills)
        return sum(f.coins * f.price_usd for f in fills) / coins if coins > 0 else math.nan

    @property
    def ended(self) -> bool:
        """Every child has ended (a final state of the order machine; True with none)."""
        return all((o := self.child(c)) is None or o.status in TERMINAL for c in self.children)

    @property
    def state(self) -> str:
        kids = [self.child(c) for c in self.children]
        if not self.children:
            return "denied" if self.denials else "unfilled"
        if any(o is not None and o.is_open for o in kids):
            return "working"
        filled = self.filled
        if filled >= self.quantity - 1e-9:
            return "filled"
        return "partially_filled" if filled > 0 else "unfilled"


class OptionRouter:
    """Routes parent option orders across venues (see the module docstring)."""

    def __init__(self, instruments: Mapping[str, Instrument],
                 books: Callable[[str], OrderBook | None], submit: Submit,
                 orders: Callable[[str], Order | None], index_usd: Callable[[str], float],
                 now_ns: Callable[[], int]) -> None:
        """``index_usd(asset)``: the coin's index price in USD (NaN when unknown)."""
        self._instruments = instruments
        self._books = books
        self._submit = submit
        self._orders = orders
        self._index = index_usd
        self._now = now_ns

    def listings(self, key: OptionKey) -> list[Instrument]:
        """Every instrument of ``key`` the engine knows, in id order (ties keep this order)."""
        return sorted((i for i in self._instruments.values() if option_key(i) == key),
                      key=lambda i: i.id)

    def _levels(self, inst: Instrument, book: OrderBook, side: Side, usd: float,
                fee_usd: float) -> Iterator[tuple[float, str, float, float]]:
        """(net USD per coin, iid, venue price, contracts), best first for ``side``."""
        levels = book.depth_asks(10_000) if side is Side.BUY else book.depth_bids(10_000)
        sign = 1.0 if side is Side.BUY else -1.0
        for price, contracts in levels:
            net = price * usd + sign * fee_usd
            yield (net if side is Side.BUY else -net, inst.id, price, contracts)

    def route(self, parent_id: str, strategy_id: str, key: OptionKey, side: Side,
              quantity: float, new_id: Callable[[], str],
              limit_usd: float | None = None) -> RoutedOrder:
        """Split ``quantity`` coins of option ``key`` across venues, best net price first, no
        worse than ``limit_usd`` (net premium per coin); IOC children through the gate."""
        usd: dict[str, float] = {}
        coins: dict[str, float] = {}
        # (the strategy holds the parent it is given; the router keeps none: no table that
        # grows with every routed order of the process's life)
        parent = RoutedOrder(parent_id, key, side, quantity, self._orders, usd, coins)
        streams = []
        for inst in self.listings(key):
            book = self._books(inst.id)
            if book is None or book.status is not BookStatus.LIVE:
                parent.excluded[inst.id] = "book not live"
                continue
            index = self._index(key.asset)
            if not index > 0:  # NaN or missing: unpriced, never 0
                parent.excluded[inst.id] = "unpriced: no index price for the fee/premium"
                continue
            usd[inst.id] = index if inst.premium_in_coin else 1.0
            coins[inst.id] = inst.contract_size
            streams.append(self._levels(inst, book, side, usd[inst.id], inst.taker_fee * index))
        remaining = quantity
        alloc: dict[str, list[float]] = {}  # iid -> [contracts, seen, worst venue price]
        for net, iid, price, contracts in heapq.merge(*streams):
            if remaining <= _EPS:
                break
            real = net if side is Side.BUY else -net
            if limit_usd is not None and (real > limit_usd if side is Side.BUY
                                          else real < limit_usd):
                break
            inst = self._instruments[iid]
            a = alloc.setdefault(iid, [0.0, 0.0, price])
            a[1] += contracts
            want = remaining / inst.contract_size
            take = inst.round_size(min(want, a[1] - a[0])) if inst.lot_size > 0 else min(want, a[1] - a[0])
            if take <= 0 or (a[0] == 0 and take < inst.min_size):
                continue
            a[0] = inst.round_size(a[0] + take) if inst.lot_size > 0 else a[0] + take
            a[2] = price
            remaining -= take * inst.contract_size
        parent.unplaced = max(remaining, 0.0)
        now = self._now()
        for iid, (contracts, _, price) in alloc.items():
            if contracts <= 0:
                continue
            coid = new_id()
            denial = self._submit(SubmitOrder(
                client_order_id=coid, strategy_id=strategy_id, instrument_id=iid, side=side,
                quantity=contracts, price=price, time_in_force=TimeInForce.IOC, ts=now))
            if denial is None:
                parent.children.append(coid)
                parent.child(coid)  # (its record held from now on)
            else:
                parent.denials[coid] = denial
        return parent
