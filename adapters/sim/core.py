"""The one matching core of Volta's two simulators: order acceptance, resting, taking, amend,
cancel, expiry and every order event they answer with.

Two feeds drive it. The simulated venue (``adapters.sim``: synthetic market, integer ticks and
lots, its own published book) and the replay exchange (``backtest.exchange``: a recorded L2
book, float prices and sizes, client orders as an overlay the recording never saw). What differs
between them is only *the liquidity an order meets*, so that is the port: a ``Market`` per
instrument (``adapters.sim.queue.SimBook`` and ``backtest.queue.InstrumentQueues``) converts
validated prices and sizes into its own units, tells whether an order would cross, walks its
opposite side for a taker (returning the executions and the client's own resting orders it
reached: self-trade prevention cancels those), and rests or removes orders in time priority
with their queue position (``adapters.sim.queue_model``). Everything else is here, once:

* a submit is checked with the shared rules (``adapters.sim.rules``) in one order: instrument,
  duplicate id, quantity, price, post-only, an open market (``market_closed``: replayed data
  with no trustworthy book yet), a post-only that would cross; then acknowledged, fill-or-kill
  checked against what the market shows, executed as a taker and rested (GTC limit) or ended
  (market, IOC: ``ioc_unfilled``);
* an amend keeps queue priority only for a pure size reduction at the same price; any other
  change re-queues the order at the back and may execute it; a quantity at or below what has
  filled is refused; a cancel or amend of an order that is not working (filled, cancelled, or
  unknown: the race of a cancel against a fill) is ``unknown_order``;
* maker fills come from the feed's queue logic (``fill``), taker fills from ``take``; each fill
  is charged ``rules.fee``; an order that is done leaves ``orders`` before its last report.

The core never reads a clock of its own nor publishes directly: its ``Host`` (the venue around
it) gives the time, the market of an instrument, the underlying price for option fees, and
``send``, which delivers an event built for (exchange time, arrival time) at once (simulated
venue) or after the response latency (replay exchange). ``Host.filled``/``taken``/``done`` are
the feed's own bookkeeping (positions, public trades, book deltas).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from adapters.sim import rules
from adapters.sim.rules import Ended, Reject
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
)

EPS = 1e-12
"""Below this a float quantity is zero (integer lots compare exactly: 1 > EPS)."""


class Order:
    """A client order working at a simulator, in its market's units (ticks and lots on the
    simulated venue, prices and contracts on the replay exchange)."""

    __slots__ = ("client_order_id", "venue_order_id", "instrument_id", "side", "is_buy", "price",
                 "qty", "filled", "ahead", "post_only", "tif", "rest_ns", "resting", "ahead0")

    def __init__(self, client_order_id: str, venue_order_id: str, instrument_id: str, side: Side,
                 price: Any, qty: Any, post_only: bool, tif: TimeInForce) -> None:
        self.client_order_id = client_order_id
        self.venue_order_id = venue_order_id
        self.instrument_id = instrument_id
        self.side = side
        self.is_buy = side is Side.BUY
        self.price = price
        self.qty = qty
        self.filled = qty * 0  # (0 or 0.0: the market's unit type)
        self.ahead = self.filled
        """Displayed size in front of the order at its price (queue position)."""
        self.ahead0 = self.filled
        """``ahead`` when the order rested (reported with maker fills)."""
        self.post_only = post_only
        self.tif = tif
        self.rest_ns = 0
        self.resting = False

    @property
    def remaining(self) -> Any:
        r = self.qty - self.filled
        return r if r > EPS else r - r  # (0 or +0.0, never -0.0: the market's unit type)


Execution = tuple[Any, Any]
"""(price, quantity) a taker got at one level, in the market's units."""


class Market(Protocol):
    """One instrument's liquidity as the core sees it (see the module docstring)."""

    @property
    def is_open(self) -> bool:
        """False while the market has no trustworthy book (new orders: ``market_closed``)."""
        ...

    def qty(self, quantity: float) -> Any:
        """A validated quantity in the market's units."""
        ...

    def price(self, price: float) -> Any:
        """A validated price in the market's units."""
        ...

    def px(self, price: Any) -> float:
        """A price in the market's units as published."""
        ...

    def sz(self, qty: Any) -> float:
        """A quantity in the market's units as published."""
        ...

    def crosses(self, buy: bool, price: Any) -> bool:
        """A limit at ``price`` would trade now (the client's own opposite orders included)."""
        ...

    def available(self, buy: bool, limit: Any | None) -> Any:
        """What a taker could get up to ``limit`` (None: any price), for fill-or-kill."""
        ...

    def take(self, buy: bool, qty: Any, limit: Any | None) -> tuple[list[Execution], list[Order]]:
        """Walk the opposite side for a taker: its executions (best first), and the client's
        own opposite orders it reached, already removed (self-trade prevention)."""
        ...

    def add(self, order: Order, now: int) -> None:
        """Rest ``order`` behind everything displayed at its price."""
        ...

    def remove(self, order: Order) -> None:
        ...

    def touch(self, order: Order) -> None:
        """``order``'s size changed in place (it keeps its queue position)."""
        ...


class Host(Protocol):
    """The venue around the core: time, markets, fee inputs, delivery and bookkeeping."""

    def now_ns(self) -> int: ...

    def market(self, instrument_id: str) -> Market | None:
        """The market of a listed instrument; None while it has no book yet."""
        ...

    def underlying(self, inst: Instrument) -> float:
        """The underlying price an option fee is charged on (NaN: unknown)."""
        ...

    def send(self, make: Callable[[int, int], Any]) -> None:
        """Deliver the event ``make(exchange time, arrival time)`` builds."""
        ...

    def filled(self, order: Order, qty: float, price: float, maker: bool, trade_id: str) -> None:
        """A fill of ``order`` is about to be reported (positions, statistics)."""
        ...

    def taken(self, market: Market, order: Order, execs: list[tuple[Any, Any, str]]) -> None:
        """A taker's fills were reported: (price, qty, trade id) per level, market units."""
        ...

    def done(self, market: Market) -> None:
        """A command has finished changing ``market`` (publish its book change)."""
        ...


class Ids:
    """Deterministic, venue-unique order and trade ids (client fills and synthetic trades share
    the trade sequence)."""

    __slots__ = ("_prefix", "_order_tag", "_trade_tag", "_orders", "_trades")

    def __init__(self, venue: str, order_tag: str = "o", trade_tag: str = "t") -> None:
        self._prefix = venue
        self._order_tag = f"{venue}-{order_tag}"
        self._trade_tag = f"{venue}-{trade_tag}"
        self._orders = itertools.count(1)
        self._trades = itertools.count(1)

    def order(self) -> str:
        """A new venue order id."""
        return f"{self._order_tag}{next(self._orders)}"

    def trade(self) -> str:
        """A new trade id."""
        return f"{self._trade_tag}{next(self._trades)}"


class MatchingCore:
    """Owns the client's working orders of one venue across its markets."""

    def __init__(self, instruments: dict[str, Instrument], host: Host, ids: Ids,
                 option_fee_cap: float) -> None:
        self.instruments = instruments
        """Listed instruments by id (an expired one stays, inactive)."""
        self.host = host
        self.ids = ids
        self.option_fee_cap = option_fee_cap
        self.orders: dict[str, Order] = {}
        """Working orders by client order id."""
        self.stats = {"submits": 0, "rejects": 0, "cancels": 0, "maker_fills": 0,
                      "taker_fills": 0}

    # -- answers ---------------------------------------------------------------------------
    def reject(self, coid: str, iid: str, reason: str) -> None:
        self.stats["rejects"] += 1
        self.host.send(lambda t, r: OrderRejected(client_order_id=coid, instrument_id=iid,
                                                  reason=reason, ts_event=t, ts_recv=r))

    def end(self, o: Order, reason: str) -> None:
        """``o`` ends cancelled with ``reason`` (an ``Ended`` code)."""
        self.orders.pop(o.client_order_id, None)
        self.host.send(lambda t, r: OrderCancelled(client_order_id=o.client_order_id,
                                                   instrument_id=o.instrument_id, reason=reason,
                                                   ts_event=t, ts_recv=r))

    def fee(self, inst: Instrument, price: float, qty: float, maker: bool) -> float:
        """Fee in the settlement currency (negative = rebate; ``rules.fee``)."""
        und = self.host.underlying(inst) if inst.is_option else float("nan")
        return rules.fee(inst, price, qty, maker, und, self.option_fee_cap)

    def fill(self, o: Order, market: Market, qty: Any, price: Any, maker: bool,
             trade_id: str | None = None) -> None:
        """Report a fill of ``qty`` at ``price`` (market units; already applied to ``o``)."""
        inst = self.instruments[o.instrument_id]
        tid = trade_id or self.ids.trade()
        px, q, remaining = market.px(price), market.sz(qty), market.sz(o.remaining)
        fee = self.fee(inst, px, q, maker)
        self.stats["maker_fills" if maker else "taker_fills"] += 1
        self.host.filled(o, q, px, maker, tid)
        if remaining <= 0:
            self.orders.pop(o.client_order_id, None)
        liq = Liquidity.MAKER if maker else Liquidity.TAKER
        self.host.send(lambda t, r: OrderFilled(
            client_order_id=o.client_order_id, venue_order_id=o.venue_order_id,
            instrument_id=o.instrument_id, trade_id=tid, side=o.side, price=px, quantity=q,
            remaining=remaining, liquidity=liq, fee=fee, fee_currency=inst.settle,
            ts_event=t, ts_recv=r))

    def maker_fills(self, market: Market, fills: list[tuple[Order, Any, Any]]) -> None:
        """Report the maker fills the feed's queue logic produced: (order, qty, price)."""
        for o, x, px in fills:
            self.fill(o, market, x, px, True)

    # -- commands --------------------------------------------------------------------------
    def submit(self, cmd: SubmitOrder) -> None:
        """Validate, acknowledge, execute and rest (or end) a new order."""
        self.stats["submits"] += 1
        coid, iid = cmd.client_order_id, cmd.instrument_id
        inst = self.instruments.get(iid)
        problem = rules.check_instrument(inst)
        if problem is not None:
            return self.reject(coid, iid, problem)
        assert inst is not None
        if coid in self.orders:
            return self.reject(coid, iid, Reject.DUPLICATE_CLIENT_ORDER_ID)
        is_limit = cmd.order_type is OrderType.LIMIT
        problem = rules.check_quantity(inst, cmd.quantity)
        if problem is None and is_limit:
            problem = rules.check_price(inst, cmd.price)
        if problem is None and cmd.post_only:
            problem = rules.check_post_only(cmd.order_type, cmd.time_in_force)
        if problem is not None:
            return self.reject(coid, iid, problem)
        m = self.host.market(iid)
        if m is None or not m.is_open:
            return self.reject(coid, iid, Reject.MARKET_CLOSED)
        buy = cmd.side is Side.BUY
        qty = m.qty(cmd.quantity)  # type: ignore[arg-type]
        limit = m.price(cmd.price) if is_limit else None  # type: ignore[arg-type]
        if cmd.post_only and m.crosses(buy, limit):
            return self.reject(coid, iid, Reject.POST_ONLY_WOULD_CROSS)
        o = Order(coid, self.ids.order(), iid, cmd.side, limit if limit is not None else qty * 0,
                  qty, cmd.post_only, cmd.time_in_force)
        self.orders[coid] = o
        self.host.send(lambda t, r: OrderAccepted(client_order_id=coid,
                                                  venue_order_id=o.venue_order_id,
                                                  instrument_id=iid, ts_event=t, ts_recv=r))
        if cmd.time_in_force is TimeInForce.FOK and m.available(buy, limit) < qty - EPS:
            return self.end(o, Ended.FOK_UNFILLED)
        self._take(m, o, limit)
        if o.remaining > 0:
            if not is_limit or cmd.time_in_force is not TimeInForce.GTC:
                self.end(o, Ended.IOC_UNFILLED)
            else:
                m.add(o, self.host.now_ns())
        self.host.done(m)

    def _take(self, m: Market, o: Order, limit: Any | None) -> None:
        """``o`` takes what the market shows up to ``limit``: taker fills, self-trade cancels."""
        execs, stp = m.take(o.is_buy, o.remaining, limit)
        for victim in stp:
            self.end(victim, Ended.SELF_TRADE_PREVENTION)
        if not execs:
            return
        done = []
        for p, x in execs:
            o.filled += x
            tid = self.ids.trade()
            self.fill(o, m, x, p, False, tid)
            done.append((p, x, tid))
        self.host.taken(m, o, done)

    def cancel(self, cmd: CancelOrder) -> None:
        """Cancel a working order; an order that is not working is ``unknown_order``."""
        self.stats["cancels"] += 1
        o = self.orders.get(cmd.client_order_id)
        m = self.host.market(cmd.instrument_id) if o is not None else None
        if o is None or o.instrument_id != cmd.instrument_id or m is None:
            return self.reject(cmd.client_order_id, cmd.instrument_id, Reject.UNKNOWN_ORDER)
        m.remove(o)
        self.end(o, Ended.CANCELLED)
        self.host.done(m)

    def amend(self, cmd: AmendOrder) -> None:
        """Change price and/or total quantity (see the module docstring for priority)."""
        coid, iid = cmd.client_order_id, cmd.instrument_id
        o = self.orders.get(coid)
        m = self.host.market(iid) if o is not None else None
        if o is None or o.instrument_id != iid or m is None:
            return self.reject(coid, iid, Reject.UNKNOWN_ORDER)
        inst = self.instruments[iid]
        qty, price = o.qty, o.price
        if cmd.quantity is not None:
            problem = rules.check_quantity(inst, cmd.quantity)
            if problem is not None:
                return self.reject(coid, iid, problem)
            qty = m.qty(cmd.quantity)
        if cmd.price is not None:
            problem = rules.check_price(inst, cmd.price)
            if problem is not None:
                return self.reject(coid, iid, problem)
            price = m.price(cmd.price)
        if qty <= o.filled + EPS:
            return self.reject(coid, iid, Reject.QUANTITY_BELOW_FILLED)
        if price == o.price and qty <= o.qty:
            o.qty = qty  # a pure size reduction keeps the queue position
            m.touch(o)
        else:
            if o.post_only and m.crosses(o.is_buy, price):
                return self.reject(coid, iid, Reject.POST_ONLY_WOULD_CROSS)
            m.remove(o)
            o.price, o.qty = price, qty
        px, q = m.px(o.price), m.sz(o.qty)
        self.host.send(lambda t, r: OrderAmended(client_order_id=coid, instrument_id=iid,
                                                 price=px, quantity=q, ts_event=t, ts_recv=r))
        if not o.resting:
            self._take(m, o, o.price)
            if o.remaining > 0:
                m.add(o, self.host.now_ns())
        self.host.done(m)

    def expire(self, instrument_id: str) -> list[Order]:
        """The instrument expired: it is delisted and its working orders end ``OrderExpired``
        (returned, in the order they were placed)."""
        inst = self.instruments.get(instrument_id)
        if inst is not None and inst.active:
            self.instruments[instrument_id] = msgspec.structs.replace(inst, active=False)
        gone = [o for o in self.orders.values() if o.instrument_id == instrument_id]
        m = self.host.market(instrument_id) if gone else None
        for o in gone:
            if m is not None:
                m.remove(o)
            del self.orders[o.client_order_id]
            self.host.send(lambda t, r, o=o: OrderExpired(client_order_id=o.client_order_id,
                                                          instrument_id=instrument_id,
                                                          ts_event=t, ts_recv=r))
        return gone
