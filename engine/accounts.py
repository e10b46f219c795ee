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
margin here (venues differ in how they reserve; a documented simplification).

What a check costs: O(1), whatever the number of positions. Each position contributes one
*part* to the account it is margined in (its PnL and fees when in that currency, its IM and
MM at its mark), and the account keeps the sums of those parts. A 1 s timer (``refresh``)
rebuilds every part at the current marks, off the order path; between rebuilds, a fill changes
only the filled position, so its part alone is replaced as the fill is handled (the gate's
``on_fill`` calls ``on_fill`` here; a check catches up itself for fills that reached the
portfolio another way, the portfolio saying which through ``filled_since``); anything else
that moves positions (a reconciliation adjustment, a restore) or a part that is unknown (NaN)
rebuilds. Equity may lag
the marks by up to a second (``max_age_ns``: a check also rebuilds when the timer has not
run for that long). The margin rule of each instrument is resolved once
(``engine.margin.MarginModel``), so the check pays only its arithmetic.

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
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from engine.margin import LinearTerms, MarginModel
from engine.model import AccountReported, Instrument, InstrumentKind, is_usd
from engine.portfolio import Portfolio, Position
from engine.risk.limits import Denial, Reason

if TYPE_CHECKING:
    from engine.config.schema import ConfigProblem


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


class _Facts:
    """What the account book needs about one instrument, resolved once (see ``_facts``)."""

    __slots__ = ("inst", "iid", "spec", "key", "pool", "pnl_pool", "fee_pool", "own_pnl",
                 "own_fees", "asset", "margin", "change", "is_option", "premium_times_und",
                 "contract_size", "figures")

    def __init__(self, inst: Instrument, spec: AccountSpec | None) -> None:
        pos = Position(inst)
        self.inst = inst
        self.iid = inst.id
        self.spec = spec
        self.pool = collateral(inst.settle)  # the account it is margined in
        self.key = (inst.venue, self.pool)
        self.pnl_pool = collateral(pos.pnl_currency)
        self.fee_pool = collateral(pos.fee_currency)
        # its PnL and fees count toward the account it is margined in only when they are in
        # that account's currency (the others belong to no account of the model)
        self.own_pnl = self.pnl_pool == self.pool
        self.own_fees = self.fee_pool == self.pool
        self.asset = inst.asset
        model = MarginModel(inst, spec.terms if spec is not None else LinearTerms())
        self.margin = model.margin
        self.change = model.change
        self.figures = _Figures()  # its account's current figures (the book shares its own)
        self.contract_size = inst.contract_size
        self.is_option = inst.kind is InstrumentKind.OPTION
        # a bought option's premium is paid in its premium currency: USD premiums of a coin
        # account are converted at the underlying
        self.premium_times_und = not inst.premium_in_coin and self.pool != "USD"


class _Figures:
    """One paper account's (equity, IM, MM) as of its sums, worked out whenever the sums change
    (a rebuild, a fill caught up), so that an order's check reads three numbers off the
    instrument's facts instead of looking the account up (the same floats: balance + PnL part)."""

    __slots__ = ("equity", "im", "mm")

    def __init__(self) -> None:
        self.equity = self.im = self.mm = 0.0


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
        self._buffer: float | None = None
        self.margin_buffer_pct = margin_buffer_pct
        self.now_ns = now_ns
        self.max_age_ns = max_age_ns
        self._facts: dict[int, _Facts] = {}  # id(instrument) -> facts (the entry keeps it alive)
        self._positions_of = portfolio.by_instrument
        self._und_px = portfolio.underlying_prices
        # Paper: each position's part of its account, and the account sums of those parts
        # (module docstring, "Pre-trade"); live: the reported figures per pool.
        self._parts: dict[str, tuple[tuple[str, str], float, float, float]] = {}
        self._sums: dict[tuple[str, str], list[float]] = {}  # key -> [PnL part, IM, MM]
        self._figures: dict[tuple[str, str], _Figures] = {}  # key -> its figures (from the sums)
        self._fills = -1  # the portfolio's counters when the sums were last brought up to date
        self._adjustments = -1
        self._built_ns = 0
        self._live_cache: dict[tuple[str, str], AccountState] = {}
        self.balances: dict[tuple[str, str], float] = {}
        for venue, spec in specs.items():
            for ccy, amount in spec.balances.items():
                key = (venue, collateral(ccy))
                self.balances[key] = self.balances.get(key, 0.0) + amount

    @property
    def margin_buffer_pct(self) -> float | None:
        return self._buffer_pct

    @margin_buffer_pct.setter
    def margin_buffer_pct(self, pct: float | None) -> None:
        self._buffer_pct = pct
        self._buffer = None if pct is None else 1.0 + pct / 100.0  # (as a factor on MM)

    # -- state ----------------------------------------------------------------------------
    def _facts_of(self, inst: Instrument) -> _Facts:
        f = self._facts.get(id(inst))
        if f is None or f.inst is not inst:
            f = self._facts[id(inst)] = _Facts(inst, self.specs.get(inst.venue))
            if f.spec is not None:
                fig = self._figures.get(f.key)
                if fig is None:
                    fig = self._figures[f.key] = _Figures()
                    self._refigure(f.key, fig)
                f.figures = fig
        return f

    def _refigure(self, key: tuple[str, str], fig: _Figures) -> None:
        """An account's figures from its sums (as ``_paper_figures`` works them out)."""
        s = self._sums.get(key)
        equity = self.balances.get(key, 0.0)
        if s is None:
            fig.equity, fig.im, fig.mm = equity, 0.0, 0.0
        else:
            equity += s[0]
            fig.equity, fig.im, fig.mm = equity, s[1], s[2]

    def _pools(self, inst: Instrument) -> tuple[str, str, str, str]:
        """(margin pool, PnL pool, fee pool, asset) of an instrument, computed once."""
        f = self._facts_of(inst)
        return f.pool, f.pnl_pool, f.fee_pool, f.asset

    def _positions(self, venue: str, ccy: str) -> list[Position]:
        return [p for p in self.portfolio.positions()
                if p.instrument.venue == venue and self._facts_of(p.instrument).pool == ccy]

    def _mark(self, pos: Position) -> float:
        return pos.mark if pos.mark == pos.mark else pos.avg_price

    def _und(self, inst: Instrument) -> float:
        return self._und_px.get(inst.asset, math.nan)

    def _part(self, pos: Position, f: _Facts) -> tuple[float, float, float]:
        """(PnL part of equity, IM, MM) one position brings to the account it is margined in."""
        eq = 0.0
        if f.own_pnl:
            eq += pos.realized + pos.unrealized()
        if f.own_fees:
            eq += pos.funding - pos.fees
        if pos.other_fees:  # a fee in another currency of this account's pool (USDC in USD)
            for ccy, fee in pos.other_fees.items():
                if collateral(ccy) == f.pool:
                    eq -= fee
        qty = pos.qty
        if qty == 0.0:
            return eq, 0.0, 0.0
        mark = pos.mark if pos.mark == pos.mark else pos.avg_price
        im, mm = f.margin(qty, mark, self._und_px.get(f.asset, _NAN))
        return eq, im, mm

    # -- live feed --------------------------------------------------------------------------
    def on_report(self, ev: AccountReported) -> None:
        """A venue reported one account (the bus handler of ``AccountReported``)."""
        if ev.venue not in self.specs:
            return  # a venue this deployment does not trade
        self.reported[(ev.venue, ev.currency.upper())] = ev
        pool = (ev.venue, collateral(ev.currency))
        self._reported_pools.add(pool)
        self._live_cache.pop(pool, None)

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
        """One account computed afresh from the positions (reports; the check reads sums)."""
        if self.live:
            return self._reported_state(venue, ccy)
        balance = self.balances.get((venue, ccy), 0.0)
        equity = balance
        im = mm = 0.0
        for pos in self._positions(venue, ccy):
            eq, i, m = self._part(pos, self._facts_of(pos.instrument))
            equity += eq
            im += i
            mm += m
        return AccountState(venue, ccy, balance, equity, im, mm)

    def refresh(self) -> None:
        """Bring every account up to the current marks (a 1 s timer calls it, so that order
        checks between fills only read sums)."""
        if self.live:
            self._live_cache.clear()
        else:
            self._rebuild()

    def _rebuild(self) -> None:
        """Every position's part afresh, and the sums from them (O(positions), off the order
        path: the timer, or a check when the timer has not run for ``max_age_ns``)."""
        p = self.portfolio
        self._parts.clear()
        sums = self._sums
        sums.clear()
        for pos in p.positions():
            f = self._facts_of(pos.instrument)
            if f.spec is None:
                continue
            eq, im, mm = self._part(pos, f)
            self._parts[f.iid] = (f.key, eq, im, mm)
            s = sums.get(f.key)
            if s is None:
                sums[f.key] = [eq, im, mm]
            else:
                s[0] += eq
                s[1] += im
                s[2] += mm
        self._fills, self._adjustments = p.fills, p.adjustments
        self._built_ns = self.now_ns() if self.now_ns is not None else 0
        for key, fig in self._figures.items():
            self._refigure(key, fig)

    def _catch_up(self) -> None:
        """Fills since the sums were built change only the filled positions: replace their
        parts (O(1) per fill). Anything else (a reconciliation adjustment, a restore, a part
        that is unknown, NaN) rebuilds."""
        p = self.portfolio
        changed = p.filled_since(self._fills) if p.adjustments == self._adjustments else None
        if changed is None or len(changed) > 64:
            self._rebuild()
            return
        parts, sums = self._parts, self._sums
        for iid in changed:
            pos = self._positions_of.get(iid)
            if pos is None:
                continue
            f = self._facts_of(pos.instrument)
            if f.spec is None:
                continue
            eq, im, mm = self._part(pos, f)
            old = parts.get(iid)
            s = sums.get(f.key)
            if old is None or s is None:
                old, s = (f.key, 0.0, 0.0, 0.0), sums.setdefault(f.key, [0.0, 0.0, 0.0])
            if not _finite(eq + im + mm + old[1] + old[2] + old[3] + s[0] + s[1] + s[2]):
                self._rebuild()  # NaN cannot be taken out of a sum again: start over
                return
            s[0] += eq - old[1]
            s[1] += im - old[2]
            s[2] += mm - old[3]
            parts[iid] = (f.key, eq, im, mm)
            self._refigure(f.key, f.figures)
        self._fills = p.fills

    def on_fill(self) -> None:
        """A fill was applied to the portfolio (the gate calls this from the fill's handling):
        patch the filled position's part now, so that the next order's check only reads."""
        p = self.portfolio
        if not self.live and (p.fills != self._fills or p.adjustments != self._adjustments):
            self._catch_up()

    def _paper_figures(self, key: tuple[str, str], now_ns: int | None = None) -> tuple[float, float, float]:
        """(equity, IM, MM) of one account as of the last fill, marks at most ``max_age_ns``
        old: what keeps the per-order check O(1)."""
        p = self.portfolio
        if p.fills != self._fills or p.adjustments != self._adjustments:
            self._catch_up()
        clock = self.now_ns
        if clock is not None:
            if now_ns is None:
                now_ns = clock()
            if now_ns - self._built_ns >= self.max_age_ns:
                self._rebuild()
        s = self._sums.get(key)
        balance = self.balances.get(key, 0.0)
        if s is None:
            return balance, 0.0, 0.0
        return balance + s[0], s[1], s[2]

    def _live_figures(self, key: tuple[str, str]) -> tuple[float, float, float]:
        st = self._live_cache.get(key)
        if st is None:
            st = self._live_cache[key] = self._reported_state(*key)
        return st.equity, st.initial_margin, st.maintenance_margin

    def accounts(self) -> list[AccountState]:
        keys = set(self.balances)
        keys.update((v, collateral(c)) for v, c in self.reported)
        for pos in self.portfolio.positions():
            if pos.instrument.venue in self.specs:
                keys.add((pos.instrument.venue, collateral(pos.instrument.settle)))
        return [self.state(v, c) for v, c in sorted(keys)]

    # -- pre-trade --------------------------------------------------------------------------
    def prepare(self, instruments: Iterable[Instrument]) -> None:
        """Resolve each instrument's account and margin rule now (the gate calls this as
        instruments are registered), not on its first order."""
        for inst in instruments:
            self._facts_of(inst)

    def rules(self, inst: Instrument) -> _Facts:
        """What the book resolved about ``inst`` (its account, its margin rule): the handle
        ``check_with`` takes. The gate keeps it in its own facts of the instrument, so that an
        order's check does not look it up again (valid while ``inst`` is the same object)."""
        f = self._facts.get(id(inst))
        if f is None or f.inst is not inst:
            f = self._facts_of(inst)
        return f

    def check(self, inst: Instrument, signed_qty: float, price: float,
              now_ns: int | None = None) -> Denial | None:
        """INSUFFICIENT_MARGIN / NEAR_MAINTENANCE / UNPRICED for an order as if filled
        (``now_ns``: the engine clock's time, when the caller has read it already)."""
        return self.check_with(self.rules(inst), signed_qty, price, now_ns)

    def check_with(self, f: _Facts, signed_qty: float, price: float,
                   now_ns: int | None = None) -> Denial | None:
        """``check`` of the instrument ``f = rules(inst)`` stands for (the gate's call)."""
        if f.spec is None:
            return None
        key = f.key
        if self.live and key not in self._reported_pools:
            return None  # not reported yet: the venue's own check applies (module docstring)
        pos = self._positions_of.get(f.iid)
        now_qty = 0.0 if pos is None else pos.qty
        if now_qty != 0.0:
            mark = pos.mark
            if mark != mark:
                mark = pos.avg_price
        else:
            now_qty, mark = 0.0, price
        und = self._und_px.get(f.asset, _NAN)
        if f.is_option and und != und:
            return Denial(Reason.UNPRICED, f"no {f.asset} price: margin of {f.iid} unknown")
        im0, mm0, im1, mm1 = f.change(now_qty, now_qty + signed_qty, mark, und)
        premium = 0.0
        if f.is_option and signed_qty > 0:
            premium = signed_qty * f.contract_size * price  # paid up front, in the premium ccy
            if f.premium_times_und:
                premium *= und
        if im1 + premium <= im0 and mm1 <= mm0:
            return None  # the order does not add margin
        if self.live:
            equity, im, mm = self._live_figures(key)
        else:  # (``_paper_figures`` inline when the sums are current: what nearly every order sees)
            p = self.portfolio
            if (p.fills != self._fills or p.adjustments != self._adjustments or self.now_ns is not None
                    and (now_ns if now_ns is not None else self.now_ns()) - self._built_ns >= self.max_age_ns):
                equity, im, mm = self._paper_figures(key, now_ns)
            else:  # (worked out as the sums last changed: ``_refigure``)
                fig = f.figures
                equity, im, mm = fig.equity, fig.im, fig.mm
        im = im - im0 + im1 + premium
        mm = mm - mm0 + mm1
        if im != im or mm != mm:
            return Denial(Reason.UNPRICED, f"margin of {f.iid} unknown (no mark)")
        if im > equity:
            ccy = f.pool
            return Denial(Reason.INSUFFICIENT_MARGIN,
                          f"{f.inst.venue} {ccy} initial margin after the fill {im:.8g} > equity "
                          f"{equity:.8g} ({ccy})", im, equity)
        buf = self._buffer
        if buf is not None and mm > 0 and equity < mm * buf:
            return Denial(Reason.NEAR_MAINTENANCE,
                          f"{f.inst.venue} {f.pool} equity {equity:.8g} within {self.margin_buffer_pct:g}% "
                          f"of maintenance margin {mm:.8g} after the fill", equity, mm * buf)
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


_NAN = math.nan


def _finite(x: float) -> bool:
    return x - x == 0.0  # False for NaN and for +-inf


def _r(x: float) -> float | None:
    return round(x, 10) if math.isfinite(x) else None


def account_book(config: Any, portfolio: Portfolio,
                 now_ns: Callable[[], int] | None = None) -> AccountBook | None:
    """The account book of a deployment: paper/backtest from ``[risk.accounts]`` (None when
    none is configured); live, one over every enabled venue, fed by the venues' reports
    (``on_report``), with each venue's ``leverage``/``maintenance_rate`` for the margin an
    order adds. An account for a venue the deployment does not list is a config error, and so
    is a live balance (live balances come from the venue): ``account_problems``."""
    from engine.config import ConfigError

    r = config.risk
    live = config.deployment.mode == "live"
    if not live and not r.accounts:
        return None
    venues = sorted(config.enabled_venues())
    problems = account_problems(config)
    if problems:
        raise ConfigError(problems)
    specs = {v: AccountSpec(v, dict(a.balances), LinearTerms(a.leverage, a.maintenance_rate))
             for v, a in r.accounts.items()}
    if live:
        for v in venues:
            specs.setdefault(v, AccountSpec(v))
    return AccountBook(portfolio, specs, r.margin_buffer_pct, now_ns, live=live)


def account_problems(config: Any) -> list[ConfigProblem]:
    """What ``account_book`` refuses in ``[risk.accounts]``, as config problems: an account
    for a venue the deployment does not enable, a balance in a live deployment. One rule for
    ``volta run`` and ``volta check-config`` (engine.runtime.resolve_plugins)."""
    from engine.config.schema import ConfigProblem

    r = config.risk
    venues = sorted(config.enabled_venues())
    problems = [ConfigProblem(f"risk.accounts.{v}", f"no venue {v!r}; venues: {', '.join(venues)}")
                for v in r.accounts if v not in venues]
    if config.deployment.mode == "live":
        problems += [ConfigProblem(f"risk.accounts.{v}.balances",
                                   "live balances come from the venue's private API; remove them")
                     for v, a in r.accounts.items() if a.balances]
    return problems
