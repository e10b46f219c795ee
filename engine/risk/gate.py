"""The pre-trade risk gate: every order passes here, synchronously, before it can leave.

Theory of operation: ``RiskGate.check`` runs the checks in a fixed order, cheapest and most
fundamental first, and returns the first failure as a ``Denial`` carrying a stable reason
code and the numbers behind it (``None`` means approved). Every check reads O(1) state:
open-order counts and working quantities are indexed by the order bookkeeper, Greek totals
by the portfolio and the working-order exposure, rates by token buckets; nothing sums over
orders or positions per order. Working orders count toward limits from the moment they are
approved. What a check needs about an instrument (grids, caps, notional kind, band, bucket,
Greek limits) is resolved when the instrument is registered (``prepare``; ``engine.risk.facts``)
and kept in step with the limits; live state is read through the owners' read-only views; an
approval builds nothing (no ``Denial``, no text). Cancels are never checked: reducing risk is always allowed. The gate is not
bypassable: strategies only ever reach the router, and the router only sends what passed.

The trading state is the most restrictive of several *holds* (the configured start state,
the kill switch, the loss limits, reconciliation, shutdown): ACTIVE trades; REDUCING allows
only orders that shrink a position; HALTED denies every new order except the kill switch's
own reduce-only flattening orders. A strategy can be disabled on its own (repeated-execution
throttle) until an operator enables it again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from engine.book import OrderBook
from engine.model import BookStatus, Instrument, OrderType, Side, SubmitOrder, TradingState
from engine.orders import OrderBookkeeper
from engine.portfolio import Portfolio
from engine.risk.exposure import WorkingExposure
from engine.risk.facts import LINEAR as _LINEAR
from engine.risk.facts import OPTION as _OPTION
from engine.risk.facts import InstrumentFacts
from engine.risk.limits import Denial, RateLimit, Reason, RiskLimits, UnderlyingLimits
from engine.risk.throttle import DuplicateFilter, ThrottleState, TokenBucket, WindowCounter

_INF = math.inf
_NAN = math.nan
_ZEROS = (0.0,) * 6
_BUY = Side.BUY
_LIMIT = OrderType.LIMIT
_LIVE = BookStatus.LIVE
_ACTIVE, _REDUCING, _HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
PRIVILEGED_STRATEGY = "killswitch"
"""Strategy id of the engine's own flattening orders (allowed while HALTED if they reduce)."""


class MarginCheck(Protocol):
    """Account-level pre-trade check (``engine.accounts.AccountBook``): the order as if filled."""

    def check(self, inst: Instrument, signed_qty: float, price: float,
              now_ns: int | None = None) -> Denial | None: ...

    def prepare(self, instruments: Iterable[Instrument]) -> None: ...

    def summary(self) -> dict[str, Any]: ...

    def refresh(self) -> None: ...

    def on_fill(self) -> None: ...


class RiskGate:
    """Synchronous pre-trade checks over the engine's live state."""

    def __init__(self, limits: RiskLimits, instruments: dict[str, Instrument],
                 books: Callable[[str], OrderBook | None], orders: OrderBookkeeper,
                 portfolio: Portfolio, state: TradingState = TradingState.ACTIVE, *,
                 now_ns: Callable[[], int] = lambda: 0,
                 chain_of: Callable[[str], Any] | None = None,
                 marks: dict[str, float] | None = None,
                 last_trades: dict[str, float] | None = None) -> None:
        self._facts: dict[str, InstrumentFacts] = {}
        self.limits = limits  # (the setter resolves what the check reads per order)
        self.instruments = instruments
        self.books = books
        self.orders = orders
        self.portfolio = portfolio
        self.now_ns = now_ns
        self.chain_of = chain_of or (lambda _iid: None)
        self.marks = marks if marks is not None else {}
        self.last_trades = last_trades if last_trades is not None else {}
        self.holds: dict[str, TradingState] = {}
        self.hold_reasons: dict[str, str] = {}
        self.state = TradingState.ACTIVE
        self.set_state(state)
        self.approved = 0
        self.denied: dict[str, int] = {}
        self.last_denial: tuple[str, str] | None = None
        self.disabled_strategies: dict[str, str] = {}
        self.exposure = WorkingExposure(portfolio)
        self._accounts: MarginCheck | None = None
        self._greek_limits = {u: ul for u, ul in limits.underlyings.items() if ul.any}
        orders.listeners.append(self.exposure.on_working_change)
        # live state read on every order, through read-only views (no method call each)
        self._order_ids = orders.ids
        self._open_ids = orders.open_ids
        self._open_by_instrument = orders.open_by_instrument
        self._open_by_strategy = orders.open_by_strategy
        self._working = orders.working
        self._positions = portfolio.by_instrument
        self._und_prices = portfolio.underlying_prices
        self._greek_totals = portfolio.greek_totals
        self._option_greeks = portfolio.option_greeks
        self._expiry_vegas = portfolio.expiry_vegas
        self._working_greeks = self.exposure.sums
        self._working_expiry = self.exposure.expiry
        self._fills: dict[str, WindowCounter] = {}
        self.global_bucket = self._bucket(limits.global_rate)
        self.venue_buckets: dict[str, TokenBucket] = {
            v: b for v, r in limits.venue_rates.items() if (b := self._bucket(r)) is not None}
        self._restored_buckets: dict[str, tuple[float, int]] = {}
        self.prepare(instruments.values())

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: RiskLimits) -> None:
        self._limits = limits
        # (read by name: whatever holds the limits is read as the limits, as the SDK reads them)
        self._dups = DuplicateFilter(int(getattr(limits, "duplicate_window_ms", 0.0) * 1e6))
        # the collar's reference: None for the mid, else "mark" or "last" (from those maps)
        ref = getattr(limits, "collar_reference", "mid")
        self._collar_ref = ref if ref in ("mark", "last") else None
        self._dups_on = self._dups if self._dups.window_ns > 0 else None
        # the global caps, flat (read on every order)
        self._max_notional = getattr(limits, "max_order_notional_usd", _INF)
        self._max_open = getattr(limits, "max_open_orders", _INF)
        self._max_open_per_strategy = getattr(limits, "max_open_orders_per_strategy", None)
        # (facts are built again as instruments are next checked: replacing the limits is an
        # operator's act, not the trading path's)
        self._facts.clear()

    @property
    def accounts(self) -> MarginCheck | None:
        """Balances and margin per venue (paper/backtest: set by the runtime when configured)."""
        return self._accounts

    @accounts.setter
    def accounts(self, book: MarginCheck | None) -> None:
        self._accounts = book
        if book is not None:  # (what it needs about each instrument, resolved now)
            book.prepare([f.inst for f in self._facts.values()])

    def prepare(self, instruments: Iterable[Instrument]) -> None:
        """Resolve what the checks need about ``instruments`` now (the kernel calls this as it
        registers them), so that no order pays for its instrument's first check; the account
        book's per-instrument rules too. Inactive instruments are left out (their orders are
        refused before facts are read)."""
        facts = self._facts
        ready = []
        for inst in instruments:
            if not inst.active:
                continue
            f = facts.get(inst.id)
            if f is None or f.inst is not inst:
                self._facts_of(inst.id, inst)
            ready.append(inst)
        if self._accounts is not None:
            self._accounts.prepare(ready)

    def _facts_of(self, iid: str, inst: Instrument) -> InstrumentFacts:
        f = self._facts[iid] = InstrumentFacts(inst, self._limits, self._greek_limits.get(inst.asset),
                                               self.venue_buckets.get(inst.venue))
        known = self.portfolio.instrument(iid)
        if known is not None and not known.is_option and not known.inverse:
            f.fixed_greeks = self.portfolio.greeks_per_contract(iid)  # (contract size, 0, 0, 0)
        return f

    def _bucket(self, rate: RateLimit | None) -> TokenBucket | None:
        return None if rate is None else TokenBucket(rate.rate, rate.burst, self.now_ns())

    # -- trading state ----------------------------------------------------------------------
    def hold(self, source: str, state: TradingState, reason: str = "") -> TradingState:
        """Put (or change) a hold of ``source``; returns the effective state."""
        if state is TradingState.ACTIVE:
            return self.release(source)
        self.holds[source] = state
        self.hold_reasons[source] = reason
        return self._recompute()

    def release(self, source: str) -> TradingState:
        self.holds.pop(source, None)
        self.hold_reasons.pop(source, None)
        return self._recompute()

    def _recompute(self) -> TradingState:
        worst = TradingState.ACTIVE
        for st in self.holds.values():
            if _SEVERITY[st] > _SEVERITY[worst]:
                worst = st
        self.state = worst
        return worst

    def set_state(self, state: TradingState) -> None:
        """The base state (config ``kill_switch``, shutdown); other holds stay in force."""
        self.hold("base", state, "set_state")

    def set_budget(self, underlying: str, budget: UnderlyingLimits | None) -> None:
        """A risk budget (from a cluster's aggregator) for ``underlying``: the gate enforces the
        tighter of it and the configured limit, per Greek; ``None`` drops the budget."""
        own = self.limits.underlyings.get(underlying)
        if budget is None:
            merged = own
        else:
            def tighter(a: float | None, b: float | None) -> float | None:
                return b if a is None else a if b is None else min(a, b)
            own = own or UnderlyingLimits()
            merged = UnderlyingLimits(tighter(own.max_delta, budget.max_delta),
                                      tighter(own.max_gamma, budget.max_gamma),
                                      tighter(own.max_vega_usd, budget.max_vega_usd),
                                      tighter(own.max_vega_per_expiry_usd, budget.max_vega_per_expiry_usd))
        if merged is None or not merged.any:
            merged = None
        if self._greek_limits.get(underlying) == merged:
            return  # (a renewal of the same budget: nothing to redo)
        if merged is not None:
            self._greek_limits[underlying] = merged
        else:
            self._greek_limits.pop(underlying, None)
        for f in self._facts.values():  # in place: the next order checks the new limits
            if f.asset == underlying:
                f.set_greek_limits(merged)

    def set_venue_rate(self, venue: str, rate: float, burst: float) -> None:
        """Pace orders to ``venue`` (from the venue's documented limits, via its adapter)."""
        if venue not in self.venue_buckets:
            bucket = self.venue_buckets[venue] = TokenBucket(rate, burst, self.now_ns())
            restored = self._restored_buckets.pop(venue, None)
            if restored is not None:  # (a snapshot restored before the venue registered)
                bucket.restore(*restored)
            for f in self._facts.values():  # in place: the next order to the venue is paced
                if f.venue == venue:
                    f.bucket = bucket

    # -- strategies -------------------------------------------------------------------------
    def on_fill(self, strategy_id: str, now_ns: int) -> bool:
        """Count a fill; True when it just tripped the repeated-execution throttle. (The
        fill is in the portfolio by now: the account book catches up here, so that the next
        order's margin check only reads.)"""
        acc = self.accounts
        if acc is not None:
            acc.on_fill()
        lim = self.limits.max_fills
        if lim is None or strategy_id in self.disabled_strategies:
            return False
        counter = self._fills.get(strategy_id)
        if counter is None:
            counter = self._fills[strategy_id] = WindowCounter(int(self.limits.fills_window_s * 1e9))
        n = counter.add(now_ns)
        if n > lim:
            self.disabled_strategies[strategy_id] = (
                f"{n} fills in {self.limits.fills_window_s:g}s > max {lim}")
            return True
        return False

    def disable_strategy(self, strategy_id: str, reason: str) -> None:
        self.disabled_strategies[strategy_id] = reason

    def enable_strategy(self, strategy_id: str) -> bool:
        """Operator clear: the strategy may trade again (its fill window restarts)."""
        counter = self._fills.get(strategy_id)
        if counter is not None:
            counter.clear()
        return self.disabled_strategies.pop(strategy_id, None) is not None

    # -- snapshots (engine/execution/snapshot.py) ---------------------------------------------
    def snapshot(self) -> ThrottleState:
        """The pacing state a restart keeps: fill windows and disabled strategies, the
        duplicate filter, the rate buckets. (Holds are not here: their owners put them back.)"""
        buckets = {venue: b.snapshot() for venue, b in self.venue_buckets.items()}
        if self.global_bucket is not None:
            buckets[""] = self.global_bucket.snapshot()
        return ThrottleState(
            fills={sid: t for sid, c in self._fills.items() if (t := c.snapshot())},
            disabled=dict(self.disabled_strategies),
            duplicates=[(ts, *key) for ts, key in self._dups.snapshot()],
            buckets=buckets)

    def restore(self, state: ThrottleState) -> None:
        """Put back a snapshot's pacing state (buckets only for rates still configured)."""
        window = int(self.limits.fills_window_s * 1e9)
        self._fills = {sid: WindowCounter(window) for sid in state.fills}
        for sid, times in state.fills.items():
            self._fills[sid].restore(times)
        self.disabled_strategies = dict(state.disabled)
        self._dups.restore((ts, (sid, iid, Side(side), price, qty))
                           for ts, sid, iid, side, price, qty in state.duplicates)
        for venue, (tokens, last_ns) in state.buckets.items():
            bucket = self.global_bucket if venue == "" else self.venue_buckets.get(venue)
            if bucket is not None:
                bucket.restore(tokens, last_ns)
            elif venue:
                self._restored_buckets[venue] = (tokens, last_ns)  # its adapter sets the rate later

    # -- the check --------------------------------------------------------------------------
    def _deny(self, denial: Denial) -> Denial:
        self.denied[denial.reason] = self.denied.get(denial.reason, 0) + 1
        self.last_denial = (denial.reason, denial.detail)
        return denial

    def _deny_late(self, denial: Denial) -> Denial:
        """A refusal after the duplicate filter admitted (remembered) the order: forget it."""
        dups = self._dups_on
        if dups is not None:
            dups.forget()
        return self._deny(denial)

    def check(self, cmd: SubmitOrder) -> Denial | None:  # noqa: C901 - one check per block
        """None when ``cmd`` may be sent, else the first failed check as a ``Denial``."""
        # Approving builds nothing: denials (and their text) are made only when one is due.
        # Everything an approval reads is a local, a flat attribute of the instrument's facts
        # or one O(1) lookup of live state (module docstring of engine.risk.facts).
        sid = cmd.strategy_id
        if sid in self.disabled_strategies:
            return self._deny(Denial(Reason.STRATEGY_DISABLED,
                                     f"strategy {sid} disabled: {self.disabled_strategies[sid]}"))
        if cmd.client_order_id in self._order_ids:
            return self._deny(Denial(Reason.DUPLICATE_ORDER_ID,
                                     f"client order id {cmd.client_order_id} reused"))
        iid = cmd.instrument_id
        inst = self.instruments.get(iid)
        f = self._facts.get(iid)
        if f is None or f.inst is not inst:
            if inst is None:
                return self._deny(Denial(Reason.UNKNOWN_INSTRUMENT, f"{iid} is not a known instrument"))
            if not inst.active:
                return self._deny(Denial(Reason.INSTRUMENT_INACTIVE, f"{iid} is not tradable"))
            f = self._facts_of(iid, inst)
        qty = cmd.quantity
        if not 0.0 < qty < _INF:
            return self._deny(Denial(Reason.INVALID_QUANTITY, f"quantity {qty} must be positive", qty, 0.0))
        if qty != f.lot_ok:  # (the size last found on the lot grid needs no test: facts.py)
            if not f.lot.contains(qty):
                return self._deny(Denial(Reason.OFF_LOT, f"quantity {qty} is not a multiple of lot {inst.lot_size}",
                                         qty, inst.lot_size))
            f.lot_ok = qty
        if qty < f.min_size:
            return self._deny(Denial(Reason.BELOW_MIN_SIZE, f"quantity {qty} < min size {inst.min_size}",
                                     qty, inst.min_size))
        price = cmd.price
        if cmd.order_type is _LIMIT:
            if price is None or not 0.0 < price < _INF:
                return self._deny(Denial(Reason.INVALID_PRICE, f"limit price {price} must be positive"))
            if not f.tick.contains(price):
                return self._deny(Denial(Reason.OFF_TICK, f"price {price} is not a multiple of tick {inst.tick_size}",
                                         price, inst.tick_size))

        pos = self._positions.get(iid)
        pos_qty = pos.qty if pos is not None else 0.0
        buy = cmd.side is _BUY
        sign = 1.0 if buy else -1.0
        # Reduces only if, together with the working orders on the same side, it cannot flip.
        same_side = self._working.get(f.buy_key if buy else f.sell_key, 0.0)
        reduces = (pos_qty != 0.0 and (pos_qty > 0) != buy
                   and qty + same_side <= abs(pos_qty) + 1e-12)
        state = self.state
        if state is not _ACTIVE:
            if state is _HALTED and (not reduces or sid != PRIVILEGED_STRATEGY):
                why = "; ".join(f"{k}: {v}" for k, v in self.hold_reasons.items() if v) or "halted"
                return self._deny(Denial(Reason.TRADING_HALTED, f"trading is halted ({why})"))
            if state is _REDUCING and not reduces:
                return self._deny(Denial(Reason.REDUCE_ONLY,
                                         f"reduce-only: position {pos_qty}, order {sign * qty:+}",
                                         sign * qty, pos_qty))
        if cmd.reduce_only and not reduces:
            return self._deny(Denial(Reason.REDUCE_ONLY,
                                     f"reduce-only order would not reduce position {pos_qty}",
                                     sign * qty, pos_qty))

        book = self.books(iid)
        if book is None or book.status is not _LIVE:
            status = "missing" if book is None else str(book.status)
            return self._deny(Denial(Reason.BOOK_NOT_LIVE, f"book of {iid} is {status}"))

        if qty > f.max_qty:
            return self._deny(Denial(Reason.MAX_ORDER_QTY, f"quantity {qty} > max {f.max_qty}", qty, f.max_qty))

        bid = book.best_bid_price()
        ask = book.best_ask_price()
        reference = 0.5 * (bid + ask)  # the mid; NaN when a side is empty
        if reference != reference:
            reference = ask if buy else bid
            if reference != reference:
                return self._deny(Denial(Reason.NO_REFERENCE_PRICE, f"book of {iid} has no prices"))
        px = price if price is not None else reference
        kind = f.notional
        if kind == _LINEAR:
            notional = qty * f.contract_size * px
            if f.quote_key is not None:
                notional *= self._und_prices.get(f.quote_key, _NAN)
        elif kind == _OPTION:  # on the underlying it delivers (USD)
            notional = qty * f.contract_size * self._und_prices.get(f.asset, _NAN)
        else:  # inverse futures and perpetuals: contracts x USD face
            notional = qty * f.contract_size
        if notional != notional:
            return self._deny(Denial(Reason.UNPRICED,
                                     f"no USD price for {f.asset if f.is_option else inst.quote} yet: "
                                     f"the notional of {iid} is unknown"))
        if notional > self._max_notional:
            lim = self._limits
            return self._deny(Denial(Reason.MAX_ORDER_NOTIONAL,
                                     f"notional {notional:,.0f} USD > max {lim.max_order_notional_usd:,.0f}",
                                     notional, lim.max_order_notional_usd))

        worst = abs(pos_qty + sign * (same_side + qty))
        if worst > f.max_pos + 1e-12 and not reduces:
            return self._deny(Denial(
                Reason.MAX_POSITION,
                f"position could reach {worst:g} (now {pos_qty:g}, working {same_side:g}) > max {f.max_pos:g}",
                worst, f.max_pos))

        if price is not None:
            if f.model_collar or self._collar_ref is not None:
                denial = self._collar(f, price, reference)
                if denial is not None:
                    return self._deny(denial)
            elif (dev := abs(price - reference) / reference * 100.0) > f.band:  # (``_collar``'s band, inline)
                return self._deny(_band_denial(price, dev, None, reference, f.band))

        # Open-order caps hold for reducing orders too: they mirror the venues' own caps.
        n_open = len(self._open_ids)
        if n_open >= self._max_open:
            return self._deny(Denial(Reason.MAX_OPEN_ORDERS, f"{n_open} open orders >= max {self._max_open}",
                                     n_open, self._max_open))
        cap = f.open_cap
        if cap is not None and (n_open := self._open_by_instrument.get(iid, 0)) >= cap:
            return self._deny(Denial(Reason.MAX_OPEN_ORDERS, f"{n_open} open orders on {iid} >= max {cap}",
                                     n_open, cap))
        cap = self._max_open_per_strategy
        if cap is not None and (n_open := self._open_by_strategy.get(sid, 0)) >= cap:
            return self._deny(Denial(Reason.MAX_OPEN_ORDERS, f"{n_open} open orders of {sid} >= max {cap}",
                                     n_open, cap))

        now = self.now_ns()
        dups = self._dups_on
        dup_key = None
        if dups is not None:
            dup_key = (sid, iid, cmd.side, price, qty)
            seen = dups.admit(dup_key, now)  # (remembered now: a later refusal forgets it)
            if seen is not None:
                ago = (now - seen) / 1e6
                window = self._limits.duplicate_window_ms
                return self._deny(Denial(Reason.DUPLICATE_ORDER,
                                         f"same {cmd.side} {qty:g}@{price} on {iid} {ago:.0f} ms ago "
                                         f"(window {window:g} ms)", ago, window))

        if not reduces:
            if f.greek_checks is not None:
                # Portfolio Greeks of the underlying after the order, worst case with every
                # same-signed working order (an order that lowers the absolute Greek always
                # passes). First one test of every Greek at once: each candidate total plus
                # either working sum inside [-limit, limit] passes; only an order near (or
                # over) a limit goes on to the exact per-Greek decision, which also says which
                # limit and by how much (``_greek_denial``). Inline: one call less per order.
                sq = sign * qty
                g = f.fixed_greeks
                if g is None:
                    if f.is_option:  # (the portfolio's per-contract option Greeks, read directly)
                        g = self._option_greeks.get(iid)
                        if g is not None and g[0] != g[0]:
                            g = None
                    else:  # an inverse contract's delta moves with its price
                        g = self.portfolio.greeks_per_contract(iid)
                    if g is None:
                        return self._deny_late(Denial(Reason.NO_GREEKS,
                                                      f"no Greeks yet for {iid}: cannot check {f.asset} limits"))
                tot = self._greek_totals.get(f.asset) or _ZEROS
                w = self._working_greeks.get(f.asset) or _ZEROS
                d = tot[0] + sq * g[0]
                gm = tot[1] + sq * g[1]
                v = tot[2] + sq * g[2]
                b0, b1, b2 = f.greek_bounds
                if not (-b0 <= d + w[0] <= b0 and -b0 <= d + w[1] <= b0
                        and -b1 <= gm + w[2] <= b1 and -b1 <= gm + w[3] <= b1
                        and -b2 <= v + w[4] <= b2 and -b2 <= v + w[5] <= b2):
                    denial = self._greek_denial(f, sq, g, tot, w)
                    if denial is not None:
                        return self._deny_late(denial)
                if f.vega_expiry_limit is not None and f.expiry_ns > 0 and g[2] != 0.0:
                    key = f.expiry_key
                    we = self._working_expiry.get(key) or _ZEROS
                    v = self._expiry_vegas.get(key, 0.0) + sq * g[2]
                    cap = f.vega_expiry_bound
                    if not (-cap <= v + we[0] <= cap and -cap <= v + we[1] <= cap):
                        denial = self._vega_expiry_denial(f, sq, g)
                        if denial is not None:
                            return self._deny_late(denial)
            acc = self._accounts
            if acc is not None:
                denial = acc.check(inst, sign * qty, px, now)
                if denial is not None:
                    return self._deny_late(denial)

        gb = self.global_bucket
        if gb is not None and not gb.try_take(now):
            return self._deny_late(Denial(Reason.RATE_LIMIT_GLOBAL,
                                          f"global order rate above {self._limits.global_rate}", 0.0, gb.burst))
        vb = f.bucket
        if vb is not None and not vb.try_take(now):
            if gb is not None:
                gb.give_back()
            return self._deny_late(Denial(Reason.RATE_LIMIT_VENUE,
                                          f"order rate to {inst.venue} above its limit", 0.0, vb.burst))
        self.approved += 1
        return None

    def _collar(self, f: InstrumentFacts, price: float, reference: float) -> Denial | None:
        """Options with a chain model price: model price ± k·vega (k in vol points; it replaces
        the blunt percentage band); else the percentage band around the reference (the mid,
        or the mark or the last trade when configured so)."""
        if f.model_collar:
            chain = self.chain_of(f.iid)
            if chain is not None and chain.surface is not None:
                n = chain.index.get(f.iid)
                model = chain.model_price.item(n)
                vega = chain.vega.item(n) / 100.0  # per vol point
                # (not checked when the chain has no model price yet: the band applies instead)
                if model == model and vega == vega:
                    if f.inst.premium_in_coin:
                        fwd = chain.forward.item(n)
                        model, vega = model / fwd, vega / fwd
                    k = f.collar_k
                    allowed = max(k * vega, f.min_collar)
                    dev = abs(price - model)
                    if dev > allowed:
                        return Denial(Reason.PRICE_BAND,
                                      f"price {price} is {dev:.4g} from model {model:.4g} "
                                      f"(allowed {k:g} vol pts x vega {vega:.4g} = {allowed:.4g})",
                                      dev, allowed)
                    return None
        ref = reference
        kind = self._collar_ref
        if kind is not None:
            ref = (self.marks if kind == "mark" else self.last_trades).get(f.iid, reference)
        deviation = abs(price - ref) / ref * 100.0
        if deviation > f.band:
            return _band_denial(price, deviation, kind, ref, f.band)
        return None

    def _greek_denial(self, f: InstrumentFacts, signed_qty: float, g: tuple[float, ...],
                      tot: Any, w: Any) -> Denial | None:
        """The exact per-Greek decision (``check``'s fast Greek test failed for one at least)."""
        und = f.asset
        for i, limit, code, name in f.greek_checks or ():
            now = tot[i]
            add = signed_qty * g[i]
            cand = now + add
            worst = max(abs(cand + w[2 * i]), abs(cand + w[2 * i + 1]))
            if worst > limit and abs(cand) >= abs(now):
                return Denial(code, f"{und} {name} would reach {worst:.6g} (now {now:.6g}, "
                                    f"order {add:+.6g}) > max {limit:g}", worst, limit)
        return None

    def _vega_expiry_denial(self, f: InstrumentFacts, signed_qty: float,
                            g: tuple[float, ...]) -> Denial | None:
        """The exact decision on the vega of the order's expiry."""
        und, cap = f.asset, f.vega_expiry_limit
        if cap is not None:
            now_v = self._expiry_vegas.get(f.expiry_key, 0.0)
            we = self._working_expiry.get(f.expiry_key) or _ZEROS
            cand = now_v + signed_qty * g[2]
            worst = max(abs(cand + we[0]), abs(cand + we[1]))
            if worst > cap and abs(cand) >= abs(now_v):
                return Denial(Reason.MAX_VEGA_EXPIRY,
                              f"{und} vega of expiry {f.expiry_ns} would reach {worst:.6g} "
                              f"> max {cap:g}", worst, cap)
        return None


def _band_denial(price: float, deviation: float, kind: str | None, ref: float, band: float) -> Denial:
    """The percentage band's denial (``kind``: the collar reference, None for the mid)."""
    return Denial(Reason.PRICE_BAND,
                  f"price {price} is {deviation:.2f}% from {kind or 'mid'} {ref} (band {band}%)",
                  deviation, band)
