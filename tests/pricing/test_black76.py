"""Black-76 / Black-Scholes / inverse prices and Greeks: QuantLib, 80-digit reference, FD, identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pricing import (
    black76_greeks,
    black76_greeks_scalar,
    black76_price,
    black76_price_scalar,
    black_scholes_greeks,
    black_scholes_price,
    inverse_greeks,
    inverse_price,
    theta_per_day,
    vega_per_point,
)

ql = pytest.importorskip("QuantLib")

F0 = 100.0
EXPIRIES = [1.0 / 8760.0, 1.0 / 365.0, 7.0 / 365.0, 0.25, 1.0, 3.0]
VOLS = [0.05, 0.3, 0.8, 1.5, 3.0]
STD_MONEYNESS = [-8.0, -5.0, -3.0, -1.0, -0.2, 0.0, 0.2, 1.0, 3.0, 5.0, 8.0]


def _grid():
    for T in EXPIRIES:
        for v in VOLS:
            s = v * math.sqrt(T)
            for z in STD_MONEYNESS:
                for is_call in (True, False):
                    yield is_call, F0, F0 * math.exp(z * s), T, v, 0.03


def test_against_quantlib_and_80_digit_reference(black_ref, relerr) -> None:
    worst_ql = 0.0
    worst_ref = 0.0
    n_ql = 0
    for is_call, F, K, T, v, r in _grid():
        p = float(black76_price_scalar(is_call, F, K, T, v, r))
        ref = black_ref(is_call, F, K, T, v, r)
        if ref < 1e-12 * F:
            continue
        worst_ref = max(worst_ref, relerr(p, ref))
        df = math.exp(-r * T)
        opt = ql.Option.Call if is_call else ql.Option.Put
        calc = ql.BlackCalculator(ql.PlainVanillaPayoff(opt, K), F, v * math.sqrt(T), df)
        q = calc.value()
        # QuantLib evaluates F N(d1) - K N(d2) directly, so its own relative error is about
        # eps * (cancelled term / price); compare only where that is below 1e-11.
        big = df * max(F, K)
        if big / q * 2.2e-16 < 1e-11:
            n_ql += 1
            worst_ql = max(worst_ql, relerr(p, q))
    print(f"max rel err vs 80-digit reference {worst_ref:.2e}; vs QuantLib {worst_ql:.2e} on {n_ql}")
    assert worst_ref < 1e-12
    assert worst_ql < 1e-10
    assert n_ql > 200


def test_quantlib_greeks() -> None:
    for is_call, F, K, T, v, r in _grid():
        if abs(math.log(K / F)) > 3 * v * math.sqrt(T):
            continue
        calc = ql.BlackCalculator(
            ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, K), F, v * math.sqrt(T), math.exp(-r * T)
        )
        g = black76_greeks_scalar(is_call, F, K, T, v, r)
        assert g[1] == pytest.approx(calc.deltaForward(), rel=1e-9, abs=1e-14)
        assert g[2] == pytest.approx(calc.gammaForward(), rel=1e-9, abs=1e-14)
        assert g[3] == pytest.approx(calc.vega(T), rel=1e-9, abs=1e-12)
        assert g[4] == pytest.approx(calc.theta(F, T), rel=1e-9, abs=1e-9)
        assert g[6] == pytest.approx(calc.vanna(F, T), rel=1e-8, abs=1e-12)


def test_haug_black76_example() -> None:
    # Haug (2007) 1.2.1: F=19, K=19, T=0.75, r=0.10, sigma=0.28 -> put 1.7011
    assert float(black76_price(False, 19.0, 19.0, 0.75, 0.28, 0.10)) == pytest.approx(1.7011, abs=5e-5)


def test_put_call_parity() -> None:
    rng = np.random.default_rng(1)
    n = 5000
    F = rng.uniform(50, 150, n)
    K = F * np.exp(rng.normal(0, 0.5, n))
    T = rng.uniform(1 / 8760, 3, n)
    v = rng.uniform(0.05, 3, n)
    r = rng.uniform(-0.01, 0.1, n)
    c = black76_price(True, F, K, T, v, r)
    p = black76_price(False, F, K, T, v, r)
    assert np.max(np.abs(c - p - np.exp(-r * T) * (F - K)) / F) < 1e-12


@pytest.mark.parametrize("is_call", [True, False])
def test_greeks_against_finite_differences(is_call: bool) -> None:
    rng = np.random.default_rng(2)
    n = 400
    F = np.full(n, 100.0)
    T = np.exp(rng.uniform(np.log(1 / 365), np.log(2), n))
    v = rng.uniform(0.1, 2.0, n)
    K = F * np.exp(rng.normal(0, 1.0, n) * v * np.sqrt(T))
    r = np.full(n, 0.04)
    g = black76_greeks(is_call, F, K, T, v, r)

    def P(f=F, t=T, s=v, rr=r):
        return black76_price(is_call, f, K, t, s, rr)

    hF = 1e-3 * F * v * np.sqrt(T)  # steps scaled to the distribution width
    hs = 1e-4 * v
    ht = 1e-6 * T
    hr = 1e-5
    fd = {
        "delta": (P(f=F + hF) - P(f=F - hF)) / (2 * hF),
        "gamma": (black76_greeks(is_call, F + hF, K, T, v, r).delta - black76_greeks(is_call, F - hF, K, T, v, r).delta) / (2 * hF),
        "vega": (P(s=v + hs) - P(s=v - hs)) / (2 * hs),
        "theta": -(P(t=T + ht) - P(t=T - ht)) / (2 * ht),
        "rho": (P(rr=r + hr) - P(rr=r - hr)) / (2 * hr),
        "vanna": (black76_greeks(is_call, F, K, T, v + hs, r).delta - black76_greeks(is_call, F, K, T, v - hs, r).delta) / (2 * hs),
        "volga": (black76_greeks(is_call, F, K, T, v + hs, r).vega - black76_greeks(is_call, F, K, T, v - hs, r).vega) / (2 * hs),
    }
    scale = {"delta": 1.0, "gamma": 1.0 / 100, "vega": 100.0, "theta": 100.0, "rho": 100.0, "vanna": 1.0, "volga": 100.0}
    for name, approx in fd.items():
        exact = getattr(g, name)
        np.testing.assert_allclose(exact, approx, rtol=2e-5, atol=1e-6 * scale[name], err_msg=name)


def test_units_and_edge_cases() -> None:
    g = black76_greeks(True, 100.0, 100.0, 0.5, 0.8, 0.0)
    assert float(vega_per_point(g.vega)) == pytest.approx(float(g.vega) / 100)
    assert float(theta_per_day(g.theta)) == pytest.approx(float(g.theta) / 365)
    assert isinstance(black76_price(True, 100.0, 90.0, 1.0, 0.5, 0.0), np.floating)
    assert black76_price(True, 100.0, 90.0, 0.0, 0.5, 0.0) == pytest.approx(10.0)
    assert black76_price(False, 100.0, 90.0, 1.0, 0.0, 0.0) == 0.0
    for bad in [(-1.0, 90.0, 1.0, 0.5), (100.0, 0.0, 1.0, 0.5), (100.0, 90.0, -1.0, 0.5), (100.0, 90.0, 1.0, math.nan)]:
        assert math.isnan(black76_price(True, *bad, 0.0))
        assert all(math.isnan(x) for x in black76_greeks_scalar(True, *bad, 0.0))
    out = black76_price(np.array([[True], [False]]), 100.0, np.array([90.0, 100.0, 110.0]), 0.5, 0.6, 0.01)
    assert out.shape == (2, 3)


def test_black_scholes_matches_quantlib_engine() -> None:
    S, K, T, v, r, q = 100.0, 105.0, 0.75, 0.45, 0.05, 0.02
    today = ql.Date(1, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    maturity = today + int(round(T * 365))
    T = dc.yearFraction(today, maturity)
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(S)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), v, dc)),
    )
    for is_call in (True, False):
        opt = ql.VanillaOption(
            ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, K), ql.EuropeanExercise(maturity)
        )
        opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
        g = black_scholes_greeks(is_call, S, K, T, v, r, q)
        assert float(g.price) == pytest.approx(opt.NPV(), rel=1e-10)
        assert float(g.delta) == pytest.approx(opt.delta(), rel=1e-9)
        assert float(g.gamma) == pytest.approx(opt.gamma(), rel=1e-9)
        assert float(g.vega) == pytest.approx(opt.vega(), rel=1e-9)
        assert float(g.theta) == pytest.approx(opt.theta(), rel=1e-9)
        assert float(g.rho) == pytest.approx(opt.rho(), rel=1e-9)
        assert float(black_scholes_price(is_call, S, K, T, v, r, q)) == pytest.approx(opt.NPV(), rel=1e-10)


def test_inverse_identities() -> None:
    rng = np.random.default_rng(3)
    n = 300
    F = rng.uniform(20000, 80000, n)
    T = rng.uniform(1 / 365, 1.0, n)
    v = rng.uniform(0.3, 1.5, n)
    K = F * np.exp(rng.normal(0, 0.8, n) * v * np.sqrt(T))
    r = 0.0
    for is_call in (True, False):
        usd = black76_greeks(is_call, F, K, T, v, r)
        inv = inverse_greeks(is_call, F, K, T, v, r)
        np.testing.assert_allclose(inv.price, usd.price / F, rtol=1e-14)
        np.testing.assert_allclose(inverse_price(is_call, F, K, T, v, r), usd.price / F, rtol=1e-14)
        np.testing.assert_allclose(inv.delta, usd.delta - usd.price / F, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(inv.vega, usd.vega / F, rtol=1e-14)
        h = 1e-3 * F * v * np.sqrt(T)
        c = lambda f: inverse_price(is_call, f, K, T, v, r)  # noqa: E731
        np.testing.assert_allclose(inv.delta, F * (c(F + h) - c(F - h)) / (2 * h), rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(inv.gamma * F * F, F * F * (c(F + h) - 2 * c(F) + c(F - h)) / h**2, rtol=1e-4, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.floats(0.2, 5.0),  # K/F
    st.floats(1 / 8760, 3.0),
    st.floats(0.01, 2.9),
    st.floats(1e-3, 0.1),
)
def test_price_increasing_in_vol(is_call: bool, kf: float, T: float, v: float, dv: float) -> None:
    p0 = black76_price_scalar(is_call, 100.0, 100.0 * kf, T, v, 0.02)
    p1 = black76_price_scalar(is_call, 100.0, 100.0 * kf, T, v + dv, 0.02)
    assert p1 >= p0
