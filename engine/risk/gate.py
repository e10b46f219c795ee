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
approval builds nothing (no ``Denial``, no text): a failed test asks ``engine.risk.refusals``
for its denial (and the exact Greek, vega-per-expiry and model-collar decisions live there),
so that this code is the approval path alone. Cancels are never checked: reducing risk is
always allowed. The gate is not bypassable: strategies only ever reach the router, and the
router only sends what passed.

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
from engine.risk import refusals as no  # (what a failed test gives: ``no.<reason>(...)``)
from engine.risk.exposure import WorkingExposure
from engine.risk.facts import LINEAR as _LINEAR
from engine.risk.facts import OPTION as _OPTION
from engine.risk.facts import InstrumentFacts
from engine.risk.limits import Denial, RateLimit, RiskLimits, UnderlyingLimits
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

    def rules(self, inst: Instrument) -> Any:
        """Its handle of ``inst`` (what it resolved about it), for ``check_with``."""

    def check_with(self, rules: Any, signed_qty: float, price: float,
                   now_ns: int | None = None) -> Denial | None:
        """``check`` of the instrument of ``rules`` (the gate's call: no lookup per order)."""

    def summary(self) -> dict[str, Any]: ...

    def refresh(self) -> None: ...

    def on_fill(self) -> None: ...


class RiskGate:
    """Synchronous pre-trade checks over the engine's live state."""

    # Slots, in the order ``check`` reads them: an approval's attribute reads then fall in a
    # few adjacent cache lines of the gate itself, not spread over a 42-entry instance dict
    # (more than CPython shares keys for). ``__dict__``: tests and the benchmark's breakdown
    # may still wrap ``check`` on an instance.
    __slots__ = ("disabled_strategies", "_order_ids", "instruments", "_facts", "_positions",
                 "_working", "state", "books", "_und_prices", "_max_notional", "_collar_ref",
                 "chain_of", "marks", "last_trades", "_open_ids", "_max_open",
                 "_open_by_instrument", "_max_open_per_strategy", "_open_by_strategy", "now_ns",
                 "_dups_on", "_greeks_uncounted", "_greek_totals", "_working_greeks", "_option_greeks",
                 "_expiry_vegas", "_working_expiry", "_accounts", "global_bucket", "approved",
                 "portfolio", "_limits", "_dups", "orders", "holds", "hold_reasons", "denied",
                 "last_denial", "exposure", "_greek_limits", "_fills", "venue_buckets",
                 "_restored_buckets", "__dict__")

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
        self._greeks_uncounted = portfolio.greeks_uncounted
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
        for f in self._facts.values():  # (what it needs about each instrument, resolved now)
            f.margin = None if book is None else book.rules(f.inst)

    def prepare(self, instruments: Iterable[Instrument]) -> None:
        """Resolve what the checks need about ``instruments`` now (the kernel calls this as it
        registers them), so that no order pays for its instrument's first check; the account
        book's per-instrument rules too (``_facts_of``). Inactive instruments are left out
        (their orders are refused before facts are read)."""
        facts = self._facts
        for inst in instruments:
            if not inst.active:
                continue
            f = facts.get(inst.id)
            if f is None or f.inst is not inst:
                self._facts_of(inst.id, inst)

    def _facts_of(self, iid: str, inst: Instrument) -> InstrumentFacts:
        f = self._facts[iid] = InstrumentFacts(inst, self._limits, self._greek_limits.get(inst.asset),
                                               self.venue_buckets.get(inst.venue))
        if self._accounts is not None:
            f.margin = self._accounts.rules(inst)
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
        # Approving builds nothing: a failed test calls ``engine.risk.refusals`` for its denial,
        # so this code is the approval path alone (compact: cold caches in a live process).
        # Everything an approval reads is a local, a flat attribute of the instrument's facts
        # or one O(1) lookup of live state (module docstring of engine.risk.facts).
        sid = cmd.strategy_id
        if sid in self.disabled_strategies:
            return self._deny(no.strategy_disabled(sid, self.disabled_strategies[sid]))
        if cmd.client_order_id in self._order_ids:
            return self._deny(no.order_id_reused(cmd.client_order_id))
        iid = cmd.instrument_id
        inst = self.instruments.get(iid)
        f = self._facts.get(iid)
        if f is None or f.inst is not inst:
            if inst is None:
                return self._deny(no.unknown_instrument(iid))
            if not inst.active:
                return self._deny(no.inactive(iid))
            f = self._facts_of(iid, inst)
        qty = cmd.quantity
        if not 0.0 < qty < _INF:
            return self._deny(no.invalid_quantity(qty))
        if qty != f.lot_ok:  # (the size last found on the lot grid needs no test: facts.py)
            if not f.lot.contains(qty):
                return self._deny(no.off_lot(qty, inst.lot_size))
            f.lot_ok = qty
        if qty < f.min_size:
            return self._deny(no.below_min_size(qty, inst.min_size))
        price = cmd.price
        if cmd.order_type is _LIMIT:
            if price is None or not 0.0 < price < _INF:
                return self._deny(no.invalid_price(price))
            if not f.tick.contains(price):
                return self._deny(no.off_tick(price, inst.tick_size))

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
                return self._deny(no.halted(self.hold_reasons))
            if state is _REDUCING and not reduces:
                return self._deny(no.reduce_only_state(sign * qty, pos_qty))
        if cmd.reduce_only and not reduces:
            return self._deny(no.reduce_only_order(sign * qty, pos_qty))

        books = self.books  # (a slot read, then the call: ``self.books(iid)`` would compile
        book = books(iid)  # to a method load that cannot specialize on a slot: a generic lookup)
        if book is None or book.status is not _LIVE:
            return self._deny(no.book_not_live(iid, book))

        if qty > f.max_qty:
            return self._deny(no.max_order_qty(qty, f.max_qty))

        reference = book.mid()  # NaN when a side is empty: then the side the order takes
        if reference != reference:
            reference = book.best_ask_price() if buy else book.best_bid_price()
            if reference != reference:
                return self._deny(no.no_reference_price(iid))
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
            return self._deny(no.unpriced(f))
        if notional > self._max_notional:
            return self._deny(no.max_notional(notional, self._max_notional))

        worst = abs(pos_qty + sign * (same_side + qty))
        if worst > f.max_pos + 1e-12 and not reduces:
            return self._deny(no.max_position(worst, pos_qty, same_side, f.max_pos))

        if price is not None:
            # Options with a chain model price: model price ± k·vega (``refusals.model_collar``);
            # else (or when the model has no price yet) the percentage band around the
            # reference: the mid, or the mark or the last trade when configured so.
            chain_of = self.chain_of  # (a slot read, then the call: as ``books`` above)
            if f.model_collar and (denial := no.model_collar(f, price, chain_of(iid))) is not no.BAND:
                if denial is not None:
                    return self._deny(denial)
            else:
                ref = reference
                ref_kind = self._collar_ref
                if ref_kind is not None:
                    ref = (self.marks if ref_kind == "mark" else self.last_trades).get(iid, reference)
                if (dev := abs(price - ref) / ref * 100.0) > f.band:
                    return self._deny(no.band(price, dev, ref_kind, ref, f.band))

        # Open-order caps hold for reducing orders too: they mirror the venues' own caps.
        n_open = len(self._open_ids)
        if n_open >= self._max_open:
            return self._deny(no.open_orders(n_open, self._max_open))
        cap = f.open_cap
        if cap is not None and (n_open := self._open_by_instrument.get(iid, 0)) >= cap:
            return self._deny(no.open_orders(n_open, cap, f" on {iid}"))
        cap = self._max_open_per_strategy
        if cap is not None and (n_open := self._open_by_strategy.get(sid, 0)) >= cap:
            return self._deny(no.open_orders(n_open, cap, f" of {sid}"))

        clock = self.now_ns  # (as ``books`` above)
        now = clock()
        dups = self._dups_on
        if dups is not None:
            seen = dups.admit((sid, iid, cmd.side, price, qty), now)  # (a later refusal forgets it)
            if seen is not None:
                return self._deny(no.duplicate_order(cmd.side, qty, price, iid, (now - seen) / 1e6,
                                                     self._limits.duplicate_window_ms))

        if not reduces:
            if f.greek_checks is not None:
                # Portfolio Greeks of the underlying after the order, worst case with every
                # same-signed working order (an order that lowers the absolute Greek always
                # passes). First one test of every Greek at once: each candidate total plus
                # either working sum inside [-limit, limit] passes; only an order near (or
                # over) a limit goes on to the exact per-Greek decision, which also says which
                # limit and by how much (``refusals.greek_limits``). Inline: one call less.
                if self._greeks_uncounted.get(f.asset):  # (a total leaves positions out)
                    denial = no.greeks_incomplete(f, self.portfolio.uncounted)
                    if denial is not None:
                        return self._deny_late(denial)
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
                        return self._deny_late(no.no_greeks(f))
                tot = self._greek_totals.get(f.asset) or _ZEROS
                w = self._working_greeks.get(f.asset) or _ZEROS
                d = tot[0] + sq * g[0]
                gm = tot[1] + sq * g[1]
                v = tot[2] + sq * g[2]
                b0, b1, b2 = f.greek_bounds
                if not (-b0 <= d + w[0] <= b0 and -b0 <= d + w[1] <= b0
                        and -b1 <= gm + w[2] <= b1 and -b1 <= gm + w[3] <= b1
                        and -b2 <= v + w[4] <= b2 and -b2 <= v + w[5] <= b2):
                    denial = no.greek_limits(f, sq, g, tot, w)
                    if denial is not None:
                        return self._deny_late(denial)
                if f.vega_expiry_limit is not None and f.expiry_ns > 0 and g[2] != 0.0:
                    key = f.expiry_key
                    now_v = self._expiry_vegas.get(key, 0.0)
                    we = self._working_expiry.get(key) or _ZEROS
                    v = now_v + sq * g[2]
                    cap = f.vega_expiry_bound
                    if not (-cap <= v + we[0] <= cap and -cap <= v + we[1] <= cap):
                        denial = no.vega_expiry(f, sq, g, now_v, we)
                        if denial is not None:
                            return self._deny_late(denial)
            acc = self._accounts
            if acc is not None:
                denial = acc.check_with(f.margin, sign * qty, px, now)
                if denial is not None:
                    return self._deny_late(denial)

        gb = self.global_bucket
        if gb is not None and not gb.try_take(now):
            return self._deny_late(no.global_rate(self._limits.global_rate, gb.burst))
        vb = f.bucket
        if vb is not None and not vb.try_take(now):
            if gb is not None:
                gb.give_back()
            return self._deny_late(no.venue_rate(inst.venue, vb.burst))
        self.approved += 1
        return None
