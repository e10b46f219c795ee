"""The kernel: all trading state of one process, updated by one bus, on one thread.

Theory of operation: adapters publish normalized events to the bus. The kernel's handlers
update state first (books, orders, portfolio, journal) and then tell the strategies that
subscribed, so a strategy always sees state that already includes the event it is told about.
Strategy callbacks run inside a guard: an exception is logged and counted, the strategy is
not called with that event again, and the engine goes on. The kernel owns no order or trading
state: orders belong to the ``ExecutionCore`` (commands and venue reports; group commit when
the bus goes idle), trading state to the ``TradingStateOwner``; strategies and the kill switch
reach them only through the narrow ports the kernel builds (``strategy_ports``,
``killswitch_ports``). Trading state reaches strategies from the owner's events at once
(``TradingNotices``): ``TradingStateChanged`` -> every strategy's ``on_halt``/``on_resume``;
``VenueTradingChanged`` -> ``on_venue_halt``/``on_venue_resume`` of the strategies trading on
that venue (``VenueAudience``). The chain views and their refits belong to ``OptionChains``.
Nothing here awaits.
"""

from __future__ import annotations

import gc
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from engine.book import OrderBook
from engine.chains import ChainView
from engine.integrity import BookKeeper
from engine.bus import MessageBus
from engine.clock import NS_PER_S, Clock, TimerHandle
from engine.journal import Journal, PositionAdjusted
from engine.model import (
    canonical_asset,
    BookDelta,
    BookSnapshot,
    BookStatus,
    BookStatusChanged,
    Instrument,
    MarkPrice,
    OptionSummary,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    OrderSubmitted,
    PositionSettled,
    Quote,
    Trade,
    TradingState,
    VenueStatusChanged,
)
from engine.execution import ExecutionCore, TradingStateChanged, TradingStateOwner, VenueTradingChanged
from engine.execution.ports import KillSwitchPorts, StrategyPorts
from engine.expiry_watch import ExpiryWatch
from engine.killswitch import KillSwitch
from engine.option_chains import OptionChains
from engine.option_routing import OptionRouter
from engine.orders import OrderBookkeeper
from engine.portfolio import Portfolio
from engine.risk import RiskGate, RiskLimits
from engine.strategy import Strategy
from engine.strategy_profile import CallbackProfile
from engine.trading_notices import TradingNotices
from engine.quiet_feed import QuietMarketFeed
from engine.venue import VenueAdapter
from engine.venue_audience import VenueAudience

_perf_ns = time.perf_counter_ns

ORDER_EVENTS = (OrderDenied, OrderSubmitted, OrderAccepted, OrderRejected, OrderFilled,
                OrderAmended, OrderCancelled, OrderExpired)


class Kernel:
    # Slots, the book handler's first (one or two cache lines for all it reads of the kernel;
    # an instance dict keeps its values in a separate array, in assignment order)
    __slots__ = ("execution", "book_keeper", "_routes", "portfolio", "strategies_running", "_account",
                 "_callback_failed", "_book_subs", "_chain_of", "_chain_subs", "_quote_handler",
                 "_ticker_subs", "_timers", "_trade_handler", "_trade_subs", "absorb_if_quiet",
                 "absorb_quiet", "adapters", "books", "bus", "callbacks", "chains", "clock", "counters",
                 "expiry_watch",
                 "gate", "instruments", "journal", "killswitch", "last_trade", "log", "market_publisher",
                 "marks", "notices", "on_reconcile_request", "option_chains", "option_router", "orders",
                 "quiet_market", "reconcile_requests", "router", "slow_callbacks", "strategies",
                 "strategy_errors", "trading", "underlying_of", "venue_audience")

    def __init__(self, clock: Clock, limits: RiskLimits, journal: Journal | None = None,
                 trading_state: TradingState = TradingState.ACTIVE) -> None:
        self.clock = clock
        self.log = structlog.get_logger("volta")
        self.bus = MessageBus(on_error=self._on_handler_error)
        self.instruments: dict[str, Instrument] = {}
        self.book_keeper = BookKeeper(publish=self.bus.publish, request_resync=self._request_resync)
        self.books: dict[str, OrderBook] = self.book_keeper.books
        self.orders = OrderBookkeeper()
        self.portfolio = Portfolio()
        self.journal = journal
        self.adapters: dict[str, VenueAdapter] = {}
        self.last_trade: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        # the chain views, refit on the chain timer (``refresh_chains``); ``chains`` and the
        # option -> chain table (read where a book route is made) are theirs
        self.option_chains = OptionChains(self.portfolio, self.books.get, self._chain_refitted)
        self.chains: dict[str, ChainView] = self.option_chains.chains
        self._chain_of: dict[str, ChainView] = self.option_chains.chain_of
        self.gate = RiskGate(limits, self.instruments, self.books.get, self.orders,
                             self.portfolio, trading_state, now_ns=clock.now_ns,
                             chain_of=self._chain_of.get, marks=self.marks,
                             last_trades=self.last_trade)
        self.counters: dict[str, int] = defaultdict(int)
        # an expired position at a venue that settles on its own books: reconciled after expiry
        self.expiry_watch = ExpiryWatch(clock, self.held_position, self.request_reconcile)
        # One owner of trading state, one of orders: everything else goes through them.
        self.trading = TradingStateOwner(self.gate, self.bus.publish, clock.now_ns)
        self.execution = ExecutionCore(self.adapters, self.gate, self.orders, journal, clock,
                                       self.bus.publish, in_dispatch=self._dispatching,
                                       on_fill=self.apply_fill, held=self.held_position,
                                       adjust=self.adjust_position,
                                       venue_halt=self.trading.venue_halt, counters=self.counters)
        self.router = self.execution  # (the former name)
        self.bus.on_idle = self.execution.flush  # group commit: after each event is handled
        # Routed option orders (one option on several venues, best net of fees; issue 17).
        self.option_router = OptionRouter(
            self.instruments, self.books.get, self.execution.submit, self.orders.get,
            self.option_chains.index_usd, clock.now_ns)
        self.killswitch = KillSwitch(self.killswitch_ports())
        self.reconcile_requests: list[str] = []
        self.on_reconcile_request: Callable[[str], None] | None = None
        self.execution.reconcile_hook = self.request_reconcile
        self.trading.reconcile_hook = self.request_reconcile
        self.execution.on_journal_failure = self._journal_failed
        self.strategies: dict[str, Strategy[Any]] = {}
        self._book_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        # the book handler's record per instrument (dropped when the chains are rebuilt)
        self._routes: dict[str, _BookRoute] = {}
        self._trade_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self._timers: list[TimerHandle] = []
        self.strategies_running = False
        # Per-strategy callback profile (``volta`` status line), failures and the slow-callback
        # warning (``callbacks.slow_ns``); the guard's two hooks are its bound methods (one call)
        self.callbacks = CallbackProfile(clock.now_ns, self.log)
        self._account = self.callbacks.account
        self._callback_failed = self.callbacks.failed
        self.strategy_errors: dict[str, int] = self.callbacks.errors
        self.slow_callbacks: dict[str, int] = self.callbacks.slow
        self._ticker_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self.venue_audience = VenueAudience()  # who hears which venue's own halts
        # what the strategies are told of trading state (the gate's, a venue's own halts)
        self.notices = TradingNotices(self.gate, self.strategies, self.venue_audience, self._call)
        self._chain_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self.underlying_of: dict[str, str] = {}
        self._wire()

    # -- ports ------------------------------------------------------------------------------
    def strategy_ports(self) -> StrategyPorts:
        """The narrow interfaces a ``StrategyContext`` works through (no kernel inside)."""
        return StrategyPorts(
            orders=self.execution,
            market=_MarketView(self.instruments, self.books, self.chains),
            portfolio=self.portfolio,
            trading=self.trading,
            host=_StrategyHost(self.subscribe, self.subscribe_chain, self.set_strategy_timer),
            now_ns=self.clock.now_ns,
            publish=self.bus.publish,
            limits=self._limits,
            log=self.log,
            state=self.journal,
            routing=self.option_router,
        )

    def _limits(self) -> RiskLimits:
        return self.gate.limits

    def killswitch_ports(self) -> KillSwitchPorts:
        return KillSwitchPorts(orders=self.execution, portfolio=self.portfolio,
                               trading=self.trading, working_qty=self.orders.working_qty,
                               cancel_everything_at_venues=self._cancel_everything_at_venues,
                               now_ns=self.clock.now_ns, limits=self.gate.limits,
                               journal=self.journal)

    def _cancel_everything_at_venues(self) -> None:
        for adapter in self.adapters.values():
            try:
                adapter.cancel_all_orders()
            except Exception:  # noqa: BLE001 - the other venues must still be cancelled
                self.log.exception("cancel_all_orders_failed", venue=adapter.venue)

    # -- wiring -----------------------------------------------------------------------------
    def _wire(self) -> None:
        sub = self.bus.subscribe
        sub(BookSnapshot, self._on_book_event)
        sub(BookDelta, self._on_book_event)
        self._trade_handler = self._on_trade  # (the very objects subscribed: market_publisher)
        self._quote_handler = self._on_quote
        sub(Trade, self._trade_handler)
        sub(Quote, self._quote_handler)
        sub(MarkPrice, self._on_mark)
        sub(OptionSummary, self._on_option_summary)
        sub(BookStatusChanged, self._on_book_status)
        for cls in ORDER_EVENTS:
            sub(cls, self._on_order_event)
        sub(OrderStatusReport, self.execution.on_report)
        sub(PositionSettled, self.execution.on_settlement)
        sub(VenueStatusChanged, self._on_venue_status)
        sub(TradingStateChanged, self.notices.on_trading_state)
        sub(VenueTradingChanged, self.notices.on_venue_trading)
        # the replay driver's shortcuts past the bus (the same effects): bound methods of the
        # feed, so a driver's call is one call
        feed = QuietMarketFeed(self.bus, self._quote_handler, self._trade_handler,
                               self._ticker_subs, self._trade_subs, self.counters, self.last_trade)
        self.market_publisher = feed.market_publisher
        self.quiet_market = feed.quiet_market
        self.absorb_quiet = feed.absorb_quiet
        self.absorb_if_quiet = feed.absorb_if_quiet

    def _dispatching(self) -> bool:
        return self.bus.dispatching

    def add_adapter(self, adapter: VenueAdapter) -> None:
        self.adapters[adapter.venue] = adapter
        if adapter.checksum_fn is not None:
            self.book_keeper.checksum_fns[adapter.venue] = adapter.checksum_fn
        adapter.bind(self.bus.publish, self.clock)

    def add_instruments(self, instruments: list[Instrument]) -> None:
        for inst in instruments:
            self.instruments[inst.id] = inst
            self.portfolio.add_instrument(inst)
            self.underlying_of[inst.id] = inst.asset
        if self.option_chains.build(self.instruments.values()):
            self._routes.clear()  # (their chains: built again on the next book event)
        self.gate.prepare(instruments)  # (the gate's per-instrument facts: not on a first order)
        self.expiry_watch.arm(instruments)

    def refresh_chains(self, now_ns: int) -> None:
        """Refit every chain whose books changed (``OptionChains.refresh``: model Greeks to the
        portfolio, then ``_chain_refitted``)."""
        self.sync_trading_state()
        self.option_chains.refresh(now_ns)

    def _chain_refitted(self, key: str, chain: ChainView) -> None:
        self.counters["chain_refreshes"] += 1
        for strategy in self._chain_subs.get(key, ()):
            self._call(strategy, strategy.on_chain, chain)

    def add_strategy(self, strategy_id: str, strategy: Strategy[Any]) -> None:
        if strategy_id in self.strategies:
            raise ValueError(f"duplicate strategy id {strategy_id}")
        self.strategies[strategy_id] = strategy
        home = getattr(strategy.ctx, "venue", None)  # (a bare test listener has no context)
        if home:
            self.venue_audience.joins(strategy_id, strategy, home)

    def book(self, instrument_id: str) -> OrderBook | None:
        return self.books.get(instrument_id)

    def subscribe(self, strategy_id: str, instrument_id: str, *, books: bool = False,
                  trades: bool = False, ticker: bool = False) -> None:
        strategy = self.strategies[strategy_id]
        if instrument_id not in self.instruments:
            self._warn_unlisted(strategy_id, instrument_id)
        self.venue_audience.joins_instrument(strategy_id, strategy, instrument_id)
        if books and strategy not in self._book_subs[instrument_id]:
            self._book_subs[instrument_id].append(strategy)
        if trades and strategy not in self._trade_subs[instrument_id]:
            self._trade_subs[instrument_id].append(strategy)
        if ticker and strategy not in self._ticker_subs[instrument_id]:
            self._ticker_subs[instrument_id].append(strategy)

    def _warn_unlisted(self, strategy_id: str, instrument_id: str) -> None:
        """A subscription to an id no venue lists (a typo, a venue not configured, an option not
        listed yet): it stays, since a later listing delivers to it, but a strategy waiting on it
        would otherwise wait for ever without a word. Closest listed ids as a hint."""
        import difflib

        venue = instrument_id.split(":", 1)[0]
        listed = [i for i in self.instruments if i.startswith(venue + ":")] or list(self.instruments)
        close = difflib.get_close_matches(instrument_id, listed, n=3, cutoff=0.6)
        self.log.warning("subscribed_unlisted_instrument", strategy=strategy_id,
                         instrument=instrument_id, venues=sorted(self.adapters),
                         closest=close or None, note="no venue lists it (ids are venue:SYMBOL)")

    def subscribe_chain(self, strategy_id: str, chain_key: str) -> None:
        """``on_chain`` after each refit of the chain ``"venue:underlying"``."""
        strategy = self.strategies[strategy_id]
        self.venue_audience.joins_instrument(strategy_id, strategy, chain_key)  # venue:underlying
        if strategy not in self._chain_subs[chain_key]:
            self._chain_subs[chain_key].append(strategy)

    def strategy_venues(self, strategy_id: str) -> list[str]:
        """The venues ``strategy_id`` trades on (whose own halts it hears; ``VenueAudience``)."""
        return self.venue_audience.venues_of(strategy_id)

    def set_strategy_timer(self, strategy_id: str, name: str, interval_ns: int,
                           repeat: bool = True) -> TimerHandle:
        strategy = self.strategies[strategy_id]

        def fire(now: int) -> None:
            self._call(strategy, strategy.on_timer, name, now)

        handle = self.clock.every(interval_ns, fire) if repeat else self.clock.call_later(interval_ns, fire)
        self._timers.append(handle)
        return handle

    def set_trading_state(self, state: TradingState, reason: str) -> None:
        """Set the base state (through the trading-state owner, which publishes the change)."""
        self.trading.set_base(state, reason)
        self.notices.sync(reason)

    def sync_trading_state(self, reason: str = "") -> None:
        """Tell strategies the gate's effective state changed, whoever changed it (the chain and
        staleness timers call it too, for a hold someone put on the gate itself)."""
        self.notices.sync(reason)

    # -- strategy guard ---------------------------------------------------------------------
    def _call(self, strategy: Strategy[Any], fn: Callable[..., None], *args: Any) -> None:
        if not self.strategies_running:
            return  # before on_start or after on_stop, a strategy hears nothing
        t0 = _perf_ns()
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a strategy bug must not stop the engine
            self._callback_failed(strategy, fn)
        finally:
            self._account(strategy, fn, _perf_ns() - t0)

    def strategy_timing(self) -> dict[str, dict[str, float]]:
        """Per strategy: callbacks, total/avg/max time, slow callbacks and errors (status line)."""
        return self.callbacks.timing(self.strategies)

    def _on_handler_error(self, event: Any, handler: Any, exc: BaseException) -> None:
        self.counters["handler_errors"] += 1
        self.log.error("event_handler_failed", event_type=type(event).__name__,
                       handler=getattr(handler, "__name__", repr(handler)), error=repr(exc))

    # -- market data ------------------------------------------------------------------------
    def _on_book_event(self, ev: BookDelta | BookSnapshot) -> None:
        """A depth update or snapshot: the book (through the integrity layer), then its chain's
        dirty flag, the portfolio's mark and the strategies following the book (one handler
        for both types, the rest inline: this runs for every depth update)."""
        ex = self.execution
        if not ex.tick_ns:  # tick-to-order starts at the first book event of a dispatch
            ex.tick_ns = _perf_ns()
        if type(ev) is BookDelta:
            if not self.book_keeper.on_delta(ev):
                return
        elif not self.book_keeper.on_snapshot(ev):
            return
        iid = ev.instrument_id
        # (one record per instrument instead of three tables: fewer distinct objects touched
        # per event, and between events the rest of the process evicts the caches)
        route = self._routes.get(iid)
        if route is None:
            route = self._route(iid)
        book = route.book
        chain = route.chain
        if chain is not None:
            chain.dirty = True
        mid = book.mid()
        if mid == mid:  # not NaN
            self.portfolio.set_mark(iid, mid)
        subs = route.subs
        if subs:
            # ``_call(strategy, strategy.on_book, book)`` inlined (the same guard, timing and
            # accounting; the callback looked up once, as ``_call`` is handed it)
            for strategy in subs:
                if not self.strategies_running:
                    return  # (stopped by a callback: the others hear nothing, as in ``_call``)
                on_book = strategy.on_book
                t0 = _perf_ns()
                try:
                    on_book(book)
                except Exception:  # noqa: BLE001 - a strategy bug must not stop the engine
                    self._callback_failed(strategy, on_book)
                finally:
                    self._account(strategy, on_book, _perf_ns() - t0)

    def _route(self, instrument_id: str) -> _BookRoute:
        """The book handler's record of ``instrument_id`` (the integrity layer made its book)."""
        route = self._routes[instrument_id] = _BookRoute(
            self.books[instrument_id], self._chain_of.get(instrument_id), self._book_subs[instrument_id])
        return route

    def _request_resync(self, instrument_id: str) -> None:
        """The integrity layer found a book it cannot trust: ask its venue for a snapshot."""
        self.counters["resync_requests"] += 1
        adapter = self.adapters.get(instrument_id.partition(":")[0])
        if adapter is not None:
            adapter.request_resync(instrument_id)

    def check_stale_books(self, now_ns: int) -> None:
        self.book_keeper.check_stale(now_ns)
        self.sync_trading_state()

    def _on_trade(self, trade: Trade) -> None:
        self.last_trade[trade.instrument_id] = trade.price
        subs = self._trade_subs.get(trade.instrument_id)
        if subs:
            for strategy in subs:
                self._call(strategy, strategy.on_trade, trade)

    def _on_mark(self, ev: MarkPrice) -> None:
        self.marks[ev.instrument_id] = ev.mark_price
        und = self.underlying_of.get(ev.instrument_id)
        if und is None and ev.mark_price != ev.mark_price:
            # a pure index event (Deribit price_index, OKX index-tickers): its id names the index
            und = canonical_asset(ev.instrument_id.partition(":")[2])
        if und is not None and ev.index_price == ev.index_price:
            self.portfolio.set_underlying_price(und, ev.index_price)
        book = self.books.get(ev.instrument_id)
        if book is None or math.isnan(book.mid()):
            self.portfolio.set_mark(ev.instrument_id, ev.mark_price)
        for strategy in self._ticker_subs.get(ev.instrument_id, ()):
            self._call(strategy, strategy.on_ticker, ev)

    def _on_quote(self, ev: Quote) -> None:
        self.counters["quotes"] += 1
        subs = self._ticker_subs.get(ev.instrument_id)
        if subs:
            for strategy in subs:
                self._call(strategy, strategy.on_ticker, ev)

    def _on_option_summary(self, ev: OptionSummary) -> None:
        self.option_chains.on_option_summary(ev, self.clock.now_ns())
        und = self.underlying_of.get(ev.instrument_id)
        if und is not None and ev.underlying_price == ev.underlying_price:
            self.portfolio.underlying_prices.setdefault(und, ev.underlying_price)

    def _on_book_status(self, ev: BookStatusChanged) -> None:
        if ev.status is not BookStatus.LIVE:
            self.log.warning("book_status", instrument=ev.instrument_id, status=str(ev.status),
                             reason=ev.reason, detail=ev.detail)
        for strategy in self._book_subs.get(ev.instrument_id, ()):
            self._call(strategy, strategy.on_book_status, ev)

    # -- orders -----------------------------------------------------------------------------
    def _on_order_event(self, ev: Any) -> None:
        order = self.execution.on_report(ev)  # the one writer of order state
        if order is None:
            return
        strategy = self.strategies.get(order.strategy_id)
        if strategy is not None:
            # (its first order there: it trades on that venue from now on)
            self.venue_audience.joins_instrument(order.strategy_id, strategy, order.instrument_id)
            self._call(strategy, strategy.handle_order_event, ev)

    def apply_order_event(self, order: Any, ev: Any) -> bool:
        """Apply a venue event to an order without telling anyone (journal replay)."""
        return self.execution.apply(order, ev)

    def apply_fill(self, fill: OrderFilled) -> bool:
        """The execution core's fill port: positions and PnL (False: already counted)."""
        if self.portfolio.instrument(fill.instrument_id) is None:
            self.log.error("fill_for_unknown_instrument", instrument=fill.instrument_id,
                           trade_id=fill.trade_id)
            return False
        return self.portfolio.on_fill(fill)

    def held_position(self, instrument_id: str) -> float | None:
        """The signed quantity held (contracts); None for an instrument not listed."""
        pf = self.portfolio
        if pf.instrument(instrument_id) is None:
            return None
        pos = pf.position(instrument_id)
        return 0.0 if pos is None else pos.qty

    def adjust_position(self, rec: PositionAdjusted) -> None:
        """Apply a journaled position adjustment (reconciliation's, a settlement's; live and
        replayed alike); an instrument no venue lists any more is left to reconciliation."""
        if self.portfolio.instrument(rec.instrument_id) is not None:
            self.portfolio.adjust_position(rec.instrument_id, rec.quantity, rec.avg_price,
                                           rec.close_price, rec.settlement)

    def _journal_failed(self, cause: str) -> None:
        """The journal cannot write: stop new orders and cancel the open ones, stay HALTED."""
        self.trading.hold("journal", TradingState.HALTED, cause)
        self.killswitch.trip(2, cause, "journal")

    def _on_venue_status(self, ev: VenueStatusChanged) -> None:
        if ev.status in ("disconnected", "reconnecting") and ev.stream != "private":
            # the books of a lost connection froze at an unknown point: SYNCING until the
            # session's re-snapshot, so neither strategies nor the gate trade on them.
            # The venue's halt first: its ``VenueTradingChanged`` is queued ahead of the books'
            # status events, so a strategy hears ``on_venue_halt`` before anything else.
            self.trading.on_venue_status(ev)
            self.book_keeper.reset_venue(ev.venue, "disconnected", ev.ts)
            return
        self.trading.on_venue_status(ev)

    def request_reconcile(self, venue: str) -> None:
        """Ask the runtime to reconcile ``venue`` (async work outside the synchronous core)."""
        self.counters["reconcile_requests"] += 1
        if self.on_reconcile_request is not None:
            self.on_reconcile_request(venue)
        else:
            self.reconcile_requests.append(venue)

    # -- lifecycle --------------------------------------------------------------------------
    def start_strategies(self, fatal: bool = True) -> dict[str, BaseException]:
        """``on_start`` of every strategy; the ones that raised, by strategy id (counted as
        callback errors; the runtime stops the node: ``engine.startup.StrategyStartFailed``).
        ``fatal`` False: a raise is a failed callback like any other (``_call``: counted and
        logged with its traceback) and nothing is returned (a backtest goes on)."""
        # What exists now (instruments, books, chains, pricing tables, adapters) lives as long
        # as the node: out of the collector's generations, a full collection on the trading
        # path no longer walks it (tens of ms with an option chain). Undone at stop.
        gc.freeze()
        self.strategies_running = True
        self.notices.started()  # on_start reads ctx.trading_state; changes follow
        failed: dict[str, BaseException] = {}
        for sid, strategy in self.strategies.items():
            if not fatal:
                self._call(strategy, strategy.on_start)
                continue
            t0 = _perf_ns()
            try:
                strategy.on_start()
            except Exception as exc:  # noqa: BLE001 - reported to the runtime, which stops
                self.strategy_errors[sid] += 1
                failed[sid] = exc
            finally:
                self._account(strategy, strategy.on_start, _perf_ns() - t0)
        return failed

    def stop_strategies(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for strategy in self.strategies.values():
            self._call(strategy, strategy.on_stop)
        self.strategies_running = False
        gc.unfreeze()


class _BookRoute:
    """One instrument's book, chain view (None: not an option of a chain) and the live list of
    the strategies following its book: what the book handler reads per event, in one record."""

    __slots__ = ("book", "chain", "subs")

    def __init__(self, book: OrderBook, chain: ChainView | None, subs: list[Strategy[Any]]) -> None:
        self.book = book
        self.chain = chain
        self.subs = subs


@dataclass(frozen=True)
class _MarketView:
    """``MarketView`` over the kernel's (shared, live) instrument, book and chain tables."""

    instruments: dict[str, Instrument]
    books: dict[str, OrderBook]
    chains: dict[str, ChainView]

    def book(self, instrument_id: str) -> OrderBook | None:
        return self.books.get(instrument_id)


@dataclass(frozen=True)
class _StrategyHost:
    subscribe: Callable[..., None]
    subscribe_chain: Callable[[str, str], None]
    set_strategy_timer: Callable[..., TimerHandle]
