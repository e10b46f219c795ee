"""Inverse (coin-margined) options as Deribit and OKX list them.

Conventions and sources (see docs/units.md):

* premium in coin c = V_usd / F where V_usd is the Black-76 value on the forward F (Deribit
  support article "Inverse Options"; the displayed IV "uses the forward, rather than the index");
  OKX coin-margined BTC/ETH options follow the same mapping;
* ``delta`` is the premium-adjusted coin delta F dc/dF = Delta_BS - c: Deribit's "Net Transaction
  Delta = Black Scholes Delta - Mark Price of Options" (DeltaTotal), OKX's "PA" delta; ``delta_bs``
  is the plain Black delta (Deribit per-instrument ``delta``, OKX ``deltaBS``), dV/dF discounted;
* ``gamma`` = d2c/dF2 = Gamma/F - 2 (Delta_BS - c)/F^2 (coin per USD^2);
* ``vega``, ``theta``, ``rho``, ``volga`` are the USD Black-76 ones divided by F at fixed F (coin
  per 1.00 vol, per year, per 1.00 rate); ``vanna`` = d2c/dF dsigma = vanna/F - vega/F^2.

These identities follow from c = V/F; Alexander & Imeraj, "Inverse Options in a Black-Scholes
World" (arXiv:2107.12041) discuss them and the hedging pitfalls of using Delta_BS for inverse options.
Deribit's displayed theta (min of 1-day and lifetime theta) is *not* reproduced here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from engine.pricing._arrays import broadcast_flat, shaped
from engine.pricing.black76 import black76_greeks_scalar, black76_price_scalar


class InverseGreeks(NamedTuple):
    """Coin-denominated value and sensitivities of an inverse option (see module docstring)."""

    price: NDArray[np.float64]
    delta: NDArray[np.float64]
    delta_bs: NDArray[np.float64]
    gamma: NDArray[np.float64]
    vega: NDArray[np.float64]
    theta: NDArray[np.float64]
    rho: NDArray[np.float64]
    vanna: NDArray[np.float64]
    volga: NDArray[np.float64]


@njit(cache=True, fastmath=False)
def inverse_price_scalar(is_call: bool, F: float, K: float, T: float, sigma: float, r: float) -> float:
    """Coin premium V_usd/F of one inverse option."""
    return black76_price_scalar(is_call, F, K, T, sigma, r) / F


@njit(cache=True, fastmath=False)
def inverse_greeks_scalar(
    is_call: bool, F: float, K: float, T: float, sigma: float, r: float
) -> tuple[float, float, float, float, float, float, float, float, float]:
    """(price, delta, delta_bs, gamma, vega, theta, rho, vanna, volga) in coin."""
    p, d, g, v, th, rho, va, vo = black76_greeks_scalar(is_call, F, K, T, sigma, r)
    inv_f = 1.0 / F
    c = p * inv_f
    d_pa = d - c
    return (
        c,
        d_pa,
        d,
        g * inv_f - 2.0 * d_pa * inv_f * inv_f,
        v * inv_f,
        th * inv_f,
        rho * inv_f,
        va * inv_f - v * inv_f * inv_f,
        vo * inv_f,
    )


@njit(parallel=True, cache=True, fastmath=False)
def inverse_greeks_kernel(
    is_call: NDArray[np.bool_],
    F: NDArray[np.float64],
    K: NDArray[np.float64],
    T: NDArray[np.float64],
    sigma: NDArray[np.float64],
    r: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Flat-array kernel; ``out`` is (9, n) in :class:`InverseGreeks` order."""
    for i in prange(out.shape[1]):
        g = inverse_greeks_scalar(is_call[i], F[i], K[i], T[i], sigma[i], r[i])
        for j in range(9):
            out[j, i] = g[j]


@njit(parallel=True, cache=True, fastmath=False)
def inverse_price_kernel(
    is_call: NDArray[np.bool_],
    F: NDArray[np.float64],
    K: NDArray[np.float64],
    T: NDArray[np.float64],
    sigma: NDArray[np.float64],
    r: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Flat-array coin-price kernel."""
    for i in prange(out.shape[0]):
        out[i] = inverse_price_scalar(is_call[i], F[i], K[i], T[i], sigma[i], r[i])


def inverse_price(
    is_call: ArrayLike, F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, r: ArrayLike
) -> NDArray[np.float64] | np.float64:
    """Coin premium of inverse options: Black-76 USD value on the forward / F (Deribit, OKX)."""
    shape, flags, (f, k, t, v, rr) = broadcast_flat(is_call, F, K, T, sigma, r)
    out = np.empty(f.shape[0], dtype=np.float64)
    inverse_price_kernel(flags, f, k, t, v, rr, out)
    return shaped(out, shape)


def inverse_greeks(
    is_call: ArrayLike, F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, r: ArrayLike
) -> InverseGreeks:
    """Coin price and coin Greeks incl. the premium-adjusted delta Delta_BS - V/F (module docstring)."""
    shape, flags, (f, k, t, v, rr) = broadcast_flat(is_call, F, K, T, sigma, r)
    block = np.empty((9, f.shape[0]), dtype=np.float64)
    inverse_greeks_kernel(flags, f, k, t, v, rr, block)
    return InverseGreeks(*(shaped(block[i], shape) for i in range(9)))
