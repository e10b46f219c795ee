"""SVI fit recovery, arbitrage detection and surface interpolation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.pricing import SviParams, VolSurface, fit_svi, svi_g, svi_total_variance
from engine.pricing.svi import svi_total_variance_array

K_GRID = np.linspace(-0.8, 0.6, 40)


@pytest.mark.parametrize(
    "p",
    [
        SviParams(0.02, 0.1, -0.4, 0.05, 0.15),
        SviParams(-0.01, 0.2, 0.3, -0.1, 0.3),
        SviParams(0.04, 0.05, 0.0, 0.0, 0.05),
        SviParams(0.001, 0.5, -0.8, 0.1, 0.08),
    ],
)
def test_fit_recovers_known_parameters(p: SviParams) -> None:
    w = svi_total_variance_array(K_GRID, *p)
    weights = np.random.default_rng(0).uniform(0.5, 1.5, K_GRID.size)
    q, rmse = fit_svi(K_GRID, w, weights)
    assert np.max(np.abs(np.array(q) - np.array(p))) < 2e-6
    assert rmse < 1e-8


def test_fit_noisy_smile_and_warm_refit() -> None:
    p = SviParams(0.03, 0.12, -0.3, 0.02, 0.2)
    rng = np.random.default_rng(4)
    w = svi_total_variance_array(K_GRID, *p) * (1 + 1e-3 * rng.standard_normal(K_GRID.size))
    q, rmse = fit_svi(K_GRID, w)
    assert rmse < 1e-4
    q2, rmse2 = fit_svi(K_GRID, w, initial=q)
    assert rmse2 <= rmse * (1 + 1e-6)


def _surface(params: list[SviParams], expiries=(0.1, 0.5)) -> VolSurface:
    return VolSurface.from_slices(list(expiries), [100.0] * len(expiries), params)


def test_arbitrage_free_surface_reports_nothing() -> None:
    s = _surface([SviParams(0.005, 0.05, -0.3, 0.0, 0.1), SviParams(0.03, 0.1, -0.3, 0.0, 0.2)])
    assert s.arbitrage_report().ok


def test_butterfly_arbitrage_detected() -> None:
    # Gatheral & Jacquier (2014) example 3.1: a = -0.0410, b = 0.1331, rho = 0.3586, m = 0.3060,
    # sigma = 0.4153 violates Durrleman's condition.
    bad = SviParams(-0.0410, 0.1331, 0.3586, 0.3060, 0.4153)
    assert min(svi_g(k, *bad) for k in np.linspace(-1.5, 1.5, 301)) < 0
    s = _surface([bad, SviParams(0.1, 0.15, 0.3, 0.3, 0.4)])
    rep = s.arbitrage_report()
    assert rep.butterfly and rep.butterfly[0].expiry == pytest.approx(0.1)
    assert rep.butterfly[0].min_g < 0


def test_calendar_arbitrage_detected() -> None:
    s = _surface([SviParams(0.04, 0.1, -0.3, 0.0, 0.2), SviParams(0.02, 0.1, -0.3, 0.0, 0.2)])
    rep = s.arbitrage_report()
    assert len(rep.calendar) == 1
    cv = rep.calendar[0]
    assert cv.expiry == pytest.approx(0.1) and cv.next_expiry == pytest.approx(0.5)
    assert cv.max_drop == pytest.approx(0.02, rel=1e-9)


def test_surface_fit_and_interpolation() -> None:
    true = [SviParams(0.004, 0.04, -0.3, 0.0, 0.1), SviParams(0.02, 0.08, -0.3, 0.02, 0.2),
            SviParams(0.06, 0.12, -0.25, 0.03, 0.3)]
    expiries = [0.05, 0.25, 1.0]
    forwards = [60000.0, 60500.0, 62000.0]
    strikes, ivs = [], []
    for t, f, p in zip(expiries, forwards, true):
        K = f * np.exp(np.linspace(-0.5, 0.5, 40) * math.sqrt(max(t, 0.1)))
        ivs.append(np.sqrt(svi_total_variance_array(np.log(K / f), *p) / t))
        strikes.append(K)
    s = VolSurface.fit(expiries, forwards, strikes, ivs)
    assert np.all(s.rmse_vol < 1e-5)
    # On the slices the surface reproduces the market vols.
    for t, K, iv in zip(expiries, strikes, ivs):
        np.testing.assert_allclose(s.vol(K, t), iv, rtol=1e-6)
    # Between slices: total variance linear in T at fixed k.
    t = 0.6
    f = s.forward(t)
    assert f == pytest.approx(math.exp(np.interp(t, expiries, np.log(forwards))))
    K = f * math.exp(0.1)
    w0 = svi_total_variance(0.1, *s.params[1])
    w1 = svi_total_variance(0.1, *s.params[2])
    w = w0 + (w1 - w0) * (t - 0.25) / 0.75
    assert float(s.vol(K, t)) == pytest.approx(math.sqrt(w / t), rel=1e-12)
    # Flat-vol extrapolation outside the expiries.
    f_short = s.forward(0.01)
    assert float(s.vol(f_short, 0.01)) == pytest.approx(math.sqrt(svi_total_variance(0.0, *s.params[0]) / 0.05), rel=1e-12)
    grid = s.vol(np.array([[55000.0], [65000.0]]), np.array([0.1, 0.5, 2.0]))
    assert grid.shape == (2, 3) and np.all(np.isfinite(grid))
    assert isinstance(s.vol(60000.0, 0.3), float)
