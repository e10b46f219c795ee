"""Option pricing kernels for Volta (pure leaf package: numpy + numba only).

Black-76 on the forward is the core model; Black-Scholes with carry, inverse (coin-margined)
options, implied volatility, SVI smiles and a total-variance surface are built on top.
Conventions and sources are in each module's docstring and in docs/units.md.
Scalar ``*_scalar`` functions are numba ``@njit`` entry points usable from other njit code.
"""

from engine.pricing.black76 import (
    Greeks,
    black76_greeks,
    black76_greeks_kernel,
    black76_greeks_scalar,
    black76_price,
    black76_price_kernel,
    black76_price_scalar,
)
from engine.pricing.black_scholes import (
    black_scholes_greeks,
    black_scholes_greeks_scalar,
    black_scholes_price,
    black_scholes_price_scalar,
)
from engine.pricing.chain import chain_iv_and_greeks, chain_iv_greeks_kernel, chain_kernel
from engine.pricing.implied_vol import (
    implied_vol,
    implied_vol_inverse,
    implied_vol_kernel,
    implied_vol_scalar,
)
from engine.pricing.inverse import (
    InverseGreeks,
    inverse_greeks,
    inverse_greeks_scalar,
    inverse_price,
    inverse_price_scalar,
)
from engine.pricing.normal import erfcx, norm_cdf, norm_pdf
from engine.pricing.surface import ArbitrageReport, VolSurface
from engine.pricing.svi import SviParams, fit_svi, slice_problem, svi_g, svi_total_variance
from engine.pricing.units import rho_per_point, theta_per_day, vega_per_point

__all__ = [
    "ArbitrageReport",
    "Greeks",
    "InverseGreeks",
    "SviParams",
    "VolSurface",
    "black76_greeks",
    "black76_greeks_kernel",
    "black76_greeks_scalar",
    "black76_price",
    "black76_price_kernel",
    "black76_price_scalar",
    "black_scholes_greeks",
    "black_scholes_greeks_scalar",
    "black_scholes_price",
    "black_scholes_price_scalar",
    "chain_iv_and_greeks",
    "chain_iv_greeks_kernel",
    "chain_kernel",
    "erfcx",
    "fit_svi",
    "slice_problem",
    "implied_vol",
    "implied_vol_inverse",
    "implied_vol_kernel",
    "implied_vol_scalar",
    "inverse_greeks",
    "inverse_greeks_scalar",
    "inverse_price",
    "inverse_price_scalar",
    "norm_cdf",
    "norm_pdf",
    "rho_per_point",
    "svi_g",
    "svi_total_variance",
    "theta_per_day",
    "vega_per_point",
]

# Before any kernel runs: a cache written by other pricing sources is dropped (see cache_guard).
from engine.pricing.cache_guard import flush_if_sources_changed  # noqa: E402

flush_if_sources_changed()
