"""Build the Numba cache of every pricing kernel, at install time (``make`` runs it after pip).

Every kernel is ``@njit(cache=True)``: compiled once per argument-type signature and stored next
to its module (``__pycache__``; ``NUMBA_CACHE_DIR`` moves it). Compiling all of them takes
seconds; without this step the first ``volta run`` or backtest would pay that on its trading
path (the first chain refresh, the first implied vol). ``warm()`` calls each public entry point
once with the argument types the engine passes (flat contiguous float64 / bool arrays from the
vectorised wrappers, the chain kernel's work arrays, plain floats for the ``*_scalar`` entry
points), so every signature the engine uses is compiled and cached. Loading a cached kernel in
a new process costs milliseconds.

Run: ``python -m engine.pricing.warm`` (prints what it compiled and how long it took).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from engine.pricing.black76 import black76_greeks, black76_greeks_scalar, black76_price, black76_price_scalar
from engine.pricing.black_scholes import (
    black_scholes_greeks,
    black_scholes_greeks_scalar,
    black_scholes_price,
    black_scholes_price_scalar,
)
from engine.pricing.chain import chain_iv_and_greeks, chain_kernel
from engine.pricing.implied_vol import implied_vol, implied_vol_inverse, implied_vol_scalar
from engine.pricing.inverse import inverse_greeks, inverse_greeks_scalar, inverse_price, inverse_price_scalar
from engine.pricing.normal import erfcx, norm_cdf, norm_pdf
from engine.pricing.surface import VolSurface
from engine.pricing.svi import SviParams, fit_svi, svi_g, svi_total_variance


def _chain(n_exp: int = 2, per_exp: int = 12) -> tuple[np.ndarray, ...]:
    """A small two-expiry chain laid out as ``engine.chains.ChainView`` lays out its arrays."""
    strikes = np.tile(np.linspace(80.0, 120.0, per_exp // 2).repeat(2), n_exp)
    is_call = np.tile(np.array([True, False]), n_exp * per_exp // 2)
    T = np.repeat(np.array([0.05, 0.25])[:n_exp], per_exp)
    F = np.full(strikes.shape[0], 100.0)
    price = black76_price(is_call, F, strikes, T, 0.6, 0.0)
    return strikes, is_call, T, F, np.asarray(price)


def warm() -> list[str]:
    """Compile (or load from the cache) every kernel with the engine's argument types."""
    done: list[str] = []
    K, is_call, T, F, price = _chain()
    n = K.shape[0]
    r = np.zeros(n)
    sigma = np.full(n, 0.6)
    # vectorised wrappers (flat contiguous arrays inside, whatever the caller passes)
    black76_price(is_call, F, K, T, sigma, 0.0)
    black76_greeks(is_call, F, K, T, sigma, 0.0)
    black_scholes_price(is_call, 100.0, K, T, sigma, 0.0, 0.0)
    black_scholes_greeks(is_call, 100.0, K, T, sigma, 0.0, 0.0)
    inverse_price(is_call, F, K, T, sigma, 0.0)
    inverse_greeks(is_call, F, K, T, sigma, 0.0)
    implied_vol(price, is_call, F, K, T, 0.0)
    implied_vol_inverse(price / F, is_call, F, K, T, 0.0)
    chain_iv_and_greeks(price, is_call, F, K, T, 0.0)
    done += ["black76", "black_scholes", "inverse", "implied_vol", "chain_iv_and_greeks"]
    # the chain view's one-call refit: its work arrays as ``ChainView`` allocates them
    starts = np.array([0, n // 2, n], dtype=np.int64)
    iv = np.full(n, np.nan)
    greeks = np.empty((8, n))
    params = np.zeros((2, 5))
    sse = np.zeros(2)
    chain_kernel(price, is_call, F, K, T, r, starts, iv, greeks, params, sse)
    done.append("chain_kernel")
    # SVI and the surface
    k = np.log(K[: n // 2] / 100.0)
    p, _ = fit_svi(k, (iv[: n // 2] ** 2) * 0.05)
    fit_svi(k, (iv[: n // 2] ** 2) * 0.05, np.ones_like(k), initial=p)
    surface = VolSurface(np.array([0.05, 0.25]), np.array([100.0, 100.0]),
                         [SviParams(*row) for row in params])
    surface.vol(K, np.where(T > 0, T, 1.0))
    surface.vol(100.0, 0.1)
    surface.forward(0.1)
    surface.total_variance(0.0, 0.1)
    surface.arbitrage_report()
    done += ["fit_svi", "VolSurface"]
    # scalar entry points called from Python (floats, a bool flag)
    black76_price_scalar(True, 100.0, 100.0, 0.1, 0.5, 0.0)
    black76_greeks_scalar(True, 100.0, 100.0, 0.1, 0.5, 0.0)
    black_scholes_price_scalar(True, 100.0, 100.0, 0.1, 0.5, 0.0, 0.0)
    black_scholes_greeks_scalar(True, 100.0, 100.0, 0.1, 0.5, 0.0, 0.0)
    inverse_price_scalar(True, 100.0, 100.0, 0.1, 0.5, 0.0)
    inverse_greeks_scalar(True, 100.0, 100.0, 0.1, 0.5, 0.0)
    implied_vol_scalar(5.0, True, 100.0, 100.0, 0.1, 0.0)
    svi_total_variance(0.0, 0.01, 0.1, -0.3, 0.0, 0.2)
    svi_g(0.0, 0.01, 0.1, -0.3, 0.0, 0.2)
    norm_cdf(0.1)
    norm_pdf(0.1)
    erfcx(0.1)
    done.append("scalars")
    return done


def main() -> int:
    t = time.perf_counter()
    done = warm()
    print(f"numba cache ready ({', '.join(done)}) in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
