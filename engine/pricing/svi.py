"""Raw SVI smile: formula, quasi-explicit calibration, butterfly-arbitrage function.

Raw SVI (Gatheral 2004, "A parsimonious arbitrage-free implied volatility parameterization"):
total implied variance w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2)), k = ln(K/F).

Calibration: Zeliade's quasi-explicit method (De Marco & Martini, Zeliade white paper ZWP-0005,
2009). With y = (k - m)/sigma, w = a + d y + c sqrt(y^2 + 1) where c = b sigma, d = rho b sigma,
which is *linear* in (a, d, c) for fixed (m, sigma). The inner problem is a weighted linear
least-squares over the domain 0 <= c, |d| <= c (|rho| <= 1), c + |d| <= 2 sigma (Lee's moment bound
b (1 + |rho|) <= 2 on total variance) and min w = a + sqrt(c^2 - d^2) >= 0; it is solved exactly by
enumerating the interior and the boundary faces (each an O(1) problem once nine weighted moments
are summed). The outer 2-D problem over (m, log sigma) is a coarse grid followed by Nelder-Mead.
All in numba; a 40-strike slice takes well under 1 ms.

Validity: ``slice_problem`` says why a fitted slice must not be used (non-finite, b < 0,
|rho| >= 1, sigma collapsed, negative minimum variance a + b sigma sqrt(1 - rho^2) < 0, Roger Lee's
wing bound b (1 + |rho|) <= 2 broken, butterfly arbitrage on the quoted strikes, or a fit error
above the caller's tolerance); the chain view then keeps the previous slice or falls back to the
market's marks rather than quote around a degenerate smile.

Butterfly arbitrage: Durrleman's condition g(k) >= 0 (Gatheral & Jacquier, "Arbitrage-free SVI
volatility surfaces", 2014, eq. 2.1): g = (1 - k w'/(2w))^2 - w'^2/4 (1/w + 1/4) + w''/2.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

_LEE_MAX_SLOPE: float = 2.0
RHO_MAX: float = 1.0 - 1e-6
"""|rho| < 1 strictly: the rho = +-1 faces of the admissible domain sit at +-RHO_MAX."""
SIGMA_MIN: float = 1e-5
"""Smallest sigma (log-moneyness) the outer search may reach: below it the smile is a kink,
the degenerate fit (sigma = 4e-13) that marked near-expiry options at hundreds of vol points."""
_GRID_M: int = 9
_GRID_S: int = 8


class SviParams(NamedTuple):
    """Raw SVI parameters of one expiry (total-variance units)."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float


@njit(cache=True, fastmath=False)
def svi_total_variance(k: float, a: float, b: float, rho: float, m: float, sigma: float) -> float:
    """w(k) of raw SVI."""
    km = k - m
    return a + b * (rho * km + math.sqrt(km * km + sigma * sigma))


@njit(cache=True, fastmath=False)
def svi_g(k: float, a: float, b: float, rho: float, m: float, sigma: float) -> float:
    """Durrleman's g(k); the slice is free of butterfly arbitrage where g >= 0 (and w > 0)."""
    km = k - m
    root = math.sqrt(km * km + sigma * sigma)
    w = a + b * (rho * km + root)
    w1 = b * (rho + km / root)
    w2 = b * sigma * sigma / (root * root * root)
    if w <= 0.0:
        return -math.inf
    u = 1.0 - k * w1 / (2.0 * w)
    return u * u - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2


@njit(cache=True, fastmath=False)
def _face(
    alpha: float, beta: float, gamma: float, mom: NDArray[np.float64]
) -> tuple[float, float, float]:
    """Weighted LS of w - gamma*y on (1, alpha*y + beta*z): returns (a, coef, sse)."""
    sc, scy, scz, scyy, scyz, sczz, scw, scyw, sczw, scww = (
        mom[0], mom[1], mom[2], mom[3], mom[4], mom[5], mom[6], mom[7], mom[8], mom[9]
    )
    su = alpha * scy + beta * scz
    suu = alpha * alpha * scyy + 2.0 * alpha * beta * scyz + beta * beta * sczz
    sv = scw - gamma * scy
    suv = alpha * scyw + beta * sczw - gamma * (alpha * scyy + beta * scyz)
    svv = scww - 2.0 * gamma * scyw + gamma * gamma * scyy
    det = sc * suu - su * su
    if det <= 1e-300 * (sc * suu + 1e-300):
        a = sv / sc
        return a, 0.0, svv - a * sv
    a = (suu * sv - su * suv) / det
    coef = (sc * suv - su * sv) / det
    sse = svv - a * sv - coef * suv
    return a, coef, sse


@njit(cache=True, fastmath=False)
def _inner(
    k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64], m: float, sig: float,
    mom: NDArray[np.float64],
) -> tuple[float, float, float, float]:
    """Best (a, d, c) for fixed (m, sigma) on the admissible domain; returns (sse, a, d, c)."""
    mom[:] = 0.0
    for i in range(k.shape[0]):
        ci = wt[i]
        y = (k[i] - m) / sig
        z = math.sqrt(y * y + 1.0)
        wi = w[i]
        mom[0] += ci
        mom[1] += ci * y
        mom[2] += ci * z
        mom[3] += ci * y * y
        mom[4] += ci * y * z
        mom[5] += ci * z * z
        mom[6] += ci * wi
        mom[7] += ci * y * wi
        mom[8] += ci * z * wi
        mom[9] += ci * wi * wi
    lee = _LEE_MAX_SLOPE * sig
    best = math.inf
    ba = 0.0
    bd = 0.0
    bc = 0.0
    # Interior: full 3x3 normal equations by Cramer's rule.
    s00, s01, s02, s11, s12, s22 = mom[0], mom[1], mom[2], mom[3], mom[4], mom[5]
    r0, r1, r2 = mom[6], mom[7], mom[8]
    det = (s00 * (s11 * s22 - s12 * s12) - s01 * (s01 * s22 - s12 * s02)
           + s02 * (s01 * s12 - s11 * s02))
    if abs(det) > 1e-14 * (s00 * s11 * s22 + 1e-300):
        a = (r0 * (s11 * s22 - s12 * s12) - s01 * (r1 * s22 - s12 * r2) + s02 * (r1 * s12 - s11 * r2)) / det
        d = (s00 * (r1 * s22 - s12 * r2) - r0 * (s01 * s22 - s12 * s02) + s02 * (s01 * r2 - r1 * s02)) / det
        c = (s00 * (s11 * r2 - r1 * s12) - s01 * (s01 * r2 - r1 * s02) + r0 * (s01 * s12 - s11 * s02)) / det
        if c >= 0.0 and abs(d) <= RHO_MAX * c and c + abs(d) <= lee \
                and a + math.sqrt(max(c * c - d * d, 0.0)) >= 0.0:
            sse = mom[9] - a * r0 - d * r1 - c * r2
            return sse, a, d, c
    # Boundary faces: (alpha, beta, gamma) with d = alpha*coef + gamma, c = beta*coef + ...
    for face in range(5):
        if face == 0:  # rho = +RHO_MAX: d = RHO_MAX c
            a, c, sse = _face(RHO_MAX, 1.0, 0.0, mom)
            d = RHO_MAX * c
        elif face == 1:  # rho = -RHO_MAX: d = -RHO_MAX c
            a, c, sse = _face(-RHO_MAX, 1.0, 0.0, mom)
            d = -RHO_MAX * c
        elif face == 2:  # c + d = lee: w = a + lee*y + c (z - y)
            a, c, sse = _face(-1.0, 1.0, lee, mom)
            d = lee - c
        elif face == 3:  # c - d = lee: w = a - lee*y + c (z + y)
            a, c, sse = _face(1.0, 1.0, -lee, mom)
            d = c - lee
        else:  # flat smile
            a, c, sse = _face(0.0, 0.0, 0.0, mom)
            c = 0.0
            d = 0.0
        if c < -1e-15 or abs(d) > RHO_MAX * c + 1e-12 or c + abs(d) > lee * (1.0 + 1e-12):
            continue
        c = max(c, 0.0)
        if a + math.sqrt(max(c * c - d * d, 0.0)) < 0.0:
            continue
        if sse < best:
            best, ba, bd, bc = sse, a, d, c
    if best == math.inf:
        # Every face violated min w >= 0: fall back to a = 0 with rho = 0 (w = c z), always feasible.
        c = min(max(mom[8] / mom[5], 0.0), 0.5 * lee) if mom[5] > 0.0 else 0.0
        best = mom[9] - 2.0 * c * mom[8] + c * c * mom[5]
        ba, bd, bc = 0.0, 0.0, c
    return best, ba, bd, bc


@njit(cache=True, fastmath=False)
def _objective(
    k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64], m: float, log_sig: float,
    mom: NDArray[np.float64],
) -> float:
    return _inner(k, w, wt, m, max(math.exp(log_sig), SIGMA_MIN), mom)[0]


@njit(cache=True, fastmath=False)
def fit_svi_kernel(
    k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64],
    m0: float, sig0: float, max_iter: int,
) -> tuple[float, float, float, float, float, float]:
    """Quasi-explicit SVI fit. Returns (a, b, rho, m, sigma, weighted sse).

    Starts Nelder-Mead from (m0, sig0) when sig0 > 0 (warm refit), otherwise from the best point
    of a coarse (m, log sigma) grid spanning the strikes.
    """
    mom = np.empty(10)
    n = k.shape[0]
    kmin = k.min()
    kmax = k.max()
    span = max(kmax - kmin, 1e-4)
    if sig0 > 0.0:
        bm, bs = m0, math.log(sig0)
        step_m, step_s = 0.02 * span, 0.1
    else:
        best = math.inf
        bm = 0.0
        bs = 0.0
        for i in range(_GRID_M):
            m = kmin + span * (i + 0.5) / _GRID_M
            for j in range(_GRID_S):
                ls = math.log(span * 0.005) + (math.log(2.0 / 0.005)) * j / (_GRID_S - 1)
                f = _objective(k, w, wt, m, ls, mom)
                if f < best:
                    best, bm, bs = f, m, ls
        step_m, step_s = span / _GRID_M, math.log(2.0 / 0.005) / (_GRID_S - 1)
    # Nelder-Mead on (m, log sigma); simplex stored explicitly to avoid allocation in the loop.
    xs = np.empty((3, 2))
    fs = np.empty(3)
    xs[0, 0], xs[0, 1] = bm, bs
    xs[1, 0], xs[1, 1] = bm + step_m, bs
    xs[2, 0], xs[2, 1] = bm, bs + step_s
    for i in range(3):
        fs[i] = _objective(k, w, wt, xs[i, 0], xs[i, 1], mom)
    scale = max(abs(fs[0]), 1e-300)
    for _ in range(max_iter):
        # order
        for i in range(1, 3):
            j = i
            while j > 0 and fs[j] < fs[j - 1]:
                fs[j], fs[j - 1] = fs[j - 1], fs[j]
                t0, t1 = xs[j, 0], xs[j, 1]
                xs[j, 0], xs[j, 1] = xs[j - 1, 0], xs[j - 1, 1]
                xs[j - 1, 0], xs[j - 1, 1] = t0, t1
                j -= 1
        size = max(abs(xs[1, 0] - xs[0, 0]), abs(xs[2, 0] - xs[0, 0]),
                   abs(xs[1, 1] - xs[0, 1]), abs(xs[2, 1] - xs[0, 1]))
        if size < 1e-10 or (fs[2] - fs[0]) <= 1e-15 * scale + 1e-300 and size < 1e-6:
            break
        c0 = 0.5 * (xs[0, 0] + xs[1, 0])
        c1 = 0.5 * (xs[0, 1] + xs[1, 1])
        r0 = 2.0 * c0 - xs[2, 0]
        r1 = 2.0 * c1 - xs[2, 1]
        fr = _objective(k, w, wt, r0, r1, mom)
        if fr < fs[0]:
            e0 = 3.0 * c0 - 2.0 * xs[2, 0]
            e1 = 3.0 * c1 - 2.0 * xs[2, 1]
            fe = _objective(k, w, wt, e0, e1, mom)
            if fe < fr:
                xs[2, 0], xs[2, 1], fs[2] = e0, e1, fe
            else:
                xs[2, 0], xs[2, 1], fs[2] = r0, r1, fr
        elif fr < fs[1]:
            xs[2, 0], xs[2, 1], fs[2] = r0, r1, fr
        else:
            if fr < fs[2]:
                q0 = 0.5 * (c0 + r0)
                q1 = 0.5 * (c1 + r1)
            else:
                q0 = 0.5 * (c0 + xs[2, 0])
                q1 = 0.5 * (c1 + xs[2, 1])
            fq = _objective(k, w, wt, q0, q1, mom)
            if fq < min(fr, fs[2]):
                xs[2, 0], xs[2, 1], fs[2] = q0, q1, fq
            else:
                for i in range(1, 3):
                    xs[i, 0] = 0.5 * (xs[0, 0] + xs[i, 0])
                    xs[i, 1] = 0.5 * (xs[0, 1] + xs[i, 1])
                    fs[i] = _objective(k, w, wt, xs[i, 0], xs[i, 1], mom)
    i0 = 0
    for i in range(1, 3):
        if fs[i] < fs[i0]:
            i0 = i
    m = xs[i0, 0]
    sig = max(math.exp(xs[i0, 1]), SIGMA_MIN)
    sse, a, d, c = _inner(k, w, wt, m, sig, mom)
    b = c / sig
    rho = min(max(d / c, -RHO_MAX), RHO_MAX) if c > 0.0 else 0.0
    _ = n
    return a, b, rho, m, sig, sse


def fit_svi(
    k: ArrayLike, w: ArrayLike, weights: ArrayLike | None = None, initial: SviParams | None = None,
    max_iter: int = 400,
) -> tuple[SviParams, float]:
    """Fit raw SVI to total variances ``w`` at log-moneyness ``k`` (Zeliade quasi-explicit method).

    ``weights`` (e.g. vega or 1/bid-ask width) default to 1; non-finite points are dropped.
    ``initial`` warm-starts the outer search (refits). Returns the parameters and the weighted
    RMSE of total variance.
    """
    kk = np.ascontiguousarray(k, dtype=np.float64).ravel()
    ww = np.ascontiguousarray(w, dtype=np.float64).ravel()
    wt = np.ones_like(kk) if weights is None else np.ascontiguousarray(weights, dtype=np.float64).ravel()
    ok = np.isfinite(kk) & np.isfinite(ww) & np.isfinite(wt) & (wt > 0)
    kk, ww, wt = kk[ok], ww[ok], wt[ok]
    if kk.shape[0] < 5:
        raise ValueError("fit_svi needs at least 5 valid points")
    m0, s0 = (initial.m, initial.sigma) if initial is not None else (0.0, 0.0)
    a, b, rho, m, sig, _ = fit_svi_kernel(kk, ww, wt, m0, s0, max_iter)
    # Residuals recomputed directly: the moment-based sse cancels at the 1e-16 * sum(w^2) level.
    resid = svi_total_variance_array(kk, a, b, rho, m, sig) - ww
    rmse = math.sqrt(float(np.sum(wt * resid * resid)) / float(wt.sum()))
    return SviParams(a, b, rho, m, sig), rmse


@njit(cache=True, fastmath=False)
def svi_total_variance_array(
    k: NDArray[np.float64], a: float, b: float, rho: float, m: float, sigma: float
) -> NDArray[np.float64]:
    """w(k) over an array."""
    out = np.empty_like(k)
    for i in range(k.shape[0]):
        out[i] = svi_total_variance(k[i], a, b, rho, m, sigma)
    return out


@njit(cache=True, fastmath=False)
def svi_g_array(
    k: NDArray[np.float64], a: float, b: float, rho: float, m: float, sigma: float
) -> NDArray[np.float64]:
    """Durrleman g(k) over an array."""
    out = np.empty_like(k)
    for i in range(k.shape[0]):
        out[i] = svi_g(k[i], a, b, rho, m, sigma)
    return out


def slice_problem(
    p: SviParams, k: ArrayLike, iv: ArrayLike, T: float, max_rmse_vol: float = 15.0,
) -> str:
    """Why the fitted slice ``p`` of expiry ``T`` (years) must not be used, or "" if it is valid.

    ``k``/``iv`` are the quoted log-moneyness points and their market vols (fractions) the
    slice was fitted to; ``max_rmse_vol`` is the largest acceptable RMSE in vol points."""
    a, b, rho, m, sigma = p
    if not all(math.isfinite(x) for x in p):
        return "non-finite parameters"
    if b < 0.0:
        return f"b = {b:.3g} < 0"
    if not abs(rho) < 1.0:
        return f"|rho| = {abs(rho):.6g} >= 1"
    if not sigma >= SIGMA_MIN:
        return f"sigma = {sigma:.3g} collapsed (< {SIGMA_MIN:g})"
    if a + b * sigma * math.sqrt(1.0 - rho * rho) < 0.0:
        return "negative minimum total variance"
    if b * (1.0 + abs(rho)) > _LEE_MAX_SLOPE * (1.0 + 1e-9):
        return f"Lee wing bound: b (1 + |rho|) = {b * (1.0 + abs(rho)):.4g} > 2"
    kk = np.asarray(k, dtype=np.float64).ravel()
    vv = np.asarray(iv, dtype=np.float64).ravel()
    ok = np.isfinite(kk) & np.isfinite(vv)
    if not ok.any() or not T > 0.0:
        return "no quoted points"
    kk, vv = kk[ok], vv[ok]
    w = svi_total_variance_array(np.ascontiguousarray(kk), a, b, rho, m, sigma)
    if np.any(w <= 0.0):
        return "non-positive variance at a quoted strike"
    model = np.sqrt(w / T)
    rmse = 100.0 * math.sqrt(float(np.mean((model - vv) ** 2)))
    if not rmse <= max_rmse_vol:
        return f"fit error {rmse:.1f} vol pts > {max_rmse_vol:g}"
    worst = 100.0 * float(np.max(np.abs(model - vv)))
    if worst > 3.0 * max_rmse_vol:
        return f"model vol {worst:.0f} vol pts away from a quote"
    g = svi_g_array(np.ascontiguousarray(kk), a, b, rho, m, sigma)
    if np.any(g < -1e-9):
        return "butterfly arbitrage at a quoted strike"
    return ""
