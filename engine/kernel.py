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
from engine.clock import Clock, TimerHandle
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
    OrderSubmitted,
    Quote,
    Trade,
    TradingState,
)
from engine.orders import IllegalTransition, OrderBookkeeper
from engine.portfolio import Portfolio
from engine.risk import RiskGate, RiskLimits
from engine.router import ExecutionRouter
from engine.strategy import Strategy
from engine.venue import VenueAdapter

ORDER_EVENTS = (OrderDenied, OrderSubmitted, OrderAccepted, OrderRejected, OrderFilled,
                OrderAmended, OrderCancelled, OrderExpired)


class Kernel:
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
        self.gate = RiskGate(limits, self.instruments, self.books.get, self.orders,
                             self.portfolio, trading_state)
        self.router = ExecutionRouter(self.adapters, self.gate, self.orders, journal, clock,
                                      self.bus.publish)
        self.strategies: dict[str, Strategy[Any]] = {}
        self._book_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self._trade_subs: dict[str, list[Strategy[Any]]] = defaultdict(list)
        self._timers: list[TimerHandle] = []
        self.strategies_running = False
        self.strategy_errors: dict[str, int] = defaultdict(int)
        self.callback_ns: dict[str, int] = defaultdict(int)
        self.counters: dict[str, int] = defaultdict(int)
        self.last_trade: dict[str, float] = {}
        self.underlying_of: dict[str, str] = {}
        self.chains: dict[str, ChainView] = {}
        self._chain_of: dict[str, ChainView] = {}
        self.pricing_rate = 0.0
        self._wire()

    # -- wiring -----------------------------------------------------------------------------
    def _wire(self) -> None:
        sub = self.bus.subscribe
        sub(BookSnapshot, self._on_snapshot)
        sub(BookDelta, self._on_delta)
        sub(Trade, self._on_trade)
        sub(Quote, self._count("quotes"))
        sub(MarkPrice, self._on_mark)
        sub(OptionSummary, self._on_option_summary)
        sub(BookStatusChanged, self._on_book_status)
        for cls in ORDER_EVENTS:
            sub(cls, self._on_order_event)

    def _count(self, name: str) -> Callable[[Any], None]:
        def handler(_: Any) -> None:
            self.counters[name] += 1
        return handler

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
        for chain in self.chains.values():
            if not chain.dirty:
                continue
            index = self.portfolio.underlying_prices.get(chain.underlying, math.nan)
            if not chain.refresh(now_ns, self.books.get, index):
                continue
            self.counters["chain_refreshes"] += 1
            for iid in chain.ids:
                pos = self.portfolio.position(iid)
                if pos is not None and pos.qty != 0.0:
                    pos.delta_per_contract = chain.position_delta(iid)

    def add_strategy(self, strategy_id: str, strategy: Strategy[Any]) -> None:
        if strategy_id in self.strategies:
            raise ValueError(f"duplicate strategy id {strategy_id}")
        self.strategies[strategy_id] = strategy

    def book(self, instrument_id: str) -> OrderBook | None:
        return self.books.get(instrument_id)

    def subscribe(self, strategy_id: str, instrument_id: str, *, books: bool = False,
                  trades: bool = False) -> None:
        strategy = self.strategies[strategy_id]
        if books and strategy not in self._book_subs[instrument_id]:
            self._book_subs[instrument_id].append(strategy)
        if trades and strategy not in self._trade_subs[instrument_id]:
            self._trade_subs[instrument_id].append(strategy)

    def set_strategy_timer(self, strategy_id: str, name: str, interval_ns: int) -> None:
        strategy = self.strategies[strategy_id]
        self._timers.append(self.clock.every(
            interval_ns, lambda now: self._call(strategy, strategy.on_timer, name, now)))

    def set_trading_state(self, state: TradingState, reason: str) -> None:
        if state is not self.gate.state:
            self.log.warning("trading_state", state=str(state), reason=reason)
            self.gate.set_state(state)

    # -- strategy guard ---------------------------------------------------------------------
    def _call(self, strategy: Strategy[Any], fn: Callable[..., None], *args: Any) -> None:
        if not self.strategies_running:
            return  # before on_start or after on_stop, a strategy hears nothing
        t0 = time.perf_counter_ns()
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a strategy bug must not stop the engine
            sid = strategy.ctx.strategy_id
            self.strategy_errors[sid] += 1
            self.log.exception("strategy_callback_failed", strategy=sid, callback=fn.__name__)
        finally:
            self.callback_ns[strategy.ctx.strategy_id] += time.perf_counter_ns() - t0

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

    def _after_book(self, book: OrderBook) -> None:
        chain = self._chain_of.get(book.instrument_id)
        if chain is not None:
            chain.dirty = True
        mid = book.mid()
        if not math.isnan(mid):
            self.portfolio.set_mark(book.instrument_id, mid)
        for strategy in self._book_subs.get(book.instrument_id, ()):
            self._call(strategy, strategy.on_book, book)

    def _on_trade(self, trade: Trade) -> None:
        self.last_trade[trade.instrument_id] = trade.price
        for strategy in self._trade_subs.get(trade.instrument_id, ()):
            self._call(strategy, strategy.on_trade, trade)

    def _on_mark(self, ev: MarkPrice) -> None:
        und = self.underlying_of.get(ev.instrument_id)
        if und is not None and ev.index_price == ev.index_price:
            self.portfolio.set_underlying_price(und, ev.index_price)
        book = self.books.get(ev.instrument_id)
        if book is None or math.isnan(book.mid()):
            self.portfolio.set_mark(ev.instrument_id, ev.mark_price)

    def _on_option_summary(self, ev: OptionSummary) -> None:
        chain = self._chain_of.get(ev.instrument_id)
        if chain is not None:
            chain.set_expiry_forward(ev.instrument_id, ev.underlying_price)
            chain.set_venue_mark_iv(ev.instrument_id, ev.mark_iv)
        pos = self.portfolio.position(ev.instrument_id)
        if chain is None or (pos is not None and math.isnan(pos.delta_per_contract)):
            # the venue's delta until the chain view has a model delta for this option
            self.portfolio.set_option_delta(ev.instrument_id, ev.delta)
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
        coid = ev.client_order_id
        order = self.orders.get(coid)
        if order is None:
            self.counters["events_for_unknown_orders"] += 1
            self.log.warning("event_for_unknown_order", client_order_id=coid, event=type(ev).__name__)
            return
        if self.journal is not None and not isinstance(ev, (OrderDenied, OrderSubmitted)):
            self.journal.write_event(self.clock.now_ns(), ev)
        try:
            self._apply_order_event(order, ev)
        except IllegalTransition as exc:
            self.log.error("illegal_order_transition", client_order_id=coid, state=str(exc.state),
                           trigger=exc.trigger)
            if not isinstance(ev, OrderFilled):
                return
            # A fill is a fact even if it arrives in an unexpected state: never drop it.
            self.portfolio.on_fill(ev)
        strategy = self.strategies.get(order.strategy_id)
        if strategy is not None:
            self._call(strategy, strategy.on_order_event, ev)

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
            ob.transition(order, trigger.get(str(order.status), "reject"))
            self.counters["rejects"] += 1
        elif isinstance(ev, OrderCancelled):
            ob.transition(order, "cancelled")
        elif isinstance(ev, OrderAmended):
            order.price = ev.price
            order.quantity = ev.quantity
            ob.transition(order, "amended")
        elif isinstance(ev, OrderExpired):
            ob.transition(order, "expire")
        elif isinstance(ev, OrderDenied):
            self.counters["denials"] += 1
            self.log.info("order_denied", client_order_id=ev.client_order_id, reason=ev.reason,
                          detail=ev.detail)

    # -- lifecycle --------------------------------------------------------------------------
    def start_strategies(self) -> None:
        self.strategies_running = True
        for strategy in self.strategies.values():
            self._call(strategy, strategy.on_start)

    def stop_strategies(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for strategy in self.strategies.values():
            self._call(strategy, strategy.on_stop)
        self.strategies_running = False
