"""Normalised Black function b(x, s), accurate to a few ulp *relative* in every regime.

Convention (Jäckel, "Let's Be Rational", Wilmott 2015, eq. 2.3): with x = ln(F/K) and
s = sigma*sqrt(T), the undiscounted Black-76 call is

    c = sqrt(F*K) * b(x, s),   b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2),

and the put is sqrt(F*K) * b(-x, s). Only out-of-the-money values (x <= 0 for a call) are ever
computed from the formula; in-the-money ones add the normalised intrinsic 2 sinh(x/2) (positive
terms, no cancellation).

For x < 0, writing h = x/s and t = s/2, the identity N(z) = 0.5 exp(-z^2/2) erfcx(-z/sqrt2)
gives (Jäckel eq. 3.4)

    b = 0.5 exp(-(h^2 + t^2)/2) * [erfcx((|h| - t)/sqrt2) - erfcx((|h| + t)/sqrt2)].

The bracket still cancels when t << |h| (low vol, far from the money; relative error
~ eps*|h|/(2t)) and when t << 1 near the money (~ eps/(1.6 t)). Jäckel uses asymptotic and small-t expansions there; here the difference of
erfcx values is instead evaluated *exactly as a difference*: through the Laplace continued
fraction of erfc when both arguments are >= 2.5 (the difference recursion needs only the
argument gap, never a subtraction of nearly equal numbers), and through the odd terms of the
Taylor series of erfcx around the midpoint for smaller arguments or small t.
"""

from __future__ import annotations

import math

from numba import njit

from engine.pricing.normal import _DEKKER_SPLIT, INV_SQRT_2PI, INV_SQRT_PI, SQRT2, erfcx, norm_cdf

_CF_MIN_ARG: float = 2.5
_SMALL_T_RATIO: float = 20.0  # use the cancellation-free difference once |h|/t exceeds this
_TAYLOR_MAX_T: float = 0.15  # and whenever t = s/2 is this small (Taylor step d = t/sqrt2 < 0.11)


@njit(cache=True, fastmath=False)
def _erfcx_diff_cf(y1: float, delta: float) -> float:
    """erfcx(y1) - erfcx(y1 + delta) for y1 >= 2.5 via the continued fraction
    sqrt(pi) erfcx(y) = 1/(y + (1/2)/(y + (2/2)/(y + (3/2)/(y + ...)))).

    Each level T_n(y) = a_n/(y + T_{n+1}(y)) and its difference D_n = T_n(y2) - T_n(y1) obey
    D_n = -(delta + D_{n+1}) T_n(y1) T_n(y2) / a_n, where |D_{n+1}| < delta/2, so no digits are
    lost; the number of levels follows the convergence of the fraction (40 at y = 2.5).
    """
    y2 = y1 + delta
    n_terms = 14 + int(200.0 / (y1 * y1))
    t1 = 0.0
    t2 = 0.0
    d = 0.0
    for n in range(n_terms, 0, -1):
        a = 0.5 * n
        t1n = a / (y1 + t1)
        t2n = a / (y2 + t2)
        d = -(delta + d) * t1n * t2n / a
        t1 = t1n
        t2 = t2n
    k1 = 1.0 / (y1 + t1)
    k2 = 1.0 / (y2 + t2)
    d0 = -(delta + d) * k1 * k2
    return -d0 * INV_SQRT_PI


@njit(cache=True, fastmath=False)
def _erfcx_diff_taylor(yc: float, d: float) -> float:
    """erfcx(yc - d) - erfcx(yc + d) = -2 sum_k E^{(2k+1)}(yc) d^{2k+1}/(2k+1)! for d << yc.

    Derivatives from E' = 2yE - 2/sqrt(pi), E^{(n+1)} = 2y E^{(n)} + 2n E^{(n-1)}.
    """
    e_prev = erfcx(yc)
    e_cur = 2.0 * yc * e_prev - 2.0 * INV_SQRT_PI
    total = 0.0
    power = d  # d^n / n!
    n = 1
    while n < 40:
        if n % 2 == 1:
            term = e_cur * power
            total += term
            if abs(term) <= 1e-17 * abs(total):
                break
        e_next = 2.0 * yc * e_cur + 2.0 * n * e_prev
        e_prev = e_cur
        e_cur = e_next
        n += 1
        power *= d / n
    return -2.0 * total


@njit(cache=True, fastmath=False)
def normalised_black_otm(x: float, s: float) -> float:
    """b(x, s) for x <= 0 (out-of-the-money call), s = sigma*sqrt(T) >= 0."""
    if s <= 0.0:
        return 0.0
    return normalised_black_otm_and_vega(x, s)[0]


@njit(cache=True, fastmath=False)
def normalised_black_otm_and_vega(x: float, s: float) -> tuple[float, float]:
    """(b(x, s), db/ds) for x <= 0, s > 0, sharing their factor exp(-(h^2 + t^2)/2): the vega
    db/ds = phi(x/s + s/2) e^{x/2} = exp(-(h^2 + t^2)/2)/sqrt(2 pi), the same for calls and puts
    (the implied-vol iteration needs both at every step)."""
    h = x / s
    t = 0.5 * s
    e = math.exp(-0.5 * (h * h + t * t))
    vega = INV_SQRT_2PI * e
    if x == 0.0:
        return math.erf(0.25 * SQRT2 * s), vega  # 2N(s/2) - 1 without cancellation
    ah = -h
    if t - ah > 8.0:
        # Deep in the high-vol regime erfcx of a very negative argument would overflow; here the
        # second term is < 1e-15 of the first, so the plain formula is exact.
        return math.exp(0.5 * x) * norm_cdf(h + t) - math.exp(-0.5 * x) * norm_cdf(h - t), vega
    pref = 0.5 * e
    if pref == 0.0:
        return 0.0, vega
    y1 = (ah - t) / SQRT2
    if y1 >= _CF_MIN_ARG and ah > _SMALL_T_RATIO * t:
        return pref * _erfcx_diff_cf(y1, SQRT2 * t), vega
    if t < _TAYLOR_MAX_T or ah > _SMALL_T_RATIO * t:
        # Near the money with small s the bracket also cancels (relative error ~eps/(1.6 t)).
        return pref * _erfcx_diff_taylor(ah / SQRT2, t / SQRT2), vega
    return pref * (erfcx(y1) - erfcx((ah + t) / SQRT2)), vega


@njit(cache=True, fastmath=False)
def log_moneyness(F: float, K: float) -> float:
    """ln(F/K) corrected for the rounding of F/K.

    Far from the money at low vol the price has relative sensitivity ~|h|/s to x, so the 1-ulp
    error of the quotient would cost digits; the residual F - q*K is formed exactly (Dekker).
    """
    q = F / K
    c = _DEKKER_SPLIT * q
    qh = c - (c - q)
    ql = q - qh
    c = _DEKKER_SPLIT * K
    kh = c - (c - K)
    kl = K - kh
    p = q * K
    err = ((qh * kh - p) + qh * kl + ql * kh) + ql * kl  # q*K = p + err exactly
    resid = (F - p) - err
    return math.log(q) + resid / (q * K)


@njit(cache=True, fastmath=False)
def normalised_intrinsic(x: float) -> float:
    """max(e^{x/2} - e^{-x/2}, 0) = 2 sinh(x/2) for x > 0: the normalised call intrinsic value."""
    if x <= 0.0:
        return 0.0
    return 2.0 * math.sinh(0.5 * x)


@njit(cache=True, fastmath=False)
def normalised_black(x: float, s: float, theta: float) -> float:
    """Normalised Black value for a call (theta=+1) or put (theta=-1)."""
    xe = theta * x
    if xe > 0.0:
        return normalised_intrinsic(xe) + normalised_black_otm(-xe, s)
    return normalised_black_otm(xe, s)
