"""The kernel: all trading state of one process, updated by one bus, on one thread.

Theory of operation: adapters publish normalized events to the bus. The kernel's handlers
update state first (books, orders, portfolio, journal) and then tell the strategies that
subscribed, so a strategy always sees state that already includes the event it is told about.
Strategy callbacks run inside a guard: an exception is logged and counted, the strategy is
not called with that event again, and the engine goes on. Order commands from strategies go
through ``ExecutionRouter`` (risk gate, journal, venue). Nothing here awaits.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import structlog

from engine.book import OrderBook
from engine.chains import ChainView
from engine.integrity import BookKeeper
from engine.bus import MessageBus
from engine.clock import NS_PER_S, Clock, TimerHandle
from engine.journal import Journal
from engine.model import (
    BookDelta,
    BookSnapshot,
    BookStatus,
    BookStatusChanged,
    Instrument,
    InstrumentKind,
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
    Quote,
    Trade,
    TradingState,
    VenueStatusChanged,
)
from engine.killswitch import KillSwitch
from engine.orders import TERMINAL, IllegalTransition, OrderBookkeeper
from engine.portfolio import Portfolio
from engine.repeats import RepeatAggregator
from engine.risk import RiskGate, RiskLimits
from engine.router import ExecutionRouter
from engine.strategy import Strategy
from engine.venue import VenueAdapter

_perf_ns = time.perf_counter_ns

ORDER_EVENTS = (OrderDenied, OrderSubmitted, OrderAccepted, OrderRejected, OrderFilled,
                OrderAmended, OrderCancelled, OrderExpired)


class Kernel:
    def __init__(self, clock: Clock, limits: RiskLimits, journal: Journal | None = None,
                 trading_state: TradingState = TradingState.ACTIVE) -> None:
        self.clock = clock
        self.log = structlog.get_logger("volta")
        self.denial_log = RepeatAggregator(self.log, "order_denied", "orders_denied", 10 * NS_PER_S)
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
        self._chain_of: dict[str, ChainView] = {}
        self.gate = RiskGate(limits, self.instruments, self.books.get, self.orders,
                             self.portfolio, trading_state, now_ns=clock.now_ns,
                             chain_of=self._chain_of.get, marks=self.marks,
                             last_trades=self.last_trade)
        self.router = ExecutionRouter(self.adapters, self.gate, self.orders, journal, clock,
                                      self.bus.publish)
        self.killswitch = KillSwitch(self)
        self.reconcile_requests: list[str] = []
        self.on_reconcile_request: Callable[[str], None] | None = None
        self.router.reconcile_hook = self.request_reconcile
        self.strategies: dict[str, Strategy[Any]] = {}
        self._book_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self._trade_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self._timers: list[TimerHandle] = []
        self.strategies_running = False
        self.strategy_errors: dict[str, int] = defaultdict(int)
        # Per-strategy callback profile (``volta`` status line) and the slow-callback warning:
        # a callback longer than ``slow_callback_ns`` (0: off) is counted and logged, at most
        # once per strategy per ``slow_warn_interval_ns`` of clock time (the rest are counted).
        self._cb_stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # total, calls, max
        self.slow_callbacks: dict[str, int] = defaultdict(int)
        self.slow_callback_ns = 10_000_000
        self.slow_warn_interval_ns = 10_000_000_000
        self._slow_warned_at: dict[str, int] = {}
        self._ticker_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self._told_state: TradingState | None = None
        self._chain_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self.counters: dict[str, int] = defaultdict(int)
        self.underlying_of: dict[str, str] = {}
        self.chains: dict[str, ChainView] = {}
        self.pricing_rate = 0.0
        self._model_greeks: set[str] = set()
        self._wire()

    # -- wiring -----------------------------------------------------------------------------
    def _wire(self) -> None:
        sub = self.bus.subscribe
        sub(BookSnapshot, self._on_snapshot)
        sub(BookDelta, self._on_delta)
        self._trade_handler = self._on_trade  # (the very objects subscribed: market_publisher)
        self._quote_handler = self._on_quote
        sub(Trade, self._trade_handler)
        sub(Quote, self._quote_handler)
        sub(MarkPrice, self._on_mark)
        sub(OptionSummary, self._on_option_summary)
        sub(BookStatusChanged, self._on_book_status)
        for cls in ORDER_EVENTS:
            sub(cls, self._on_order_event)
        sub(OrderStatusReport, self._on_status_report)
        sub(VenueStatusChanged, self._on_venue_status)

    def market_publisher(self, event_type: type, instrument_id: str) -> Callable[[Any], None]:
        """``bus.publish`` for the market events of one type and instrument, for a driver that
        is outside any handler (the backtest's replay loop, once per recorded event): the same
        effects, cheaper.

        A quote or trade of an instrument no strategy listens to only updates the kernel (the
        quote counter; the last trade price). While the kernel's handler is the type's only
        subscriber and the bus is idle, such an event can neither publish nor fail, so it is
        applied here, without the bus's dispatch (and counted in ``bus.published``), exactly as
        ``_on_quote``/``_on_trade`` would. Anything else goes through the bus.
        """
        bus = self.bus
        dispatch = bus.dispatcher(event_type)
        handlers = bus.handlers_of(event_type)
        pending = bus.pending
        if event_type is Quote:
            own, counters = self._quote_handler, self.counters
            listeners = self._ticker_subs[instrument_id]  # the live list ``subscribe`` extends

            def publish_quote(ev: Quote) -> None:
                if (listeners or bus.dispatching or pending or len(handlers) != 1
                        or handlers[0] is not own):
                    dispatch(ev)
                    return
                bus.published += 1
                counters["quotes"] += 1  # = _on_quote without listeners

            return publish_quote
        if event_type is Trade:
            own, last = self._trade_handler, self.last_trade
            listeners = self._trade_subs[instrument_id]

            def publish_trade(ev: Trade) -> None:
                if (listeners or bus.dispatching or pending or len(handlers) != 1
                        or handlers[0] is not own):
                    dispatch(ev)
                    return
                bus.published += 1
                last[instrument_id] = ev.price  # = _on_trade without listeners

            return publish_trade
        return dispatch

    def add_adapter(self, adapter: VenueAdapter) -> None:
        self.adapters[adapter.venue] = adapter
        if adapter.checksum_fn is not None:
            self.book_keeper.checksum_fns[adapter.venue] = adapter.checksum_fn
        adapter.bind(self.bus.publish, self.clock)

    def add_instruments(self, instruments: list[Instrument]) -> None:
        for inst in instruments:
            self.instruments[inst.id] = inst
            self.portfolio.add_instrument(inst)
            self.underlying_of[inst.id] = inst.underlying or inst.base
        self._build_chains()

    def _build_chains(self) -> None:
        """One chain view per (venue, underlying) with listed options."""
        groups: dict[str, list[Instrument]] = defaultdict(list)
        for inst in self.instruments.values():
            if inst.kind is InstrumentKind.OPTION and inst.expiry_ns > 0:
                groups[f"{inst.venue}:{inst.underlying or inst.base}"].append(inst)
        for key, options in groups.items():
            if key in self.chains and len(self.chains[key].ids) == len(options):
                continue
            chain = ChainView(key.partition(":")[2], options, self.pricing_rate)
            self.chains[key] = chain
            for iid in chain.ids:
                self._chain_of[iid] = chain

    def refresh_chains(self, now_ns: int) -> None:
        """Refit every chain whose books changed; feed model deltas to the portfolio."""
        self.sync_trading_state()
        for chain in self.chains.values():
            if not chain.dirty:
                continue
            index = self.portfolio.underlying_prices.get(chain.underlying, math.nan)
            if not chain.refresh(now_ns, self.books.get, index):
                continue
            self.counters["chain_refreshes"] += 1
            # Model Greeks for every option (the gate prices orders on flat instruments too).
            pf = self.portfolio
            for n, iid in enumerate(chain.ids):
                d = chain.position_delta(iid)
                if d == d:
                    pf.set_greeks(iid, d, float(chain.gamma[n]), float(chain.vega[n]),
                                  float(chain.theta[n]))
                    self._model_greeks.add(iid)
            pf.resum()
            for strategy in self._chain_subs.get(f"{chain.instruments[0].venue}:{chain.underlying}", ()):
                self._call(strategy, strategy.on_chain, chain)

    def add_strategy(self, strategy_id: str, strategy: Strategy[Any]) -> None:
        if strategy_id in self.strategies:
            raise ValueError(f"duplicate strategy id {strategy_id}")
        self.strategies[strategy_id] = strategy

    def book(self, instrument_id: str) -> OrderBook | None:
        return self.books.get(instrument_id)

    def subscribe(self, strategy_id: str, instrument_id: str, *, books: bool = False,
                  trades: bool = False, ticker: bool = False) -> None:
        strategy = self.strategies[strategy_id]
        if books and strategy not in self._book_subs[instrument_id]:
            self._book_subs[instrument_id].append(strategy)
        if trades and strategy not in self._trade_subs[instrument_id]:
            self._trade_subs[instrument_id].append(strategy)
        if ticker and strategy not in self._ticker_subs[instrument_id]:
            self._ticker_subs[instrument_id].append(strategy)

    def subscribe_chain(self, strategy_id: str, chain_key: str) -> None:
        """``on_chain`` after each refit of the chain ``"venue:underlying"``."""
        strategy = self.strategies[strategy_id]
        if strategy not in self._chain_subs[chain_key]:
            self._chain_subs[chain_key].append(strategy)

    def set_strategy_timer(self, strategy_id: str, name: str, interval_ns: int,
                           repeat: bool = True) -> TimerHandle:
        strategy = self.strategies[strategy_id]

        def fire(now: int) -> None:
            self._call(strategy, strategy.on_timer, name, now)

        handle = self.clock.every(interval_ns, fire) if repeat else self.clock.call_later(interval_ns, fire)
        self._timers.append(handle)
        return handle

    def set_trading_state(self, state: TradingState, reason: str) -> None:
        if state is not self.gate.state:
            self.log.warning("trading_state", state=str(state), reason=reason)
            self.gate.set_state(state)
        self.sync_trading_state(reason)

    def sync_trading_state(self, reason: str = "") -> None:
        """Tell strategies the gate's effective state changed, whoever changed it.

        ``on_halt`` on leaving ACTIVE (or moving between HALTED and REDUCING), ``on_resume``
        when ACTIVE again. Called by ``set_trading_state`` and, for holds put on the gate
        directly (kill switch, reconciliation, loss limits), on every order event, chain
        refresh and staleness check, so strategies hear within about a second at worst.
        """
        state = self.gate.state
        if state is self._told_state:
            return
        self._told_state = state
        if not reason:
            reason = "; ".join(self.gate.hold_reasons.values()) or "risk gate"
        for strategy in list(self.strategies.values()):
            if state is TradingState.ACTIVE:
                self._call(strategy, strategy.on_resume, reason)
            else:
                self._call(strategy, strategy.on_halt, state, reason)

    # -- strategy guard ---------------------------------------------------------------------
    def _call(self, strategy: Strategy[Any], fn: Callable[..., None], *args: Any) -> None:
        if not self.strategies_running:
            return  # before on_start or after on_stop, a strategy hears nothing
        t0 = _perf_ns()
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a strategy bug must not stop the engine
            sid = strategy.ctx.strategy_id
            self.strategy_errors[sid] += 1
            self.log.exception("strategy_callback_failed", strategy=sid, callback=fn.__name__)
        finally:
            dt = _perf_ns() - t0
            sid = strategy.ctx.strategy_id
            st = self._cb_stats[sid]
            st[0] += dt
            st[1] += 1
            if dt > st[2]:
                st[2] = dt
            if dt > self.slow_callback_ns > 0:
                self._slow_callback(sid, fn, dt)

    @property
    def callback_ns(self) -> dict[str, int]:
        """Total time spent in each strategy's callbacks (ns)."""
        return {sid: st[0] for sid, st in self._cb_stats.items()}

    def _slow_callback(self, sid: str, fn: Callable[..., None], dt_ns: int) -> None:
        self.slow_callbacks[sid] += 1
        now = self.clock.now_ns()
        last = self._slow_warned_at.get(sid)
        if last is None or now - last >= self.slow_warn_interval_ns:
            self._slow_warned_at[sid] = now
            self.log.warning("slow_strategy_callback", strategy=sid,
                             callback=getattr(fn, "__name__", repr(fn)), ms=round(dt_ns / 1e6, 3),
                             threshold_ms=self.slow_callback_ns / 1e6,
                             slow_total=self.slow_callbacks[sid])

    def strategy_timing(self) -> dict[str, dict[str, float]]:
        """Per strategy: callbacks, total/avg/max time, slow callbacks and errors (status line)."""
        out: dict[str, dict[str, float]] = {}
        for sid in self.strategies:
            total, calls, max_ns = self._cb_stats.get(sid, (0, 0, 0))
            out[sid] = {"calls": calls, "total_ms": round(total / 1e6, 1),
                        "avg_us": round(total / calls / 1e3, 1) if calls else 0.0,
                        "max_ms": round(max_ns / 1e6, 2),
                        "slow": self.slow_callbacks.get(sid, 0),
                        "errors": self.strategy_errors.get(sid, 0)}
        return out

    def _on_handler_error(self, event: Any, handler: Any, exc: BaseException) -> None:
        self.counters["handler_errors"] += 1
        self.log.error("event_handler_failed", event_type=type(event).__name__,
                       handler=getattr(handler, "__name__", repr(handler)), error=repr(exc))

    # -- market data ------------------------------------------------------------------------
    def _on_snapshot(self, snap: BookSnapshot) -> None:
        if self.book_keeper.on_snapshot(snap):
            self._after_book(self.books[snap.instrument_id])

    def _on_delta(self, delta: BookDelta) -> None:
        if self.book_keeper.on_delta(delta):
            self._after_book(self.books[delta.instrument_id])

    def _request_resync(self, instrument_id: str) -> None:
        """The integrity layer found a book it cannot trust: ask its venue for a snapshot."""
        self.counters["resync_requests"] += 1
        adapter = self.adapters.get(instrument_id.partition(":")[0])
        if adapter is not None:
            adapter.request_resync(instrument_id)

    def check_stale_books(self, now_ns: int) -> None:
        self.book_keeper.check_stale(now_ns)
        self.sync_trading_state()

    def _after_book(self, book: OrderBook) -> None:
        iid = book.instrument_id
        chain = self._chain_of.get(iid)
        if chain is not None:
            chain.dirty = True
        mid = book.mid()
        if mid == mid:  # not NaN
            self.portfolio.set_mark(iid, mid)
        subs = self._book_subs.get(iid)
        if subs:
            for strategy in subs:
                self._call(strategy, strategy.on_book, book)

    def _on_trade(self, trade: Trade) -> None:
        self.last_trade[trade.instrument_id] = trade.price
        subs = self._trade_subs.get(trade.instrument_id)
        if subs:
            for strategy in subs:
                self._call(strategy, strategy.on_trade, trade)

    def _on_mark(self, ev: MarkPrice) -> None:
        self.marks[ev.instrument_id] = ev.mark_price
        und = self.underlying_of.get(ev.instrument_id)
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
        chain = self._chain_of.get(ev.instrument_id)
        if chain is not None:
            chain.set_expiry_forward(ev.instrument_id, ev.underlying_price)
            chain.set_venue_mark_iv(ev.instrument_id, ev.mark_iv)
        if ev.instrument_id not in self._model_greeks and ev.delta == ev.delta:
            # the venue's Greeks until the chain view has model Greeks for this option
            self.portfolio.set_venue_greeks(ev.instrument_id, ev.delta, ev.gamma, ev.vega, ev.theta)
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
        self.sync_trading_state()  # a halt is told before the denial it causes
        coid = ev.client_order_id
        order = self.orders.get(coid)
        if order is None:
            self.counters["events_for_unknown_orders"] += 1
            self.log.warning("event_for_unknown_order", client_order_id=coid, event_type=type(ev).__name__)
            return
        if self.journal is not None and not isinstance(ev, (OrderDenied, OrderSubmitted)):
            self.journal.write_event(self.clock.now_ns(), ev)
        if not self.apply_order_event(order, ev):
            return
        if isinstance(ev, OrderFilled) and self.gate.on_fill(order.strategy_id, self.clock.now_ns()):
            reason = self.gate.disabled_strategies.get(order.strategy_id, "")
            self.log.error("strategy_disabled", strategy=order.strategy_id, reason=reason,
                           check="repeated_execution")
            self.router.cancel_all(strategy_id=order.strategy_id)
        strategy = self.strategies.get(order.strategy_id)
        if strategy is not None:
            self._call(strategy, strategy.handle_order_event, ev)

    def apply_order_event(self, order: Any, ev: Any) -> bool:
        """Apply a venue event to an order (also used to rebuild state from the journal);
        False if it was an illegal transition (reported, not applied; a fill still counts)."""
        try:
            self._apply_order_event(order, ev)
        except IllegalTransition as exc:
            if isinstance(ev, OrderRejected) and order.status in TERMINAL:
                # A late answer to a cancel/amend of an order that already ended (the race
                # of cancelling a filled order): expected, counted, not an error.
                self.counters["late_rejects"] += 1
                return False
            self.log.error("illegal_order_transition", client_order_id=order.client_order_id,
                           state=str(exc.state), trigger=exc.trigger)
            if not isinstance(ev, OrderFilled):
                return False
            # A fill is a fact even if it arrives in an unexpected state: never drop it.
            if order.status in TERMINAL:
                self.orders.record_late_fill(order, ev.trade_id, ev.price, ev.quantity, ev.fee)
            if self.portfolio.on_fill(ev):
                self.counters["fills"] += 1
        self.router.on_order_update(order)
        return True

    def _apply_order_event(self, order: Any, ev: Any) -> None:
        ob = self.orders
        if isinstance(ev, OrderFilled):
            if ob.apply_fill(order, ev.trade_id, ev.price, ev.quantity, ev.fee, ev.remaining):
                self.portfolio.on_fill(ev)
                self.counters["fills"] += 1
            if ev.venue_order_id:
                order.venue_order_id = ev.venue_order_id
        elif isinstance(ev, OrderAccepted):
            order.venue_order_id = ev.venue_order_id
            ob.transition(order, "accept")
        elif isinstance(ev, OrderRejected):
            order.reject_reason = ev.reason
            trigger = {"pending_cancel": "cancel_rejected", "pending_amend": "amend_rejected"}
            was_cancel = order.status is OrderStatus.PENDING_CANCEL
            ob.transition(order, trigger.get(str(order.status), "reject"))
            self.counters["rejects"] += 1
            if was_cancel and order.is_open:
                # The venue refused the cancel (often "unknown order": it filled or ended and
                # we have not heard yet): its fate is unknown until a status query settles it.
                order.in_doubt = True
                order.sent_ns = 0
                self.router._awaiting[order.client_order_id] = order
        elif isinstance(ev, OrderCancelled):
            ob.transition(order, "cancelled")
        elif isinstance(ev, OrderAmended):
            ob.apply_amend(order, ev.price, ev.quantity)
            ob.transition(order, "amended")
        elif isinstance(ev, OrderExpired):
            ob.transition(order, "expire")
        elif isinstance(ev, OrderDenied):
            self.counters["denials"] += 1
            if order.status is OrderStatus.DENIED:  # not a denied amend of a live order
                order.reject_reason = ev.reason
            # first denial per reason and interval in full, the rest counted (engine/repeats.py)
            self.denial_log.record(ev.reason, self.clock.now_ns(),
                                   client_order_id=ev.client_order_id, detail=ev.detail)

    def _on_status_report(self, report: OrderStatusReport) -> None:
        if self.journal is not None:
            self.journal.write_event(self.clock.now_ns(), report)
        self.router.on_status_report(report)

    def _on_venue_status(self, ev: VenueStatusChanged) -> None:
        if ev.status in ("disconnected", "reconnecting") and ev.stream != "private":
            # the books of a lost connection froze at an unknown point: SYNCING until the
            # session's re-snapshot, so neither strategies nor the gate trade on them
            self.book_keeper.reset_venue(ev.venue, "disconnected", ev.ts)
        self.killswitch.on_venue_status(ev)

    def request_reconcile(self, venue: str) -> None:
        """Ask the runtime to reconcile ``venue`` (async work outside the synchronous core)."""
        self.counters["reconcile_requests"] += 1
        if self.on_reconcile_request is not None:
            self.on_reconcile_request(venue)
        else:
            self.reconcile_requests.append(venue)

    # -- lifecycle --------------------------------------------------------------------------
    def start_strategies(self) -> None:
        self.strategies_running = True
        self._told_state = self.gate.state  # on_start reads ctx.trading_state; changes follow
        for strategy in self.strategies.values():
            self._call(strategy, strategy.on_start)

    def stop_strategies(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for strategy in self.strategies.values():
            self._call(strategy, strategy.on_stop)
        self.strategies_running = False
