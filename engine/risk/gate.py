"""The pre-trade risk gate: every order passes here, synchronously, before it can leave.

Theory of operation: ``RiskGate.check`` runs the checks in a fixed order, cheapest and most
fundamental first, and returns the first failure as a ``Denial`` carrying a stable reason
code and the numbers behind it (``None`` means approved). Every check reads O(1) state:
open-order counts and working quantities are indexed by the order bookkeeper, Greek totals
by the portfolio and the working-order exposure, rates by token buckets; nothing sums over
orders or positions per order. Working orders count toward limits from the moment they are
approved. Cancels are never checked: reducing risk is always allowed. The gate is not
bypassable: strategies only ever reach the router, and the router only sends what passed.

The trading state is the most restrictive of several *holds* (the configured start state,
the kill switch, the loss limits, reconciliation, shutdown): ACTIVE trades; REDUCING allows
only orders that shrink a position; HALTED denies every new order except the kill switch's
own reduce-only flattening orders. A strategy can be disabled on its own (repeated-execution
throttle) until an operator enables it again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from engine.book import OrderBook
from engine.model import Instrument, OrderType, Side, SubmitOrder, TradingState
from engine.orders import OrderBookkeeper
from engine.portfolio import Portfolio
from engine.risk.exposure import WorkingExposure
from engine.risk.limits import Denial, RateLimit, Reason, RiskLimits, UnderlyingLimits
from engine.risk.throttle import DuplicateFilter, ThrottleState, TokenBucket, WindowCounter

_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
PRIVILEGED_STRATEGY = "killswitch"
"""Strategy id of the engine's own flattening orders (allowed while HALTED if they reduce)."""


class MarginCheck(Protocol):
    """Account-level pre-trade check (``engine.accounts.AccountBook``): the order as if filled."""

    def check(self, inst: Instrument, signed_qty: float, price: float) -> Denial | None: ...

    def summary(self) -> dict[str, Any]: ...

    def refresh(self) -> None: ...


class RiskGate:
    """Synchronous pre-trade checks over the engine's live state."""

    def __init__(self, limits: RiskLimits, instruments: dict[str, Instrument],
                 books: Callable[[str], OrderBook | None], orders: OrderBookkeeper,
                 portfolio: Portfolio, state: TradingState = TradingState.ACTIVE, *,
                 now_ns: Callable[[], int] = lambda: 0,
                 chain_of: Callable[[str], Any] | None = None,
                 marks: dict[str, float] | None = None,
                 last_trades: dict[str, float] | None = None) -> None:
        self.limits = limits
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
        self.accounts: MarginCheck | None = None
        """Balances and margin per venue (paper/backtest: set by the runtime when configured)."""
        self._greek_limits = {u: ul for u, ul in limits.underlyings.items() if ul.any}
        orders.listeners.append(self.exposure.on_working_change)
        self._dups = DuplicateFilter(int(limits.duplicate_window_ms * 1e6))
        self._fills: dict[str, WindowCounter] = {}
        self.global_bucket = self._bucket(limits.global_rate)
        self.venue_buckets: dict[str, TokenBucket] = {
            v: b for v, r in limits.venue_rates.items() if (b := self._bucket(r)) is not None}
        self._restored_buckets: dict[str, tuple[float, int]] = {}

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
        if merged is not None and merged.any:
            self._greek_limits[underlying] = merged
        else:
            self._greek_limits.pop(underlying, None)

    def set_venue_rate(self, venue: str, rate: float, burst: float) -> None:
        """Pace orders to ``venue`` (from the venue's documented limits, via its adapter)."""
        if venue not in self.venue_buckets:
            bucket = self.venue_buckets[venue] = TokenBucket(rate, burst, self.now_ns())
            restored = self._restored_buckets.pop(venue, None)
            if restored is not None:  # (a snapshot restored before the venue registered)
                bucket.restore(*restored)

    # -- strategies -------------------------------------------------------------------------
    def on_fill(self, strategy_id: str, now_ns: int) -> bool:
        """Count a fill; True when it just tripped the repeated-execution throttle."""
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
    def check(self, cmd: SubmitOrder) -> Denial | None:
        denial = self._check(cmd)
        if denial is None:
            self.approved += 1
        else:
            self.denied[denial.reason] = self.denied.get(denial.reason, 0) + 1
            self.last_denial = (denial.reason, denial.detail)
        return denial

    def _check(self, cmd: SubmitOrder) -> Denial | None:  # noqa: C901 - one check per block
        lim = self.limits
        iid = cmd.instrument_id
        state = self.state
        if cmd.strategy_id in self.disabled_strategies:
            return Denial(Reason.STRATEGY_DISABLED,
                          f"strategy {cmd.strategy_id} disabled: {self.disabled_strategies[cmd.strategy_id]}")
        if cmd.client_order_id in self.orders:
            return Denial(Reason.DUPLICATE_ORDER_ID, f"client order id {cmd.client_order_id} reused")
        inst = self.instruments.get(iid)
        if inst is None:
            return Denial(Reason.UNKNOWN_INSTRUMENT, f"{iid} is not a known instrument")
        if not inst.active:
            return Denial(Reason.INSTRUMENT_INACTIVE, f"{iid} is not tradable")
        qty = cmd.quantity
        if not (qty > 0 and math.isfinite(qty)):
            return Denial(Reason.INVALID_QUANTITY, f"quantity {qty} must be positive", qty, 0.0)
        if not inst.is_on_lot(qty):
            return Denial(Reason.OFF_LOT, f"quantity {qty} is not a multiple of lot {inst.lot_size}",
                          qty, inst.lot_size)
        if qty < inst.min_size:
            return Denial(Reason.BELOW_MIN_SIZE, f"quantity {qty} < min size {inst.min_size}",
                          qty, inst.min_size)
        price = cmd.price
        if cmd.order_type is OrderType.LIMIT:
            if price is None or not (price > 0 and math.isfinite(price)):
                return Denial(Reason.INVALID_PRICE, f"limit price {price} must be positive")
            if not inst.is_on_tick(price):
                return Denial(Reason.OFF_TICK, f"price {price} is not a multiple of tick {inst.tick_size}",
                              price, inst.tick_size)

        pos = self.portfolio.position(iid)
        pos_qty = pos.qty if pos is not None else 0.0
        sign = cmd.side.sign
        # Reduces only if, together with the working orders on the same side, it cannot flip.
        same_side = self.orders.working_qty(iid, cmd.side)
        reduces = (pos_qty != 0.0 and (pos_qty > 0) != (sign > 0)
                   and qty + same_side <= abs(pos_qty) + 1e-12)
        if state is TradingState.HALTED and (not reduces or cmd.strategy_id != PRIVILEGED_STRATEGY):
            why = "; ".join(f"{k}: {v}" for k, v in self.hold_reasons.items() if v) or "halted"
            return Denial(Reason.TRADING_HALTED, f"trading is halted ({why})")
        if state is TradingState.REDUCING and not reduces:
            return Denial(Reason.REDUCE_ONLY, f"reduce-only: position {pos_qty}, order {sign * qty:+}",
                          sign * qty, pos_qty)
        if cmd.reduce_only and not reduces:
            return Denial(Reason.REDUCE_ONLY, f"reduce-only order would not reduce position {pos_qty}",
                          sign * qty, pos_qty)

        book = self.books(iid)
        if book is None or not book.is_live:
            status = "missing" if book is None else str(book.status)
            return Denial(Reason.BOOK_NOT_LIVE, f"book of {iid} is {status}")

        per = lim.per_instrument.get(iid)
        max_qty = per.max_order_qty if per and per.max_order_qty is not None else lim.max_order_qty
        if qty > max_qty:
            return Denial(Reason.MAX_ORDER_QTY, f"quantity {qty} > max {max_qty}", qty, max_qty)

        mid = book.mid()
        reference = mid if mid == mid else (book.best_ask_price() if sign > 0 else book.best_bid_price())
        if math.isnan(reference):
            return Denial(Reason.NO_REFERENCE_PRICE, f"book of {iid} has no prices")
        und = inst.asset
        und_px = self.portfolio.underlying_prices.get(und, math.nan)
        px = price if price is not None else reference
        if inst.is_option or inst.inverse:
            notional = inst.notional_usd(qty, px, und_px)  # options: on the underlying (USD)
        else:
            notional = inst.notional_usd(qty, px, und_px) * self.portfolio.price_usd(inst.quote)
        if notional != notional:
            return Denial(Reason.UNPRICED,
                          f"no USD price for {und if inst.is_option else inst.quote} yet: "
                          f"the notional of {iid} is unknown")
        if notional > lim.max_order_notional_usd:
            return Denial(Reason.MAX_ORDER_NOTIONAL,
                          f"notional {notional:,.0f} USD > max {lim.max_order_notional_usd:,.0f}",
                          notional, lim.max_order_notional_usd)

        max_pos = per.max_position_qty if per and per.max_position_qty is not None else lim.max_position_qty
        worst = abs(pos_qty + sign * (same_side + qty))
        if worst > max_pos + 1e-12 and not reduces:
            return Denial(Reason.MAX_POSITION,
                          f"position could reach {worst:g} (now {pos_qty:g}, working {same_side:g}) > max {max_pos:g}",
                          worst, max_pos)

        if price is not None:
            denial = self._collar(inst, iid, price, reference)
            if denial is not None:
                return denial

        # Open-order caps hold for reducing orders too: they mirror the venues' own caps.
        n = self.orders.open_count()
        if n >= lim.max_open_orders:
            return Denial(Reason.MAX_OPEN_ORDERS, f"{n} open orders >= max {lim.max_open_orders}",
                          n, lim.max_open_orders)
        cap = per.max_open_orders if per and per.max_open_orders is not None else \
            lim.max_open_orders_per_instrument
        if cap is not None and (n := self.orders.open_count(instrument_id=iid)) >= cap:
            return Denial(Reason.MAX_OPEN_ORDERS, f"{n} open orders on {iid} >= max {cap}", n, cap)
        cap = lim.max_open_orders_per_strategy
        if cap is not None and (n := self.orders.open_count(strategy_id=cmd.strategy_id)) >= cap:
            return Denial(Reason.MAX_OPEN_ORDERS,
                          f"{n} open orders of {cmd.strategy_id} >= max {cap}", n, cap)

        now = self.now_ns()
        dup_key = None
        if lim.duplicate_window_ms > 0:
            dup_key = (cmd.strategy_id, iid, cmd.side, price, qty)
            seen = self._dups.seen(dup_key, now)
            if seen is not None:
                ago = (now - seen) / 1e6
                return Denial(Reason.DUPLICATE_ORDER,
                              f"same {cmd.side} {qty:g}@{price} on {iid} {ago:.0f} ms ago "
                              f"(window {lim.duplicate_window_ms:g} ms)", ago, lim.duplicate_window_ms)

        ul = self._greek_limits.get(und)
        if ul is not None and not reduces:
            denial = self._greeks(inst, iid, und, sign * qty, ul)
            if denial is not None:
                return denial

        acc = self.accounts
        if acc is not None and not reduces:
            denial = acc.check(inst, sign * qty, price if price is not None else reference)
            if denial is not None:
                return denial

        gb = self.global_bucket
        if gb is not None and not gb.try_take(now):
            return Denial(Reason.RATE_LIMIT_GLOBAL, f"global order rate above {lim.global_rate}",
                          0.0, gb.burst)
        vb = self.venue_buckets.get(inst.venue)
        if vb is not None and not vb.try_take(now):
            if gb is not None:
                gb.give_back()
            return Denial(Reason.RATE_LIMIT_VENUE, f"order rate to {inst.venue} above its limit",
                          0.0, vb.burst)
        if dup_key is not None:
            self._dups.remember(dup_key, now)
        return None

    def _collar(self, inst: Instrument, iid: str, price: float, reference: float) -> Denial | None:
        lim = self.limits
        if inst.is_option and lim.option_collar_vega_k is not None:
            checked, denial = self._model_collar(inst, iid, price)
            if checked:
                return denial
        ref = reference
        kind = "mid"
        if lim.collar_reference == "mark":
            ref, kind = self.marks.get(iid, reference), "mark"
        elif lim.collar_reference == "last":
            ref, kind = self.last_trades.get(iid, reference), "last"
        band = lim.option_price_band_pct if inst.is_option else lim.price_band_pct
        deviation = abs(price - ref) / ref * 100.0
        if deviation > band:
            return Denial(Reason.PRICE_BAND,
                          f"price {price} is {deviation:.2f}% from {kind} {ref} (band {band}%)",
                          deviation, band)
        return None

    def _model_collar(self, inst: Instrument, iid: str, price: float) -> tuple[bool, Denial | None]:
        """Options: model price ± k·vega (k in vol points) from the chain view.

        Returns (checked, denial); not checked when the chain has no model price yet, and
        the percentage band applies instead."""
        chain = self.chain_of(iid)
        if chain is None or chain.surface is None:
            return False, None
        n = chain.index.get(iid)
        model = chain.model_price.item(n)
        vega = chain.vega.item(n) / 100.0  # per vol point
        if not (model == model and vega == vega):
            return False, None
        if inst.premium_in_coin:
            fwd = chain.forward.item(n)
            model, vega = model / fwd, vega / fwd
        k = self.limits.option_collar_vega_k or 0.0
        allowed = max(k * vega, 2.0 * inst.tick_size)
        dev = abs(price - model)
        if dev > allowed:
            return True, Denial(Reason.PRICE_BAND,
                                f"price {price} is {dev:.4g} from model {model:.4g} "
                                f"(allowed {k:g} vol pts x vega {vega:.4g} = {allowed:.4g})", dev, allowed)
        return True, None  # the model collar replaces the (blunt) percentage band

    def _greeks(self, inst: Instrument, iid: str, und: str, signed_qty: float, ul: Any) -> Denial | None:
        g = self.portfolio.greeks_per_contract(iid)
        if g is None:
            return Denial(Reason.NO_GREEKS, f"no Greeks yet for {iid}: cannot check {und} limits")
        tot = self.portfolio.greeks(und)
        w = self.exposure.working(und)
        if ul.max_delta is not None:
            d = self._greek_breach(0, signed_qty * g[0], tot[0], w, ul.max_delta, Reason.MAX_DELTA, und)
            if d is not None:
                return d
        if ul.max_gamma is not None:
            d = self._greek_breach(1, signed_qty * g[1], tot[1], w, ul.max_gamma, Reason.MAX_GAMMA, und)
            if d is not None:
                return d
        if ul.max_vega_usd is not None:
            d = self._greek_breach(2, signed_qty * g[2], tot[2], w, ul.max_vega_usd, Reason.MAX_VEGA, und)
            if d is not None:
                return d
        if ul.max_vega_per_expiry_usd is not None and inst.expiry_ns > 0 and g[2] != 0.0:
            now_v = self.portfolio.expiry_vega(und, inst.expiry_ns)
            we = self.exposure.working_expiry(und, inst.expiry_ns)
            cand = now_v + signed_qty * g[2]
            worst = max(abs(cand + we[0]), abs(cand + we[1]))
            if worst > ul.max_vega_per_expiry_usd and abs(cand) >= abs(now_v):
                return Denial(Reason.MAX_VEGA_EXPIRY,
                              f"{und} vega of expiry {inst.expiry_ns} would reach {worst:.6g} "
                              f"> max {ul.max_vega_per_expiry_usd:g}", worst, ul.max_vega_per_expiry_usd)
        return None

    @staticmethod
    def _greek_breach(i: int, add: float, now: float, w: list[float], limit: float, code: str,
                      und: str) -> Denial | None:
        """Worst case after the order: the candidate plus every same-signed working order.
        An order that lowers the absolute Greek always passes (it reduces risk)."""
        cand = now + add
        worst = max(abs(cand + w[2 * i]), abs(cand + w[2 * i + 1]))
        if worst > limit and abs(cand) >= abs(now):
            name = ("delta", "gamma", "vega")[i]
            return Denial(code, f"{und} {name} would reach {worst:.6g} (now {now:.6g}, "
                                f"order {add:+.6g}) > max {limit:g}", worst, limit)
        return None

