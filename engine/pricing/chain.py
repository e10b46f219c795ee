"""Option-chain kernels: implied vol + Greeks for a whole chain, and a chain-wide SVI refit.

``chain_iv_and_greeks`` is the convenience used by the live chain view: one numba kernel call,
NaN-safe (an option without a valid implied vol gets NaN Greeks). ``chain_kernel`` additionally
refits one SVI slice per expiry inside the same njit call (no per-option Python overhead),
weighting each quote by its Black vega, optionally warm-started from the previous parameters.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from engine.pricing._arrays import broadcast_flat, shaped
from engine.pricing.black76 import Greeks, black76_greeks_scalar, greeks_from_block
from engine.pricing.implied_vol import implied_vol_scalar
from engine.pricing.svi import fit_svi_kernel


@njit(parallel=True, cache=True, fastmath=False)
def chain_iv_greeks_kernel(
    price: NDArray[np.float64], is_call: NDArray[np.bool_], F: NDArray[np.float64],
    K: NDArray[np.float64], T: NDArray[np.float64], r: NDArray[np.float64],
    iv_out: NDArray[np.float64], greeks_out: NDArray[np.float64],
) -> None:
    """iv_out[i] = implied vol, greeks_out[:, i] = Black-76 Greeks at that vol (NaN if no vol)."""
    for i in prange(iv_out.shape[0]):
        v = implied_vol_scalar(price[i], is_call[i], F[i], K[i], T[i], r[i])
        iv_out[i] = v
        if math.isnan(v):
            for j in range(8):
                greeks_out[j, i] = math.nan
        else:
            g = black76_greeks_scalar(is_call[i], F[i], K[i], T[i], v, r[i])
            for j in range(8):
                greeks_out[j, i] = g[j]


def chain_iv_and_greeks(
    price: ArrayLike, is_call: ArrayLike, F: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike
) -> tuple[NDArray[np.float64] | np.float64, Greeks]:
    """Implied vols and Black-76 Greeks at those vols for a chain, vectorised and NaN-safe.

    Inputs broadcast like :func:`engine.pricing.black76_greeks`; prices are discounted USD
    premiums. Conventions as in :mod:`engine.pricing.black76` and :mod:`engine.pricing.implied_vol`.
    """
    shape, flags, (p, f, k, t, rr) = broadcast_flat(is_call, price, F, K, T, r)
    iv = np.empty(f.shape[0], dtype=np.float64)
    block = np.empty((8, f.shape[0]), dtype=np.float64)
    chain_iv_greeks_kernel(p, flags, f, k, t, rr, iv, block)
    return shaped(iv, shape), greeks_from_block(block, shape)


@njit(cache=True, fastmath=False)
def chain_kernel(
    price: NDArray[np.float64], is_call: NDArray[np.bool_], F: NDArray[np.float64],
    K: NDArray[np.float64], T: NDArray[np.float64], r: NDArray[np.float64],
    expiry_start: NDArray[np.int64], iv_out: NDArray[np.float64], greeks_out: NDArray[np.float64],
    params_io: NDArray[np.float64], sse_out: NDArray[np.float64],
) -> None:
    """IV + Greeks for every option, then one vega-weighted SVI fit per expiry.

    Options must be grouped by expiry: expiry e owns indices expiry_start[e]:expiry_start[e+1].
    ``params_io[e]`` = (a, b, rho, m, sigma): read as warm start when sigma > 0, overwritten with
    the fit (NaN if fewer than 5 valid quotes). Serial on purpose: a 200-option chain is far below
    the size where threads pay off.
    """
    n = iv_out.shape[0]
    for i in range(n):
        v = implied_vol_scalar(price[i], is_call[i], F[i], K[i], T[i], r[i])
        iv_out[i] = v
        if math.isnan(v):
            for j in range(8):
                greeks_out[j, i] = math.nan
        else:
            g = black76_greeks_scalar(is_call[i], F[i], K[i], T[i], v, r[i])
            for j in range(8):
                greeks_out[j, i] = g[j]
    n_exp = expiry_start.shape[0] - 1
    kbuf = np.empty(n)
    wbuf = np.empty(n)
    vbuf = np.empty(n)
    for e in range(n_exp):
        cnt = 0
        for i in range(expiry_start[e], expiry_start[e + 1]):
            v = iv_out[i]
            vg = greeks_out[3, i]
            if not math.isnan(v) and vg > 0.0:
                kbuf[cnt] = math.log(K[i] / F[i])
                wbuf[cnt] = v * v * T[i]
                vbuf[cnt] = vg
                cnt += 1
        if cnt < 5:
            for j in range(5):
                params_io[e, j] = math.nan
            sse_out[e] = math.nan
            continue
        sig0 = params_io[e, 4]
        m0 = params_io[e, 3]
        if not sig0 > 0.0:
            sig0 = 0.0
            m0 = 0.0
        # constrained fit (|rho| <= RHO_MAX < 1, sigma >= SIGMA_MIN); the caller still
        # validates each slice (svi.slice_problem) before marking anything with it
        a, b, rho, m, s, sse = fit_svi_kernel(kbuf[:cnt], wbuf[:cnt], vbuf[:cnt], m0, sig0, 400)
        params_io[e, 0] = a
        params_io[e, 1] = b
        params_io[e, 2] = rho
        params_io[e, 3] = m
        params_io[e, 4] = s
        sse_out[e] = sse
