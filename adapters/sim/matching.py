"""Client order handling on the simulated venue: validation, matching, fees and order events.

Theory of operation: every command is handled to completion in one synchronous call (the adapter
may delay the call to model latency). A submit is validated (instrument, lot, minimum, tick,
post-only), acknowledged, then matched against the instrument's displayed synthetic liquidity
in price priority (``SimBook.take``); whatever is left either rests at the back of the queue at
its price (GTC limit) or is cancelled (market, IOC). Fill-or-kill is checked against displayed
size first. Maker fills of resting orders come from the market generator (synthetic flow at the
order's price, or the market moving through it) via :meth:`MatchingEngine.on_maker_fills`.

Events for one command are published in causal order: ``OrderAccepted``, any self-trade
cancels, ``OrderFilled`` per level, the public ``Trade``s, a remainder ``OrderCancelled``, and
finally the ``BookDelta`` that shows the consumed / added liquidity. Fees are ``notional * rate``
in the settlement currency (negative = rebate); for options the notional is the underlying's and
the fee is capped at a fraction of the premium, as on Deribit and Bybit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from adapters.sim import rules
from adapters.sim.queue import Fill, RestingOrder, SimBook
from adapters.sim.rules import Ended, Reject
from engine.clock import Clock
from engine.model import (
    AmendOrder,
    CancelOrder,
    Instrument,
    Liquidity,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
    Trade,
)

Publish = Callable[[Any], None]


class Ids:
    """Deterministic, venue-unique order and trade ids (shared by client and synthetic trades)."""

    __slots__ = ("_prefix", "_orders", "_trades")

    def __init__(self, venue: str) -> None:
        self._prefix = venue
        self._orders = itertools.count(1)
        self._trades = itertools.count(1)

    def order(self) -> str:
        """A new venue order id."""
        return f"{self._prefix}-o{next(self._orders)}"

    def trade(self) -> str:
        """A new trade id (client fills and synthetic trades share the sequence)."""
        return f"{self._prefix}-t{next(self._trades)}"


class MatchingEngine:
    """Owns the client's working orders across all books of the venue."""

    def __init__(self, instruments: dict[str, Instrument], books: dict[str, SimBook], ids: Ids,
                 publish: Publish, clock: Clock, underlying: Callable[[], float],
                 option_fee_cap: float) -> None:
        self.instruments = instruments
        self.books = books
        self.ids = ids
        self.publish = publish
        self.clock = clock
        self.underlying = underlying
        self.option_fee_cap = option_fee_cap
        self.orders: dict[str, RestingOrder] = {}
        self.depleted: set[str] = set()
        """Books whose synthetic liquidity was consumed; the market refills them next tick."""

    # -- helpers -------------------------------------------------------------------------------
    def _reject(self, coid: str, iid: str, reason: str) -> None:
        ts = self.clock.now_ns()
        self.publish(OrderRejected(client_order_id=coid, instrument_id=iid, reason=reason,
                                   ts_event=ts, ts_recv=ts))

    def _cancelled(self, o: RestingOrder, reason: str, ts: int) -> None:
        self.orders.pop(o.client_order_id, None)
        self.publish(OrderCancelled(client_order_id=o.client_order_id, instrument_id=o.instrument_id,
                                    reason=reason, ts_event=ts, ts_recv=ts))

    def fee(self, inst: Instrument, price: float, qty: float, maker: bool) -> float:
        """Fee in the settlement currency for ``qty`` contracts at ``price`` (``rules.fee``)."""
        return rules.fee(inst, price, qty, maker, self.underlying(), self.option_fee_cap)

    def fill(self, o: RestingOrder, book: SimBook, lots: int, price: int, maker: bool, ts: int,
              trade_id: str | None = None) -> None:
        """Publish a fill of ``lots`` at ``price`` ticks for ``o`` (already applied to ``o``)."""
        inst = self.instruments[o.instrument_id]
        px, qty = book.px(price), book.sz(lots)
        self.publish(OrderFilled(
            client_order_id=o.client_order_id, venue_order_id=o.venue_order_id,
            instrument_id=o.instrument_id, trade_id=trade_id or self.ids.trade(), side=o.side,
            price=px, quantity=qty, remaining=book.sz(o.remaining),
            liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
            fee=self.fee(inst, px, qty, maker), fee_currency=inst.settle, ts_event=ts, ts_recv=ts))
        if o.remaining == 0:
            self.orders.pop(o.client_order_id, None)

    def _flush(self, book: SimBook, ts: int) -> None:
        delta = book.flush(ts)
        if delta is not None:
            self.publish(delta)

    @staticmethod
    def _lots(inst: Instrument, qty: float | None) -> int | str:
        """Quantity in lots, or the reject reason."""
        problem = rules.check_quantity(inst, qty)
        return problem if problem is not None else round(qty / inst.lot_size)  # type: ignore[operator]

    @staticmethod
    def _ticks(inst: Instrument, price: float | None) -> int | str:
        """Price in ticks, or the reject reason."""
        problem = rules.check_price(inst, price)
        return problem if problem is not None else round(price / inst.tick_size)  # type: ignore[operator]

    @staticmethod
    def _crosses(book: SimBook, buy: bool, price: int) -> bool:
        best = book.best_ask() if buy else book.best_bid()
        return best is not None and (price >= best if buy else price <= best)

    # -- commands --------------------------------------------------------------------------
    def submit(self, cmd: SubmitOrder) -> None:
        """Validate, acknowledge and match a new order."""
        coid, iid = cmd.client_order_id, cmd.instrument_id
        inst = self.instruments.get(iid)
        problem = rules.check_instrument(inst)
        if problem is not None:
            return self._reject(coid, iid, problem)
        assert inst is not None
        if coid in self.orders:
            return self._reject(coid, iid, Reject.DUPLICATE_CLIENT_ORDER_ID)
        lots = self._lots(inst, cmd.quantity)
        if isinstance(lots, str):
            return self._reject(coid, iid, lots)
        book = self.books[iid]
        buy = cmd.side is Side.BUY
        limit: int | None = None
        if cmd.order_type is OrderType.LIMIT:
            ticks = self._ticks(inst, cmd.price)
            if isinstance(ticks, str):
                return self._reject(coid, iid, ticks)
            limit = ticks
        if cmd.post_only:
            problem = rules.check_post_only(cmd.order_type, cmd.time_in_force)
            if problem is not None:
                return self._reject(coid, iid, problem)
            if self._crosses(book, buy, limit):  # type: ignore[arg-type]
                return self._reject(coid, iid, Reject.POST_ONLY_WOULD_CROSS)
        ts = self.clock.now_ns()
        o = RestingOrder(coid, self.ids.order(), iid, cmd.side, limit or 0, lots, cmd.post_only,
                         cmd.time_in_force)
        self.publish(OrderAccepted(client_order_id=coid, venue_order_id=o.venue_order_id,
                                   instrument_id=iid, ts_event=ts, ts_recv=ts))
        self.orders[coid] = o
        if cmd.time_in_force is TimeInForce.FOK and book.available(buy, limit) < lots:
            return self._cancelled(o, Ended.FOK_UNFILLED, ts)
        self._execute(o, book, limit, ts)
        if o.remaining > 0:
            if cmd.order_type is OrderType.MARKET or cmd.time_in_force is not TimeInForce.GTC:
                self._cancelled(o, Ended.IOC_UNFILLED, ts)
            else:
                book.add(o)
        self._flush(book, ts)

    def _execute(self, o: RestingOrder, book: SimBook, limit: int | None, ts: int) -> None:
        """Take displayed liquidity for ``o`` (taker fills, public trades, self-trade cancels)."""
        execs, stp = book.take(o.is_buy, o.remaining, limit)
        for victim in stp:
            self._cancelled(victim, Ended.SELF_TRADE_PREVENTION, ts)
        if not execs:
            return
        trades = []
        for p, x in execs:
            o.filled += x
            tid = self.ids.trade()
            self.fill(o, book, x, p, False, ts, tid)
            trades.append(Trade(o.instrument_id, book.px(p), book.sz(x), o.side, tid, ts, ts))
        for t in trades:
            self.publish(t)
        self.depleted.add(o.instrument_id)

    def cancel(self, cmd: CancelOrder) -> None:
        """Cancel a working order; unknown or finished orders are rejected ``unknown_order``."""
        o = self.orders.get(cmd.client_order_id)
        if o is None or o.instrument_id != cmd.instrument_id:
            return self._reject(cmd.client_order_id, cmd.instrument_id, Reject.UNKNOWN_ORDER)
        book = self.books[o.instrument_id]
        ts = self.clock.now_ns()
        book.remove(o)
        self._cancelled(o, Ended.CANCELLED, ts)
        self._flush(book, ts)

    def amend(self, cmd: AmendOrder) -> None:
        """Change price and/or total quantity.

        Priority is kept only for a pure size reduction at the same price; any other change
        re-queues the order at the back (and may execute it if the new price crosses).
        """
        coid, iid = cmd.client_order_id, cmd.instrument_id
        o = self.orders.get(coid)
        if o is None or o.instrument_id != iid:
            return self._reject(coid, iid, Reject.UNKNOWN_ORDER)
        inst = self.instruments[iid]
        book = self.books[iid]
        lots = o.qty if cmd.quantity is None else self._lots(inst, cmd.quantity)
        if isinstance(lots, str):
            return self._reject(coid, iid, lots)
        price = o.price if cmd.price is None else self._ticks(inst, cmd.price)
        if isinstance(price, str):
            return self._reject(coid, iid, price)
        if lots <= o.filled:
            return self._reject(coid, iid, Reject.QUANTITY_BELOW_FILLED)
        ts = self.clock.now_ns()
        if price == o.price and lots <= o.qty:
            o.qty = lots
            book.touch(o)
        else:
            if o.post_only and self._crosses(book, o.is_buy, price):
                return self._reject(coid, iid, Reject.POST_ONLY_WOULD_CROSS)
            book.remove(o)
            o.price, o.qty = price, lots
        self.publish(OrderAmended(client_order_id=coid, instrument_id=iid, price=book.px(o.price),
                                  quantity=book.sz(o.qty), ts_event=ts, ts_recv=ts))
        if not o.resting:
            self._execute(o, book, o.price, ts)
            if o.remaining > 0:
                book.add(o)
        self._flush(book, ts)

    # -- market-driven -----------------------------------------------------------------------
    def on_maker_fills(self, book: SimBook, fills: list[Fill], ts: int) -> None:
        """Publish maker fills produced by synthetic flow or by the market moving through."""
        for o, lots, price in fills:
            self.fill(o, book, lots, price, True, ts)

    def expire(self, iid: str, ts: int) -> None:
        """The instrument expired: resting orders end with ``OrderExpired``; the book empties."""
        book = self.books[iid]
        for o in book.clear():
            self.orders.pop(o.client_order_id, None)
            self.publish(OrderExpired(client_order_id=o.client_order_id, instrument_id=iid,
                                      ts_event=ts, ts_recv=ts))
        self._flush(book, ts)
