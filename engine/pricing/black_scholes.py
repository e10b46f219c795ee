"""Black-Scholes(-Merton) on spot with continuous carry, built on the Black-76 kernels.

Convention (Merton 1973; Haug, "The Complete Guide to Option Pricing Formulas", 2nd ed., 1.1.6
generalised BSM with cost of carry b = r - q): F = S e^{(r-q)T}, price = Black-76(F, K, T, sigma, r).
q is the dividend yield, borrow rate or foreign rate. Greeks are with respect to *spot* (the
"with respect to F or S" choice is explicit: use :mod:`engine.pricing.black76` for forward Greeks):

* delta = dP/dS = e^{-qT} N(d1) (call); gamma = d2P/dS2; vega per 1.00 vol;
* theta = -dP/dT per year with S, r, q fixed; rho = dP/dr with S and q fixed (QuantLib
  ``AnalyticEuropeanEngine`` rho); vanna = d2P/dS dsigma; volga = d2P/dsigma2.

From the forward Greeks by the chain rule with dF/dS = e^{(r-q)T}, dF/dT = (r-q)F, dF/dr = T F.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from engine.pricing._arrays import broadcast_flat, shaped
from engine.pricing.black76 import Greeks, black76_greeks_scalar, black76_price_scalar, greeks_from_block


@njit(cache=True, fastmath=False)
def black_scholes_price_scalar(
    is_call: bool, S: float, K: float, T: float, sigma: float, r: float, q: float
) -> float:
    """Black-Scholes-Merton price on spot with carry q; NaN on bad inputs."""
    F = S * math.exp((r - q) * T)
    return black76_price_scalar(is_call, F, K, T, sigma, r)


@njit(cache=True, fastmath=False)
def black_scholes_greeks_scalar(
    is_call: bool, S: float, K: float, T: float, sigma: float, r: float, q: float
) -> tuple[float, float, float, float, float, float, float, float]:
    """(price, delta, gamma, vega, theta, rho, vanna, volga) with respect to spot."""
    growth = math.exp((r - q) * T)
    F = S * growth
    p, d, g, v, th, rho, va, vo = black76_greeks_scalar(is_call, F, K, T, sigma, r)
    return (
        p,
        d * growth,
        g * growth * growth,
        v,
        th - d * (r - q) * F,
        rho + d * T * F,
        va * growth,
        vo,
    )


@njit(parallel=True, cache=True, fastmath=False)
def black_scholes_greeks_kernel(
    is_call: NDArray[np.bool_],
    S: NDArray[np.float64],
    K: NDArray[np.float64],
    T: NDArray[np.float64],
    sigma: NDArray[np.float64],
    r: NDArray[np.float64],
    q: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Flat-array kernel; ``out`` is (8, n) in :class:`Greeks` order."""
    for i in prange(out.shape[1]):
        g = black_scholes_greeks_scalar(is_call[i], S[i], K[i], T[i], sigma[i], r[i], q[i])
        for j in range(8):
            out[j, i] = g[j]


@njit(parallel=True, cache=True, fastmath=False)
def black_scholes_price_kernel(
    is_call: NDArray[np.bool_],
    S: NDArray[np.float64],
    K: NDArray[np.float64],
    T: NDArray[np.float64],
    sigma: NDArray[np.float64],
    r: NDArray[np.float64],
    q: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Flat-array price kernel."""
    for i in prange(out.shape[0]):
        out[i] = black_scholes_price_scalar(is_call[i], S[i], K[i], T[i], sigma[i], r[i], q[i])


def black_scholes_price(
    is_call: ArrayLike, S: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, r: ArrayLike,
    q: ArrayLike = 0.0,
) -> NDArray[np.float64] | np.float64:
    """Black-Scholes-Merton price on spot S with continuous carry q (see module docstring)."""
    shape, flags, (s, k, t, v, rr, qq) = broadcast_flat(is_call, S, K, T, sigma, r, q)
    out = np.empty(s.shape[0], dtype=np.float64)
    black_scholes_price_kernel(flags, s, k, t, v, rr, qq, out)
    return shaped(out, shape)


def black_scholes_greeks(
    is_call: ArrayLike, S: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, r: ArrayLike,
    q: ArrayLike = 0.0,
) -> Greeks:
    """Black-Scholes-Merton price and spot Greeks (delta e^{-qT} N(d1), theta at fixed S, rho at
    fixed S and q; QuantLib ``AnalyticEuropeanEngine`` conventions, vega per 1.00, per year)."""
    shape, flags, (s, k, t, v, rr, qq) = broadcast_flat(is_call, S, K, T, sigma, r, q)
    block = np.empty((8, s.shape[0]), dtype=np.float64)
    black_scholes_greeks_kernel(flags, s, k, t, v, rr, qq, block)
    return greeks_from_block(block, shape)
