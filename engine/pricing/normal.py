"""Standard normal distribution and scaled complementary error function, as numba kernels.

Everything here is written for *relative* accuracy in the tails, because option prices far from
the money are differences of tiny normal probabilities:

* ``norm_cdf(x) = 0.5*erfc(-x/sqrt(2))`` (never ``0.5*(1+erf(.))``, which loses every digit for
  x << 0). ``math.erfc`` is accurate to ~1 ulp relative for positive arguments, so the left tail is
  exact to machine precision; callers that need the right tail 1 - N(x) must ask for ``N(-x)``.
* ``erfcx(y) = exp(y^2) erfc(y)``: for moderate y the product is formed with y^2 split exactly
  (Dekker's two-product) so that ``exp`` does not amplify the rounding error of y*y; for large y
  the asymptotic series is used (erfc underflows there). See W. J. Cody, "Rational Chebyshev
  approximations for the error function", Math. Comp. 23 (1969) for the function itself, and
  Jäckel, "Let's Be Rational" (2015), section 3, on why the Black function needs erfcx.
"""

from __future__ import annotations

import math

from numba import njit

SQRT2: float = math.sqrt(2.0)
SQRT_PI: float = math.sqrt(math.pi)
SQRT_2PI: float = math.sqrt(2.0 * math.pi)
INV_SQRT_2PI: float = 1.0 / math.sqrt(2.0 * math.pi)
INV_SQRT_PI: float = 1.0 / math.sqrt(math.pi)
# -1/sqrt(2) as -(sqrt 2)/2: halving is exact, so x * this is as close to -x/sqrt(2) as the
# division x / SQRT2 was (both round the constant once and the operation once) at a fraction
# of the cost; norm_cdf is on every pricing path.
_MINUS_HALF_SQRT2: float = -0.5 * SQRT2
_DEKKER_SPLIT: float = 134217729.0  # 2**27 + 1, splits a double into two 26-bit halves


@njit(cache=True, fastmath=False)
def norm_pdf(x: float) -> float:
    """Standard normal density phi(x)."""
    return INV_SQRT_2PI * math.exp(-0.5 * x * x)


@njit(cache=True, fastmath=False)
def norm_cdf(x: float) -> float:
    """Standard normal CDF N(x) = 0.5*erfc(-x/sqrt2), relatively accurate for x -> -inf.

    For x -> +inf the result rounds to 1 with absolute accuracy; use ``norm_cdf(-x)`` for 1 - N(x).
    """
    return 0.5 * math.erfc(x * _MINUS_HALF_SQRT2)


@njit(cache=True, fastmath=False)
def _exp_square(y: float) -> float:
    """exp(y*y) with y*y carried in double-double so the result is accurate to a few ulp."""
    p = y * y
    c = _DEKKER_SPLIT * y
    hi = c - (c - y)
    lo = y - hi
    err = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo
    return math.exp(p) * (1.0 + err)


@njit(cache=True, fastmath=False)
def erfcx(y: float) -> float:
    """Scaled complementary error function exp(y^2)*erfc(y), relative accuracy ~1e-15.

    Overflows to +inf for y < -26.6 (the true value does too).
    """
    if y < 26.0:
        return _exp_square(y) * math.erfc(y)
    # Asymptotic series 1/(y sqrt(pi)) * sum (-1)^n (2n-1)!! / (2y^2)^n; at y >= 26 eight terms
    # are below 1e-18 relative.
    z = 1.0 / (2.0 * y * y)
    term = 1.0
    s = 1.0
    for n in range(1, 9):
        term *= -(2.0 * n - 1.0) * z
        s += term
    return s * INV_SQRT_PI / y


@njit(cache=True, fastmath=False)
def norm_ppf_approx(p: float) -> float:
    """Rough inverse normal CDF (Abramowitz & Stegun 26.2.23, |error| < 4.5e-4).

    Only used to seed Newton/Householder iterations; never as a final answer.
    """
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    q = p if p < 0.5 else 1.0 - p
    t = math.sqrt(-2.0 * math.log(q))
    z = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (
        1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))
    )
    return -z if p < 0.5 else z
