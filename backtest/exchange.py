"""``ReplayExchange``: a venue adapter that replays recorded market data and matches against it.

Theory of operation: the backtest driver hands every recorded event of this venue to
``on_market`` at its receive time on the virtual clock. The exchange first updates its own view
of the market (a ``BookKeeper`` fed the same events: the truth at exchange time), matches the
client's resting orders against it (``backtest.queue``: queue position, trades, cancels, the
market moving through), and then passes the event on to the engine, at once or after the
market-data latency (the driver drains ``md_queue`` in time order). Order commands from the
router take the simulated venue's in-flight path (``adapters.sim.inflight``: a batch is sent
whole at ``release_commands``; each command arrives after the order-entry latency through a
clock timer; what is in flight at ``stop`` is handled then) and are handled by the matching core
the simulated venue uses too (``adapters.sim.core.MatchingCore``: the shared rules and reject
codes, acknowledgement, taking, resting, amend priority, cancel, self-trade prevention); here
its market is the replayed book with our orders as an overlay (``backtest.queue``: taker fills
walk the book, leaving market impact), and its answers go back after the response latency.
Each latency channel is seeded and FIFO. With market-data latency the venue
keeps its own books; those of instruments without orders of ours are brought up to date only
when read (an order arriving, ``book``): nothing else looks at them, and applying the same
events later, in order, gives the same book.

Options and futures: at each listed expiry resting orders expire and open positions settle at
the venue's delivery price (``engine.settlement.ExpirySettlement``, the simulated venue's too):
each ``PositionSettled`` is published to the engine (its execution core closes the position,
journaled, as in paper trading; the report's ledger hears the same report).
Fees: ``rate * notional`` (negative = rebate); for options the notional is the underlying's (the
replayed index), capped at ``option_fee_cap`` of the premium.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from adapters.sim.core import Ids, MatchingCore
from adapters.sim.inflight import InFlight, Unbound
from adapters.sim.latency import LatencyChannel
from adapters.sim.queue_model import make_uniform
from backtest.queue import InstrumentQueues, MakerFill, SimOrder
from backtest.schema import ExchangeParams, InstrumentSpec
from engine.settlement import ExpirySettlement
from engine.book import OrderBook
from engine.clock import NS_PER_S, Clock
from engine.integrity import BookKeeper
from engine.model import (
    AmendOrder,
    BookDelta,
    BookSnapshot,
    CancelOrder,
    Instrument,
    InstrumentKind,
    MarkPrice,
    OptionSummary,
    OptionType,
    Quote,
    Side,
    SubmitOrder,
    Trade,
    canonical_asset,
)
from engine.venue import Publish, VenueAdapter


def instrument_from_spec(venue: str, s: InstrumentSpec) -> Instrument:
    return Instrument(
        venue=venue, symbol=s.symbol, kind=InstrumentKind(s.kind), base=s.base, quote=s.quote,
        settle=s.settle, inverse=s.inverse, contract_size=s.contract_size, tick_size=s.tick_size,
        lot_size=s.lot_size, min_size=s.min_size, underlying=canonical_asset(s.underlying or s.base), venue_underlying=s.underlying,
        expiry_ns=s.expiry_ns, strike=s.strike,
        option_type=OptionType(s.option_type) if s.option_type else None,
        premium_in_coin=s.premium_in_coin, maker_fee=s.maker_fee or 0.0,
        taker_fee=s.taker_fee or 0.0)


class ReplayExchange(VenueAdapter):
    """Matching engine of one venue against its replayed L2 book and trades."""

    Params = ExchangeParams

    def __init__(self, params: ExchangeParams | None = None) -> None:
        self.params = params if params is not None else ExchangeParams(venue="replay")
        p = self.params
        self.venue = p.venue or "replay"
        self.core = MatchingCore({}, self, Ids(self.venue, "bo", "bt"), p.option_fee_cap)
        """The order flow, shared with the simulated venue (this exchange is its ``Host``)."""
        self._insts: dict[str, Instrument] = self.core.instruments
        for spec in p.instruments:
            inst = instrument_from_spec(self.venue, spec)
            self._insts[inst.id] = self._with_fees(inst)
        self.keeper = BookKeeper(stale_after_ns=0)
        self._pending: dict[str, list[Any]] = {}
        """Depth events not yet applied to ``keeper`` (its own books), by instrument: while no
        order of ours is on an instrument nothing reads its book, so they are applied (in
        order) only when something does (``book``, ``_queue``). Pointers to the data's events."""
        self.queues: dict[str, InstrumentQueues] = {}
        self.orders: dict[str, SimOrder] = self.core.orders
        self.settlement = ExpirySettlement(self.venue)
        self.positions: dict[str, float] = self.settlement.positions
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
        self._expiry_timers: list[Any] = []
        self._flight = InFlight(Unbound(), self._order_ch)
        """Commands held (a batch) or on their way, and answers on their way back: the
        simulated venue's in-flight path (``adapters.sim.inflight``)."""
        self.fill_meta: dict[str, tuple[float, float]] = {}
        """trade id -> (queue wait in seconds, size ahead when the order rested); maker fills."""
        self.stats = self.core.stats
        self.stats.update(settlements=0, resync_requests=0)

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
        self._flight.clock = clock
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
        being dropped with the clock's timers (which left orders pending for ever). The
        exchange reads the drain's time meanwhile (answers join the same timeline).
        """
        for h in self._expiry_timers:
            h.cancel()
        self._expiry_timers.clear()
        self._flight.drain(self._use_clock)

    def _use_clock(self, clock: Any) -> None:
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
        maker_fills = self.core.maker_fills
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
                        maker_fills(q, fills)
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
                    if not ((q.top_bid < px) if sell else (q.top_ask > px)):
                        # (else no order of ours at or through the price: nothing to do)
                        fills: list[MakerFill] = []
                        q.on_trade(px, ev.size, sell, fills)
                        if fills:
                            maker_fills(q, fills)
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
                    fills: list[MakerFill] = []
                    q.depth_update(pass_on, ev, fills)  # type: ignore[union-attr]
                    if fills:
                        maker_fills(q, fills)  # type: ignore[arg-type]
                    return
                if active:
                    if pending and iid in pending:  # (caught up when it activated)
                        self._catch_up(iid)
                else:  # nothing reads this book until an order of ours comes: apply it then
                    later = pending.get(iid)
                    if later is None:
                        pending[iid] = [ev]
                    else:
                        later.append(ev)
                    pass_on(ev)
                    return
                fills = []
                q.depth_update(apply, ev, fills)  # type: ignore[union-attr]
                if fills:
                    maker_fills(q, fills)  # type: ignore[arg-type]
                pass_on(ev)
            return on_depth

        def index(field: str, cls: type) -> Callable[[Any], None]:
            pass_on = out(cls)
            obs, insts = self.settlement.observe_instrument, self._insts

            def on_index(ev: Any) -> None:
                obs(insts.get(iid), iid, getattr(ev, field), ev.ts_recv)
                pass_on(ev)
            return on_index

        def forward(pass_on: Callable[[Any], None]) -> Callable[[Any], None]:
            obs, insts = self.settlement.observe_forward, self._insts

            def on_forward(ev: OptionSummary) -> None:  # (per expiry: a forward has its basis)
                inst = insts.get(iid)
                if inst is not None and inst.expiry_ns:
                    obs(inst, ev.underlying_price, ev.ts_recv)
                pass_on(ev)
            return on_forward

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
        h[OptionSummary] = forward(out(OptionSummary))
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
            self.core.maker_fills(q, fills)

    def index_price(self, underlying: str) -> float:
        """Latest index (or forward) price seen for ``underlying`` (NaN if none)."""
        return self.settlement.index_price(underlying)

    def delivery_price(self, underlying: str, expiry_ns: int = 0) -> float:
        """The venue's delivery price: time-weighted index over its settlement window
        before ``expiry_ns`` (``engine.settlement``)."""
        return self.settlement.delivery_price(underlying, expiry_ns, self.clock.now_ns())

    # -- commands (arrive after the order-entry latency; ``adapters.sim.inflight``) ----------
    def submit(self, cmd: SubmitOrder) -> None:
        self._flight.send(self.core.submit, cmd)

    def cancel(self, cmd: CancelOrder) -> None:
        self._flight.send(self.core.cancel, cmd)

    def amend(self, cmd: AmendOrder) -> None:
        self._flight.send(self.core.amend, cmd)

    def hold_commands(self) -> None:
        """A batch follows: its commands leave at ``release_commands``, as on the simulated
        venue (with zero order latency the venue would otherwise match the first command
        before the engine has handed over the rest and published their ``OrderSubmitted``)."""
        self._flight.hold()

    def release_commands(self) -> None:
        """Send the batch's commands, in order (each after the order-entry latency)."""
        self._flight.release()

    def cancel_all_orders(self) -> None:
        for o in list(self.orders.values()):
            self._flight.send(self.core.cancel, CancelOrder(client_order_id=o.client_order_id,
                                                     strategy_id="", instrument_id=o.instrument_id))

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

    # -- the matching core's Host (adapters.sim.core) ---------------------------------------
    def now_ns(self) -> int:
        return self.clock.now_ns()

    def market(self, instrument_id: str) -> InstrumentQueues | None:
        """The instrument's order queues over the venue's book (brought up to date)."""
        return self._queue(instrument_id)

    def underlying(self, inst: Instrument) -> float:
        return self.index_price(inst.asset)

    def send(self, make: Callable[[int, int], Any]) -> None:
        """Send an order event back: built with (exchange time, arrival time)."""
        now = self.clock.now_ns()
        if self._resp_ch.is_zero:
            self.publish(make(now, now))
            return
        due = self._resp_ch.due(now)
        ev = make(now, due)
        self._flight.later(due, lambda: self.publish(ev))

    def filled(self, order: SimOrder, qty: float, price: float, maker: bool, trade_id: str) -> None:
        """Positions for settlement; queue wait and size ahead of maker fills for the report."""
        self.settlement.on_fill(order.instrument_id, order.side.sign * qty)
        if maker:
            self.fill_meta[trade_id] = ((self.clock.now_ns() - order.rest_ns) / NS_PER_S,
                                        order.ahead0)

    def taken(self, market: InstrumentQueues, order: SimOrder,
              execs: list[tuple[Any, Any, str]]) -> None:
        pass  # (the recording shows the market's trades; the impact stays in ``consumed``)

    def done(self, market: InstrumentQueues) -> None:
        pass  # (the recording never shows our orders: nothing to publish)

    def fee(self, inst: Instrument, price: float, qty: float, maker: bool) -> float:
        """Fee in the settlement currency (negative = rebate; ``rules.fee``)."""
        return self.core.fee(inst, price, qty, maker)

    # -- expiry and settlement ------------------------------------------------------------
    def _expire(self, iid: str, now: int) -> None:
        """Expiry: working orders end ``OrderExpired`` (the core), the position settles: the
        report goes to the engine at once (a venue's report, not market data: no latency)."""
        self.core.expire(iid)
        settled = self.settlement.settle(self._insts[iid], now)
        if settled is not None:
            self.stats["settlements"] += 1
            self.publish(settled)
