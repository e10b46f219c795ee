"""A cross-venue consolidated view of one underlying: best bid/offer, merged depth, sweeps.

Theory of operation: the same underlying (BTC) trades on several venues in different units
and currencies. Each instrument becomes a *leg* that knows how to turn one of its book levels
into common terms:

* price: venue price (``quote`` per ``base``) times ``fx[quote]``, the value of one unit of the
  instrument's quote currency in the common quote (``USDT -> USD = 1.0`` by default; settable
  with ``set_fx``). Net of fees (optional), a buyer pays ``price * (1 + taker_fee)`` and a seller
  receives ``price * (1 - taker_fee)``; that is what a router should rank on.
* size: book sizes are in the instrument's contracts (``engine.model.Instrument``). A linear
  contract is ``contract_size`` base units; an inverse contract is ``contract_size`` quote
  units, i.e. ``contracts * contract_size / price`` base units at the level's own price.
  Where a codec keeps book sizes in another unit (Deribit inverse books are in USD
  ``amount``, not 10-USD contracts), pass ``size_unit={instrument_id: 1.0}``: the quote
  (inverse) or base (linear) value of one unit of book size, replacing ``contract_size``.

Only books whose ``status`` is LIVE take part; the others are listed in ``excluded`` with
their reason after every query. Depth is merged lazily: each live book contributes a
generator over its best levels (read through ``depth_bids``/``depth_asks`` in growing
chunks, never the whole book), ``heapq.merge`` interleaves them by common price, and callers
take as many levels as they need: ``depth(side, N)`` reads at most N levels per book. Equal
prices keep the order of the ``instruments`` list (``heapq.merge`` is stable).

``sweep`` splits a parent order (in base units) across venues by walking the merged levels
best first (net of fees by default) and giving each venue whole lots only: a venue's
allocation is a multiple of its ``lot_size``, at least its ``min_size``, never more than the
size seen on its levels so far, and never (after rounding down) more than what is still
needed. Each child is reported with the venue's own price of the worst level it reaches (the
limit price for an IOC child) and its size in that venue's book units. Filled base for inverse
legs is counted at the level price, which slightly undercounts leftovers from better levels,
so a sweep never overshoots the parent. What could not be placed is in ``last_unfilled``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter
from typing import NamedTuple

from engine.book import OrderBook
from engine.model import BookStatus, Instrument, InstrumentKind, Side, canonical_asset

_STABLE_FAMILY = ("USD", "USDT", "USDC")
_EPS = 1e-12


class ConsolidatedLevel(NamedTuple):
    """One venue's level in common terms: price in the common quote, size in base units."""

    price: float
    size_base: float
    instrument_id: str


class SweepChild(NamedTuple):
    """One child order of a sweep: venue-native limit price and size in the venue's units."""

    instrument_id: str
    price: float
    contracts: float


class _Leg:
    __slots__ = ("iid", "inst", "unit", "inverse", "fx", "fee")

    def round_lots(self, contracts: float) -> float:
        """Round down to whole lots (no lot size: no rounding)."""
        return self.inst.round_size(contracts) if self.inst.lot_size > 0.0 else contracts

    def __init__(self, inst: Instrument, unit: float, fx: float, fee: float) -> None:
        self.iid = inst.id
        self.inst = inst
        self.unit = unit
        self.inverse = inst.inverse
        self.fx = fx
        self.fee = fee

    def to_base(self, contracts: float, venue_price: float) -> float:
        if self.inverse:
            return contracts * self.unit / venue_price
        return contracts * self.unit

    def to_contracts(self, base: float, venue_price: float) -> float:
        if self.inverse:
            return base * venue_price / self.unit
        return base / self.unit

    def levels(self, book: OrderBook, bids: bool, net: bool, chunk: int) -> Iterator[tuple]:
        """(common price, base size, iid, venue price, contracts, leg), best first, lazily.

        Reads the book through its public ``depth_bids``/``depth_asks`` in growing chunks
        (``chunk``, then 4x more each time), so a query for the top N levels touches about
        N levels per book whatever the book's internal layout.
        """
        fetch = book.depth_bids if bids else book.depth_asks
        mult = self.fx
        if net:
            mult *= (1.0 - self.fee) if bids else (1.0 + self.fee)
        iid, unit, inverse = self.iid, self.unit, self.inverse
        done, want = 0, max(chunk, 1)
        while True:
            levels = fetch(want)
            for price, contracts in levels[done:]:
                base = contracts * unit / price if inverse else contracts * unit
                yield (price * mult, base, iid, price, contracts, self)
            if len(levels) < want:
                return
            done, want = want, want * 4


class ConsolidatedBook:
    """Cross-venue view of ``underlying`` over the given instruments and their live books.

    ``books`` maps instrument id -> ``OrderBook`` and is read at every query (pass the live
    mapping the integrity layer maintains). ``fx`` maps a currency to its value in ``quote``;
    USD, USDT and USDC default to 1.0 when ``quote`` is one of them. ``fees`` overrides each
    instrument's ``taker_fee`` (a fraction: 0.0005 = 5 bp).
    """

    def __init__(self, underlying: str, instruments: Iterable[Instrument],
                 books: Mapping[str, OrderBook], quote: str = "USD",
                 fx: Mapping[str, float] | None = None, fees: Mapping[str, float] | None = None,
                 size_unit: Mapping[str, float] | None = None) -> None:
        underlying = canonical_asset(underlying)  # any venue's spelling: btc_usd is BTC
        self.underlying = underlying
        self.quote = quote
        self.books = books
        self.fx: dict[str, float] = {quote: 1.0}
        if quote in _STABLE_FAMILY:
            self.fx.update(dict.fromkeys(_STABLE_FAMILY, 1.0))
        self.fx.update(fx or {})
        self.excluded: dict[str, str] = {}
        self.last_unfilled = 0.0
        fees = fees or {}
        size_unit = size_unit or {}
        self._legs: list[_Leg] = []
        for inst in instruments:
            if inst.kind is InstrumentKind.OPTION:
                raise ValueError(f"{inst.id}: options have no place in a consolidated book")
            if inst.asset != underlying:
                raise ValueError(f"{inst.id}: underlying {inst.asset} is not {underlying}")
            rate = self._rate(inst.quote)
            unit = size_unit.get(inst.id, inst.contract_size)
            self._legs.append(_Leg(inst, unit, rate, fees.get(inst.id, inst.taker_fee)))

    def _rate(self, currency: str) -> float:
        rate = self.fx.get(currency)
        if rate is None or not rate > 0.0:
            raise ValueError(f"no conversion rate {currency} -> {self.quote}; pass fx={{{currency!r}: ...}}")
        return rate

    # -- configuration -----------------------------------------------------------------------
    @property
    def instrument_ids(self) -> list[str]:
        return [leg.iid for leg in self._legs]

    def set_fx(self, currency: str, rate: float) -> None:
        """Value of one unit of ``currency`` in the common quote (e.g. ``set_fx("USDT", 0.9995)``)."""
        if not rate > 0.0:
            raise ValueError(f"invalid rate {rate!r}")
        self.fx[currency] = rate
        for leg in self._legs:
            if leg.inst.quote == currency:
                leg.fx = rate

    def set_fee(self, instrument_id: str, taker_fee: float) -> None:
        for leg in self._legs:
            if leg.iid == instrument_id:
                leg.fee = taker_fee
                return
        raise KeyError(instrument_id)

    # -- queries -------------------------------------------------------------------------------
    def _live(self) -> list[tuple[_Leg, OrderBook]]:
        live: list[tuple[_Leg, OrderBook]] = []
        excluded: dict[str, str] = {}
        for leg in self._legs:
            book = self.books.get(leg.iid)
            if book is None:
                excluded[leg.iid] = "missing"
            elif book.status is not BookStatus.LIVE:
                excluded[leg.iid] = str(book.status)
            else:
                live.append((leg, book))
        self.excluded = excluded
        return live

    def iter_levels(self, side: Side, net_of_fees: bool = False, chunk: int = 16) -> Iterator[tuple]:
        """Merged levels of one book side, best first: ``Side.BUY`` = bids, ``Side.SELL`` = asks.

        Yields ``(common price, base size, instrument id, venue price, contracts, leg)``;
        ``chunk`` is how many levels each book is first asked for.
        """
        bids = side is Side.BUY
        gens = [leg.levels(book, bids, net_of_fees, chunk) for leg, book in self._live()]
        return heapq.merge(*gens, key=itemgetter(0), reverse=bids)

    def best_bid(self, net_of_fees: bool = False) -> ConsolidatedLevel | None:
        """The highest bid across live venues, or None."""
        return self._best(Side.BUY, net_of_fees)

    def best_ask(self, net_of_fees: bool = False) -> ConsolidatedLevel | None:
        """The lowest ask across live venues, or None."""
        return self._best(Side.SELL, net_of_fees)

    def _best(self, side: Side, net: bool) -> ConsolidatedLevel | None:
        for level in self.iter_levels(side, net, 1):
            return ConsolidatedLevel(level[0], level[1], level[2])
        return None

    def depth(self, side: Side, levels: int = 10, net_of_fees: bool = False) -> list[ConsolidatedLevel]:
        """The best ``levels`` venue levels of one side (BUY = bids), merged across venues."""
        out: list[ConsolidatedLevel] = []
        if levels <= 0:
            return out
        for level in self.iter_levels(side, net_of_fees, levels):
            out.append(ConsolidatedLevel(level[0], level[1], level[2]))
            if len(out) >= levels:
                break
        return out

    def sweep(self, side: Side, size_base: float, net_of_fees: bool = True) -> list[SweepChild]:
        """Split a parent order of ``size_base`` base units across venues (BUY takes asks).

        Returns one child per venue used, in the order venues were first reached.
        """
        self.last_unfilled = size_base
        if size_base <= 0.0:
            return []
        remaining = size_base
        # Per instrument: [leg, allocated contracts, contracts seen, worst venue price].
        state: dict[str, list] = {}
        levels = self.iter_levels(side.opposite, net_of_fees)
        smallest = self._smallest_lot_base(side)
        for _, _, iid, price, contracts, leg in levels:
            if remaining < smallest:
                break
            st = state.get(iid)
            if st is None:
                st = state[iid] = [leg, 0.0, 0.0, price]
            st[2] += contracts
            free = st[2] - st[1]
            want = leg.to_contracts(remaining, price)
            take = leg.round_lots(min(want, free))
            if take <= 0.0:
                continue
            if st[1] == 0.0 and take < leg.inst.min_size:
                continue
            st[1] = leg.round_lots(st[1] + take)
            st[3] = price
            remaining -= leg.to_base(take, price)
        self.last_unfilled = max(remaining, 0.0)
        return [SweepChild(iid, st[3], st[1]) for iid, st in state.items() if st[1] > 0.0]

    def _smallest_lot_base(self, side: Side) -> float:
        # Below the smallest lot any live venue offers nothing more can be placed; stopping
        # there keeps a sweep from walking every remaining level for nothing.
        smallest = float("inf")
        for leg, book in self._live():
            if leg.inverse:
                best = book.best_ask() if side is Side.BUY else book.best_bid()
                if best is None:
                    continue
                # An inverse lot is worth less base deeper in the book: leave a 10 % margin.
                lot = 0.9 * leg.to_base(leg.inst.lot_size, best[0])
            else:
                lot = leg.to_base(leg.inst.lot_size, 1.0)
            smallest = min(smallest, lot)
        return smallest * (1.0 - 1e-9) - _EPS if smallest != float("inf") else 0.0
