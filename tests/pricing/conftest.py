"""Shared helpers for the pricing tests: a 60-digit Black-76 reference built on ``decimal``.

QuantLib's double-precision price loses relative accuracy far out of the money (it evaluates
F N(d1) - K N(d2) directly, see docs/units.md), so an independent high-precision reference is
needed to test relative accuracy there. mpmath is not a project dependency, hence ``decimal``.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import pytest

_PI = Decimal(
    "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899863"
)


def _erfc_dec(z: Decimal) -> Decimal:
    if z < 0:
        return 2 - _erfc_dec(-z)
    if z <= 5:
        # erf Taylor series; terms peak near e^{z^2} ~ 1e11, far inside the working precision.
        term = z
        total = z
        n = 0
        z2 = z * z
        while True:
            n += 1
            term = -term * z2 / n
            add = term / (2 * n + 1)
            total += add
            if abs(add) < Decimal(10) ** -75:
                break
        return 1 - 2 / _PI.sqrt() * total
    # Laplace continued fraction, evaluated backwards.
    t = Decimal(0)
    for n in range(400, 0, -1):
        t = (Decimal(n) / 2) / (z + t)
    return (-z * z).exp() / _PI.sqrt() / (z + t)


def black76_reference(is_call: bool, F: float, K: float, T: float, sigma: float, r: float) -> float:
    """Black-76 price with 80 significant digits, rounded to double."""
    with localcontext() as ctx:
        ctx.prec = 80
        f, k, t, v, rr = (Decimal(float(a)) for a in (F, K, T, sigma, r))  # exact binary values
        s = v * t.sqrt()
        d1 = (f / k).ln() / s + s / 2
        d2 = d1 - s
        sq2 = Decimal(2).sqrt()
        if is_call:
            val = f * _erfc_dec(-d1 / sq2) / 2 - k * _erfc_dec(-d2 / sq2) / 2
        else:
            val = k * _erfc_dec(d2 / sq2) / 2 - f * _erfc_dec(d1 / sq2) / 2
        return float((-rr * t).exp() * val)


@pytest.fixture(scope="session")
def black_ref():
    return black76_reference


def rel_err(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.fixture(scope="session")
def relerr():
    return rel_err


__all__ = ["black76_reference", "rel_err", "math"]
