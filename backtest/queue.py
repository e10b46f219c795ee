"""Client orders resting against a *replayed* L2 book: queue position, trades, cancels, crossing.

Theory of operation: the replayed book is the rest of the market; the client's orders are not in
it (the recording never saw them), so each resting order keeps ``ahead``, the displayed size in
front of it at its price. It joins behind everything displayed at that price. Then:

* a public trade at its price consumes the size ahead first, then the order (time priority
  among the client's own orders at that price); a trade at a worse price than the order went
  through its level, so the order fills first, up to the trade's size;
* a decrease of the displayed size at its price, beyond what trades there explain, is cancels:
  the queue model (``backtest.schema.QueueModel``) decides how much of it was ahead; the size
  ahead never exceeds what is displayed and never grows (new size joins behind);
* opposite liquidity appearing at or through its price (the market moved through it) fills it
  at its limit price, up to the size displayed there.

All client fills here are maker fills at the order's limit price. Taker executions walk the
replayed book and leave a ``consumed`` overlay per level (market impact) that lasts until the
recording next updates that level. ``InstrumentQueues`` is the matching core's ``Market`` port
(``adapters.sim.core``) for a recorded book: the order flow itself is the core's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from adapters.sim.core import EPS as _EPS
from adapters.sim.core import Execution
from adapters.sim.core import Order as SimOrder
from adapters.sim.queue_model import QueueModel, fill_queue, make_queue_share, shrink_queue
from engine.book import OrderBook

__all__ = ["InstrumentQueues", "MakerFill", "SimOrder"]
_NONE: list = []  # type: ignore[type-arg]  # shared empty result (never mutated)
_EMPTY: dict[float, float] = {}  # shared empty mapping (never mutated)
_UNSEEN = object()  # no size known at a price


MakerFill = tuple[SimOrder, float, float]
"""(order, quantity, price) of a maker fill."""


class InstrumentQueues:
    """The client's resting orders on one instrument, by side and price, in time priority."""

    __slots__ = ("book", "bids", "asks", "traded_bid", "traded_ask", "consumed_bid",
                 "consumed_ask", "model", "_share", "lot", "top_bid", "top_ask", "_shown_bid",
                 "_shown_ask", "_shown_at")

    def __init__(self, book: OrderBook, model: QueueModel, rand: Callable[[], float],
                 lot: float = 0.0) -> None:
        self.book = book
        self.lot = lot
        """Fills are whole lots (the fractional rest of a trade stays with the market)."""
        self.bids: dict[float, list[SimOrder]] = {}
        self.asks: dict[float, list[SimOrder]] = {}
        self.top_bid = -math.inf
        """Highest price of our bids (-inf: none): cheap pre-checks for every market event."""
        self.top_ask = math.inf
        """Lowest price of our asks (+inf: none)."""
        self.traded_bid: dict[float, float] = {}
        self.traded_ask: dict[float, float] = {}
        self.consumed_bid: dict[float, float] = {}
        self.consumed_ask: dict[float, float] = {}
        self.model = model.model
        self._share = make_queue_share(model, rand)
        # the displayed sizes at our prices as the last depth update left them, valid while
        # the book's change counter is still ``_shown_at`` (the next update's "before" sizes)
        self._shown_bid: dict[float, float] = {}
        self._shown_ask: dict[float, float] = {}
        self._shown_at = -1

    @property
    def active(self) -> bool:
        return bool(self.bids or self.asks or self.consumed_bid or self.consumed_ask)

    # -- the matching core's Market port (adapters.sim.core) ------------------------------
    @property
    def is_open(self) -> bool:
        """Orders are taken only on a trustworthy (LIVE) book."""
        return self.book.is_live

    @staticmethod
    def qty(quantity: float) -> float:
        return quantity

    @staticmethod
    def price(price: float) -> float:
        return price

    @staticmethod
    def px(price: float) -> float:
        return price

    @staticmethod
    def sz(qty: float) -> float:
        return round(qty, 12)

    def crosses(self, buy: bool, price: float) -> bool:
        """A limit at ``price`` would trade against the recorded book or our own opposite
        orders (which a real venue's book holds too)."""
        if price >= self.top_ask if buy else price <= self.top_bid:
            return True
        return self._shows(buy, price)

    def _shows(self, is_buy: bool, limit: float) -> bool:
        """The recorded opposite side has size not consumed by our takers at or better than
        ``limit`` (what the book looks like to us after our own market impact)."""
        book = self.book
        best = book.best_ask_price() if is_buy else book.best_bid_price()
        if best != best or (best > limit if is_buy else best < limit):
            return False
        consumed = self.consumed_ask if is_buy else self.consumed_bid
        if not consumed or best not in consumed:
            return True
        depth, seen = 16, 0
        while True:
            levels = book.depth_asks(depth) if is_buy else book.depth_bids(depth)
            for p, s in levels[seen:]:
                if p > limit if is_buy else p < limit:
                    return False
                if s - consumed.get(p, 0.0) > _EPS:
                    return True
            if len(levels) < depth:
                return False
            seen = depth
            depth *= 4

    def touch(self, o: SimOrder) -> None:
        """A size reduction in place: nothing to republish (the recording never shows ours)."""

    # -- resting orders -------------------------------------------------------------------
    def add(self, o: SimOrder, now: int) -> None:
        """Rest ``o`` behind everything displayed at its price (less what our own takers took
        there: that size is gone)."""
        side = self.bids if o.is_buy else self.asks
        shown = (self.book.bids if o.is_buy else self.book.asks).get(o.price, 0.0)
        consumed = self.consumed_bid if o.is_buy else self.consumed_ask
        if consumed:
            shown = max(shown - consumed.get(o.price, 0.0), 0.0)
        o.ahead = o.ahead0 = shown
        o.rest_ns = now
        o.resting = True
        level = side.get(o.price)
        if level is None:
            side[o.price] = [o]
            # a new price of ours: trades there before it count for nobody
            (self.traded_bid if o.is_buy else self.traded_ask).pop(o.price, None)
        else:
            level.append(o)
        self._tops()

    def remove(self, o: SimOrder) -> None:
        side = self.bids if o.is_buy else self.asks
        lst = side.get(o.price)
        if lst is not None and o in lst:
            lst.remove(o)
            if not lst:
                del side[o.price]
                self._tops()
        o.resting = False

    def _tops(self) -> None:
        """Refresh ``top_bid``/``top_ask`` (after a price level of ours appeared or went)."""
        self.top_bid = max(self.bids) if self.bids else -math.inf
        self.top_ask = min(self.asks) if self.asks else math.inf

    # -- market events --------------------------------------------------------------------
    def depth_update(self, apply: Callable[[Any], Any], ev: Any, fills: list[MakerFill]) -> None:
        """``apply(ev)`` (a depth update reaching the book) with the queue model around it: the
        displayed sizes at the client's prices (and who rests there) before, the levels that
        shrank after (what was traded there explains part of it), stale overlays dropped,
        crossing checked. One pass each side (usually one price of ours a side)."""
        book = self.book
        ob = oa = _NONE
        # "before" sizes: what the last update left at a price (unless the book changed
        # since, or the price is new to us), else read from the book
        shown_b, shown_a = self._shown_bid, self._shown_ask
        if self._shown_at != book.changes:
            shown_b = shown_a = _EMPTY
        # (loops, not comprehensions: a comprehension is a call)
        if self.bids:
            get = book.bids.get
            ob = []
            for p, v in self.bids.items():
                before = shown_b.get(p, _UNSEEN)
                ob.append((p, get(p, 0.0) if before is _UNSEEN else before, v[:]))
        if self.asks:
            get = book.asks.get
            oa = []
            for p, v in self.asks.items():
                before = shown_a.get(p, _UNSEEN)
                oa.append((p, get(p, 0.0) if before is _UNSEEN else before, v[:]))
        apply(ev)
        self._shown_at = book.changes  # (the sizes read below are the book's at this count)
        shown_b, shown_a = self._shown_bid, self._shown_ask
        if shown_b:
            shown_b.clear()
        if shown_a:
            shown_a.clear()
        if ob:  # (the sides are read again: applying may switch a side's mapping)
            get, traded = book.bids.get, self.traded_bid
            for p, before, orders in ob:
                now = shown_b[p] = get(p, 0.0)
                was_traded = traded.pop(p, 0.0)
                if not now >= before:  # (as written: a NaN size counts as shrunk)
                    self._shrink(orders, before, now, was_traded)
        if oa:
            get, traded = book.asks.get, self.traded_ask
            for p, before, orders in oa:
                now = shown_a[p] = get(p, 0.0)
                was_traded = traded.pop(p, 0.0)
                if not now >= before:  # (as written: a NaN size counts as shrunk)
                    self._shrink(orders, before, now, was_traded)
        if self.consumed_bid:
            for p, _ in ev.bids:
                self.consumed_bid.pop(p, None)
        if self.consumed_ask:
            for p, _ in ev.asks:
                self.consumed_ask.pop(p, None)
        # ``cross``, with its cheap pre-checks inlined (the common case: nothing crossed); an
        # empty side's best price is NaN, which no comparison passes (no side is asked whether
        # it is empty: a columnar side answers that through a Python call)
        if self.bids:
            best = book.best_ask_price()
            if self.top_bid >= best:
                self._cross_side(self.bids, True, best, book.asks, fills)
        if self.asks:
            best = book.best_bid_price()
            if self.top_ask <= best:
                self._cross_side(self.asks, False, best, book.bids, fills)

    def _shrink(self, orders: list[SimOrder], before: float, now: float,
                was_traded: float) -> None:
        """A level of ours shrank from ``before`` to ``now`` (``was_traded`` of it by trades)."""
        orders = [o for o in orders if o.resting]  # joined before the update, still there
        shrink_queue(orders, before, now, (before - now) - was_traded, self._share, False)

    def on_trade(self, price: float, size: float, sell_aggressor: bool,
                 fills: list[MakerFill]) -> None:
        """A public trade; client orders on the passive side it reaches fill as makers."""
        own, traded = (self.bids, self.traded_bid) if sell_aggressor else (self.asks, self.traded_ask)
        if price in own:  # (what traded at a price of ours explains part of its next decrease)
            traded[price] = traded.get(price, 0.0) + size
        if (self.top_bid < price) if sell_aggressor else (self.top_ask > price):
            return  # no order of ours on the passive side at or through the trade's price
        left = size
        # price priority: a seller reaches the highest bids first
        for p in sorted(own, reverse=sell_aggressor):
            if left <= _EPS:
                break
            if (p < price) if sell_aggressor else (p > price):
                break  # the trade did not reach this level
            orders = own[p]
            # through: the trade printed worse than this level, so it was swept
            left, _ = fill_queue(orders, p, left, p != price, fills,
                                 self._lots if self.lot > 0.0 else None)
            if not orders:
                del own[p]
                self._tops()

    def cross(self, fills: list[MakerFill]) -> None:
        """Fill resting orders the opposite side has moved to or through (at their limit)."""
        book = self.book
        if self.bids and book.asks:
            best = book.best_ask_price()
            if self.top_bid >= best:  # (``_cross_side`` finds nothing otherwise)
                self._cross_side(self.bids, True, best, book.asks, fills)
        if self.asks and book.bids:
            best = book.best_bid_price()
            if self.top_ask <= best:
                self._cross_side(self.asks, False, best, book.bids, fills)

    def cross_quote(self, bid: float, bid_size: float, ask: float, ask_size: float,
                    fills: list[MakerFill]) -> None:
        """The venue's best bid/offer moved to or through client orders (``bookTicker``)."""
        if self.bids and ask_size > 0 and self.top_bid >= ask:
            self._cross_side(self.bids, True, ask, {ask: ask_size}, fills)
        if self.asks and bid_size > 0 and self.top_ask <= bid:
            self._cross_side(self.asks, False, bid, {bid: bid_size}, fills)

    def _lots(self, qty: float) -> float:
        lot = self.lot
        if lot <= 0.0:
            return qty
        return round(math.floor(qty / lot + 1e-9) * lot, 12)

    def _cross_side(self, own: dict[float, list[SimOrder]], is_buy: bool, best: float,
                    opposite: dict[float, float], fills: list[MakerFill]) -> None:
        hit = [p for p in own if (p >= best if is_buy else p <= best)]
        if not hit:
            return
        hit.sort(reverse=is_buy)
        consumed = self.consumed_ask if is_buy else self.consumed_bid  # (our takers had it)
        for p in hit:
            avail = sum(s - consumed.get(q, 0.0) for q, s in opposite.items()
                        if (q <= p if is_buy else q >= p))
            orders = own[p]
            # (the opposite side at or through the price trades with the orders, not ahead)
            fill_queue(orders, p, avail, True, fills, self._lots if self.lot > 0.0 else None)
            if not orders:
                del own[p]
                self._tops()

    # -- taking liquidity -----------------------------------------------------------------
    def take(self, is_buy: bool, qty: float, limit: float | None
             ) -> tuple[list[Execution], list[SimOrder]]:
        """A client taker: the executions against the replayed book up to ``limit`` and our own
        opposite orders it reached, removed (self-trade prevention, as the simulated venue).

        An own order is reached when it is no further than the last level the taker traded at,
        or within ``limit`` when the taker was not filled in full (what walking one book that
        held both the recording and our orders would have met).
        """
        execs = self._walk(is_buy, qty, limit)
        own = self.asks if is_buy else self.bids
        if not own:
            return execs, []
        bound = limit  # (None: any price)
        if execs and sum(x for _, x in execs) >= qty - _EPS:
            bound = execs[-1][0]  # filled in full: it went no further than its last level
        hit = [p for p in own if bound is None or (p <= bound if is_buy else p >= bound)]
        stp: list[SimOrder] = []
        for p in sorted(hit, reverse=not is_buy):
            for o in own.pop(p):
                o.resting = False
                stp.append(o)
        if hit:
            self._tops()
        return execs, stp

    def _walk(self, is_buy: bool, qty: float, limit: float | None) -> list[Execution]:
        """Walk the replayed opposite side up to ``limit``; returns (price, qty) per level.

        What is taken stays consumed (invisible to later client orders) until the recording
        updates that level again, so repeated taking pays the impact of walking the book.
        """
        book = self.book
        best = book.best_ask_price() if is_buy else book.best_bid_price()
        if best != best or (limit is not None and (best > limit if is_buy else best < limit)):
            return []  # nothing marketable: no copy of the book at all
        consumed = self.consumed_ask if is_buy else self.consumed_bid
        out: list[tuple[float, float]] = []
        depth = 16
        seen = 0
        while True:
            levels = book.depth_asks(depth) if is_buy else book.depth_bids(depth)
            for p, s in levels[seen:]:
                if qty <= _EPS or (limit is not None and (p > limit if is_buy else p < limit)):
                    return out
                avail = s - consumed.get(p, 0.0)
                if avail <= _EPS:
                    continue
                x = self._lots(min(avail, qty))
                if x <= _EPS:
                    continue
                consumed[p] = consumed.get(p, 0.0) + x
                qty -= x
                out.append((p, x))
            if len(levels) < depth or qty <= _EPS:
                return out
            seen = depth
            depth *= 4

    def available(self, is_buy: bool, limit: float | None) -> float:
        """Size a taker could get up to ``limit`` (fill-or-kill check)."""
        book = self.book
        levels = book.asks if is_buy else book.bids
        consumed = self.consumed_ask if is_buy else self.consumed_bid
        return sum(s - consumed.get(p, 0.0) for p, s in levels.items()
                   if limit is None or (p <= limit if is_buy else p >= limit))
