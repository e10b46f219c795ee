"""Black-76 prices and Greeks on the forward: scalar njit kernels and vectorised wrappers.

Conventions (Black, "The pricing of commodity contracts", J. Fin. Econ. 1976; Greeks as in
QuantLib's ``BlackCalculator`` ``value/deltaForward/gammaForward/vega(T)/theta(F, T)/vanna/volga``
with ``discount = exp(-rT)``):

* price = e^{-rT} [theta_cp F N(theta_cp d1) - theta_cp K N(theta_cp d2)], theta_cp = +1 call, -1 put,
  d1,2 = ln(F/K)/(sigma sqrt T) +- sigma sqrt T / 2;
* delta = dP/dF, discounted (e^{-rT} N(d1) for a call); gamma = d2P/dF2;
* vega = dP/dsigma per 1.00 of vol (desk units: :func:`engine.pricing.units.vega_per_point`);
* theta = -dP/dT per year of calendar time with F and r fixed = rP - e^{-rT} F phi(d1) sigma/(2 sqrt T)
  (desk units: :func:`engine.pricing.units.theta_per_day`);
* rho = dP/dr with F fixed = -T P;
* vanna = d2P/dF dsigma = -e^{-rT} phi(d1) d2 / sigma; volga = d2P/dsigma2 = vega d1 d2 / sigma.

The price goes through the normalised Black function (:mod:`engine.pricing.normalised`) so
that far out-of-the-money prices keep full *relative* precision (the textbook F N(d1) - K N(d2)
cancels there).

Degenerate inputs: T == 0 or sigma == 0 give the discounted intrinsic value with step delta
(0.5 exactly at the money) and zero gamma/vega/vanna/volga; F <= 0, K <= 0, T < 0, sigma < 0 or
NaN anywhere give NaN.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from engine.pricing._arrays import broadcast_flat, shaped
from engine.pricing.normal import norm_cdf, norm_pdf
from engine.pricing.normalised import log_moneyness, normalised_black_otm

NAN = math.nan


class Greeks(NamedTuple):
    """Black-76 value and sensitivities (per 1.00 vol, per year; see module docstring)."""

    price: NDArray[np.float64]
    delta: NDArray[np.float64]
    gamma: NDArray[np.float64]
    vega: NDArray[np.float64]
    theta: NDArray[np.float64]
    rho: NDArray[np.float64]
    vanna: NDArray[np.float64]
    volga: NDArray[np.float64]


@njit(cache=True, fastmath=False)
def _valid(F: float, K: float, T: float, sigma: float, r: float) -> bool:
    # Written as positive comparisons so that NaN anywhere makes the inputs invalid.
    return F > 0.0 and K > 0.0 and T >= 0.0 and sigma >= 0.0 and math.isfinite(r) and (
        math.isfinite(F) and math.isfinite(K) and math.isfinite(T) and math.isfinite(sigma)
    )


# Relative error of the textbook F N(d1) - K N(d2) out of the money is ~eps (1+h^2)(1+|h|)/t
# (h = x/s, t = s/2: the terms nearly cancel and each carries the rounding of d^2); below this
# bound it is < 2e-13 and the cheaper formula is used, above it the normalised Black function.
_TEXTBOOK_MAX_AMPLIFICATION: float = 1000.0


@njit(cache=True, fastmath=False)
def _undiscounted_and_cdf(
    cp: float, F: float, K: float, x: float, s: float
) -> tuple[float, float, float]:
    """(undiscounted Black price, N(cp*d1), d1) for s > 0; in the money = exact intrinsic F - K
    (Sterbenz) plus the out-of-the-money counterpart's value, so nothing cancels."""
    t = 0.5 * s
    ax = abs(x)
    inv_s = 1.0 / s  # one division for d1 and h (divisions dominate this kernel's arithmetic)
    d1 = x * inv_s + t
    itm = cp * x > 0.0
    phi = -cp if itm else cp  # type of the out-of-the-money option on the same strike
    intrinsic = cp * (F - K) if itm else 0.0
    h = ax * inv_s
    if (1.0 + h * h) * (1.0 + h) <= _TEXTBOOK_MAX_AMPLIFICATION * t:
        n1 = norm_cdf(phi * d1)
        n2 = norm_cdf(phi * (d1 - s))
        otm = phi * (F * n1 - K * n2)
        if otm < 0.0:
            otm = 0.0
        return intrinsic + otm, (1.0 - n1) if itm else n1, d1
    otm = math.sqrt(F * K) * normalised_black_otm(-ax, s)
    return intrinsic + otm, norm_cdf(cp * d1), d1


@njit(cache=True, fastmath=False)
def black76_undiscounted(is_call: bool, F: float, K: float, s: float) -> float:
    """Undiscounted Black price for total std-dev s = sigma*sqrt(T) > 0, F, K > 0."""
    cp = 1.0 if is_call else -1.0
    return _undiscounted_and_cdf(cp, F, K, log_moneyness(F, K), s)[0]


@njit(cache=True, fastmath=False)
def black76_price_scalar(is_call: bool, F: float, K: float, T: float, sigma: float, r: float) -> float:
    """Black-76 price of one option; callable from njit code and Python. NaN on bad inputs."""
    if not _valid(F, K, T, sigma, r):
        return NAN
    df = math.exp(-r * T)
    s = sigma * math.sqrt(T)
    if s == 0.0:
        theta = 1.0 if is_call else -1.0
        return df * max(theta * (F - K), 0.0)
    return df * black76_undiscounted(is_call, F, K, s)


@njit(cache=True, fastmath=False)
def black76_greeks_scalar(
    is_call: bool, F: float, K: float, T: float, sigma: float, r: float
) -> tuple[float, float, float, float, float, float, float, float]:
    """(price, delta, gamma, vega, theta, rho, vanna, volga) for one option, no allocation."""
    if not _valid(F, K, T, sigma, r):
        return (NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN)
    cp = 1.0 if is_call else -1.0
    df = math.exp(-r * T)
    sqrt_t = math.sqrt(T)
    s = sigma * sqrt_t
    if s == 0.0:
        intrinsic = cp * (F - K)
        price = df * max(intrinsic, 0.0)
        if intrinsic > 0.0:
            delta = cp * df
        elif F == K:
            delta = 0.5 * cp * df
        else:
            delta = 0.0
        return (price, delta, 0.0, 0.0, r * price, -T * price, 0.0, 0.0)
    x = log_moneyness(F, K)
    und, cdf1, d1 = _undiscounted_and_cdf(cp, F, K, x, s)
    price = df * und
    d2 = d1 - s
    n1 = norm_pdf(d1)
    inv_sigma = 1.0 / sigma
    delta = cp * df * cdf1  # N(-d1) for puts: accurate right tail by symmetry
    gamma = df * n1 / (F * s)
    vega = df * F * n1 * sqrt_t
    theta = r * price - df * F * n1 * sigma / (2.0 * sqrt_t)
    rho = -T * price
    vanna = -df * n1 * d2 * inv_sigma
    volga = vega * d1 * d2 * inv_sigma
    return (price, delta, gamma, vega, theta, rho, vanna, volga)


@njit(parallel=True, cache=True, fastmath=False)
def black76_price_kernel(
    is_call: NDArray[np.bool_],
    F: NDArray[np.float64],
    K: NDArray[np.float64],
    T: NDArray[np.float64],
    sigma: NDArray[np.float64],
    r: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Flat-array price kernel (all inputs the same length as ``out``)."""
    for i in prange(out.shape[0]):
        out[i] = black76_price_scalar(is_call[i], F[i], K[i], T[i], sigma[i], r[i])


@njit(parallel=True, cache=True, fastmath=False)
def black76_greeks_kernel(
    is_call: NDArray[np.bool_],
    F: NDArray[np.float64],
    K: NDArray[np.float64],
    T: NDArray[np.float64],
    sigma: NDArray[np.float64],
    r: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Flat-array Greeks kernel; ``out`` has shape (8, n) in :class:`Greeks` field order."""
    for i in prange(out.shape[1]):
        g = black76_greeks_scalar(is_call[i], F[i], K[i], T[i], sigma[i], r[i])
        out[0, i] = g[0]
        out[1, i] = g[1]
        out[2, i] = g[2]
        out[3, i] = g[3]
        out[4, i] = g[4]
        out[5, i] = g[5]
        out[6, i] = g[6]
        out[7, i] = g[7]


def black76_price(
    is_call: ArrayLike, F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, r: ArrayLike
) -> NDArray[np.float64] | np.float64:
    """Black-76 price on the forward F (Black 1976), vectorised with numpy broadcasting.

    ``is_call`` is a bool (or bool array); T in years; sigma per 1.00; r continuously compounded
    (discount factor e^{-rT}). Returns an array of the broadcast shape, or a numpy scalar when all
    inputs are scalars. NaN for invalid inputs; intrinsic value when T == 0 or sigma == 0.
    """
    shape, flags, (f, k, t, v, rr) = broadcast_flat(is_call, F, K, T, sigma, r)
    out = np.empty(f.shape[0], dtype=np.float64)
    black76_price_kernel(flags, f, k, t, v, rr, out)
    return shaped(out, shape)


def greeks_from_block(block: NDArray[np.float64], shape: tuple[int, ...]) -> Greeks:
    """Wrap an (8, n) Greeks block into a :class:`Greeks` of arrays (or scalars) of ``shape``."""
    return Greeks(*(shaped(block[i], shape) for i in range(8)))


def black76_greeks(
    is_call: ArrayLike, F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, r: ArrayLike
) -> Greeks:
    """Black-76 price and Greeks, vectorised; conventions in the module docstring.

    delta/gamma are with respect to F (delta discounted, e^{-rT} N(d1) for a call), vega per
    1.00 vol, theta = -dP/dT per year with F fixed, rho = dP/dr with F fixed, vanna = d2P/dF dsigma,
    volga = d2P/dsigma2 (QuantLib ``BlackCalculator`` conventions with discount e^{-rT}).
    """
    shape, flags, (f, k, t, v, rr) = broadcast_flat(is_call, F, K, T, sigma, r)
    block = np.empty((8, f.shape[0]), dtype=np.float64)
    black76_greeks_kernel(flags, f, k, t, v, rr, block)
    return greeks_from_block(block, shape)
