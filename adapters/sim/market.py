"""The synthetic market: underlying path, option chain quotes, displayed books and trade flow.

Theory of operation, per tick (``tick_ms`` of clock time):

1. Options whose expiry has come are delisted (resting client orders expire, the book empties)
   and the client's open positions in them settle (``settlement``: ``engine.settlement``'s
   rule over this market's own index, observed every tick after it moves).
2. The index moves: GBM at ``annual_vol * level`` plus compound-Poisson log jumps (martingale
   drift); the vol ``level`` and the perp premium are exact-discretized Ornstein-Uhlenbeck
   processes. Every draw comes from its own pre-drawn block of a seeded PCG64 stream, so the
   price path depends on the seed alone, never on what the client does, and a tick costs no
   numpy scalar calls.
3. The whole chain is priced at once (SVI vol -> Black-76 price and vega). Each book's target
   best bid/ask is fair -/+ half spread rounded outwards to the tick (perp: a fraction of a tick;
   options: ``option_spread_vol`` converted with vega, at least one tick). Only books whose target
   best moved are re-quoted, and only on the side that moved: depth below the best sits on a
   round grid and a displayed size stays with its price, so a one-tick move changes two levels.
4. Synthetic market orders (Poisson, perp-heavy, options weighted to the money) walk the published
   book and fill client orders in queue order; random resizes (churn) make the book flicker.
5. Touched books publish one ``BookDelta`` each; every ``summary_ms`` the perp publishes
   ``MarkPrice`` and every option an ``OptionSummary`` (vega per vol point, theta per day).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.random import PCG64, Generator, SeedSequence

from adapters.sim.chain import VolSurface, chain_greeks
from adapters.sim.matching import Ids, MatchingEngine
from adapters.sim.params import SimVenueParams
from adapters.sim.queue import Fill, SimBook
from engine.model import (
    NS_PER_YEAR,
    FundingRate,
    Instrument,
    Level,
    MarkPrice,
    OptionSummary,
    PositionSettled,
    Side,
    Trade,
)
from engine.settlement import ExpirySettlement

_BLOCK = 4096
_NAN = math.nan


class _Buf:
    """A stream of pre-drawn random numbers (numpy draws in blocks, Python reads one by one)."""

    __slots__ = ("_draw", "_data", "_i")

    def __init__(self, draw: Callable[[], np.ndarray]) -> None:
        self._draw = draw
        self._data: list[Any] = []
        self._i = 0

    def next(self) -> Any:
        i = self._i
        if i >= len(self._data):
            self._data = self._draw().tolist()
            i = 0
        self._i = i + 1
        return self._data[i]


def _grid_step(ticks: float) -> int:
    """A round level spacing (1, 2, 5, 10, 20, 50 ... ticks) close to ``ticks``."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= ticks:
                return step * m
        step *= 10


class SyntheticMarket:
    """Drives every book of the simulated venue from one seeded random state."""

    def __init__(self, p: SimVenueParams, instruments: list[Instrument], books: dict[str, SimBook],
                 engine: MatchingEngine, publish: Callable[[Any], None], ids: Ids,
                 start_ns: int, settlement: ExpirySettlement | None = None,
                 settled: Callable[[PositionSettled], None] = lambda rep: None) -> None:
        self.p = p
        self.settlement = settlement
        """The venue's index history and the client's positions (the adapter feeds the fills)."""
        self.settled = settled
        """Where a settlement goes (the adapter: the account, then the engine)."""
        self.engine = engine
        self.publish = publish
        self.ids = ids
        self.insts = instruments
        self.iids = [i.id for i in instruments]
        self.index = {iid: n for n, iid in enumerate(self.iids)}
        self.books = [books[iid] for iid in self.iids]
        n = len(instruments)
        self.spot = p.spot
        self.premium = 0.0
        self.surface = VolSurface(p)
        self.dt = p.tick_ms / 1000.0 / (365 * 86_400)
        ss = SeedSequence(p.seed).spawn(4)
        path, sizes, flow, churn = (Generator(PCG64(s)) for s in ss)
        lam_jump = p.jump_intensity_per_day * 365.0
        self._lam_jump = lam_jump
        self._z = _Buf(lambda: path.standard_normal(_BLOCK))
        self._jumps = _Buf(lambda: path.poisson(lam_jump * self.dt, _BLOCK))
        self._size = _Buf(lambda: sizes.standard_exponential(_BLOCK))
        self._u = _Buf(lambda: flow.random(_BLOCK))
        self._fsize = _Buf(lambda: flow.standard_exponential(_BLOCK))
        self._ntrades = _Buf(lambda: flow.poisson(self._flow_rate * self.dt * 365 * 86_400, _BLOCK))
        self._cu = _Buf(lambda: churn.random(_BLOCK))
        self._nchurn = _Buf(lambda: churn.poisson(p.churn_rate * p.tick_ms / 1000.0, _BLOCK))
        # Chain arrays: index 0 is the perp, 1.. the options in listing order.
        opts = instruments[1:]
        self.is_call = np.array([o.is_call for o in opts], dtype=np.bool_)
        self.strike = np.array([o.strike for o in opts], dtype=np.float64)
        self.expiry = np.array([o.expiry_ns for o in opts], dtype=np.int64)
        self.tick = np.array([i.tick_size for i in instruments], dtype=np.float64)
        self.active = np.ones(n, dtype=np.bool_)
        self.greeks = np.zeros((5, len(opts)), dtype=np.float64)
        self.vol = np.zeros(len(opts), dtype=np.float64)
        self.fwd = np.zeros(len(opts), dtype=np.float64)
        self.fair = np.zeros(n, dtype=np.float64)
        self.half = np.zeros(n, dtype=np.float64)
        self.last_bid = np.full(n, -(1 << 40), dtype=np.int64)
        self.last_ask = np.full(n, -(1 << 40), dtype=np.int64)
        self.q_fair = np.zeros(n, dtype=np.float64)  # fair and half spread at the last quote
        self.q_half = np.zeros(n, dtype=np.float64)
        self.levels = [p.perp_levels] + [p.option_levels] * len(opts)
        self.mean_lots = [p.perp_level_size / instruments[0].lot_size] + [
            p.option_level_size / o.lot_size for o in opts]
        self.trade_lots = [p.perp_trade_size / instruments[0].lot_size] + [
            p.option_trade_size / o.lot_size for o in opts]
        self.steps = [1] * n
        self.frozen: set[int] = set()
        self._expiries = sorted(set(self.expiry.tolist()))
        self._summary_every = max(1, p.summary_ms // max(p.tick_ms, 1))
        self._ticks = 0
        self._dirty: set[int] = set()
        # Flow goes mostly to the perp; across the chain it is weighted to the money.
        t0 = np.maximum(self.expiry - start_ns, 0) / NS_PER_YEAR + 1.0 / 365
        z = np.log(self.strike / p.spot) / (max(p.annual_vol, 0.05) * np.sqrt(t0))
        w = np.exp(-0.5 * z * z)
        w = p.option_trade_rate * w / w.sum() if len(opts) and w.sum() > 0 else w
        rates = np.concatenate(([p.perp_trade_rate], w))
        self._flow_rate = float(rates.sum())
        self._cum = (np.cumsum(rates) / self._flow_rate).tolist() if self._flow_rate > 0 else [1.0] * n

    # -- pricing ---------------------------------------------------------------------------
    def _price(self, now: int) -> None:
        p = self.p
        self.fair[0] = self.spot * (1.0 + self.premium)
        self.half[0] = p.perp_half_spread_ticks * self.tick[0]
        if len(self.strike):
            t = np.maximum((self.expiry - now) / NS_PER_YEAR, 1e-7)
            f = self.spot * np.exp(p.rate * t) if p.rate else np.full(len(t), self.spot)
            sig = self.surface.vol(self.strike, f, t)
            chain_greeks(self.is_call, f, self.strike, t, sig, p.rate, self.greeks)
            self.vol, self.fwd = sig, f
            self.fair[1:] = self.greeks[0]
            self.half[1:] = np.maximum(self.greeks[3] * (0.5 * p.option_spread_vol), self.tick[1:])

    def _observe_index(self, now: int) -> None:
        """The index as it stands now: an observation of the venue's delivery price."""
        if self.settlement is not None:
            self.settlement.observe(self.insts[0].asset, self.spot, now)

    def _targets(self) -> tuple[np.ndarray, np.ndarray]:
        bid = np.floor((self.fair - self.half) / self.tick + 1e-9).astype(np.int64)
        ask = np.ceil((self.fair + self.half) / self.tick - 1e-9).astype(np.int64)
        return bid, np.maximum(ask, np.maximum(bid + 1, 1))

    def _step_path(self) -> None:
        p, dt = self.p, self.dt
        z = self._z
        sig = p.annual_vol * self.surface.level
        jump = 0.0
        nj = self._jumps.next()
        for _ in range(nj):
            jump += p.jump_size * z.next()
        comp = self._lam_jump * (math.exp(0.5 * p.jump_size ** 2) - 1.0)
        self.spot *= math.exp((-0.5 * sig * sig - comp) * dt + sig * math.sqrt(dt) * z.next() + jump)
        a = math.exp(-dt * 365 * 24 / max(p.vol_reversion_hours, 1e-9))
        lnl = math.log(self.surface.level) * a + p.vol_of_vol_sd * math.sqrt(1 - a * a) * z.next()
        self.surface.level = math.exp(lnl)
        a = math.exp(-dt * 365 * 24)  # the perp premium reverts within about an hour
        self.premium = self.premium * a + p.perp_premium_sd * math.sqrt(1 - a * a) * z.next()

    # -- quoting ---------------------------------------------------------------------------
    def _side(self, i: int, is_bid: bool, best: int) -> None:
        """Re-quote one side with its best at ``best`` ticks and depth on the round grid."""
        book = self.books[i]
        old = book.bids if is_bid else book.asks
        s, n = self.steps[i], self.levels[i]
        if is_bid:
            g = ((best - 1) // s) * s
            prices = ([best] if best >= 1 else []) + list(range(g, max(g - (n - 1) * s, 0), -s))
        else:
            g = -((-(best + 1)) // s) * s
            prices = [best, *range(g, g + (n - 1) * s, s)]
        keep = set(prices)
        gone = [p for p in old if p not in keep]
        new = [(j, p) for j, p in enumerate(prices) if p not in old]
        if gone or new:
            mean, size = self.mean_lots[i], self._size
            book.shift_side(is_bid, gone, {p: 1 + int(mean * (1.0 + 0.25 * j) * size.next())
                                           for j, p in new})

    def _sweep(self, i: int, now: int) -> None:
        book = self.books[i]
        fills: list[Fill] = []
        book.sweep_crossed(fills)
        for o, lots, price in fills:
            tid = self.ids.trade()
            self.publish(Trade(book.instrument_id, book.px(price), book.sz(lots),
                               Side.SELL if o.is_buy else Side.BUY, tid, now, now))
            self.engine.fill(o, book, lots, price, True, now, tid)

    def _hit(self, i: int, buy: bool, lots: int, now: int) -> None:
        book = self.books[i]
        fills: list[Fill] = []
        execs = book.hit(buy, lots, fills)
        side = Side.BUY if buy else Side.SELL
        for px, x in execs:
            self.publish(Trade(book.instrument_id, book.px(px), book.sz(x), side, self.ids.trade(), now, now))
        if fills:
            self.engine.on_maker_fills(book, fills, now)
        self.engine.depleted.add(book.instrument_id)
        self._dirty.add(i)

    # -- the tick --------------------------------------------------------------------------
    def start(self, now: int) -> list[Any]:
        """Initial quotes; returns the snapshots (and first summaries) to publish."""
        self._observe_index(now)
        self._price(now)
        bid, ask = self._targets()
        h_ticks = (self.half / self.tick).tolist()
        for i in range(1, len(self.books)):
            self.steps[i] = _grid_step(0.5 * h_ticks[i])
        for i, (b, a) in enumerate(zip(bid.tolist(), ask.tolist(), strict=True)):
            self._side(i, True, b)
            self._side(i, False, a)
        self.last_bid, self.last_ask = bid, ask
        self.q_fair, self.q_half = self.fair.copy(), self.half.copy()
        out: list[Any] = [b.snapshot(now) for b in self.books]
        return out + self._summaries(now)

    def on_tick(self, now: int) -> None:
        """Advance the market by one tick and publish what changed."""
        if self._expiries and now >= self._expiries[0]:
            self._expire(now)
        self._step_path()
        self._observe_index(now)
        self._price(now)
        # Hysteresis: a book re-quotes once its fair (or half spread) has moved a tick, or a
        # fraction of its half spread for wide option quotes, since its last quote: a fair
        # hovering on a rounding boundary does not flicker and a $100-wide quote does not chase
        # every dollar (this is most of the per-tick saving).
        thr = np.maximum(self.tick, self.p.requote_fraction * self.half)
        moved = ((np.abs(self.fair - self.q_fair) >= thr)
                 | (np.abs(self.half - self.q_half) >= thr)) & self.active
        changed = np.flatnonzero(moved).tolist()
        depleted = self.engine.depleted
        if changed or depleted:
            self.q_fair[moved] = self.fair[moved]
            self.q_half[moved] = self.half[moved]
            bid, ask = self._targets()
            bch = bid != self.last_bid
            ach = ask != self.last_ask
            bl, al, bcl, acl = bid.tolist(), ask.tolist(), bch.tolist(), ach.tolist()
            todo: dict[int, tuple[int | None, int | None]] = {
                i: (bl[i] if bcl[i] else None, al[i] if acl[i] else None) for i in changed}
            # Consumed liquidity is replenished at the book's current quote, one tick later.
            # Sorted: a set of strings iterates in hash order, which varies between processes.
            for i in sorted(self.index[iid] for iid in depleted):
                if self.active[i] and i not in todo:
                    todo[i] = (int(self.last_bid[i]), int(self.last_ask[i]))
            depleted.clear()
            frozen, books, dirty = self.frozen, self.books, self._dirty
            for i, (b, a) in todo.items():
                if i in frozen:
                    continue
                if b is not None:
                    self._side(i, True, b)
                if a is not None:
                    self._side(i, False, a)
                if books[i].own_bids or books[i].own_asks:
                    self._sweep(i, now)
                dirty.add(i)
            self.last_bid[moved] = bid[moved]
            self.last_ask[moved] = ask[moved]
        self._flow(now)
        self._flush(now)
        self._ticks += 1
        if self._ticks % self._summary_every == 0:
            for ev in self._summaries(now):
                self.publish(ev)

    def _pick(self, u: float) -> int:
        return min(bisect.bisect_right(self._cum, u), len(self._cum) - 1)

    def _flow(self, now: int) -> None:
        u, active, frozen = self._u, self.active, self.frozen
        for _ in range(self._ntrades.next()):
            i = self._pick(u.next())
            buy = u.next() < 0.5
            lots = 1 + int(self.trade_lots[i] * self._fsize.next())
            if active[i] and i not in frozen:
                self._hit(i, buy, lots, now)
        cu = self._cu
        n = len(self.books)
        for _ in range(self._nchurn.next()):
            i = min(int(cu.next() * n), n - 1)
            is_bid = cu.next() < 0.5
            r = cu.next()
            book = self.books[i]
            side = book.bids if is_bid else book.asks
            if not active[i] or i in frozen or not side:
                continue
            px = sorted(side)[min(int(r * len(side)), len(side) - 1)]
            book.resize(is_bid, px, 1 + int(self.mean_lots[i] * self._size.next()))
            self._dirty.add(i)

    def _flush(self, now: int) -> None:
        books = self.books
        for i in sorted(self._dirty):
            delta = books[i].flush(now)
            if delta is not None:
                self.publish(delta)
        self._dirty.clear()

    def _summaries(self, now: int) -> list[Any]:
        out: list[Any] = []
        if self.active[0]:
            out.append(MarkPrice(self.iids[0], float(self.fair[0]), self.spot, now, now))
            every = int(self.p.funding_interval_h * 3_600_000_000_000)
            if every > 0:
                prem = float(self.premium)
                i, cap = self.p.funding_interest, self.p.funding_cap
                rate = min(max(prem + min(max(i - prem, -0.0005), 0.0005), -cap), cap)
                out.append(FundingRate(self.iids[0], rate, (now // every + 1) * every, now, now))
        if not len(self.strike):
            return out
        g = self.greeks
        vega = g[3]
        with np.errstate(all="ignore"):
            dv = np.where(vega > 0, self.half[1:] / vega, np.nan)
        biv = np.maximum(self.vol - dv, 0.0).tolist()
        aiv = (self.vol + dv).tolist()
        rows = zip(self.iids[1:], self.active[1:].tolist(), g[0].tolist(), self.vol.tolist(),
                   biv, aiv, self.fwd.tolist(), g[1].tolist(), g[2].tolist(),
                   (0.01 * vega).tolist(), (g[4] / 365.0).tolist(), strict=True)
        for iid, act, px, iv, bi, ai, f, de, ga, ve, th in rows:
            if act:
                out.append(OptionSummary(iid, px, iv, bi, ai, f, de, ga, ve, th, _NAN, now, now))
        return out

    def _expire(self, now: int) -> None:
        exp = self._expiries.pop(0)
        for j in np.flatnonzero(self.expiry == exp).tolist():
            i = j + 1
            self.active[i] = False
            self.engine.expire(self.iids[i], now)  # (delists it: inactive from now on)
            if self.settlement is not None:
                rep = self.settlement.settle(self.insts[i], now)
                if rep is not None:
                    self.settled(rep)

    # -- test hooks / accessors --------------------------------------------------------------
    def fair_vol(self, strike: float, t: float) -> float:
        """The generator's current implied vol for ``strike`` at ``t`` years (forward = index)."""
        f = self.spot * math.exp(self.p.rate * t)
        return float(self.surface.vol(strike, f, t))

    def set_book(self, iid: str, bids: list[Level], asks: list[Level], now: int) -> None:
        """Replace an instrument's synthetic book and stop the generator touching it (tests)."""
        i = self.index[iid]
        self.frozen.add(i)
        book = self.books[i]
        tick, lot = self.insts[i].tick_size, self.insts[i].lot_size
        book.set_side(True, {round(p / tick): round(s / lot) for p, s in bids})
        book.set_side(False, {round(p / tick): round(s / lot) for p, s in asks})
        self._sweep(i, now)
        delta = book.flush(now)
        if delta is not None:
            self.publish(delta)

    def inject_trade(self, iid: str, aggressor: Side, size: float, now: int) -> None:
        """A synthetic market order of ``size`` hitting the published book now (tests)."""
        i = self.index[iid]
        self._hit(i, aggressor is Side.BUY, round(size / self.insts[i].lot_size), now)
        self.engine.depleted.discard(iid)
        self._flush(now)
