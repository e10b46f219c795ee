"""Accounts per venue: balances, equity, initial and maintenance margin, firm exposure.

Theory of operation: in paper trading and backtests each configured venue account
(``[risk.accounts.<venue>]``) starts from its configured balances per currency. An account is
one (venue, margin currency) pair, as at Deribit (a BTC and an ETH account) and Binance (USDT
for USD-M, the coin for COIN-M); USD stablecoins share one ``USD`` collateral pool (a
documented approximation of multi-asset modes). Its equity is the balance plus the PnL of
that venue's positions settled in that currency (realized + unrealized at the marks - fees +
funding, all from ``engine.portfolio``); its initial and maintenance margin are the sums of
``engine.margin.position_margin`` over those positions. Everything is in the account's
currency, and also in USD at ``Portfolio.price_usd`` (NaN = unpriced, never 0).

Pre-trade (the gate calls ``check``): the order is treated as filled at its price. It is
denied with ``INSUFFICIENT_MARGIN`` when the account's initial margin after the fill (plus the
premium of a bought option) exceeds its equity, and with ``NEAR_MAINTENANCE`` when equity
would be within ``margin_buffer_pct`` of the maintenance margin after the fill. An order that
does not raise the margin (a reducing order) always passes. Working orders do not reserve
margin here (venues differ in how they reserve; a documented simplification). The account's
totals are cached: refreshed by a 1 s timer (``refresh``), recomputed on the next check after
a fill, or when older than ``max_age_ns``; a check between refreshes is O(1) (equity may lag
the marks by up to a second); a recompute is proportional to the positions of that account.

Live deployments (the live feed): each venue adapter reads its accounts from the venue's
private API and publishes ``AccountReported`` (engine.model); ``on_report`` keeps the last
report per (venue, currency). A reported account's balance, equity, initial and maintenance
margin are the venue's own figures (its margin model, its marks), not the model's; stablecoin
accounts of one venue add up into its ``USD`` pool. The pre-trade check is the same: the
venue's current figures plus the margin the order would add by ``engine.margin`` (the venue
has not seen the order yet). An account the venue has not reported yet is shown as "not
reported" (no figures) and its orders are not margin-checked here (the venue's own check
still applies); adapters read the accounts before they report ready, so this is the start-up
instant only. See docs/risk.md for where each live figure comes from per venue.

Firm exposure per venue = the collateral held there plus the unrealized PnL of the positions
held there (USD): what the desk would lose if that venue failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from engine.margin import LinearTerms, position_margin
from engine.model import AccountReported, Instrument, InstrumentKind, is_usd
from engine.portfolio import Portfolio, Position
from engine.risk.limits import Denial, Reason


def collateral(currency: str) -> str:
    """The collateral pool of ``currency``: ``USD`` for USD and stablecoins, else the coin."""
    return "USD" if is_usd(currency) else currency.upper()


@dataclass(frozen=True, slots=True)
class AccountSpec:
    venue: str
    balances: dict[str, float] = field(default_factory=dict)
    terms: LinearTerms = LinearTerms()


@dataclass(slots=True)
class AccountState:
    """One (venue, currency) account at a moment; amounts in ``currency``."""

    venue: str
    currency: str
    balance: float
    equity: float
    initial_margin: float
    maintenance_margin: float
    source: str = "model"
    """``model`` (paper/backtest), the venue endpoint/stream of a live report, or
    ``not reported`` (live, no report yet: every figure NaN)."""

    @property
    def available(self) -> float:
        return self.equity - self.initial_margin


class AccountBook:
    """The configured venue accounts over the portfolio (module docstring)."""

    def __init__(self, portfolio: Portfolio, specs: dict[str, AccountSpec],
                 margin_buffer_pct: float | None = None,
                 now_ns: Callable[[], int] | None = None, max_age_ns: int = 1_000_000_000,
                 live: bool = False) -> None:
        self.portfolio = portfolio
        self.live = live
        self.reported: dict[tuple[str, str], AccountReported] = {}
        """Live: the last report per (venue, venue currency); see ``on_report``."""
        self._reported_pools: set[tuple[str, str]] = set()  # (venue, pool): O(1) in ``check``
        self.specs = specs
        self.margin_buffer_pct = margin_buffer_pct
        self.now_ns = now_ns
        self.max_age_ns = max_age_ns
        self._cache: dict[tuple[str, str], tuple[int, int, AccountState]] = {}
        self._pool_of: dict[str, tuple[str, str, str, str]] = {}
        self.balances: dict[tuple[str, str], float] = {}
        for venue, spec in specs.items():
            for ccy, amount in spec.balances.items():
                key = (venue, collateral(ccy))
                self.balances[key] = self.balances.get(key, 0.0) + amount

    # -- state ----------------------------------------------------------------------------
    def _pools(self, inst: Instrument) -> tuple[str, str, str, str]:
        """(margin pool, PnL pool, fee pool, asset) of an instrument, computed once."""
        hit = self._pool_of.get(inst.id)
        if hit is None:
            pos = Position(inst)
            hit = self._pool_of[inst.id] = (collateral(inst.settle), collateral(pos.pnl_currency),
                                            collateral(pos.fee_currency), inst.asset)
        return hit

    def _positions(self, venue: str, ccy: str) -> list[Position]:
        return [p for p in self.portfolio.positions()
                if p.instrument.venue == venue and self._pools(p.instrument)[0] == ccy]

    def _mark(self, pos: Position) -> float:
        return pos.mark if pos.mark == pos.mark else pos.avg_price

    def _und(self, inst: Instrument) -> float:
        return self.portfolio.underlying_prices.get(inst.asset, math.nan)

    # -- live feed --------------------------------------------------------------------------
    def on_report(self, ev: AccountReported) -> None:
        """A venue reported one account (the bus handler of ``AccountReported``)."""
        if ev.venue not in self.specs:
            return  # a venue this deployment does not trade
        self.reported[(ev.venue, ev.currency.upper())] = ev
        pool = (ev.venue, collateral(ev.currency))
        self._reported_pools.add(pool)
        self._cache.pop(pool, None)

    def _reported_state(self, venue: str, ccy: str) -> AccountState:
        reps = [r for (v, c), r in self.reported.items() if v == venue and collateral(c) == ccy]
        if not reps:
            nan = math.nan
            return AccountState(venue, ccy, nan, nan, nan, nan, "not reported")
        return AccountState(venue, ccy, sum(r.balance for r in reps), sum(r.equity for r in reps),
                            sum(r.initial_margin for r in reps),
                            sum(r.maintenance_margin for r in reps),
                            ", ".join(sorted({r.source for r in reps})))

    def state(self, venue: str, ccy: str) -> AccountState:
        if self.live:
            return self._reported_state(venue, ccy)
        spec = self.specs[venue]
        terms = spec.terms
        und_px = self.portfolio.underlying_prices
        balance = self.balances.get((venue, ccy), 0.0)
        equity = balance
        im = mm = 0.0
        for pos in self._positions(venue, ccy):
            inst = pos.instrument
            _, pnl_pool, fee_pool, asset = self._pools(inst)
            if pnl_pool == ccy:
                equity += pos.realized + pos.unrealized()
            if fee_pool == ccy:
                equity += pos.funding - pos.fees
            if pos.qty != 0.0:
                i, m = position_margin(inst, pos.qty, self._mark(pos), und_px.get(asset, math.nan), terms)
                im += i
                mm += m
        return AccountState(venue, ccy, balance, equity, im, mm)

    def refresh(self) -> None:
        """Recompute every account (a 1 s timer calls it, so that order checks between fills
        only read the cache)."""
        now = self.now_ns() if self.now_ns is not None else 0
        fills = self.portfolio.fills + self.portfolio.adjustments
        for st in self.accounts():
            self._cache[(st.venue, st.currency)] = (fills, now, st)

    def _cached_state(self, venue: str, ccy: str) -> AccountState:
        """The account as of the last fill, at most ``max_age_ns`` old (marks move equity
        between fills): what keeps the per-order check O(1) between refreshes."""
        now = self.now_ns() if self.now_ns is not None else 0
        fills = self.portfolio.fills + self.portfolio.adjustments
        hit = self._cache.get((venue, ccy))
        if hit is not None and hit[0] == fills and (self.now_ns is None or now - hit[1] < self.max_age_ns):
            return hit[2]
        st = self.state(venue, ccy)
        self._cache[(venue, ccy)] = (fills, now, st)
        return st

    def accounts(self) -> list[AccountState]:
        keys = set(self.balances)
        keys.update((v, collateral(c)) for v, c in self.reported)
        for pos in self.portfolio.positions():
            if pos.instrument.venue in self.specs:
                keys.add((pos.instrument.venue, collateral(pos.instrument.settle)))
        return [self.state(v, c) for v, c in sorted(keys)]

    # -- pre-trade --------------------------------------------------------------------------
    def check(self, inst: Instrument, signed_qty: float, price: float) -> Denial | None:
        """INSUFFICIENT_MARGIN / NEAR_MAINTENANCE / UNPRICED for an order as if filled."""
        spec = self.specs.get(inst.venue)
        if spec is None:
            return None
        ccy = collateral(inst.settle)
        if self.live and (inst.venue, ccy) not in self._reported_pools:
            return None  # not reported yet: the venue's own check applies (module docstring)
        pos = self.portfolio.position(inst.id)
        now_qty = pos.qty if pos is not None else 0.0
        mark = self._mark(pos) if pos is not None and pos.qty != 0.0 else price
        und = self._und(inst)
        if inst.kind is InstrumentKind.OPTION and not und == und:
            return Denial(Reason.UNPRICED, f"no {inst.asset} price: margin of {inst.id} unknown")
        before = position_margin(inst, now_qty, mark, und, spec.terms)
        after = position_margin(inst, now_qty + signed_qty, mark, und, spec.terms)
        premium = 0.0
        if inst.kind is InstrumentKind.OPTION and signed_qty > 0:
            premium = signed_qty * inst.contract_size * price  # paid up front, in the premium ccy
            if not inst.premium_in_coin and ccy != "USD":
                premium *= und
        if after[0] + premium <= before[0] and after[1] <= before[1]:
            return None  # the order does not add margin
        st = self._cached_state(inst.venue, ccy)
        im = st.initial_margin - before[0] + after[0] + premium
        mm = st.maintenance_margin - before[1] + after[1]
        if im != im or mm != mm:
            return Denial(Reason.UNPRICED, f"margin of {inst.id} unknown (no mark)")
        if im > st.equity:
            return Denial(Reason.INSUFFICIENT_MARGIN,
                          f"{inst.venue} {ccy} initial margin after the fill {im:.8g} > equity "
                          f"{st.equity:.8g} ({ccy})", im, st.equity)
        buf = self.margin_buffer_pct
        if buf is not None and mm > 0 and st.equity < mm * (1.0 + buf / 100.0):
            return Denial(Reason.NEAR_MAINTENANCE,
                          f"{inst.venue} {ccy} equity {st.equity:.8g} within {buf:g}% of maintenance "
                          f"margin {mm:.8g} after the fill", st.equity, mm * (1.0 + buf / 100.0))
        return None

    # -- reports ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Per venue: accounts (native and USD), and the firm's exposure to the venue: per
        currency (``exposure``, native) and in USD over the priced ones (``exposure_usd``;
        ``unpriced`` lists the currencies it leaves out: no USD price, or not reported)."""
        out: dict[str, Any] = {}
        for st in self.accounts():
            px = self.portfolio.price_usd(st.currency)
            v = out.setdefault(st.venue, {"accounts": {}, "exposure_usd": 0.0, "exposure": {},
                                          "unpriced": []})
            v["exposure"][st.currency] = _r(st.equity)  # native: collateral + unrealized PnL

            def usd(x: float, px: float = px) -> float | None:
                y = x * px
                return round(y, 4) if y == y else None
            v["accounts"][st.currency] = {
                "source": st.source, "balance": _r(st.balance), "equity": _r(st.equity), "initial_margin": _r(st.initial_margin),
                "maintenance_margin": _r(st.maintenance_margin), "available": _r(st.available),
                "equity_usd": usd(st.equity), "initial_margin_usd": usd(st.initial_margin),
                "maintenance_margin_usd": usd(st.maintenance_margin)}
            if px == px and st.equity == st.equity:
                v["exposure_usd"] = round(v["exposure_usd"] + st.equity * px, 4)
            else:
                v["unpriced"].append(st.currency)
        if self.live:  # a venue that has reported nothing yet: unknown, not 0
            for venue in self.specs:
                out.setdefault(venue, {"accounts": {}, "exposure_usd": None, "exposure": {},
                                       "unpriced": [], "source": "not reported"})
        return out


def _r(x: float) -> float | None:
    return round(x, 10) if math.isfinite(x) else None


def account_book(config: Any, portfolio: Portfolio,
                 now_ns: Callable[[], int] | None = None) -> AccountBook | None:
    """The account book of a deployment: paper/backtest from ``[risk.accounts]`` (None when
    none is configured); live, one over every enabled venue, fed by the venues' reports
    (``on_report``), with each venue's ``leverage``/``maintenance_rate`` for the margin an
    order adds. An account for a venue the deployment does not list is a config error, and so
    is a live balance (live balances come from the venue)."""
    from engine.config import ConfigError
    from engine.config.schema import ConfigProblem

    r = config.risk
    live = config.deployment.mode == "live"
    if not live and not r.accounts:
        return None
    venues = sorted(config.enabled_venues())
    problems = [ConfigProblem(f"risk.accounts.{v}", f"no venue {v!r}; venues: {', '.join(venues)}")
                for v in r.accounts if v not in venues]
    if live:
        problems += [ConfigProblem(f"risk.accounts.{v}.balances",
                                   "live balances come from the venue's private API; remove them")
                     for v, a in r.accounts.items() if a.balances]
    if problems:
        raise ConfigError(problems)
    specs = {v: AccountSpec(v, dict(a.balances), LinearTerms(a.leverage, a.maintenance_rate))
             for v, a in r.accounts.items()}
    if live:
        for v in venues:
            specs.setdefault(v, AccountSpec(v))
    return AccountBook(portfolio, specs, r.margin_buffer_pct, now_ns, live=live)
