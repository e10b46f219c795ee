"""The live option-chain view: market IVs, a fitted SVI surface and model Greeks per underlying.

Theory of operation: a ``ChainView`` owns fixed arrays for every listed option of one
underlying, grouped by expiry (strike order inside). Book updates only mark the chain dirty;
``refresh(now)`` (called on a timer, at most once per configured interval) gathers the top of
each option book into those arrays and makes three vectorized Numba calls: one
``chain_kernel`` call computes implied vols of the out-of-the-money mids and refits one SVI
slice per expiry (warm-started from the previous fit); the fitted slices form a ``VolSurface``;
Black-76 Greeks at the surface vol give model Greeks for *every* option (also those with an
empty or one-sided book); bid and ask IVs come from one more ``implied_vol`` call. Forwards per
expiry come from the venue's underlying price for that expiry where published (Deribit and the
simulated venue publish it with their option analytics), else the underlying index.
Coin-premium (inverse) options are converted to USD premiums (x forward) before any inversion,
and their portfolio delta is the premium-adjusted one (delta - price/F).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from engine.book import OrderBook
from engine.model import NS_PER_YEAR, BookStatus, Instrument, InstrumentKind
from engine.pricing import (
    ArbitrageReport,
    SviParams,
    VolSurface,
    black76_greeks,
    chain_kernel,
    implied_vol,
    slice_problem,
)

_NAN = math.nan
_MIN_FIT_QUOTES = 5  # the fewest quotes chain_kernel fits a slice to (NaN parameters below)


class ChainView:
    """Market and model analytics of every option on one underlying."""

    def __init__(self, underlying: str, options: Iterable[Instrument], rate: float = 0.0) -> None:
        opts = sorted((i for i in options if i.kind is InstrumentKind.OPTION),
                      key=lambda i: (i.expiry_ns, i.strike, not i.is_call))
        if not opts:
            raise ValueError(f"no options for {underlying}")
        self.underlying = underlying
        self.instruments = opts
        self.ids = [i.id for i in opts]
        self.index = {iid: n for n, iid in enumerate(self.ids)}
        n = len(opts)
        self.strike = np.array([i.strike for i in opts], dtype=np.float64)
        self.is_call = np.array([i.is_call for i in opts], dtype=np.bool_)
        self.expiry_ns = np.array([i.expiry_ns for i in opts], dtype=np.int64)
        self.coin_premium = np.array([i.premium_in_coin for i in opts], dtype=np.bool_)
        self.expiries_ns, starts = np.unique(self.expiry_ns, return_index=True)
        self.expiry_start = np.append(starts, n).astype(np.int64)
        self.expiry_of = np.searchsorted(self.expiries_ns, self.expiry_ns)
        self.rate = rate
        # per-refresh outputs
        self.T = np.zeros(n)
        self.forward = np.full(n, _NAN)
        self.bid = np.full(n, _NAN)
        self.ask = np.full(n, _NAN)
        self.mid = np.full(n, _NAN)
        self.bid_iv = np.full(n, _NAN)
        self.ask_iv = np.full(n, _NAN)
        self.mid_iv = np.full(n, _NAN)
        self.venue_mark_iv = np.full(n, _NAN)
        self.model_vol = np.full(n, _NAN)
        self.model_price = np.full(n, _NAN)
        self.delta = np.full(n, _NAN)
        self.gamma = np.full(n, _NAN)
        self.vega = np.full(n, _NAN)
        self.theta = np.full(n, _NAN)
        self._greeks = np.empty((8, n))
        self._params = np.zeros((len(self.expiries_ns), 5))
        self._sse = np.zeros(len(self.expiries_ns))
        self.expiry_forward = np.full(len(self.expiries_ns), _NAN)
        self.rmse_vol = np.full(len(self.expiries_ns), _NAN)
        self.surface: VolSurface | None = None
        self.arbitrage: ArbitrageReport | None = None
        self.max_rmse_vol = 15.0
        """A fitted slice with a larger RMSE (vol points) is rejected (``slice_problem``)."""
        self._accepted = np.full((len(self.expiries_ns), 5), _NAN)
        self.slice_status: list[str] = ["not fitted"] * len(self.expiries_ns)
        """Per expiry: "fitted", "kept previous slice: <why>" or "market marks: <why>"."""
        self.rejected_fits = 0
        self.dirty = True
        self.refreshes = 0
        self.last_refresh_ns = 0

    def relist(self, options: Iterable[Instrument], rate: float) -> None:
        """The venue listed more options: every array rebuilt over them, the fit started
        afresh, in this same object, so whoever holds the view (a strategy's
        ``subscribe_chain``) keeps the live one rather than a copy nothing refits any more."""
        self.__init__(self.underlying, options, rate)  # type: ignore[misc]

    # -- inputs -----------------------------------------------------------------------------
    def set_expiry_forward(self, instrument_id: str, forward: float) -> None:
        """The venue's underlying/forward price for this option's expiry."""
        n = self.index.get(instrument_id)
        if n is not None and forward > 0:
            self.expiry_forward[self.expiry_of[n]] = forward

    def set_venue_mark_iv(self, instrument_id: str, iv: float) -> None:
        n = self.index.get(instrument_id)
        if n is not None:
            self.venue_mark_iv[n] = iv

    # -- refresh ----------------------------------------------------------------------------
    def refresh(self, now_ns: int, books: Callable[[str], OrderBook | None], index_price: float) -> bool:
        """Recompute everything from the current books; False if the chain cannot be priced."""
        n = len(self.ids)
        fwd_e = np.where(np.isnan(self.expiry_forward), index_price, self.expiry_forward)
        if not np.all(fwd_e > 0):
            return False
        F = fwd_e[self.expiry_of]
        T = (self.expiry_ns - now_ns) / NS_PER_YEAR
        live = T > 0
        bid, ask = self.bid, self.ask
        for i, iid in enumerate(self.ids):
            book = books(iid)
            if book is None or book.status is not BookStatus.LIVE:
                bid[i] = ask[i] = _NAN
                continue
            bid[i] = book.best_bid_price()
            ask[i] = book.best_ask_price()
        scale = np.where(self.coin_premium, F, 1.0)  # coin premium -> USD premium
        bid_usd, ask_usd = bid * scale, ask * scale
        mid_usd = 0.5 * (bid_usd + ask_usd)
        self.mid[:] = 0.5 * (bid + ask)
        otm = np.where(self.is_call, self.strike >= F, self.strike < F) & live
        fit_price = np.where(otm, mid_usd, _NAN)
        Tc = np.where(live, T, _NAN)
        r = np.full(n, self.rate)
        chain_kernel(fit_price, self.is_call, F, self.strike, Tc, r, self.expiry_start,
                     self.mid_iv, self._greeks, self._params, self._sse)
        self.mid_iv[:] = implied_vol(mid_usd, self.is_call, F, self.strike, Tc, self.rate)
        self.bid_iv[:] = implied_vol(bid_usd, self.is_call, F, self.strike, Tc, self.rate)
        self.ask_iv[:] = implied_vol(ask_usd, self.is_call, F, self.strike, Tc, self.rate)
        self.T[:] = T
        self.forward[:] = F
        exp_T = (self.expiries_ns - now_ns) / NS_PER_YEAR
        fallback = self._check_slices(exp_T, fwd_e)
        ok = np.all(np.isfinite(self._params), axis=1) & (exp_T > 0) & ~fallback
        vol = np.full(n, _NAN)
        if ok.any():
            self.surface = VolSurface(exp_T[ok], fwd_e[ok], [SviParams(*p) for p in self._params[ok]])
            self._rmse(ok)
            # Checked on every refit (at most once per chain interval): a fitted slice with
            # g(k) < 0 or crossing total variances is reported, never silently quoted around.
            self.arbitrage = self.surface.arbitrage_report()
            vol = np.where(live, self.surface.vol(self.strike, np.where(live, T, 1.0)), _NAN)
        else:
            self.surface = None
            self.arbitrage = None
        # Expiries without a usable slice are marked at the market: the venue's mark IV, else
        # the mid IV of the option itself (NaN when neither exists: no model mark at all).
        market = np.where(np.isfinite(self.venue_mark_iv), self.venue_mark_iv, self.mid_iv)
        on_market = fallback[self.expiry_of] | ~ok[self.expiry_of]
        vol = np.where(on_market & live, market, vol)
        self.model_vol[:] = vol
        g = black76_greeks(self.is_call, F, self.strike, Tc, vol, self.rate)
        # A model mark outside the live market is not a mark: clamp into [bid, ask] (each side
        # where it exists), in USD premium. No model vol (no slice, no mark IV, no mid IV, or
        # expired) is no model price: NaN, not the bid or ask fmax/fmin would put in its place.
        self.model_price[:] = np.where(np.isnan(g.price), _NAN,
                                       np.fmin(np.fmax(g.price, bid_usd), ask_usd))
        self.delta[:] = g.delta
        self.gamma[:] = g.gamma
        self.vega[:] = g.vega
        self.theta[:] = g.theta
        self.dirty = False
        self.refreshes += 1
        self.last_refresh_ns = now_ns
        return True

    def _check_slices(self, exp_T: np.ndarray, fwd_e: np.ndarray) -> np.ndarray:
        """Validate each new slice (``slice_problem``). A rejected slice is replaced by the
        last accepted one of its expiry, or, without one, the expiry falls back to market
        marks; ``slice_status`` says which and why. Returns the fallback mask per expiry."""
        fallback = np.zeros(len(self.expiries_ns), dtype=np.bool_)
        for e in range(len(self.expiries_ns)):
            if not exp_T[e] > 0:
                self.slice_status[e] = "expired"
                continue
            sl = slice(self.expiry_start[e], self.expiry_start[e + 1])
            k = np.log(self.strike[sl] / fwd_e[e])
            otm = np.where(self.is_call[sl], self.strike[sl] >= fwd_e[e], self.strike[sl] < fwd_e[e])
            iv = np.where(otm, self.mid_iv[sl], _NAN)
            p = SviParams(*self._params[e])
            quotes = int(np.count_nonzero(np.isfinite(iv)))
            if quotes < _MIN_FIT_QUOTES and not np.all(np.isfinite(self._params[e])):
                # no fit was tried (chain_kernel needs as many): say so, count no rejection
                problem = (f"{quotes} out-of-the-money quotes with a mid IV "
                           f"(a fit needs {_MIN_FIT_QUOTES})")
            else:
                problem = slice_problem(p, k, iv, float(exp_T[e]), self.max_rmse_vol)
                if not problem:
                    self._accepted[e] = self._params[e]
                    self.slice_status[e] = "fitted"
                    continue
                self.rejected_fits += 1
            prev = self._accepted[e]
            # the previous slice only has to be sound itself: the new quotes are what failed
            if np.all(np.isfinite(prev)) and not slice_problem(SviParams(*prev), k, iv, float(exp_T[e]),
                                                               math.inf):
                self._params[e] = prev
                self.slice_status[e] = f"kept previous slice: {problem}"
            else:
                fallback[e] = True
                self.slice_status[e] = f"market marks: {problem}"
        return fallback

    def _rmse(self, ok: np.ndarray) -> None:
        assert self.surface is not None
        for e in range(len(self.expiries_ns)):
            if not ok[e]:
                self.rmse_vol[e] = _NAN
                continue
            s = slice(self.expiry_start[e], self.expiry_start[e + 1])
            iv = self.mid_iv[s]
            otm = np.where(self.is_call[s], self.strike[s] >= self.forward[s], self.strike[s] < self.forward[s])
            use = np.isfinite(iv) & otm
            if not use.any():
                self.rmse_vol[e] = _NAN
                continue
            model = self.surface.vol(self.strike[s][use], self.T[s][use])
            self.rmse_vol[e] = 100.0 * math.sqrt(float(np.mean((model - iv[use]) ** 2)))

    # -- queries ----------------------------------------------------------------------------
    def position_delta(self, instrument_id: str) -> float:
        """Delta per contract for the portfolio: premium-adjusted for coin-premium options."""
        n = self.index.get(instrument_id)
        if n is None:
            return _NAN
        d = float(self.delta[n])
        if self.coin_premium[n]:
            d -= float(self.model_price[n]) / float(self.forward[n])
        return d

    def atm_vol(self, expiry: int = 0) -> float:
        """Surface vol at the forward of the ``expiry``-th live expiry (fraction)."""
        s = self.surface
        if s is None or expiry >= len(s.expiries):
            return _NAN
        T = float(s.expiries[expiry])
        return float(s.vol(s.forward(T), T))

    def risk_reversal_25d(self, expiry: int = 0) -> float:
        """25-delta risk reversal: vol(25d call) - vol(25d put) on the surface (fraction)."""
        s = self.surface
        if s is None or expiry >= len(s.expiries):
            return _NAN
        T = float(s.expiries[expiry])
        F = s.forward(T)
        atm = float(s.vol(F, T))
        k = np.linspace(-4.0, 4.0, 801) * atm * math.sqrt(T)
        K = F * np.exp(k)
        vols = np.asarray(s.vol(K, np.full_like(K, T)))
        call = black76_greeks(True, F, K, T, vols, 0.0).delta
        put = black76_greeks(False, F, K, T, vols, 0.0).delta
        # call delta falls with strike, put delta (negative) falls too: interpolate on each
        kc = np.interp(0.25, call[::-1], K[::-1])
        kp = np.interp(-0.25, put[::-1], K[::-1])
        return float(s.vol(kc, T)) - float(s.vol(kp, T))

    def fit_error(self) -> float:
        """Worst per-expiry RMSE of the fit, in vol points."""
        vals = self.rmse_vol[np.isfinite(self.rmse_vol)]
        return float(vals.max()) if vals.size else _NAN

    def summary(self) -> dict[str, Any]:
        """The status event's chain part; vol figures in vol points (NaN: no surface)."""
        return {"atm_vol_pts": round(self.atm_vol() * 100, 2),
                "rr25_vol_pts": round(self.risk_reversal_25d() * 100, 2),
                "fit_rmse_vol_pts": round(self.fit_error(), 3),
                "expiries": int(0 if self.surface is None else len(self.surface.expiries)),
                "arb_butterfly": 0 if self.arbitrage is None else len(self.arbitrage.butterfly),
                "arb_calendar": 0 if self.arbitrage is None else len(self.arbitrage.calendar),
                "rejected_fits": self.rejected_fits,
                "slices_not_fitted": sum(1 for st in self.slice_status if st not in ("fitted", "expired")),
                **({"slices": self.slices()} if any(st not in ("fitted", "expired")
                                                    for st in self.slice_status) else {})}

    def slices(self) -> dict[str, str]:
        """Per live expiry (ISO date-time, UTC): how its marks are made (the chain view)."""
        out: dict[str, str] = {}
        for e, ns in enumerate(self.expiries_ns):
            if self.slice_status[e] != "expired":
                when = dt.datetime.fromtimestamp(int(ns) / 1e9, tz=dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
                out[when] = self.slice_status[e]
        return out
