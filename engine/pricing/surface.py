"""Volatility surface: one raw-SVI slice per expiry, interpolated in total variance.

Conventions:

* k = ln(K/F(T)); the forward curve is interpolated linearly in ln F against T between the fitted
  expiries (constant carry between them); outside, the carry of the first/last interval is
  extended; a single expiry means a flat forward.
* Between fitted expiries T_i < T < T_{i+1}, total variance at *fixed k* is linear in T:
  w(k, T) = w_i(k) + (w_{i+1}(k) - w_i(k)) (T - T_i)/(T_{i+1} - T_i) (Gatheral, "The Volatility
  Surface", 2006, ch. 3: interpolating in total variance preserves the absence of calendar
  arbitrage when the slices are ordered).
* Outside the fitted range the implied vol at fixed k is held flat (flat-vol extrapolation):
  w(k, T) = w_1(k) T / T_1 for T < T_1 and w_n(k) T / T_n for T > T_n.
* Arbitrage checks: butterfly = Durrleman g(k) < 0 on a k-grid per slice; calendar =
  w_{i+1}(k) < w_i(k) on the grid (total variance must be non-decreasing in T at fixed k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from engine.pricing.svi import SviParams, fit_svi, svi_g_array, svi_total_variance, svi_total_variance_array


@njit(cache=True, fastmath=False)
def _surface_w(k: float, T: float, expiries: NDArray[np.float64], params: NDArray[np.float64]) -> float:
    n = expiries.shape[0]
    if T <= expiries[0]:
        p = params[0]
        return svi_total_variance(k, p[0], p[1], p[2], p[3], p[4]) * T / expiries[0]
    if T >= expiries[n - 1]:
        p = params[n - 1]
        return svi_total_variance(k, p[0], p[1], p[2], p[3], p[4]) * T / expiries[n - 1]
    i = np.searchsorted(expiries, T) - 1
    p = params[i]
    q = params[i + 1]
    w0 = svi_total_variance(k, p[0], p[1], p[2], p[3], p[4])
    w1 = svi_total_variance(k, q[0], q[1], q[2], q[3], q[4])
    u = (T - expiries[i]) / (expiries[i + 1] - expiries[i])
    return w0 + (w1 - w0) * u


@njit(cache=True, fastmath=False)
def _log_forward(T: float, expiries: NDArray[np.float64], log_fwd: NDArray[np.float64]) -> float:
    n = expiries.shape[0]
    if n == 1:
        return log_fwd[0]
    if T <= expiries[0]:
        i = 0
    elif T >= expiries[n - 1]:
        i = n - 2
    else:
        i = np.searchsorted(expiries, T) - 1
    u = (T - expiries[i]) / (expiries[i + 1] - expiries[i])
    return log_fwd[i] + (log_fwd[i + 1] - log_fwd[i]) * u


@njit(parallel=True, cache=True, fastmath=False)
def surface_vol_kernel(
    K: NDArray[np.float64], T: NDArray[np.float64], expiries: NDArray[np.float64],
    log_fwd: NDArray[np.float64], params: NDArray[np.float64], out: NDArray[np.float64],
) -> None:
    """Implied vol at strikes K and times T (flat arrays); NaN for T <= 0 or K <= 0."""
    for j in prange(out.shape[0]):
        t = T[j]
        if not (t > 0.0 and K[j] > 0.0):
            out[j] = math.nan
            continue
        k = math.log(K[j]) - _log_forward(t, expiries, log_fwd)
        w = _surface_w(k, t, expiries, params)
        out[j] = math.sqrt(w / t) if w > 0.0 else math.nan


@dataclass(frozen=True)
class ButterflyViolation:
    """Durrleman g(k) < 0 on one expiry: where and how bad (most negative g)."""

    expiry: float
    k: NDArray[np.float64]
    worst_k: float
    min_g: float


@dataclass(frozen=True)
class CalendarViolation:
    """Total variance decreasing from ``expiry`` to ``next_expiry`` at the listed k."""

    expiry: float
    next_expiry: float
    k: NDArray[np.float64]
    worst_k: float
    max_drop: float  # largest w_i(k) - w_{i+1}(k) > 0


@dataclass(frozen=True)
class ArbitrageReport:
    """Result of :meth:`VolSurface.arbitrage_report`."""

    butterfly: list[ButterflyViolation] = field(default_factory=list)
    calendar: list[CalendarViolation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.butterfly and not self.calendar


class VolSurface:
    """SVI slices per expiry with total-variance time interpolation (see module docstring)."""

    def __init__(
        self, expiries: ArrayLike, forwards: ArrayLike, params: Sequence[SviParams],
        rmse_vol: ArrayLike | None = None,
    ) -> None:
        t = np.asarray(expiries, dtype=np.float64)
        order = np.argsort(t)
        self.expiries: NDArray[np.float64] = np.ascontiguousarray(t[order])
        self.forwards: NDArray[np.float64] = np.ascontiguousarray(np.asarray(forwards, dtype=np.float64)[order])
        self.params: list[SviParams] = [SviParams(*params[i]) for i in order]
        self._params_arr = np.ascontiguousarray(np.array([tuple(p) for p in self.params], dtype=np.float64))
        self._log_fwd = np.log(self.forwards)
        self.rmse_vol: NDArray[np.float64] = (
            np.full(t.shape[0], np.nan) if rmse_vol is None else np.asarray(rmse_vol, dtype=np.float64)[order]
        )
        if self.expiries.shape[0] == 0 or np.any(self.expiries <= 0) or np.any(np.diff(self.expiries) <= 0):
            raise ValueError("expiries must be positive and distinct")

    @classmethod
    def from_slices(cls, expiries: ArrayLike, forwards: ArrayLike, params: Sequence[SviParams]) -> VolSurface:
        """Build from already-fitted SVI parameters."""
        return cls(expiries, forwards, params)

    @classmethod
    def fit(
        cls, expiries: ArrayLike, forwards: ArrayLike, strikes: Sequence[ArrayLike], ivs: Sequence[ArrayLike],
        weights: Sequence[ArrayLike] | None = None,
    ) -> VolSurface:
        """Fit one SVI slice per expiry to market implied vols (w = iv^2 T, k = ln(K/F)).

        ``weights`` per expiry, e.g. vega or 1/(ask-bid); NaN ivs are ignored. ``rmse_vol`` holds
        the (weighted) RMSE of the fitted vols in vol points (percent) per expiry.
        """
        t = np.asarray(expiries, dtype=np.float64)
        f = np.asarray(forwards, dtype=np.float64)
        params: list[SviParams] = []
        rmse: list[float] = []
        for i in range(t.shape[0]):
            k = np.log(np.asarray(strikes[i], dtype=np.float64) / f[i])
            iv = np.asarray(ivs[i], dtype=np.float64)
            wt = np.ones_like(k) if weights is None else np.asarray(weights[i], dtype=np.float64)
            p, _ = fit_svi(k, iv * iv * t[i], wt)
            params.append(p)
            ok = np.isfinite(iv) & np.isfinite(wt) & (wt > 0)
            model = np.sqrt(np.maximum(svi_total_variance_array(k[ok], *p), 0.0) / t[i])
            rmse.append(100.0 * math.sqrt(float(np.sum(wt[ok] * (model - iv[ok]) ** 2) / np.sum(wt[ok]))))
        return cls(t, f, params, rmse)

    def forward(self, T: float) -> float:
        """Forward interpolated log-linearly in T (flat carry outside the fitted expiries)."""
        return math.exp(_log_forward(float(T), self.expiries, self._log_fwd))

    def total_variance(self, k: float, T: float) -> float:
        """w(k, T) at log-moneyness k = ln(K/F(T))."""
        return float(_surface_w(float(k), float(T), self.expiries, self._params_arr))

    def vol(self, K: ArrayLike, T: ArrayLike) -> NDArray[np.float64] | float:
        """Implied vol at strike K and expiry T (years); scalar in, float out; arrays broadcast."""
        kk, tt = np.broadcast_arrays(np.asarray(K, dtype=np.float64), np.asarray(T, dtype=np.float64))
        shape = kk.shape
        out = np.empty(kk.size, dtype=np.float64)
        surface_vol_kernel(
            np.ascontiguousarray(kk).reshape(-1), np.ascontiguousarray(tt).reshape(-1),
            self.expiries, self._log_fwd, self._params_arr, out,
        )
        if shape == ():
            return float(out[0])
        return out.reshape(shape)

    def arbitrage_report(self, k_grid: ArrayLike | None = None, tol: float = 1e-10) -> ArbitrageReport:
        """Butterfly (g(k) < -tol) and calendar (w_{i+1}(k) < w_i(k) - tol) violations on a k grid
        (default: 401 points on [-1.5, 1.5] x the largest sqrt(w) scale, at least [-1, 1])."""
        if k_grid is None:
            scale = max(1.0, 1.5 * max(math.sqrt(max(self.total_variance(0.0, t), 1e-12)) for t in self.expiries) * 4)
            k_grid = np.linspace(-scale, scale, 401)
        kg = np.ascontiguousarray(k_grid, dtype=np.float64)
        fly: list[ButterflyViolation] = []
        cal: list[CalendarViolation] = []
        ws = []
        for t, p in zip(self.expiries, self.params):
            g = svi_g_array(kg, *p)
            bad = g < -tol
            if bad.any():
                j = int(np.argmin(g))
                fly.append(ButterflyViolation(float(t), kg[bad], float(kg[j]), float(g[j])))
            ws.append(svi_total_variance_array(kg, *p))
        for i in range(len(ws) - 1):
            drop = ws[i] - ws[i + 1]
            bad = drop > tol
            if bad.any():
                j = int(np.argmax(drop))
                cal.append(CalendarViolation(float(self.expiries[i]), float(self.expiries[i + 1]), kg[bad],
                                             float(kg[j]), float(drop[j])))
        return ArbitrageReport(fly, cal)
