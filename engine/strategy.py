"""The strategy plugin API: ``Strategy`` (callbacks) and ``StrategyContext`` (what it may see and do).

Theory of operation: the kernel updates its state first (books, chains, orders, portfolio) and
then calls the strategies that subscribed, one at a time, on the event loop's thread, in event
order. Callbacks are synchronous and must not block or await: a strategy reads state through
its context and acts by submitting, amending or cancelling orders, which return at once (a
client order id); the risk gate's decision and the venue's answers arrive later as order events,
dispatched from ``on_order_event`` to the typed ``on_order_*``/``on_fill`` callbacks. A denial is
an ``OrderDenied`` event carrying the gate's reason code; it may arrive *during* the submit call
(the gate is synchronous), so a strategy must not assume an id it has not stored yet is unknown.

A quote (``ctx.quote``) is a bid/ask pair managed as one unit: two-sided at the latest prices,
one-sided on purpose, or gone (``engine.strategy_quotes``).

Strategies are named in config by import path or by short name (the ``volta.strategies``
entry-point group, see ``engine.plugins``); their parameters are decoded into their own typed
``Config`` (a msgspec Struct), taken from ``Strategy[MyConfig]`` when not set explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args, get_origin

import msgspec

from engine.consolidated import ConsolidatedBook
from engine.greeks import GREEKS, Greeks
from engine.model import (
    BookStatusChanged,
    canonical_asset,
    Instrument,
    InstrumentKind,
    MarkPrice,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    Quote,
    Side,
    SubmitOrder,
    TimeInForce,
    Trade,
    TradingState,
)

from engine.execution.ports import StrategyPorts
from engine.strategy_quotes import QuoteBook, QuoteIds  # (QuoteIds: public here too)

if TYPE_CHECKING:
    from engine.book import OrderBook
    from engine.chains import ChainView
    from engine.option_routing import OptionKey, RoutedOrder
    from engine.orders import Order
    from engine.portfolio import Position
    from engine.pricing import VolSurface
    from engine.risk import Denial


class NoConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Config type of a strategy that takes no parameters."""


C = TypeVar("C", bound=msgspec.Struct)

_ORDER_CALLBACKS: dict[type, str] = {
    OrderSubmitted: "on_order_submitted", OrderAccepted: "on_order_accepted",
    OrderRejected: "on_order_rejected", OrderDenied: "on_order_denied", OrderFilled: "on_fill",
    OrderCancelled: "on_order_cancelled", OrderAmended: "on_order_amended",
    OrderExpired: "on_order_expired",
}


_LIMIT = OrderType.LIMIT  # (a global, not an enum attribute lookup per order)


class Strategy(Generic[C]):
    """Base class of every strategy: override the callbacks you need (all default to no-ops).

    ``self.config`` is the decoded parameter struct, ``self.ctx`` the ``StrategyContext``.
    """

    Config: ClassVar[type[msgspec.Struct]] = NoConfig

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Config" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):  # class X(Strategy[XConfig])
            if get_origin(base) is Strategy:
                args = get_args(base)
                if args and isinstance(args[0], type) and issubclass(args[0], msgspec.Struct):
                    cls.Config = args[0]
                elif args and isinstance(args[0], type) and args[0] is not Any:
                    # (ignored, every parameter would be an "unknown key" of the empty default)
                    raise TypeError(
                        f"{cls.__name__}: its config type {args[0].__name__} (Strategy"
                        f"[{args[0].__name__}]) is not a msgspec.Struct; declare it as "
                        f"class {args[0].__name__}(msgspec.Struct, forbid_unknown_fields=True, "
                        f"frozen=True, kw_only=True)")

    def __init__(self, ctx: StrategyContext, config: C) -> None:
        self.ctx = ctx
        self.config = config

    @property
    def id(self) -> str:
        return self.ctx.strategy_id

    # -- lifecycle --------------------------------------------------------------------------
    def on_start(self) -> None:
        """Called once, after the venues are connected and instruments known; subscribe here."""

    def on_stop(self) -> None:
        """Called once at shutdown, before the engine cancels every open order."""

    def on_halt(self, state: TradingState, reason: str) -> None:
        """The risk gate left ACTIVE (``HALTED``: nothing new may be sent; ``REDUCING``)."""

    def on_resume(self, reason: str) -> None:
        """The risk gate is ACTIVE again: re-quote whatever you pulled."""

    def on_venue_halt(self, venue: str, reason: str) -> None:
        """``venue``, one you trade on, halted on its own (a stream down, reconciliation
        pending, its start being retried): new orders and amends there are denied
        ``TRADING_HALTED`` until ``on_venue_resume``; cancels are still sent; other venues
        trade on. A strategy trades on its own venue, the venues of the instruments and chains
        it subscribed to, and those it has sent orders to."""

    def on_venue_resume(self, venue: str, reason: str) -> None:
        """``venue`` trades again (every stream up and reconciled): re-quote what you pulled."""

    # -- market data ------------------------------------------------------------------------
    def on_book(self, book: OrderBook) -> None:
        """A subscribed book changed (read-only: never mutate it)."""

    def on_trade(self, trade: Trade) -> None:
        """A public trade on a subscribed instrument."""

    def on_ticker(self, event: Quote | MarkPrice) -> None:
        """The venue's best bid/offer (``Quote``) or mark/index price (``MarkPrice``)."""

    def on_book_status(self, event: BookStatusChanged) -> None:
        """A subscribed book became SYNCING, LIVE or STALE (orders off a non-LIVE book are denied)."""

    def on_chain(self, chain: ChainView) -> None:
        """A subscribed option chain was refitted: new IVs, Greeks and surface (read-only)."""

    # -- orders -----------------------------------------------------------------------------
    def on_order_event(self, event: Any) -> None:
        """Any event about one of your orders; by default dispatched to the typed callbacks.

        Override it to see every event in one place (call ``super().on_order_event(event)``
        to keep the typed callbacks too).
        """
        name = _ORDER_CALLBACKS.get(type(event))
        if name is not None:
            getattr(self, name)(event)

    def on_order_submitted(self, event: OrderSubmitted) -> None:
        """The order passed the risk gate, was journaled and handed to the venue."""

    def on_order_accepted(self, event: OrderAccepted) -> None:
        """The venue acknowledged the order (it is working)."""

    def on_order_rejected(self, event: OrderRejected) -> None:
        """The venue refused the order, or an amend or cancel of it (``event.reason``)."""

    def on_order_denied(self, event: OrderDenied) -> None:
        """The risk gate refused the order or an amend before it left (``event.reason`` code)."""

    def on_fill(self, event: OrderFilled) -> None:
        """A (partial) fill; ``event.remaining == 0`` means the order is done."""

    def on_order_cancelled(self, event: OrderCancelled) -> None:
        """The order was cancelled (by you, the engine, the venue or an IOC's unfilled rest)."""

    def on_order_amended(self, event: OrderAmended) -> None:
        """The venue applied an amend (new price/quantity)."""

    def on_order_expired(self, event: OrderExpired) -> None:
        """The order expired (e.g. its option expired)."""

    def on_timer(self, name: str, now_ns: int) -> None:
        """A timer or alarm set with ``ctx.set_timer``/``ctx.set_alarm`` fired."""

    # -- engine-internal --------------------------------------------------------------------
    def handle_order_event(self, event: Any) -> None:
        """Called by the kernel: quote bookkeeping first, then ``on_order_event``. Don't override."""
        self.ctx._track(event)
        self.on_order_event(event)


class StrategyContext:
    """What a strategy may see and do. Everything here is synchronous and non-blocking."""

    def __init__(self, ports: StrategyPorts | Any, strategy_id: str, venue: str) -> None:
        if not isinstance(ports, StrategyPorts):
            ports = ports.strategy_ports()  # (a runtime handing its kernel: build the ports)
        self._p = ports
        self._orders = ports.orders
        # the order path's calls, bound once: one call each into the core's port
        self._submit_cmd = ports.orders.submit
        self._cancel_order = ports.orders.cancel
        self._now = ports.now_ns
        self._market = ports.market
        self._portfolio = ports.portfolio
        # the two lookups of every quoter, bound once as attributes: the port's own call, with
        # no call of ours around it (as ``ExecutionCore.order``)
        self.order: Callable[[str], Order | None] = ports.orders.order
        """``order(client_order_id)``: the order (any strategy's, read-only), or None: also
        for an order that ended long ago, beyond the newest 5,000 ended ones the process keeps
        (each strategy's newest is always kept), as after a restart (docs/risk.md,
        "Retention"). Keep what you need of an ended order yourself."""
        self.position: Callable[[str], Position | None] = ports.portfolio.position
        """``position(instrument_id)``: the position in it (read-only), or None."""
        self.strategy_id = strategy_id
        self.venue = venue
        self._next_id = 0
        self._prefix = f"{strategy_id}-{_base36(ports.now_ns() // 1_000_000)}"
        self.log = ports.log.bind(strategy=strategy_id)
        self._timers: dict[str, Any] = {}
        self._quotes = QuoteBook(ports.orders, self._submit, self._amend, self.cancel)
        self._track: Callable[[Any], None] = self._quotes.track  # (every order event, first)
        self._consolidated: dict[tuple[Any, ...], ConsolidatedBook] = {}
        self._state: bytes | None = None

    # -- time -------------------------------------------------------------------------------
    def now_ns(self) -> int:
        return self._p.now_ns()

    def set_timer(self, name: str, interval_s: float) -> None:
        """Call ``on_timer(name, now)`` every ``interval_s`` seconds (replaces a timer of that name)."""
        interval_ns = int(interval_s * 1e9) if 0.0 < interval_s < math.inf else 0
        if interval_ns < 1:
            raise ValueError(f"timer {name!r}: interval {interval_s!r} s must be a positive, "
                             f"finite number of seconds (1 ns at least)")
        self.cancel_timer(name)
        self._timers[name] = self._p.host.set_strategy_timer(self.strategy_id, name, interval_ns)

    def set_alarm(self, name: str, delay_s: float) -> None:
        """Call ``on_timer(name, now)`` once, ``delay_s`` seconds from now."""
        if not 0.0 <= delay_s < math.inf:
            raise ValueError(f"alarm {name!r}: delay {delay_s!r} s must be a finite number of "
                             f"seconds, 0 or more")
        self.cancel_timer(name)
        self._timers[name] = self._p.host.set_strategy_timer(self.strategy_id, name,
                                                        max(int(delay_s * 1e9), 1), repeat=False)

    def cancel_timer(self, name: str) -> bool:
        """Stop the timer or alarm ``name``; False if there was none."""
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()
        return handle is not None

    # -- market data ------------------------------------------------------------------------
    def instrument_id(self, symbol: str, venue: str | None = None) -> str:
        """The id of ``symbol`` on ``venue`` (default: this strategy's venue); ids pass through."""
        return symbol if ":" in symbol else f"{venue or self.venue}:{symbol}"

    def instrument(self, instrument_id: str) -> Instrument | None:
        return self._market.instruments.get(instrument_id)

    def instruments(self, venue: str | None = None, underlying: str | None = None,
                    kind: InstrumentKind | None = None) -> list[Instrument]:
        """Listed instruments, optionally of one venue, underlying and kind."""
        return [i for i in self._market.instruments.values()
                if (venue is None or i.venue == venue) and (kind is None or i.kind is kind)
                and (underlying is None or i.asset == canonical_asset(underlying))]

    def book(self, instrument_id: str) -> OrderBook | None:
        """The live L2 book (read-only), or None if the instrument has no book."""
        return self._market.book(instrument_id)

    def subscribe_book(self, instrument_id: str) -> None:
        """``on_book`` and ``on_book_status`` for this instrument."""
        self._p.host.subscribe(self.strategy_id, instrument_id, books=True)

    def subscribe_trades(self, instrument_id: str) -> None:
        self._p.host.subscribe(self.strategy_id, instrument_id, trades=True)

    def subscribe_ticker(self, instrument_id: str) -> None:
        """``on_ticker`` with the venue's ``Quote`` and ``MarkPrice`` events for this instrument."""
        self._p.host.subscribe(self.strategy_id, instrument_id, ticker=True)

    def subscribe_chain(self, underlying: str, venue: str | None = None) -> ChainView | None:
        """``on_chain`` after every refit of the option chain; returns the chain (None: no options)."""
        key = f"{venue or self.venue}:{canonical_asset(underlying)}"
        self._p.host.subscribe_chain(self.strategy_id, key)
        return self._market.chains.get(key)

    def chain(self, underlying: str, venue: str | None = None) -> ChainView | None:
        """The live option chain (market and model IVs, Greeks) of ``underlying`` (read-only)."""
        return self._market.chains.get(f"{venue or self.venue}:{canonical_asset(underlying)}")

    def surface(self, underlying: str, venue: str | None = None) -> VolSurface | None:
        """The fitted SVI surface of the chain, or None before the first successful fit."""
        chain = self.chain(underlying, venue)
        return None if chain is None else chain.surface

    def consolidated(self, underlying: str, venues: tuple[str, ...] | None = None,
                     kinds: tuple[InstrumentKind, ...] = (InstrumentKind.PERPETUAL,),
                     instrument_ids: tuple[str, ...] | None = None) -> ConsolidatedBook:
        """A cross-venue book of ``underlying`` over live books (cached; read at every query).

        By default every perpetual on any venue; narrow it with ``venues``/``kinds`` or name the
        legs with ``instrument_ids``. Prices in USD, net of each leg's taker fee on request.
        """
        underlying = canonical_asset(underlying)  # any venue's spelling, as everywhere else
        key = (underlying, venues, kinds, instrument_ids)
        cb = self._consolidated.get(key)
        if cb is None:
            if instrument_ids is not None:
                unknown = [i for i in instrument_ids if i not in self._market.instruments]
                if unknown:
                    raise ValueError(f"unknown instruments {unknown} for a consolidated {underlying} book")
                insts = [self._market.instruments[i] for i in instrument_ids]
            else:
                insts = [i for i in self._market.instruments.values()
                         if i.asset == underlying and i.kind in kinds
                         and (venues is None or i.venue in venues)]
            cb = self._consolidated[key] = ConsolidatedBook(underlying, insts, self._market.books)
        return cb

    # -- portfolio and risk -----------------------------------------------------------------
    def position_qty(self, instrument_id: str) -> float:
        """Signed position in contracts (0.0 when there is none)."""
        pos = self._portfolio.position(instrument_id)
        return 0.0 if pos is None else pos.qty

    def positions(self, underlying: str | None = None) -> list[Position]:
        """Non-flat positions, optionally of one underlying."""
        return [p for p in self._portfolio.positions() if p.qty != 0.0 and (
            underlying is None or p.instrument.asset == canonical_asset(underlying))]

    def delta(self, underlying: str) -> float:
        """Portfolio delta of ``underlying`` in underlying units, across every venue, of the
        positions whose delta is known: ``greeks(underlying).uncounted`` names any left out."""
        return self._portfolio.delta(underlying)

    def greeks(self, underlying: str) -> Greeks:
        """Portfolio Greeks of ``underlying`` across venues (options at the chains' model
        Greeks); ``uncounted`` names the positions a total leaves out (``Greeks``)."""
        pf = self._portfolio
        d, g, v, t = pf.greeks(underlying)  # running totals, O(1)
        if not pf.greeks_uncounted.get(canonical_asset(underlying)):  # O(1): complete
            return Greeks(d, g, v, t)
        return Greeks(d, g, v, t, {name: tuple(ids) for name in GREEKS
                                   if (ids := pf.uncounted(underlying, name))})

    def pnl_usd(self) -> dict[str, Any]:
        """Realized, unrealized, fees, funding and total PnL of the whole process, in USD (NaN:
        nothing of it has a USD price, never 0); ``partial``: the total leaves out ``unpriced``
        (amounts per currency with no USD price yet) and ``unmarked`` (positions with no mark)."""
        return self._portfolio.pnl_usd()

    @property
    def trading_state(self) -> TradingState:
        """The risk gate's state: ACTIVE, REDUCING (only reducing orders pass) or HALTED."""
        return self._p.trading.state

    def venue_halted(self, venue: str | None = None) -> str:
        """Why ``venue`` (default: this strategy's) is halted on its own now, "" when it may
        trade; a global halt is ``trading_state``. Read it in ``on_start``: the hooks report
        changes only."""
        return self._p.trading.venue_halt(venue or self.venue)

    @property
    def limits(self) -> Any:
        """The risk gate's limits object (read-only); prefer ``limit(name)`` to read one."""
        return self._p.limits()

    def limit(self, name: str, instrument_id: str | None = None, key: str | None = None,
              default: float = math.inf) -> float:
        """One risk limit by name, read generically from the gate's limits (``default`` if unset).

        Looked up as the per-instrument override of ``instrument_id``, then an entry for ``key``
        (an underlying, a venue ...) in any per-key table of the limits (e.g.
        ``limit("max_vega_usd", key="BTC")``), then the global value.
        """
        lim = self._p.limits()
        if instrument_id is not None:
            value = getattr(getattr(lim, "per_instrument", {}).get(instrument_id), name, None)
            if value is not None:
                return float(value)
        if key is not None:
            # per-underlying tables are keyed by canonical asset: "btc_usd" finds "BTC"
            keys = (key, canonical_asset(key))
            for table in _field_values(lim):
                if not isinstance(table, dict):
                    continue
                for k in keys:
                    if k in table:
                        value = getattr(table[k], name, None)
                        if value is not None:
                            return float(value)
                        break
        value = getattr(lim, name, None)
        return default if value is None or isinstance(value, dict) else float(value)

    def position_headroom(self, instrument_id: str, side: Side) -> float:
        """Contracts ``side`` may still add before the gate's MAX_POSITION (working orders count)."""
        pos = self.position_qty(instrument_id)
        working = sum(o.remaining for o in self._orders.open_orders(instrument_id) if o.side is side)
        room = self.limit("max_position_qty", instrument_id) - side.sign * (pos + side.sign * working)
        return max(room, 0.0)

    # -- orders -----------------------------------------------------------------------------
    def open_orders(self, instrument_id: str | None = None) -> list[Order]:
        return self._orders.open_orders(instrument_id, self.strategy_id)

    def new_client_order_id(self) -> str:
        """Unique, deterministic (given the start time), and tagged with the strategy id."""
        self._next_id += 1
        return f"{self._prefix}-{self._next_id}"

    def continue_ids_after(self, client_order_ids: Iterable[str]) -> None:
        """Number this context's next orders after the highest of ``client_order_ids`` that
        carries its prefix (the runtime passes the journal's orders at start: ids stay unique
        across restarts within the same start millisecond, as on virtual clocks)."""
        lead = self._prefix + "-"
        cut = len(lead)
        highest = max((int(c[cut:]) for c in client_order_ids
                       if c.startswith(lead) and c[cut:].isdigit()), default=0)
        if highest > self._next_id:
            self._next_id = highest

    def submit_limit(self, instrument_id: str, side: Side, quantity: float, price: float, *,
                     post_only: bool = False, tif: TimeInForce = TimeInForce.GTC,
                     reduce_only: bool = False) -> str:
        """Send a limit order through the risk gate; returns its client order id at once."""
        return self._submit(instrument_id, side, quantity, price, _LIMIT, tif, post_only,
                            reduce_only)[0]

    def submit_post_only(self, instrument_id: str, side: Side, quantity: float, price: float) -> str:
        """A GTC limit order the venue rejects rather than let it take liquidity."""
        return self.submit_limit(instrument_id, side, quantity, price, post_only=True)

    def submit_ioc(self, instrument_id: str, side: Side, quantity: float, price: float, *,
                   reduce_only: bool = False) -> str:
        """Immediate-or-cancel limit: takes what it can up to ``price``, the rest is cancelled."""
        return self.submit_limit(instrument_id, side, quantity, price, tif=TimeInForce.IOC,
                                 reduce_only=reduce_only)

    def submit_market(self, instrument_id: str, side: Side, quantity: float, *,
                      reduce_only: bool = False) -> str:
        """A market order (IOC); the gate prices it off the book for its checks."""
        return self._submit(instrument_id, side, quantity, None, OrderType.MARKET,
                            TimeInForce.IOC, False, reduce_only)[0]

    def _submit(self, instrument_id: str, side: Side, quantity: float, price: float | None,
                order_type: OrderType, tif: TimeInForce, post_only: bool,
                reduce_only: bool) -> tuple[str, Denial | None]:
        """Every order of the SDK (``submit_*``, quotes): a new client order id, the command,
        the order-entry port; returns the id and the gate's denial (None: it will be sent)."""
        # (the order path of every quoter: new_client_order_id inline, the command positional)
        self._next_id = n = self._next_id + 1
        coid = f"{self._prefix}-{n}"
        return coid, self._submit_cmd(SubmitOrder(
            coid, self.strategy_id, instrument_id, side, quantity, order_type, price, tif,
            post_only, reduce_only, self._now()))

    def route_option(self, key: OptionKey, side: Side, quantity: float, *,
                     limit_usd: float | None = None) -> RoutedOrder:
        """Buy (sell) ``quantity`` coins of option ``key`` wherever it is best net of fees,
        across every venue that lists it, no worse than ``limit_usd`` per coin: IOC children,
        each through the risk gate, tracked as one parent (``engine.option_routing``)."""
        parent_id = self.new_client_order_id()
        return self._p.routing.route(parent_id, self.strategy_id, key, side, quantity,
                                           self.new_client_order_id, limit_usd)

    def cancel(self, client_order_id: str) -> bool:
        """Request a cancel; False if the order is not yours or not open. Never blocked."""
        order = self.order(client_order_id)
        if order is None or order.strategy_id != self.strategy_id:
            return False
        return self._cancel_order(order)

    def cancel_all(self, instrument_id: str | None = None) -> int:
        """Cancel every open order of this strategy (on one instrument); returns how many."""
        self._quotes.forget(instrument_id)
        return self._orders.cancel_all(instrument_id, self.strategy_id)

    def amend(self, client_order_id: str, *, price: float | None = None,
              quantity: float | None = None) -> bool:
        """Request a price/total-quantity change, re-checked by the gate as the order it becomes.

        False if the order is unknown, not yours, not open, or the gate denied the change (an
        ``OrderDenied`` event follows; the order keeps working unchanged).
        """
        order = self.order(client_order_id)
        if order is None or order.strategy_id != self.strategy_id:
            return False
        return self._amend(order, price, quantity)

    def _amend(self, order: Order, price: float | None, quantity: float | None) -> bool:
        denial = self._orders.amend(order, price, quantity)
        if denial is None:
            return True
        if order.is_open:  # a real gate decision, not "this order is closed"
            self._p.publish(OrderDenied(
                client_order_id=order.client_order_id, strategy_id=self.strategy_id,
                instrument_id=order.instrument_id, reason=denial.reason,
                detail=f"amend denied: {denial.detail}", ts=self.now_ns()))
        return False

    # -- quotes -----------------------------------------------------------------------------
    def quote(self, instrument_id: str, bid_px: float, bid_qty: float, ask_px: float,
              ask_qty: float, *, post_only: bool = True) -> QuoteIds:
        """Make the two-sided quote on ``instrument_id`` exactly this (``engine.strategy_quotes``).

        A quantity of 0 pulls that side. Unchanged sides are left alone (queue priority kept);
        changed ones are amended, or cancelled and replaced when an amend is in flight. If a
        side is denied both sides are pulled and ``QuoteIds(None, None)`` is returned. A
        crossed quote (both sides, ``bid_px >= ask_px``) raises ``ValueError``.
        """
        return self._quotes.quote(instrument_id, bid_px, bid_qty, ask_px, ask_qty, post_only)

    def quote_ids(self, instrument_id: str) -> QuoteIds:
        return self._quotes.ids(instrument_id)

    def cancel_quote(self, instrument_id: str) -> None:
        """Pull both sides of the quote on ``instrument_id``."""
        self._quotes.cancel(instrument_id)

    # -- persistent state -------------------------------------------------------------------
    def save_state(self, state: Any) -> None:
        """Persist ``state`` (any msgspec-encodable value) in the journal, committed at once."""
        # MessagePack, not JSON: JSON has no NaN or infinity (msgspec writes them as null, which
        # then no longer decodes as a float), and a state's "not yet known" is often NaN.
        payload = _MSGPACK_STATE + msgspec.msgpack.encode(state)
        journal = self._p.state
        if journal is None:
            self._state = payload  # no journal (unit tests): kept for this process only
        else:
            journal.save_state(self.strategy_id, self.now_ns(), payload)

    def load_state(self, type_: type[Any] = Any) -> Any:  # type: ignore[assignment]
        """The last saved state decoded as ``type_``, or None if nothing was saved.

        Raises ``ValueError`` naming the strategy when the saved state does not fit ``type_``
        (e.g. after a change of the state struct): nothing is silently discarded.
        """
        journal = self._p.state
        payload = self._state if journal is None else journal.load_state(self.strategy_id)
        if payload is None:
            return None
        try:
            if payload[:1] == _MSGPACK_STATE:
                return msgspec.msgpack.decode(payload[1:], type=type_)
            return msgspec.json.decode(payload, type=type_)  # saved by an earlier version
        except msgspec.ValidationError as exc:
            raise ValueError(f"saved state of strategy {self.strategy_id!r} does not decode "
                             f"as {getattr(type_, '__name__', type_)}: {exc}") from None


_MSGPACK_STATE = b"\xc1"
"""First byte of a state saved as MessagePack: 0xC1 is never used by MessagePack and never
starts JSON, so states saved as JSON by earlier versions are told apart and still load."""


def _field_values(obj: Any) -> list[Any]:
    names = getattr(obj, "__dataclass_fields__", None) or getattr(obj, "__struct_fields__", None)
    if names is None:
        names = [n for n in dir(obj) if not n.startswith("_")]
    return [getattr(obj, n, None) for n in names]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
