"""Black-76 implied volatility: safeguarded Householder iteration on the normalised Black function.

Method (after Jäckel, "Let's Be Rational", Wilmott 2015, sections 2-4, but not his code):

* normalise: beta = (undiscounted price - intrinsic) / sqrt(F K), x = -|ln(F/K)| <= 0, so every
  problem becomes "find s = sigma sqrt(T) with b(x, s) = beta" for an out-of-the-money call;
  ``b`` is the ulp-accurate normalised Black function of :mod:`engine.pricing.normalised`;
* b(x, .) has a single inflection point at s_c = sqrt(2|x|) (Jäckel eq. 4.2); below it (convex
  part) the iteration runs on ln b(s) - ln beta, which is almost linear in 1/s^2 even when beta
  is 1e-300; above it (concave part) on ln(e^{x/2} - b(s)) - ln(e^{x/2} - beta), whose argument is
  summed from positive terms and which is almost quadratic in s near the upper bound;
* initial guesses: below s_c, the Bachelier limit b ~ s (phi(a) - a N(-a)), a = |x|/s,
  inverted by a fitted polynomial for 0.5 <= a <= 6 (median error 8e-4 on the benchmark mix,
  5e-2 at worst); for a < 0.5 Corrado-Miller's quadratic approximation where it lands in
  |x| < s < s_c; else the low-vol asymptotic b ~ s^3/(x^2 sqrt(2 pi)) exp(-x^2/(2 s^2) - s^2/8)
  (three fixed-point steps). Above s_c the high-vol form e^{x/2} - b ~ 2 cosh(x/2) N(-s/2)
  inverted with Abramowitz-Stegun 26.2.23;
* Householder third-order steps (quartic convergence, Jäckel eq. 4.6 form:
  s += n (1 + n h2/2) / (1 + n (h2 + n h3/6)) with the Newton step n = -f/f', h2 = f''/f',
  h3 = f'''/f', all exact in closed form from w = b''/b' = x^2/s^3 - s/4) inside a bracket that
  every evaluation tightens; a step that leaves the bracket is replaced by bisection, so the
  iteration cannot diverge. A step below 1e-4 relative ends it: the step estimates the error
  before it, so the error after it is of order (1e-4)^4, far below the double rounding of the
  price (tests/pricing/test_implied_vol.py checks the root against the 80-digit price). About
  2 evaluations per option on the benchmark mix (3.3 with the earlier Halley iteration), the
  first of them below s_c with the two-term formula when its rounding is below 1e-9 (it moves no
  bracket and ends nothing); b and its vega share one exponential per evaluation, e^{+-x/2} is
  computed once per option, and b at s_c (which picks the branch) in closed form.

Returns NaN (never raises) when no volatility reproduces the price: price below intrinsic,
at/above the upper bound (F e^{-rT} for a call, K e^{-rT} for a put), T <= 0, non-positive or
non-finite inputs. A price exactly at intrinsic returns 0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from engine.pricing._arrays import broadcast_flat, shaped
from engine.pricing.normal import INV_SQRT_2PI, norm_cdf, norm_ppf_approx
from engine.pricing.normalised import (
    log_moneyness,
    normalised_black_otm,
    normalised_black_otm_and_vega,
)

NAN = math.nan
_MAX_ITER = 40
_ROUGH_MAX_AMPLIFICATION = 4e6  # eps * 4e6 < 1e-9: the two-term b is good enough for a first step
_BC_ROUNDING = 16.0 * 2.220446049250313e-16  # > the few-ulp error of each term of b_c
_STOP_REL_STEP = 1e-4  # a Householder step this small leaves an error of order (1e-4)^4


@njit(cache=True, fastmath=False)
def _lower_guess(ln_beta: float, x: float, s_c: float) -> float:
    ax2 = x * x
    u = -ln_beta
    s = s_c
    for _ in range(3):
        if u <= 0.0:
            return 0.5 * s_c
        s = math.sqrt(ax2 / (2.0 * u))
        if s >= s_c:
            return 0.5 * s_c
        u = math.log(s * s * s / (ax2 * 2.5066282746310002)) - 0.125 * s * s - ln_beta
    return s


# Bachelier-limit guess (below s_c): for small t = s/2 at fixed a = |x|/s,
# b = s [phi(a) - a N(-a)] (1 + O(t^2)), so beta/|x| ~ psi(a) = phi(a)/a - N(-a) and s = |x|/a.
# a = psi^{-1}(beta/|x|) as a polynomial in z = (2v - (V_LO + V_HI))/(V_HI - V_LO) with
# v = sqrt(-2 ln(beta/|x|)), for a in [0.5, 6]: the degree-7 Chebyshev interpolant of the exact
# inverse (numpy chebinterpolate of a root-solve on psi), in power form, max relative error
# 5.1e-4; the O(t^2) term dominates the guess error (median 8e-4 on the benchmark mix).
_PSI_V_LO = 1.3618877221176304  # v at a = 0.5
_PSI_V_HI = 6.981495378699017  # v at a = 6
_PSI_INV = (
    2.931058829970923, 3.0742888443574574, 0.07460028756173398, -0.21063276884369442,
    0.31176494677365074, -0.20520531115940877, -0.06715828896950882, 0.09163286340299237,
)


@njit(cache=True, fastmath=False)
def _bachelier_guess(beta: float, x: float) -> float:
    """s from the Bachelier limit (see _PSI_INV) for 0.5 <= a <= 6, NaN outside."""
    y = beta / -x
    if not (y > 0.0 and y < 1.0):
        return NAN
    v = math.sqrt(-2.0 * math.log(y))
    if not (_PSI_V_LO <= v <= _PSI_V_HI):
        return NAN
    z = (2.0 * v - (_PSI_V_LO + _PSI_V_HI)) / (_PSI_V_HI - _PSI_V_LO)
    a = _PSI_INV[7]
    for k in range(6, -1, -1):
        a = a * z + _PSI_INV[k]
    return -x / a


@njit(cache=True, fastmath=False)
def _near_money_guess(beta: float, x: float, b_max: float, b_max_inv: float) -> float:
    """Corrado-Miller (1996) quadratic approximation in normalised units (F = e^{x/2},
    K = e^{-x/2}, price beta): relative error below ~5e-2 while |x| < s (|h| < 1), where the
    low-vol asymptotic does poorly; NaN when its discriminant is negative."""
    half_diff = 0.5 * (b_max - b_max_inv)
    a = beta - half_diff
    disc = a * a - 4.0 * half_diff * half_diff / math.pi
    if disc < 0.0:
        return NAN
    return 2.5066282746310002 / (b_max + b_max_inv) * (a + math.sqrt(disc))


@njit(cache=True, fastmath=False)
def _householder_step(s: float, f: float, g: float, x2: float) -> float:
    """Householder's third-order step for f = ln y - ln y* (y = b below s_c, e^{x/2} - b
    above) from f and g = f' = y'/y at s: quartic convergence, Newton where its correction
    factor is not positive (far from the root; the caller's bracket guards), NaN if g is.

    With w = b''/b' = x^2/s^3 - s/4 and its derivative w', exactly (the same for both y):
    f''/f' = w - g and f'''/f' = w^2 + w' - 3 g w + 2 g^2.
    """
    if g == 0.0 or not math.isfinite(g):
        return math.nan
    s2 = s * s
    w = x2 / (s2 * s) - 0.25 * s
    dw = -3.0 * x2 / (s2 * s2) - 0.25
    h2 = w - g
    h3 = w * w + dw - 3.0 * g * w + 2.0 * g * g
    newton = -f / g
    num = 1.0 + 0.5 * h2 * newton
    den = 1.0 + newton * (h2 + h3 * newton / 6.0)
    return newton * num / den if num > 0.0 and den > 0.0 else newton


@njit(cache=True, fastmath=False)
def normalised_implied_s(beta: float, x: float) -> float:
    """Total implied std-dev s with b(x, s) = beta for x <= 0 and 0 < beta < e^{x/2}."""
    return _implied_s(beta, x, math.exp(0.5 * x))


@njit(cache=True, fastmath=False)
def _implied_s(beta: float, x: float, b_max: float) -> float:
    """:func:`normalised_implied_s` given b_max = e^{x/2} (the caller has it already)."""
    b_max_inv = 1.0 / b_max
    s_c = math.sqrt(-2.0 * x)
    # b at the inflection point, where h = x/s_c = -s_c/2 = -t: e^{x/2} N(0) - e^{-x/2} N(-s_c),
    # one erfc. It only picks the branch; within a generous bound of its rounding error from
    # beta (the two terms cancel as s_c -> 0) the ulp-accurate function picks instead.
    n_c = norm_cdf(-s_c)
    b_c = 0.5 * b_max - b_max_inv * n_c
    if abs(beta - b_c) <= _BC_ROUNDING * (0.5 * b_max + b_max_inv * n_c * (1.0 + s_c * s_c)):
        b_c = normalised_black_otm(x, s_c) if s_c > 0.0 else 0.0
    lower = beta < b_c
    if lower:
        lo = 0.0
        hi = s_c
        target = math.log(beta)
        s = _bachelier_guess(beta, x)
        if not s < s_c:  # NaN too
            s = _near_money_guess(beta, x, b_max, b_max_inv)
            if not (s < s_c and -x < s):  # outside |x| < s < s_c use the low-vol form
                s = _lower_guess(target, x, s_c)
    else:
        lo = s_c
        hi = math.inf
        c_target = b_max - beta
        target = math.log(c_target)
        q = c_target / (b_max + b_max_inv)
        s = -2.0 * norm_ppf_approx(q) if q < 0.5 else s_c
        if not s > s_c:
            s = s_c * 1.5 if s_c > 0.0 else 1e-3
    x2 = x * x
    rough = lower  # the first step below s_c may come from the two-term formula (see below)
    for _ in range(_MAX_ITER):
        if lower:
            if rough:
                # First step only: b = e^{x/2} N(h+t) - e^{-x/2} N(h-t), two erfc, relative error
                # ~eps (1+h^2)(1+|h|)/t < 1e-9 where used (the ulp-accurate b costs twice as
                # much here). Its step only has to land near the root; it moves no bracket and
                # ends nothing: the accurate b always makes the last step.
                rough = False
                h = x / s
                t = 0.5 * s
                if (1.0 + h * h) * (1.0 - h) <= _ROUGH_MAX_AMPLIFICATION * t:
                    b = b_max * norm_cdf(h + t) - b_max_inv * norm_cdf(h - t)
                    if b > 0.0:
                        g = INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t)) / b
                        s_new = s + _householder_step(s, math.log(b) - target, g, x2)
                        if lo < s_new < hi:
                            s = s_new
                        continue
            b, vega = normalised_black_otm_and_vega(x, s)
            if b <= 0.0:
                lo = s
                s = 0.5 * (lo + hi)
                continue
            f = math.log(b) - target
            if f > 0.0:
                hi = s
            else:
                lo = s
            g = vega / b
        else:
            h = x / s
            t = 0.5 * s
            # e^{x/2} - b = e^{x/2} N(-(h+t)) + e^{-x/2} N(h-t): the distance to the upper bound
            # summed from positive terms, so it stays accurate as s -> inf; e^{+-x/2} fixed for
            # the whole iteration
            c = b_max * norm_cdf(-(h + t)) + b_max_inv * norm_cdf(h - t)
            if c <= 0.0:
                hi = s
                s = 0.5 * (lo + hi)
                continue
            f = math.log(c) - target
            if f > 0.0:
                lo = s
            else:
                hi = s
            g = -INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t)) / c
        step = _householder_step(s, f, g, x2)
        s_new = s + step
        if abs(step) <= _STOP_REL_STEP * s:
            # converged. A step this small that leaves the bracket says the root is at the
            # bound it crosses (s_c when the price is b(x, s_c) itself): return that bound
            return min(max(s_new, lo), hi)
        if not (s_new > lo and s_new < hi):
            if hi - lo <= 1e-15 * hi:
                # the bracket is down to rounding: the step's f is noise (a step out of a
                # bracket this tight only means that); every point in it is the answer
                return 0.5 * (lo + hi)
            s_new = 0.5 * (lo + hi) if hi < math.inf else 2.0 * max(s, lo)
            s = s_new
            continue
        if abs(step) <= _STOP_REL_STEP * s_new:
            return s_new
        s = s_new
        if hi - lo <= 1e-15 * s:
            return s
    return s


@njit(cache=True, fastmath=False)
def implied_vol_scalar(price: float, is_call: bool, F: float, K: float, T: float, r: float) -> float:
    """Black-76 implied vol of one option; NaN when no volatility reproduces ``price``."""
    if not (
        F > 0.0 and K > 0.0 and T > 0.0 and price >= 0.0 and math.isfinite(r)
        and math.isfinite(F) and math.isfinite(K) and math.isfinite(T) and math.isfinite(price)
    ):
        return NAN
    df = math.exp(-r * T)
    undisc = price / df
    cp = 1.0 if is_call else -1.0
    intrinsic = cp * (F - K)
    sqrt_fk = math.sqrt(F * K)
    if intrinsic > 0.0:
        beta = (undisc - intrinsic) / sqrt_fk
    else:
        beta = undisc / sqrt_fk
    x = -abs(log_moneyness(F, K))
    if beta < 0.0:
        return NAN
    if beta == 0.0:
        return 0.0
    b_max = math.exp(0.5 * x)
    if beta >= b_max:
        return NAN
    return _implied_s(beta, x, b_max) / math.sqrt(T)


@njit(parallel=True, cache=True, fastmath=False)
def implied_vol_kernel(
    price: NDArray[np.float64],
    is_call: NDArray[np.bool_],
    F: NDArray[np.float64],
    K: NDArray[np.float64],
    T: NDArray[np.float64],
    r: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Flat-array implied-vol kernel."""
    for i in prange(out.shape[0]):
        out[i] = implied_vol_scalar(price[i], is_call[i], F[i], K[i], T[i], r[i])


def implied_vol(
    price: ArrayLike, is_call: ArrayLike, F: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike
) -> NDArray[np.float64] | np.float64:
    """Black-76 implied volatility (per 1.00, annualised with T in years), vectorised.

    ``price`` is the discounted USD (quote-currency) premium, discounting e^{-rT}. NaN where no
    volatility reproduces the price (below intrinsic, at/above the no-arbitrage upper bound,
    T <= 0, bad inputs); 0 for a price exactly at intrinsic. See the module docstring for the
    algorithm (Jäckel, "Let's Be Rational", 2015, normalised-space formulation).
    """
    shape, flags, (p, f, k, t, rr) = broadcast_flat(is_call, price, F, K, T, r)
    out = np.empty(f.shape[0], dtype=np.float64)
    implied_vol_kernel(p, flags, f, k, t, rr, out)
    return shaped(out, shape)


def implied_vol_inverse(
    coin_price: ArrayLike, is_call: ArrayLike, F: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike
) -> NDArray[np.float64] | np.float64:
    """Implied vol of an inverse (coin-margined) option quoted in coin, Deribit/OKX style.

    The coin premium is the Black-76 USD value on the forward divided by F (Deribit "Inverse
    Options" support article; the displayed IV "uses the forward"), so IV = implied_vol(c*F).
    """
    return implied_vol(np.multiply(coin_price, F), is_call, F, K, T, r)
