"""``ReplayExchange``: a venue adapter that replays recorded market data and matches against it.

Theory of operation: the backtest driver hands every recorded event of this venue to
``on_market`` at its receive time on the virtual clock. The exchange first updates its own view
of the market (a ``BookKeeper`` fed the same events: the truth at exchange time), matches the
client's resting orders against it (``backtest.queue``: queue position, trades, cancels, the
market moving through), and then passes the event on to the engine, at once or after the
market-data latency (the driver drains ``md_queue`` in time order). Order commands from the
router arrive after the order-entry latency (a clock timer), are validated with the venue's
rules (tick, lot, minimum size, post-only, time in force), acknowledged, executed against the
replayed book (taker fills walk it, leaving market impact) and rested; answers go back after the
response latency. Each latency channel is seeded and FIFO. With market-data latency the venue
keeps its own books; those of instruments without orders of ours are brought up to date only
when read (an order arriving, ``book``): nothing else looks at them, and applying the same
events later, in order, gives the same book.

Options and futures: at each listed expiry resting orders expire and open positions settle at
the delivery price (the venue's time-weighted index average before expiry, ``engine.settlement``):
futures at that price, coin-premium options (Deribit, OKX) pay the intrinsic value in coin (intrinsic / delivery price),
USD/USDC-premium options (Bybit, the simulated venue) in USD. Settlements go to ``on_settlement``.
Fees: ``rate * notional`` (negative = rebate); for options the notional is the underlying's, capped
at ``option_fee_cap`` of the premium.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from adapters.sim import rules
from adapters.sim.latency import LatencyChannel
from adapters.sim.queue_model import make_uniform
from adapters.sim.rules import Ended, Reject
from backtest.queue import InstrumentQueues, MakerFill, SimOrder
from backtest.schema import ExchangeParams, InstrumentSpec
from engine.book import OrderBook
from engine.clock import NS_PER_S, Clock
from engine.integrity import BookKeeper
from engine.model import (
    canonical_asset,
    AmendOrder,
    BookDelta,
    BookSnapshot,
    CancelOrder,
    Instrument,
    InstrumentKind,
    Liquidity,
    MarkPrice,
    OptionSummary,
    OptionType,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderType,
    Quote,
    Side,
    SubmitOrder,
    TimeInForce,
    Trade,
)
from engine.settlement import IndexHistory, settlement_rule
from engine.venue import Publish, VenueAdapter

log = structlog.get_logger("volta.backtest.exchange")
_EPS = 1e-12


def instrument_from_spec(venue: str, s: InstrumentSpec) -> Instrument:
    return Instrument(
        venue=venue, symbol=s.symbol, kind=InstrumentKind(s.kind), base=s.base, quote=s.quote,
        settle=s.settle, inverse=s.inverse, contract_size=s.contract_size, tick_size=s.tick_size,
        lot_size=s.lot_size, min_size=s.min_size, underlying=canonical_asset(s.underlying or s.base), venue_underlying=s.underlying,
        expiry_ns=s.expiry_ns, strike=s.strike,
        option_type=OptionType(s.option_type) if s.option_type else None,
        premium_in_coin=s.premium_in_coin, maker_fee=s.maker_fee or 0.0,
        taker_fee=s.taker_fee or 0.0)


class _DrainClock:
    """The exchange's own timeline after the engine's clock has stopped (``ReplayExchange.stop``):
    what was in flight runs in due order, each at its due time, and what it sends joins in."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Callable[[int], None]]] = []
        self._seq = itertools.count()
        self._now = 0

    def now_ns(self) -> int:
        return self._now

    def call_at(self, due: int, callback: Callable[[int], None]) -> _DrainClock:
        heapq.heappush(self._heap, (max(due, self._now), next(self._seq), callback))
        return self

    def cancel(self) -> None:  # (the handle ``call_at`` returns: nothing is cancelled in a drain)
        pass

    def run(self) -> None:
        heap = self._heap
        while heap:
            due, _, callback = heapq.heappop(heap)
            self._now = due
            callback(due)


class ReplayExchange(VenueAdapter):
    """Matching engine of one venue against its replayed L2 book and trades."""

    Params = ExchangeParams

    def __init__(self, params: ExchangeParams | None = None) -> None:
        self.params = params if params is not None else ExchangeParams(venue="replay")
        p = self.params
        self.venue = p.venue or "replay"
        self._insts: dict[str, Instrument] = {}
        for spec in p.instruments:
            inst = instrument_from_spec(self.venue, spec)
            self._insts[inst.id] = self._with_fees(inst)
        self.keeper = BookKeeper(stale_after_ns=0)
        self._pending: dict[str, list[Any]] = {}
        """Depth events not yet applied to ``keeper`` (its own books), by instrument: while no
        order of ours is on an instrument nothing reads its book, so they are applied (in
        order) only when something does (``book``, ``_queue``). Pointers to the data's events."""
        self.queues: dict[str, InstrumentQueues] = {}
        self.orders: dict[str, SimOrder] = {}
        self.positions: dict[str, float] = {}
        self.md_queue: deque[tuple[int, Any]] = deque()
        seeds = [p.seed * 1_000 + k for k in range(4)]
        self._order_ch = LatencyChannel(p.order_latency, seeds[0])
        self._resp_ch = LatencyChannel(p.response_latency, seeds[1])
        self._md_ch = LatencyChannel(p.market_data_latency, seeds[2])
        self._rand = make_uniform(seeds[3])
        self.md_delayed = not self._md_ch.is_zero
        self.shared = False
        self._md_handlers: dict[str, dict[type, Callable[[Any], None]]] = {}
        # quote and trade handlers held back until the instrument's order queue exists
        self._matching_handlers: dict[str, tuple[Callable[[Any], None], Callable[[Any], None]]] = {}
        self._void = itertools.count(1)
        self._tid = itertools.count(1)
        self._index: dict[str, IndexHistory] = {}
        self.settlement_rule = settlement_rule(self.venue)
        self._expiry_timers: list[Any] = []
        self._in_flight: dict[int, tuple[int, Callable[[int], None], Any]] = {}
        """Commands and answers on their way (latency timers): key -> (due, callback, timer)."""
        self._flight_ids = itertools.count()
        self.on_settlement: Callable[[OrderFilled, float], None] = lambda fill, price: None
        self.fill_meta: dict[str, tuple[float, float]] = {}
        """trade id -> (queue wait in seconds, size ahead when the order rested); maker fills."""
        self.stats = {"submits": 0, "rejects": 0, "cancels": 0, "maker_fills": 0,
                      "taker_fills": 0, "settlements": 0, "resync_requests": 0}

    # -- set-up ---------------------------------------------------------------------------
    def _with_fees(self, inst: Instrument) -> Instrument:
        p = self.params
        changes: dict[str, Any] = {}
        if p.maker_fee is not None:
            changes["maker_fee"] = p.maker_fee
        if p.taker_fee is not None:
            changes["taker_fee"] = p.taker_fee
        return msgspec.structs.replace(inst, **changes) if changes else inst

    def add_instruments(self, instruments: list[Instrument]) -> None:
        """Instruments the data defines (configured specs of the same id take precedence)."""
        for inst in instruments:
            if inst.venue == self.venue and inst.id not in self._insts:
                self._insts[inst.id] = self._with_fees(inst)

    def bind(self, publish: Publish, clock: Clock) -> None:
        super().bind(publish, clock)
        self._md_handlers = {}
        self._matching_handlers = {}

    def share_books(self, keeper: BookKeeper) -> None:
        """Use the engine's books as this venue's (only without market-data latency).

        With no extra latency both views apply the same events in the same order, so one book
        serves both; this halves the book work of a replay. Queue updates still compare the
        level sizes before and after each event.
        """
        if self.md_delayed:
            raise ValueError("a venue with market-data latency needs its own books")
        self.keeper = keeper
        self.shared = True
        self._pending.clear()  # the engine's books have heard those events already

    def book(self, instrument_id: str) -> OrderBook | None:
        """This venue's (true, exchange-time) book of ``instrument_id``."""
        if instrument_id in self._pending:
            self._catch_up(instrument_id)
        return self.keeper.books.get(instrument_id)

    def _catch_up(self, instrument_id: str) -> None:
        """Apply the deferred depth events of ``instrument_id`` to this venue's book."""
        events = self._pending.pop(instrument_id, None)
        if events:
            keeper = self.keeper
            for ev in events:
                keeper.on_delta(ev) if type(ev) is BookDelta else keeper.on_snapshot(ev)

    def instruments(self) -> list[Instrument]:
        return list(self._insts.values())

    async def start(self) -> None:
        """Arm the expiry of every listed option and future (market data comes from the driver)."""
        now = self.clock.now_ns()
        for inst in self._insts.values():
            if inst.kind in (InstrumentKind.OPTION, InstrumentKind.FUTURE) and inst.expiry_ns > now:
                self._expiry_timers.append(
                    self.clock.call_at(inst.expiry_ns, lambda t, i=inst.id: self._expire(i, t)))

    async def stop(self) -> None:
        """Disarm expiries, then handle and answer every command and answer still in flight.

        The engine cancels its open orders just before it stops its venues: those cancels
        (and any submit or amend sent before them) reached the wire, so the venue handles
        them and its answers reach the engine now, in the order they were due, instead of
        being dropped with the clock's timers (which left orders pending for ever).
        """
        for h in self._expiry_timers:
            h.cancel()
        self._expiry_timers.clear()
        if not self._in_flight:
            return
        drain = _DrainClock()
        for due, fire, handle in self._in_flight.values():
            handle.cancel()
            drain.call_at(due, fire)
        clock, self.clock = self.clock, drain  # type: ignore[assignment]
        try:
            drain.run()  # (answers of these commands join the same timeline, by their due time)
        finally:
            self.clock = clock

    def request_resync(self, instrument_id: str) -> None:
        """A recording cannot be re-snapshotted: counted; the book recovers at its next snapshot."""
        self.stats["resync_requests"] += 1

    # -- market data ----------------------------------------------------------------------
    def on_market(self, ev: Any) -> None:
        """One recorded event at its receive time: update, match, then pass it on."""
        handlers = self.market_handlers(ev.instrument_id)
        handlers.get(type(ev), handlers[object])(ev)

    def market_handlers(self, instrument_id: str,
                        publisher_for: Callable[[type], Publish] | None = None
                        ) -> dict[type, Callable[[Any], None]]:
        """``on_market`` for the events of ``instrument_id``, by event type (the replay driver
        calls these directly).

        Built once per instrument, after ``bind``: each handler updates the venue's view,
        matches, and passes the event on to the bound ``publish`` (or to ``publisher_for(type)``,
        a publisher of that type's events of this instrument with the same effects, e.g.
        ``Kernel.market_publisher``), or to ``md_queue`` with market-data latency. Types the
        exchange does not look at are passed on unchanged by ``handlers[object]`` (a plain dict:
        the replay loop indexes it for every event).
        """
        h = self._md_handlers.get(instrument_id)
        if h is not None:
            return h
        iid = instrument_id
        delayed = self.md_delayed
        delay = self._delay
        ch = self._md_ch
        if delayed and ch.constant_ns is not None:  # ``_delay`` for a constant latency
            mdq, clock, lag = self.md_queue, self.clock, ch.constant_ns

            def delay(ev: Any) -> None:
                t = clock.now_ns() + lag
                if t < ch._last:  # (FIFO, as ``LatencyChannel.due``)
                    t = ch._last
                ch._last = t
                mdq.append((t, ev))

        def out(cls: type) -> Callable[[Any], None]:
            if delayed:
                return delay
            return publisher_for(cls) if publisher_for is not None else self.publish

        get_queue = self.queues.get
        q: InstrumentQueues | None = get_queue(iid)
        # ``q``: this instrument's order queues once they exist (never replaced), shared by the
        # handlers below; looked up per event only until then
        pending = self._pending
        maker_fills = self._maker_fills
        pass_quote, pass_trade = out(Quote), out(Trade)
        SELL = Side.SELL  # noqa: N806

        def on_quote(ev: Quote) -> None:
            # the most frequent event of bookTicker streams: no work unless it reaches an
            # order of ours (``cross_quote``'s own test)
            nonlocal q
            if q is None:
                q = get_queue(iid)
            if q is not None and (q.top_bid >= ev.ask_price or q.top_ask <= ev.bid_price):
                if ((q.bids and ev.ask_size > 0 and q.top_bid >= ev.ask_price)
                        or (q.asks and ev.bid_size > 0 and q.top_ask <= ev.bid_price)):
                    fills: list[MakerFill] = []
                    q.cross_quote(ev.bid_price, ev.bid_size, ev.ask_price, ev.ask_size, fills)
                    if fills:
                        maker_fills(fills)
            pass_quote(ev)

        def on_trade(ev: Trade) -> None:
            nonlocal q
            if q is None:
                q = get_queue(iid)
            if q is not None:
                aggr = ev.aggressor
                if aggr is None:
                    if iid in pending:
                        self._catch_up(iid)  # the book infers the aggressor
                    self._on_trade(q, ev)
                else:  # ``_on_trade`` without the inference, and no list unless we may fill
                    sell = aggr is SELL
                    px = ev.price
                    if (q.top_bid < px) if sell else (q.top_ask > px):
                        traded = q.traded_bid if sell else q.traded_ask
                        traded[px] = traded.get(px, 0.0) + ev.size  # (all ``on_trade`` does)
                    else:
                        fills: list[MakerFill] = []
                        q.on_trade(px, ev.size, sell, fills)
                        if fills:
                            maker_fills(fills)
            pass_trade(ev)

        def depth(pass_on: Callable[[Any], None], apply: Callable[[Any], Any]) -> Callable[[Any], None]:
            def on_depth(ev: Any) -> None:
                nonlocal q
                if q is None:
                    q = get_queue(iid)
                active = q is not None and bool(q.bids or q.asks or q.consumed_bid
                                                or q.consumed_ask)  # q.active, inlined
                if self.shared:
                    # the engine's book is this venue's book: it applies the event as it hears it
                    if not active:
                        pass_on(ev)
                        return
                    old = q.before_depth()  # type: ignore[union-attr]
                    pass_on(ev)
                elif active:
                    if pending and iid in pending:  # (caught up when it activated)
                        self._catch_up(iid)
                    old = q.before_depth()  # type: ignore[union-attr]
                    apply(ev)
                else:  # nothing reads this book until an order of ours comes: apply it then
                    later = pending.get(iid)
                    if later is None:
                        pending[iid] = [ev]
                    else:
                        later.append(ev)
                    pass_on(ev)
                    return
                fills: list[MakerFill] = []
                q.after_depth(old, ev.bids, ev.asks, fills)  # type: ignore[union-attr]
                if fills:
                    maker_fills(fills)
                if not self.shared:
                    pass_on(ev)
            return on_depth

        def index(field: str, cls: type) -> Callable[[Any], None]:
            pass_on = out(cls)
            obs = self._index_obs

            def on_index(ev: Any) -> None:
                obs(iid, getattr(ev, field), ev.ts_recv)
                pass_on(ev)
            return on_index

        h = self._md_handlers[iid] = {object: delay if delayed else self.publish}
        if q is None:
            # No order queue yet: a quote or trade cannot reach an order of ours, so it goes
            # straight on (one call less per event); ``_queue`` installs the matching handlers
            # when the first order of this instrument arrives (the driver reads this dict).
            h[Quote] = pass_quote
            h[Trade] = pass_trade
            self._matching_handlers[iid] = (on_quote, on_trade)
        else:
            h[Quote] = on_quote
            h[Trade] = on_trade
        # (the venue's own books: only used while not sharing the engine's, see share_books)
        h[BookDelta] = depth(out(BookDelta), self.keeper.on_delta)
        h[BookSnapshot] = depth(out(BookSnapshot), self.keeper.on_snapshot)
        h[MarkPrice] = index("index_price", MarkPrice)
        h[OptionSummary] = index("underlying_price", OptionSummary)
        return h

    def _delay(self, ev: Any) -> None:
        self.md_queue.append((self._md_ch.due(self.clock.now_ns()), ev))

    def _on_trade(self, q: InstrumentQueues, ev: Trade) -> None:
        aggr = ev.aggressor
        if aggr is None:  # infer from the book: at or below the bid, a seller hit it
            bid, ask = q.book.best_bid_price(), q.book.best_ask_price()
            if ev.price <= bid:
                aggr = Side.SELL
            elif ev.price >= ask:
                aggr = Side.BUY
            else:
                return
        fills: list[MakerFill] = []
        q.on_trade(ev.price, ev.size, aggr is Side.SELL, fills)
        if fills:
            self._maker_fills(fills)

    def _index_obs(self, iid: str, px: float, ts: int) -> None:
        if not (px == px and px > 0):
            return
        inst = self._insts.get(iid)
        und = inst.asset if inst is not None else canonical_asset(iid.partition(":")[2])
        hist = self._index.get(und)
        if hist is None:
            hist = self._index[und] = IndexHistory()
        hist.add(ts, px)

    def index_price(self, underlying: str) -> float:
        """Latest index (or forward) price seen for ``underlying`` (NaN if none)."""
        hist = self._index.get(underlying)
        return hist.latest() if hist is not None else math.nan

    def delivery_price(self, underlying: str, expiry_ns: int = 0) -> float:
        """The venue's delivery price: time-weighted index over its settlement window
        before ``expiry_ns`` (``engine.settlement``)."""
        hist = self._index.get(underlying)
        if hist is None:
            return math.nan
        return hist.delivery_price(self.settlement_rule, expiry_ns, self.clock.now_ns())

    # -- commands (arrive after the order-entry latency) --------------------------------------
    def _later(self, due: int, run: Callable[[], None]) -> None:
        """Run ``run`` at ``due`` on the clock; kept in ``_in_flight`` until it has run."""
        key = next(self._flight_ids)
        flight = self._in_flight

        def fire(_t: int) -> None:
            del flight[key]
            run()

        flight[key] = (due, fire, self.clock.call_at(due, fire))

    def _send(self, handler: Callable[[Any], None], cmd: Any) -> None:
        if self._order_ch.is_zero:
            handler(cmd)
        else:
            self._later(self._order_ch.due(self.clock.now_ns()), lambda: handler(cmd))

    def submit(self, cmd: SubmitOrder) -> None:
        self._send(self._on_submit, cmd)

    def cancel(self, cmd: CancelOrder) -> None:
        self._send(self._on_cancel, cmd)

    def amend(self, cmd: AmendOrder) -> None:
        self._send(self._on_amend, cmd)

    def cancel_all_orders(self) -> None:
        for o in list(self.orders.values()):
            self._send(self._on_cancel, CancelOrder(client_order_id=o.client_order_id,
                                                   strategy_id="", instrument_id=o.instrument_id))

    def _emit(self, make: Callable[[int, int], Any]) -> None:
        """Send an order event back: built with (exchange time, arrival time)."""
        now = self.clock.now_ns()
        if self._resp_ch.is_zero:
            self.publish(make(now, now))
            return
        due = self._resp_ch.due(now)
        ev = make(now, due)
        self._later(due, lambda: self.publish(ev))

    def _reject(self, coid: str, iid: str, reason: str) -> None:
        self.stats["rejects"] += 1
        self._emit(lambda t, r: OrderRejected(client_order_id=coid, instrument_id=iid,
                                              reason=reason, ts_event=t, ts_recv=r))

    def _cancelled(self, o: SimOrder, reason: str) -> None:
        self.orders.pop(o.client_order_id, None)
        self._emit(lambda t, r: OrderCancelled(client_order_id=o.client_order_id,
                                               instrument_id=o.instrument_id, reason=reason,
                                               ts_event=t, ts_recv=r))

    def _queue(self, iid: str) -> InstrumentQueues | None:
        """The order queues of ``iid``; None while the recording has shown no book for it."""
        if iid in self._pending:
            self._catch_up(iid)
        q = self.queues.get(iid)
        if q is None:
            book = self.keeper.books.get(iid)
            if book is None:
                return None
            inst = self._insts.get(iid)
            q = self.queues[iid] = InstrumentQueues(book, self.params.queue, self._rand,
                                                    inst.lot_size if inst is not None else 0.0)
            matching = self._matching_handlers.pop(iid, None)
            if matching is not None:  # (see ``market_handlers``)
                h = self._md_handlers[iid]
                h[Quote], h[Trade] = matching
        return q

    @staticmethod
    def _validate(inst: Instrument, qty: float | None, price: float | None,
                  needs_price: bool) -> str | None:
        problem = rules.check_quantity(inst, qty)
        if problem is None and needs_price:
            problem = rules.check_price(inst, price)
        return problem

    def _on_submit(self, cmd: SubmitOrder) -> None:
        self.stats["submits"] += 1
        coid, iid = cmd.client_order_id, cmd.instrument_id
        inst = self._insts.get(iid)
        problem = rules.check_instrument(inst)
        if problem is not None:
            return self._reject(coid, iid, problem)
        assert inst is not None
        if coid in self.orders:
            return self._reject(coid, iid, Reject.DUPLICATE_CLIENT_ORDER_ID)
        is_limit = cmd.order_type is OrderType.LIMIT
        problem = self._validate(inst, cmd.quantity, cmd.price, is_limit)
        if problem is None and cmd.post_only:
            problem = rules.check_post_only(cmd.order_type, cmd.time_in_force)
        if problem is not None:
            return self._reject(coid, iid, problem)
        q = self._queue(iid)
        if q is None or not q.book.is_live:
            return self._reject(coid, iid, Reject.MARKET_CLOSED)  # no trustworthy book yet
        book = q.book
        buy = cmd.side is Side.BUY
        limit = cmd.price if is_limit else None
        if cmd.post_only and rules.would_cross(
                buy, limit, book.best_ask_price() if buy else book.best_bid_price()):  # type: ignore[arg-type]
            return self._reject(coid, iid, Reject.POST_ONLY_WOULD_CROSS)
        o = SimOrder(coid, f"{self.venue}-bo{next(self._void)}", iid, cmd.side,
                     limit if limit is not None else 0.0, cmd.quantity, cmd.post_only,
                     cmd.time_in_force)
        self.orders[coid] = o
        self._emit(lambda t, r: OrderAccepted(client_order_id=coid, venue_order_id=o.venue_order_id,
                                              instrument_id=iid, ts_event=t, ts_recv=r))
        if cmd.time_in_force is TimeInForce.FOK and q.available(buy, limit) < o.qty - _EPS:
            return self._cancelled(o, Ended.FOK_UNFILLED)
        self._take(q, o, inst, limit)
        if o.remaining > 0:
            if not is_limit or cmd.time_in_force is not TimeInForce.GTC:
                self._cancelled(o, Ended.IOC_UNFILLED)
            else:
                q.add(o, self.clock.now_ns())

    def _take(self, q: InstrumentQueues, o: SimOrder, inst: Instrument, limit: float | None) -> None:
        for px, x in q.take(o.is_buy, o.remaining, limit):
            o.filled += x
            self._fill(o, inst, x, px, False)

    def _on_cancel(self, cmd: CancelOrder) -> None:
        self.stats["cancels"] += 1
        o = self.orders.get(cmd.client_order_id)
        if o is None or o.instrument_id != cmd.instrument_id:
            return self._reject(cmd.client_order_id, cmd.instrument_id, Reject.UNKNOWN_ORDER)
        self.queues[o.instrument_id].remove(o)
        self._cancelled(o, Ended.CANCELLED)

    def _on_amend(self, cmd: AmendOrder) -> None:
        coid, iid = cmd.client_order_id, cmd.instrument_id
        o = self.orders.get(coid)
        if o is None or o.instrument_id != iid:
            return self._reject(coid, iid, Reject.UNKNOWN_ORDER)
        inst = self._insts[iid]
        qty = o.qty if cmd.quantity is None else cmd.quantity
        price = o.price if cmd.price is None else cmd.price
        problem = self._validate(inst, qty, price, True)
        if problem is not None:
            return self._reject(coid, iid, problem)
        if qty <= o.filled + _EPS:
            return self._reject(coid, iid, Reject.QUANTITY_BELOW_FILLED)
        q = self._queue(iid)  # (exists: the order is ours; brings its book up to date)
        assert q is not None
        if price == o.price and qty <= o.qty:
            o.qty = qty  # a pure size reduction keeps the queue position
        else:
            best = q.book.best_ask_price() if o.is_buy else q.book.best_bid_price()
            if o.post_only and rules.would_cross(o.is_buy, price, best):  # type: ignore[arg-type]
                return self._reject(coid, iid, Reject.POST_ONLY_WOULD_CROSS)
            q.remove(o)
            o.price, o.qty = price, qty
        self._emit(lambda t, r: OrderAmended(client_order_id=coid, instrument_id=iid, price=price,
                                             quantity=qty, ts_event=t, ts_recv=r))
        if not o.resting:
            self._take(q, o, inst, o.price)
            if o.remaining > 0:
                q.add(o, self.clock.now_ns())

    # -- fills ----------------------------------------------------------------------------
    def fee(self, inst: Instrument, price: float, qty: float, maker: bool) -> float:
        """Fee in the settlement currency (negative = rebate; ``rules.fee``)."""
        und = self.index_price(inst.asset) if inst.is_option else math.nan
        return rules.fee(inst, price, qty, maker, und, self.params.option_fee_cap)

    def _fill(self, o: SimOrder, inst: Instrument, qty: float, price: float, maker: bool) -> None:
        qty = round(qty, 12)
        tid = f"{self.venue}-bt{next(self._tid)}"
        remaining = round(o.remaining, 12)
        fee = self.fee(inst, price, qty, maker)
        self.positions[o.instrument_id] = self.positions.get(o.instrument_id, 0.0) + o.side.sign * qty
        if maker:
            self.stats["maker_fills"] += 1
            self.fill_meta[tid] = ((self.clock.now_ns() - o.rest_ns) / NS_PER_S, o.ahead0)
        else:
            self.stats["taker_fills"] += 1
        if remaining <= 0:
            self.orders.pop(o.client_order_id, None)
        self._emit(lambda t, r: OrderFilled(
            client_order_id=o.client_order_id, venue_order_id=o.venue_order_id,
            instrument_id=o.instrument_id, trade_id=tid, side=o.side, price=price, quantity=qty,
            remaining=remaining, liquidity=Liquidity.MAKER if maker else Liquidity.TAKER, fee=fee,
            fee_currency=inst.settle, ts_event=t, ts_recv=r))

    def _maker_fills(self, fills: list[MakerFill]) -> None:
        for o, x, px in fills:
            self._fill(o, self._insts[o.instrument_id], x, px, True)

    # -- expiry and settlement ------------------------------------------------------------
    def _expire(self, iid: str, now: int) -> None:
        inst = self._insts[iid]
        self._insts[iid] = msgspec.structs.replace(inst, active=False)
        q = self.queues.get(iid)
        for o in [o for o in self.orders.values() if o.instrument_id == iid]:
            if q is not None:
                q.remove(o)
            self.orders.pop(o.client_order_id, None)
            self._emit(lambda t, r, o=o: OrderExpired(client_order_id=o.client_order_id,
                                                      instrument_id=iid, ts_event=t, ts_recv=r))
        pos = self.positions.get(iid, 0.0)
        if abs(pos) <= _EPS:
            return
        und = inst.asset
        s = self.delivery_price(und, inst.expiry_ns)
        if not s == s:
            log.error("settlement_without_index", instrument=iid, position=pos)
            return
        if inst.kind is InstrumentKind.FUTURE:
            price = s  # a future delivers at the delivery price (inverse: coin PnL follows)
        else:
            intrinsic = max(s - inst.strike, 0.0) if inst.is_call else max(inst.strike - s, 0.0)
            price = intrinsic / s if inst.premium_in_coin else intrinsic
        self.positions[iid] = 0.0
        self.stats["settlements"] += 1
        fill = OrderFilled(client_order_id="", venue_order_id="", instrument_id=iid,
                           trade_id=f"{self.venue}-settle-{inst.symbol}",
                           side=Side.SELL if pos > 0 else Side.BUY, price=price,
                           quantity=round(abs(pos), 12), remaining=0.0, liquidity=Liquidity.TAKER,
                           fee=0.0, fee_currency=inst.settle, ts_event=now, ts_recv=now)
        self.on_settlement(fill, s)
