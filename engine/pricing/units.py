"""Conversions from model units (per 1.00 vol, per year) to desk display units.

Desk/venue conventions: vega per vol point (1% = 0.01 of vol) and theta per calendar day on a
365-day year, as shown by Deribit and OKX and as used by py_vollib's analytical Greeks (vega x 0.01,
theta / 365); see docs/units.md. Rho per 1% of rate is likewise rho / 100.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

DAYS_PER_YEAR: float = 365.0


def vega_per_point(vega: ArrayLike) -> NDArray[np.float64] | np.float64:
    """Vega per 1.00 of vol -> per vol point (0.01)."""
    return np.asarray(vega, dtype=np.float64) / 100.0


def theta_per_day(theta: ArrayLike, days_per_year: float = DAYS_PER_YEAR) -> NDArray[np.float64] | np.float64:
    """Theta per year (-dP/dT) -> per calendar day (365-day year by default)."""
    return np.asarray(theta, dtype=np.float64) / days_per_year


def rho_per_point(rho: ArrayLike) -> NDArray[np.float64] | np.float64:
    """Rho per 1.00 of rate -> per 1% of rate."""
    return np.asarray(rho, dtype=np.float64) / 100.0
