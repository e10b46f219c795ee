"""Positions, PnL and delta per instrument and per underlying.

Theory of operation: a fill changes one ``Position``. Increasing a position moves its average
price; reducing it realizes PnL against that average. Linear products (and options whose
premium is a price in one currency, USD or coin) realize ``qty * contract_size * (exit -
entry)`` in their price currency; inverse futures and perpetuals (Deribit, OKX coin-margined)
realize ``qty * contract_size * (1/entry - 1/exit)`` in coin. Everything is also reported in
USD at the latest underlying price, so positions on several venues add up. Marks come from
the book mid, else the venue's mark price. Option delta uses the latest Greeks available
(model Greeks from the chain view when wired, otherwise the venue's published Greeks).

Greeks per underlying are running totals (``engine.greek_totals``: O(1) to read, a change
replaces one position's contribution; a Greek not known leaves the position out, named in
``greeks_uncounted`` / ``uncounted``). This module decides what each position contributes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from itertools import islice
from types import MappingProxyType
from decimal import Decimal
from typing import Any

from engine.model import (
    Instrument,
    InstrumentKind,
    OptionSummary,
    OrderFilled,
    canonical_asset,
    is_usd,
)
from engine import pnl
from engine.greek_totals import ZERO as _ZERO, GreekTotals
from engine.greeks import ALL_UNKNOWN
from engine.portfolio_state import PortfolioState, PositionState
from engine.pricing.inverse import inverse_greeks_scalar

_DZERO = Decimal(0)


def premium_adjusted_delta(inst: Instrument, iv: float, forward: float, now_ns: int) -> float:
    """Premium-adjusted coin delta of one unit of a coin-settled option (NaN if unknown)."""
    t = inst.years_to_expiry(now_ns)
    if not (iv == iv and iv > 0 and forward == forward and forward > 0 and 0 < t < math.inf):
        return math.nan
    g = inverse_greeks_scalar(inst.is_call, forward, inst.strike, t, iv, 0.0)
    return float(g[1])


_EXACT: dict[float, Decimal] = {}


def exact(qty: float) -> Decimal:
    """A venue quantity as the exact decimal it was written as (0.1 -> Decimal('0.1')).

    ``repr`` of a float is the shortest string that round-trips, i.e. the decimal the venue
    sent; summing those decimals never drifts (0.1 + 0.2 - 0.3 is exactly 0). Fill sizes
    repeat, so conversions are memoised (bounded)."""
    d = _EXACT.get(qty)
    if d is None:
        d = Decimal(repr(float(qty)))
        if len(_EXACT) < 65_536:
            _EXACT[qty] = d
    return d


class Position:
    """One instrument's position. ``exact_qty`` (a Decimal, in contracts) is the truth;
    ``qty`` is its float view for pricing and reports, refreshed on every change, so a
    flat position reads exactly 0.0."""

    __slots__ = ("instrument", "qty", "exact_qty", "avg_price", "realized", "fees", "traded_qty",
                 "fills", "mark", "delta_per_contract", "contrib", "funding", "inverse_linear",
                 "uncounted", "fee_ccy", "other_fees")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        # (= is_inverse_linear_priced; the instrument is immutable: read once, not per mark)
        self.inverse_linear = instrument.inverse and instrument.kind is not InstrumentKind.OPTION
        self.exact_qty = _DZERO
        self.qty = 0.0
        self.avg_price = 0.0
        self.realized = 0.0  # in pnl_currency
        self.fees = 0.0  # in ``fee_currency`` (+ paid, - rebate received)
        self.fee_ccy = self.fee_currency  # (read once: compared on every fill)
        # fees charged in another currency (a spot buy's fee in the coin bought, a BNB fee),
        # per currency; None while there is none (the usual case)
        self.other_fees: dict[str, float] | None = None
        self.funding = 0.0  # funding received (+) or paid (-), in the settlement currency
        self.traded_qty = _DZERO
        self.fills = 0
        self.mark = math.nan
        self.delta_per_contract = math.nan  # option delta from Greeks, per contract
        self.contrib = (0.0, 0.0, 0.0, 0.0)  # (delta, gamma, vega, theta) now in the totals
        self.uncounted = 0  # bit i set: GREEKS[i] of this open position is left out of the totals

    @property
    def is_inverse_linear_priced(self) -> bool:
        """True for inverse futures/perps, whose PnL is in coin and nonlinear in price."""
        return self.inverse_linear

    @property
    def pnl_currency(self) -> str:
        i = self.instrument
        if self.is_inverse_linear_priced or i.premium_in_coin:
            return i.settle
        return i.quote

    @property
    def fee_currency(self) -> str:
        """The currency of ``fees``; a fill's fee in another currency goes to ``other_fees``."""
        i = self.instrument
        return i.settle if i.inverse or i.kind is InstrumentKind.OPTION else i.quote

    def add_fee(self, fee: float, currency: str = "") -> None:
        """Book ``fee`` (+ paid, - rebate) in ``currency`` ("": ``fee_currency``)."""
        if not currency or currency == self.fee_ccy or currency.upper() == self.fee_ccy.upper():
            self.fees += fee
        elif fee:
            ccy = currency.upper()
            other = self.other_fees
            if other is None:
                other = self.other_fees = {}
            other[ccy] = other.get(ccy, 0.0) + fee

    def _set_qty(self, q: Decimal) -> None:
        self.exact_qty = q
        self.qty = float(q)

    def apply_fill(self, side_sign: int, qty: float, price: float, fee: float,
                   fee_currency: str = "") -> float:
        """Apply a fill (its fee in ``fee_currency``, "": the position's); returns the PnL it
        realized (pnl_currency). The position is summed exactly (Decimal); prices and PnL
        are floats (they are products, never re-summed into a quantity)."""
        q = exact(qty)
        cur = self.qty  # float view: exact sign, exactly 0.0 when flat
        self.fills += 1
        self.traded_qty += q
        self.add_fee(fee, fee_currency)
        if self.avg_price != self.avg_price:  # taken over with no entry: enters here
            self.avg_price = price
        if cur == 0.0 or (cur > 0.0) == (side_sign > 0):
            old_abs = abs(cur)
            if self.is_inverse_linear_priced:
                # Average entry of inverse contracts is the harmonic mean of fill prices.
                inv = (old_abs / self.avg_price if old_abs else 0.0) + qty / price
                self.avg_price = (old_abs + qty) / inv
            else:
                self.avg_price = (old_abs * self.avg_price + qty * price) / (old_abs + qty)
            self._set_qty(self.exact_qty + q if side_sign > 0 else self.exact_qty - q)
            return 0.0
        closing = qty if qty < abs(cur) else abs(cur)
        direction = 1.0 if cur > 0.0 else -1.0
        realized = self.closed_pnl(direction * closing, price)
        self.realized += realized
        self._set_qty(self.exact_qty + q if side_sign > 0 else self.exact_qty - q)
        new = self.qty
        if new == 0.0:
            self.avg_price = 0.0
        elif (new > 0.0) != (direction > 0):
            self.avg_price = price  # flipped: the remainder opened at this price
        return realized

    def closed_pnl(self, signed_qty: float, price: float) -> float:
        """PnL (pnl_currency) of closing ``signed_qty`` of this position (+: of a long) at
        ``price`` against the average entry."""
        cs = self.instrument.contract_size
        if self.is_inverse_linear_priced:
            return signed_qty * cs * (1.0 / self.avg_price - 1.0 / price)
        return signed_qty * cs * (price - self.avg_price)

    def unrealized(self) -> float:
        """Unrealized PnL at ``mark`` in ``pnl_currency``; NaN (unknown) without a mark."""
        if self.qty == 0.0:
            return 0.0
        if math.isnan(self.mark):
            return math.nan
        return self.closed_pnl(self.qty, self.mark)

    def delta_base(self, underlying_price: float) -> float:
        """Delta in units of the underlying (e.g. BTC); NaN (unknown, never 0) for an option
        with no delta yet or an inverse contract with neither a mark nor ``underlying_price``."""
        i = self.instrument
        if self.qty == 0.0:
            return 0.0
        if i.kind is InstrumentKind.OPTION:
            return self.qty * i.contract_size * self.delta_per_contract  # NaN propagates
        if i.inverse:
            px = self.mark if not math.isnan(self.mark) else underlying_price
            return self.qty * i.contract_size / px if px > 0 else math.nan
        return self.qty * i.contract_size


class Portfolio:
    """All positions of this process, with PnL in USD and Greek totals per underlying."""

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._positions: dict[str, Position] = {}
        self.by_instrument: Mapping[str, Position] = MappingProxyType(self._positions)
        """Positions by instrument id, read-only and live (what the risk gate reads per order)."""
        self._instruments: dict[str, Instrument] = {}
        self.underlying_prices: dict[str, float] = {}
        self.fills = 0
        self.duplicate_fills = 0
        self.adjustments = 0
        # (instrument, trade id) of every fill applied, oldest first (a dict keeps the order
        # a snapshot needs to keep the newest ones)
        self._seen_trades: dict[tuple[str, str], None] = {}
        self._greeks: dict[str, tuple[float, float, float, float]] = {}  # option, per contract
        self._clean: dict[str, tuple[float, float, float, float]] = {}
        self._sums = GreekTotals()
        # read-only live views of the totals for the risk gate (no copy per order): by
        # canonical underlying, and vega by (underlying, expiry)
        self.greek_totals: Mapping[str, list[float]] = self._sums.totals
        self.expiry_vegas: Mapping[tuple[str, int], float] = self._sums.expiry_vegas
        self.option_greeks: Mapping[str, tuple[float, float, float, float]] = MappingProxyType(self._clean)
        """Per-contract Greeks of options (delta NaN: not known yet; the others 0 when
        unknown), read-only and live: ``greeks_per_contract`` without its call, for the gate."""
        self._partial: dict[str, int] = {}  # option -> GREEKS bits its Greeks lack (delta known)
        self.greeks_uncounted: Mapping[str, int] = self._sums.uncounted_counts
        """Per canonical underlying, how many open positions have a Greek left out of the totals
        (absent: complete); read-only and live. ``uncounted`` names them."""
        self._und: dict[str, str] = {}
        for i in instruments:
            self.add_instrument(i)

    def add_instrument(self, instrument: Instrument) -> None:
        self._instruments[instrument.id] = instrument
        self._und[instrument.id] = instrument.asset

    def instrument(self, instrument_id: str) -> Instrument | None:
        return self._instruments.get(instrument_id)

    def position(self, instrument_id: str) -> Position | None:
        return self._positions.get(instrument_id)

    def positions(self) -> list[Position]:
        return list(self._positions.values())

    def _get(self, instrument_id: str) -> Position:
        pos = self._positions.get(instrument_id)
        if pos is None:
            instrument = self._instruments.get(instrument_id)
            if instrument is None:
                raise KeyError(f"fill for unknown instrument {instrument_id}")
            pos = self._positions[instrument_id] = Position(instrument)
        return pos

    def filled_since(self, fills: int) -> list[str] | None:
        """Instrument ids of the fills applied after the first ``fills`` (newest first), or
        None when they are not known any more (a restore in between, or older than the trade
        ids kept). Every applied fill adds exactly one trade id, newest last, and counts one
        in ``fills``: that is what lets a reader catch up without walking every position."""
        n = self.fills - fills
        if n < 0 or n > len(self._seen_trades):
            return None
        return [iid for iid, _ in islice(reversed(self._seen_trades), n)]

    def has_trade(self, instrument_id: str, trade_id: str) -> bool:
        return (instrument_id, trade_id) in self._seen_trades

    def on_fill(self, fill: OrderFilled) -> bool:
        """Apply a fill once; a fill seen before (same venue trade id) is ignored."""
        key = (fill.instrument_id, fill.trade_id)
        if key in self._seen_trades:
            self.duplicate_fills += 1
            return False
        pos = self._get(fill.instrument_id)
        self._seen_trades[key] = None
        pos.apply_fill(fill.side.sign, fill.quantity, fill.price, fill.fee, fill.fee_currency)
        if math.isnan(pos.mark):
            pos.mark = fill.price
        self.fills += 1
        self._recontrib(pos)
        return True

    def excess_trades(self, keep_trades: int) -> int:
        """(instrument, trade id) pairs beyond the newest ``keep_trades`` (O(1))."""
        return len(self._seen_trades) - max(keep_trades, 0)

    def retire_trades(self, keep_trades: int, limit: int | None = None) -> int:
        """Forget the oldest (instrument, trade id) pairs beyond the newest ``keep_trades``
        (what a snapshot keeps, ``snapshot``), at most ``limit`` of them (None: all); returns
        how many. O(forgotten): the oldest are first. A venue reporting one of them again is
        then a new fill, as after a restart (a reconciliation's position check corrects it)."""
        seen = self._seen_trades
        excess = self.excess_trades(keep_trades)
        if excess <= 0:
            return 0
        n = excess if limit is None else min(excess, limit)
        for key in list(islice(seen, n)):
            del seen[key]
        return n

    def snapshot(self, keep_trades: int) -> PortfolioState:
        """Positions (exact quantities, average price, realized PnL, fees, funding, mark),
        the counters, and the newest ``keep_trades`` (instrument, trade id) pairs: what
        de-duplicates a fill a venue reports again after a restart (a reconnect or a
        reconciliation reports recent fills, not the whole history)."""
        # newest first up to the cap (not a copy of the whole history every minute)
        trades = list(islice(reversed(self._seen_trades), keep_trades)) if keep_trades > 0 else []
        trades.reverse()
        return PortfolioState(
            positions=[PositionState(instrument_id=p.instrument.id, quantity=p.exact_qty,
                                     avg_price=p.avg_price, realized=p.realized, fees=p.fees,
                                     funding=p.funding, traded=p.traded_qty, fills=p.fills,
                                     mark=p.mark, other_fees=dict(p.other_fees or {}))
                       for p in self._positions.values()],
            trades=trades,
            fills=self.fills, duplicate_fills=self.duplicate_fills, adjustments=self.adjustments)

    def restore(self, state: PortfolioState) -> list[str]:
        """Put back a snapshot (into a portfolio without positions); Greek totals are
        recomputed. Returns the instrument ids no instrument is known for (left out)."""
        if self._positions:
            raise ValueError("restore into a portfolio that already holds positions")
        unknown = []
        for ps in state.positions:
            inst = self._instruments.get(ps.instrument_id)
            if inst is None:
                unknown.append(ps.instrument_id)
                continue
            pos = self._positions[ps.instrument_id] = Position(inst)
            pos._set_qty(ps.quantity)
            # (an entry of 0 on an open position: taken over without one before 0 meant
            # unknown; NaN now, entered at the next price as ``adjust_position`` does)
            pos.avg_price = ps.avg_price if ps.avg_price > 0 or not ps.quantity else math.nan
            pos.realized = ps.realized
            pos.fees = ps.fees
            pos.funding = ps.funding
            pos.other_fees = dict(ps.other_fees) or None
            pos.traded_qty = ps.traded
            pos.fills = ps.fills
            pos.mark = ps.mark
            self._recontrib(pos)
        self._seen_trades = dict.fromkeys(tuple(t) for t in state.trades)
        self.fills = state.fills
        self.duplicate_fills = state.duplicate_fills
        self.adjustments = state.adjustments
        return unknown

    def adjust_position(self, instrument_id: str, qty: float, avg_price: float,
                        close_price: float = 0.0, settled: bool = False) -> float:
        """Set a position to the venue's view (reconciliation, a settlement at expiry); returns
        the change in qty. The part that went away (shrunk, closed or flipped) is realized at
        ``close_price`` (the mark; not > 0: none known, nothing realized; ``settled``: the
        venue's settlement price, 0 included). Without an average price (not > 0) the
        position enters at its mark, else at the first mark or fill price after
        (``avg_price`` NaN until then: unrealized unknown)."""
        pos = self._get(instrument_id)
        cur = pos.qty
        change = qty - cur
        known = close_price > 0 or (settled and close_price == 0.0)
        if cur != 0.0 and known and pos.avg_price > 0 and (
                qty == 0.0 or (qty > 0.0) != (cur > 0.0) or abs(qty) < abs(cur)):
            gone = cur if qty == 0.0 or (qty > 0.0) != (cur > 0.0) else cur - qty
            pos.realized += pos.closed_pnl(gone, close_price)
        pos._set_qty(exact(qty))
        if qty == 0.0:
            pos.avg_price = 0.0
        elif avg_price > 0:
            pos.avg_price = avg_price
            if math.isnan(pos.mark):
                pos.mark = avg_price
        else:
            pos.avg_price = pos.mark  # (NaN without a mark: set by the next price seen)
        self.adjustments += 1
        self._recontrib(pos)
        return change

    def set_mark(self, instrument_id: str, price: float) -> None:
        pos = self._positions.get(instrument_id)
        if pos is not None and price == price:
            pos.mark = price
            if pos.avg_price != pos.avg_price and pos.qty != 0.0:
                pos.avg_price = price  # taken over with no entry (adjust_position): enters here
            if pos.inverse_linear and pos.qty != 0.0:
                self._recontrib(pos)  # inverse delta in coin moves with the price

    def set_option_delta(self, instrument_id: str, delta: float) -> None:
        """A delta only (venue Greeks without the others); keeps any other Greek known."""
        g = self._greeks.get(instrument_id, (math.nan, math.nan, math.nan, math.nan))
        inst = self._instruments.get(instrument_id)  # (the kept ones are per contract already)
        if inst is not None:
            self.set_greeks(instrument_id, inst.contract_size * delta, g[1], g[2], g[3], raw=False)

    def set_greeks(self, instrument_id: str, delta: float, gamma: float, vega: float,
                   theta: float, raw: bool = True) -> None:
        """Greeks of one option per unit of underlying (``raw``: vega per 1.00 vol, theta per
        year, as the pricing library and most venues give them) or already per contract."""
        inst = self._instruments.get(instrument_id)
        if inst is None:
            return
        if raw:
            cs = inst.contract_size
            g = (cs * delta, cs * gamma, cs * vega / 100.0, cs * theta / 365.0)
        else:
            g = (delta, gamma, vega, theta)
        self._greeks[instrument_id] = g
        # what the gate reads on every order: unknown Greeks other than delta count as 0
        self._clean[instrument_id] = (g[0], g[1] if g[1] == g[1] else 0.0,
                                      g[2] if g[2] == g[2] else 0.0, g[3] if g[3] == g[3] else 0.0)
        rest = ((g[1] != g[1]) << 1) | ((g[2] != g[2]) << 2) | ((g[3] != g[3]) << 3)
        if rest:  # (rare: a venue delta without the others; _recontrib reads it per change)
            self._partial[instrument_id] = rest
        elif self._partial:
            self._partial.pop(instrument_id, None)
        pos = self._positions.get(instrument_id)
        if pos is not None:
            pos.delta_per_contract = delta if raw else delta / inst.contract_size
            if pos.qty != 0.0:
                self._recontrib(pos)

    def set_venue_greeks(self, instrument_id: str, delta: float, gamma: float,
                         vega_per_point: float, theta_per_day: float) -> None:
        """The venue's published Greeks (vega per vol point, theta per day; Deribit's units),
        used until the chain view has model Greeks for the option."""
        inst = self._instruments.get(instrument_id)
        if inst is None:
            return
        cs = inst.contract_size
        self.set_greeks(instrument_id, cs * delta, cs * gamma, cs * vega_per_point,
                        cs * theta_per_day, raw=False)

    def has_greeks(self, instrument_id: str) -> bool:
        g = self._greeks.get(instrument_id)
        return g is not None and g[0] == g[0]

    def greeks_per_contract(self, instrument_id: str) -> tuple[float, float, float, float] | None:
        """(delta, gamma, vega, theta) of one contract, or None when an option has no delta yet."""
        inst = self._instruments.get(instrument_id)
        if inst is None:
            return None
        if inst.kind is InstrumentKind.OPTION:
            g = self._clean.get(instrument_id)
            return None if g is None or g[0] != g[0] else g
        if inst.inverse:
            pos = self._positions.get(instrument_id)
            px = pos.mark if pos is not None and pos.mark == pos.mark else \
                self.underlying_prices.get(self._und[instrument_id], math.nan)
            return (inst.contract_size / px, 0.0, 0.0, 0.0) if px > 0 else None
        return (inst.contract_size, 0.0, 0.0, 0.0)

    def set_underlying_price(self, underlying: str, price: float) -> None:
        if price == price and price > 0:
            und = canonical_asset(underlying)
            self.underlying_prices[und] = price
            if self.greeks_uncounted.get(und):  # an inverse contract with no mark is priced now
                for iid in self._sums.uncounted(und, "delta"):
                    if self._positions[iid].inverse_linear:
                        self._recontrib(self._positions[iid])

    def on_option_summary(self, ev: OptionSummary, now_ns: int) -> None:
        """The venue's option analytics, used until the chain view has model Greeks.

        Coin-settled (inverse) options get the premium-adjusted delta, the coin hedge ratio
        ``Delta_BS - c`` (docs/units.md), computed by ``engine.pricing`` from the venue's mark
        IV on its forward; without a mark IV, Deribit's own identity ``delta - mark`` (mark
        in coin); never the plain Black-Scholes delta the venue publishes. Gamma, vega and
        theta stay the venue's (per vol point, per day)."""
        inst = self._instruments.get(ev.instrument_id)
        if inst is None or inst.kind is not InstrumentKind.OPTION:
            return
        delta = ev.delta
        if inst.premium_in_coin:
            delta = premium_adjusted_delta(inst, ev.mark_iv, ev.underlying_price, now_ns)
            if delta != delta and ev.delta == ev.delta and ev.mark_price == ev.mark_price:
                delta = ev.delta - ev.mark_price
        if delta != delta:
            return
        self.set_venue_greeks(ev.instrument_id, delta, ev.gamma, ev.vega, ev.theta)

    # -- Greek totals (engine.greek_totals) --------------------------------------------------
    def _recontrib(self, pos: Position) -> None:
        """Put what ``pos`` contributes now into the totals (replacing its old contribution)."""
        inst = pos.instrument
        if pos.qty == 0.0:
            new, unknown = _ZERO, 0
        else:
            g = self.greeks_per_contract(inst.id)
            if g is None:  # an option without a delta: every Greek; an unpriced inverse: delta
                new = _ZERO
                unknown = 1 if inst.kind is not InstrumentKind.OPTION else ALL_UNKNOWN
            else:
                new = (pos.qty * g[0], pos.qty * g[1], pos.qty * g[2], pos.qty * g[3])
                unknown = self._partial.get(inst.id, 0) if self._partial else 0
        if new != pos.contrib or unknown != pos.uncounted:
            self._sums.put(self._und[inst.id], pos, new, unknown)

    def resum(self) -> None:
        """Rebuild every total from the positions (clears accumulated float error)."""
        self._sums.clear(self._positions)
        for pos in self._positions.values():
            self._recontrib(pos)

    def uncounted(self, underlying: str, greek: str = "delta") -> list[str]:
        """Instrument ids (sorted) of the open positions on ``underlying`` whose ``greek`` (of
        ``GREEKS``) is not known, so left out of its total; empty: that total is complete."""
        return self._sums.uncounted(canonical_asset(underlying), greek)

    def greeks(self, underlying: str) -> tuple[float, float, float, float]:
        """(delta, gamma, vega, theta) totals of ``underlying`` across venues (O(1)); the
        underlying may be spelt as any venue does (``btc_usd`` is ``BTC``)."""
        t = self._sums.get(underlying)
        if t is None:
            t = self._sums.get(canonical_asset(underlying))
        return _ZERO if t is None else t

    def vega_by_expiry(self, underlying: str) -> dict[int, float]:
        """Vega (USD per vol point) per expiry of ``underlying`` (any venue's spelling)."""
        return self._sums.vega_by_expiry(canonical_asset(underlying))

    def expiry_vega(self, underlying: str, expiry_ns: int) -> float:
        return self._sums.expiry_vega(canonical_asset(underlying), expiry_ns)

    def underlying_of(self, instrument_id: str) -> str | None:
        return self._und.get(instrument_id)

    # -- aggregates -------------------------------------------------------------------------
    def price_usd(self, currency: str) -> float:
        """USD price of one unit of ``currency``: 1 for USD and USD stablecoins, else the
        latest index of the coin (``underlying_prices``, fed by the venues' index and mark
        events); NaN when no price has been seen: the amount is *unpriced*, never 0."""
        if is_usd(currency):
            return 1.0
        return self.underlying_prices.get(canonical_asset(currency), math.nan)

    def _underlying_of(self, pos: Position) -> str:
        return pos.instrument.asset

    def pnl_usd(self) -> dict[str, Any]:
        """Realized, unrealized, fees, funding and total PnL in USD across all positions
        (``engine.pnl.pnl_usd``): coin amounts converted at ``price_usd``; a figure with
        nothing converted is NaN (unknown), never 0; ``partial``: the total leaves amounts
        out, listed under ``unpriced`` (per currency, in that currency) and ``unmarked``."""
        return pnl.pnl_usd(self._positions.values(), self.price_usd)

    def pnl_usd_by_venue(self) -> dict[str, dict[str, Any]]:
        """``pnl_usd`` per venue (the per-venue breakdown of the firm's PnL)."""
        venues: dict[str, list[Position]] = {}
        for pos in self._positions.values():
            venues.setdefault(pos.instrument.venue, []).append(pos)
        return {v: pnl.pnl_usd(ps, self.price_usd) for v, ps in sorted(venues.items())}

    def unpriced(self) -> dict[str, float]:
        """Currencies with a non-zero amount but no USD price (net amount per currency)."""
        return self.pnl_usd()["unpriced"]

    def pnl_coin(self) -> dict[str, float]:
        """Realized + unrealized - fees + funding per currency (coin for inverse products)."""
        return {ccy: d["realized"] + d["unrealized"] - d["fees"] + d["funding"]
                for ccy, d in pnl.pnl_parts(self._positions.values()).items()}

    def apply_funding(self, instrument_id: str, amount: float) -> None:
        """Book a funding payment (settlement currency; + received, - paid) on a position."""
        pos = self._positions.get(instrument_id)
        if pos is not None:
            pos.funding += amount

    def delta_by_venue(self, underlying: str) -> dict[str, float]:
        """Delta of ``underlying`` per venue (underlying units): the breakdown of ``delta``."""
        und = canonical_asset(underlying)
        out: dict[str, float] = {}
        for pos in self._positions.values():
            if pos.qty != 0.0 and pos.instrument.asset == und:
                out[pos.instrument.venue] = out.get(pos.instrument.venue, 0.0) + pos.contrib[0]
        return out

    def delta(self, underlying: str) -> float:
        """Net delta of every position on ``underlying``, in underlying units (O(1))."""
        return self.greeks(underlying)[0]

    def greeks_summary(self, underlying: str) -> dict[str, Any]:
        """Greek totals for the status line; delta also in USD. A total that leaves positions
        out (``uncounted``) comes with ``<greek>_incomplete``: the instrument ids left out."""
        und = canonical_asset(underlying)
        return self._sums.summary(und, self.greeks(underlying),
                                  self.underlying_prices.get(und, math.nan))

    def underlyings(self) -> list[str]:
        return sorted({self._underlying_of(p) for p in self._positions.values()})
