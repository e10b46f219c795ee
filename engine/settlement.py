"""Delivery (settlement) prices as each venue defines them: a time-weighted index average.

Theory of operation: an expiring option or future settles at the venue's *delivery price*, an
average of the venue's index over a window that ends at expiry. Every venue Volta trades
defines it as the average of the index sampled at a fixed rate (Deribit: every second; OKX:
every 200 ms), i.e. an average over *time*; a feed we record is sampled irregularly (an index
tick arrives when the index moves), so we weight each observation by how long it stood: the
price of an observation holds until the next one, the last observation before the window
carries into it, and the average is the integral of that step function divided by the window
covered. A plain mean of the observations would over-weight bursts of ticks.

Windows (``SETTLEMENT_RULES``; sources: the venues' published delivery rules):

* Deribit: last 30 minutes before expiry (08:00 UTC), options and futures.
* OKX: last 60 minutes before delivery until 2026-03-18, last 30 minutes from then on (OKX
  announcement of 2026-03-06 shortened the window).
* Binance (COIN-M and USD-M delivery, options): last 30 minutes.
* Bybit (options and delivery futures): last 30 minutes.
* anything else (the simulated venue, ``replay``): 30 minutes.

``ExpirySettlement`` is the venue side of it, shared by the simulated venue
(``adapters.sim``: fed its synthetic index) and the replay exchange (``backtest.exchange``: fed
the replayed index, or the expiring instrument's own forward without one): it keeps the
venue's index history and the client's net positions (from the venue's fills) and, when a
listed option or future expires, settles the open position at the delivery price: futures at
that price (inverse contracts: the coin PnL follows from it), coin-premium options (Deribit,
OKX) pay their intrinsic value in coin (intrinsic / delivery price), USD/USDC-premium options
(Bybit, the simulated venue) in USD. The result is one ``PositionSettled`` report, which the
venue publishes to the engine (the execution core closes the position at that price,
journaled). Without an index (nor a forward of that expiry) there is no price to settle at:
logged, never guessed. Live venues settle themselves; their positions at the next
reconciliation say so.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import structlog

from engine.model import Instrument, InstrumentKind, PositionSettled, canonical_asset

log = structlog.get_logger("volta.settlement")
_EPS = 1e-12

NS_PER_S = 1_000_000_000
OKX_WINDOW_CHANGE_NS = 1_773_792_000 * NS_PER_S  # 2026-03-18 00:00 UTC


@dataclass(frozen=True, slots=True)
class SettlementRule:
    venue: str
    window_s: float
    source: str

    def window_ns(self, expiry_ns: int) -> int:
        if self.venue == "okx" and expiry_ns < OKX_WINDOW_CHANGE_NS:
            return 3600 * NS_PER_S
        return int(self.window_s * NS_PER_S)


SETTLEMENT_RULES: dict[str, SettlementRule] = {
    "deribit": SettlementRule("deribit", 1800.0, "time-weighted index, last 30 min"),
    "okx": SettlementRule("okx", 1800.0, "time-weighted index, last 60 min (30 min from 2026-03-18)"),
    "binance": SettlementRule("binance", 1800.0, "time-weighted index, last 30 min"),
    "bybit": SettlementRule("bybit", 1800.0, "time-weighted index, last 30 min"),
}
DEFAULT_RULE = SettlementRule("default", 1800.0, "time-weighted index, last 30 min")
MAX_WINDOW_NS = 3600 * NS_PER_S


def settlement_rule(venue: str) -> SettlementRule:
    """The rule of ``venue`` (``binance-coinm`` uses Binance's); the default otherwise."""
    return SETTLEMENT_RULES.get(venue.split("-", 1)[0].lower(), DEFAULT_RULE)


def time_weighted_average(obs: list[tuple[int, float]] | deque[tuple[int, float]],
                          start_ns: int, end_ns: int) -> float:
    """Average of the step function through ``obs`` (ts ascending) over [start, end].

    Each price holds from its timestamp to the next observation; the last one before
    ``start_ns`` carries into the window. Only the covered part of the window counts (no
    price is invented before the first observation). NaN without any observation <= end."""
    area = 0.0
    covered = 0
    prev_ts = prev_px = None
    for ts, px in obs:
        if ts > end_ns:
            break
        if prev_ts is not None:
            a, b = max(prev_ts, start_ns), ts
            if b > a:
                area += prev_px * (b - a)
                covered += b - a
        prev_ts, prev_px = ts, px
    if prev_ts is None:
        return math.nan
    a = max(prev_ts, start_ns)
    if end_ns > a:
        area += prev_px * (end_ns - a)
        covered += end_ns - a
    if covered == 0:
        return prev_px  # the only observation sits exactly at the end
    return area / covered


class IndexHistory:
    """Index observations of one underlying, kept for the longest settlement window."""

    __slots__ = ("obs",)

    def __init__(self) -> None:
        self.obs: deque[tuple[int, float]] = deque()

    def add(self, ts: int, px: float) -> None:
        obs = self.obs
        if obs and obs[-1][0] == ts:
            obs[-1] = (ts, px)
            return
        obs.append((ts, px))
        horizon = ts - MAX_WINDOW_NS
        # keep one observation at or before the horizon: it carries into the window
        while len(obs) > 1 and obs[1][0] <= horizon:
            obs.popleft()

    def latest(self) -> float:
        return self.obs[-1][1] if self.obs else math.nan

    def delivery_price(self, rule: SettlementRule, expiry_ns: int, now_ns: int) -> float:
        end = min(expiry_ns, now_ns) if expiry_ns > 0 else now_ns
        return time_weighted_average(self.obs, end - rule.window_ns(expiry_ns), end)


class ExpirySettlement:
    """One venue's index history and open client positions, settled at expiry."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.rule = settlement_rule(venue)
        self.positions: dict[str, float] = {}
        """Net client position per instrument, contracts (+ long)."""
        self._index: dict[str, IndexHistory] = {}
        self._forward: dict[tuple[str, int], IndexHistory] = {}
        """Forwards per (asset, expiry) from option summaries: each expiry its own (basis)."""
        self._seen_until: dict[str, int] = {}
        """Latest forward observation time per asset (which expiries are over)."""

    def observe(self, asset: str, price: float, ts: int) -> None:
        """An index or forward price of ``asset`` seen at ``ts`` (not a positive number: ignored)."""
        if not (price == price and price > 0):
            return
        hist = self._index.get(asset)
        if hist is None:
            hist = self._index[asset] = IndexHistory()
        hist.add(ts, price)

    def observe_forward(self, inst: Instrument, price: float, ts: int) -> None:
        """The forward of ``inst``'s expiry (an option summary's underlying price) at ``ts``:
        it converges to the index at that expiry, so it stands in for the index of that
        expiry's settlement when the data has no index (Tardis options_chain)."""
        if not (price == price and price > 0):
            return
        key = (inst.asset, inst.expiry_ns)
        hist = self._forward.get(key)
        if hist is None:
            hist = self._forward[key] = IndexHistory()
        hist.add(ts, price)
        if ts > self._seen_until.get(inst.asset, 0):
            self._seen_until[inst.asset] = ts

    def observe_instrument(self, inst: Instrument | None, instrument_id: str, price: float,
                           ts: int) -> None:
        """``observe`` for the asset of an instrument (an unlisted id names its index)."""
        asset = inst.asset if inst is not None else canonical_asset(instrument_id.partition(":")[2])
        self.observe(asset, price, ts)

    def on_fill(self, instrument_id: str, signed_qty: float) -> None:
        """A client fill of ``signed_qty`` contracts (+ bought)."""
        self.positions[instrument_id] = self.positions.get(instrument_id, 0.0) + signed_qty

    def index_price(self, asset: str) -> float:
        """Latest index price seen for ``asset``, else the latest forward of its nearest expiry
        not yet over (the smallest basis), else NaN."""
        hist = self._index.get(asset)
        if hist is not None:
            return hist.latest()
        until = self._seen_until.get(asset)
        if until is None:
            return math.nan
        live = [e for a, e in self._forward if a == asset and e > until]
        key = (asset, min(live) if live else max(e for a, e in self._forward if a == asset))
        return self._forward[key].latest()

    def delivery_price(self, asset: str, expiry_ns: int, now_ns: int) -> float:
        """The venue's delivery price: time-weighted index over its settlement window before
        ``expiry_ns``; without an index, the time-weighted forward of that very expiry (NaN if
        neither was seen)."""
        hist = self._index.get(asset) or self._forward.get((asset, expiry_ns))
        if hist is None:
            return math.nan
        return hist.delivery_price(self.rule, expiry_ns, now_ns)

    def settle(self, inst: Instrument, now_ns: int) -> PositionSettled | None:
        """Close the position in the expired ``inst``: its ``PositionSettled`` report, or None
        when there is no position (or no index to settle it at: logged)."""
        pos = self.positions.get(inst.id, 0.0)
        if abs(pos) <= _EPS:
            return None
        s = self.delivery_price(inst.asset, inst.expiry_ns, now_ns)
        if not s == s:
            log.error("settlement_without_index", instrument=inst.id, position=pos)
            return None
        if inst.kind is InstrumentKind.FUTURE:
            price = s  # a future delivers at the delivery price (inverse: coin PnL follows)
        else:
            intrinsic = max(s - inst.strike, 0.0) if inst.is_call else max(inst.strike - s, 0.0)
            price = intrinsic / s if inst.premium_in_coin else intrinsic
        self.positions[inst.id] = 0.0
        return PositionSettled(venue=self.venue, instrument_id=inst.id, quantity=round(pos, 12),
                               settlement_price=price, delivery_price=s, ts_event=now_ns,
                               ts_recv=now_ns)
