"""Implied volatility: round trips, NaN contract, inverse options, chain kernel."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pricing import (
    black76_greeks,
    black76_price,
    black76_price_scalar,
    chain_iv_and_greeks,
    implied_vol,
    implied_vol_inverse,
    implied_vol_scalar,
    inverse_price,
)


def _random_cases(n: int, seed: int):
    rng = np.random.default_rng(seed)
    F = 100.0 * np.exp(rng.normal(0, 1.0, n))
    T = np.exp(rng.uniform(np.log(1 / 8760), np.log(3), n))
    v = np.exp(rng.uniform(np.log(0.02), np.log(3), n))
    K = F * np.exp(rng.uniform(-6, 6, n) * v * np.sqrt(T))
    c = rng.integers(0, 2, n).astype(bool)
    r = rng.uniform(-0.01, 0.08, n)
    return c, F, K, T, v, r


def _bench_mix(n: int, seed: int):
    """The input mix of benchmarks/bench_pricing.py: 1 day to 1 year, strikes one standard
    deviation around the forward, vols 0.3 to 1.5."""
    rng = np.random.default_rng(seed)
    F = np.full(n, 60000.0)
    T = np.exp(rng.uniform(np.log(1 / 365), np.log(1.0), n))
    v = rng.uniform(0.3, 1.5, n)
    K = F * np.exp(rng.normal(0, 1.0, n) * v * np.sqrt(T))
    return rng.integers(0, 2, n).astype(bool), F, K, T, v, np.full(n, 0.03)


def test_round_trip_thousands() -> None:
    c, F, K, T, v, r = _random_cases(20000, 11)
    g = black76_greeks(c, F, K, T, v, r)
    iv = implied_vol(g.price, c, F, K, T, r)
    # Well conditioned: the price elasticity to vol sigma*vega/price is not tiny, i.e. a relative
    # price error eps moves the vol by less than ~1e-11.
    well = (g.vega * v / g.price > 1e-5) & (g.price > 0)
    err = np.abs(iv / v - 1)
    max_err = float(np.max(err[well]))
    print(f"IV round trip: {well.sum()} well-conditioned cases, max rel err {max_err:.2e}")
    assert well.sum() > 15000
    assert max_err < 1e-10
    assert not np.any(np.isnan(iv[well]))
    # Outside the well-conditioned set the answer must still be a finite vol or NaN, never garbage.
    assert np.all(np.isnan(iv) | (iv >= 0))


def test_nan_contract() -> None:
    F, K, T, r = 100.0, 90.0, 0.5, 0.02
    df = math.exp(-r * T)
    assert math.isnan(implied_vol_scalar(df * 9.0, True, F, K, T, r))  # below intrinsic
    assert math.isnan(implied_vol_scalar(df * F, True, F, K, T, r))  # at the upper bound
    assert math.isnan(implied_vol_scalar(df * F * 1.1, True, F, K, T, r))
    assert math.isnan(implied_vol_scalar(df * K, False, F, K, T, r))
    assert math.isnan(implied_vol_scalar(5.0, True, F, K, 0.0, r))
    assert math.isnan(implied_vol_scalar(-1.0, True, F, K, T, r))
    assert math.isnan(implied_vol_scalar(math.nan, True, F, K, T, r))
    assert math.isnan(implied_vol_scalar(5.0, True, -F, K, T, r))
    assert implied_vol_scalar(df * 10.0, True, F, K, T, r) == 0.0  # exactly intrinsic
    out = implied_vol(np.array([1.0, np.inf, -3.0]), True, F, K, T, r)
    assert np.all(np.isnan(out))


def test_extremes_and_scalars() -> None:
    for T, v, z in [(1 / 8760, 3.0, -7.0), (1 / 8760, 0.05, 6.0), (3.0, 3.0, 2.0), (1.0, 0.01, -0.5)]:
        K = 100.0 * math.exp(z * v * math.sqrt(T))
        for is_call in (True, False):
            p = black76_price_scalar(is_call, 100.0, K, T, v, 0.01)
            iv = float(implied_vol(p, is_call, 100.0, K, T, 0.01))
            g = black76_greeks(is_call, 100.0, K, T, v, 0.01)
            if p > 1e-250 and g.vega * v / p > 1e-5:
                assert abs(iv / v - 1) < 1e-10
    assert isinstance(implied_vol(5.0, True, 100.0, 100.0, 0.1, 0.0), np.floating)


def test_inverse_round_trip() -> None:
    c, F, K, T, v, r = _random_cases(2000, 5)
    F = F * 500.0
    K = K * 500.0
    coin = inverse_price(c, F, K, T, v, r)
    iv = implied_vol_inverse(coin, c, F, K, T, r)
    g = black76_greeks(c, F, K, T, v, r)
    well = g.vega * v / g.price > 1e-5
    assert np.max(np.abs(iv[well] / v[well] - 1)) < 1e-10


def test_chain_iv_and_greeks_nan_safe() -> None:
    c, F, K, T, v, r = _random_cases(500, 9)
    p = black76_price(c, F, K, T, v, r)
    p[::7] = -1.0
    iv, g = chain_iv_and_greeks(p, c, F, K, T, r)
    assert np.all(np.isnan(iv[::7])) and np.all(np.isnan(g.delta[::7]))
    ok = ~np.isnan(iv)
    ref = black76_greeks(c[ok], F[ok], K[ok], T[ok], iv[ok], r[ok])
    np.testing.assert_allclose(g.delta[ok], ref.delta, rtol=1e-14)


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.floats(-4.0, 4.0), st.floats(1 / 8760, 3.0), st.floats(0.02, 3.0))
def test_iv_inverts_price(is_call: bool, z: float, T: float, v: float) -> None:
    K = 100.0 * math.exp(z * v * math.sqrt(T))
    p = black76_price_scalar(is_call, 100.0, K, T, v, 0.03)
    g = black76_greeks(is_call, 100.0, K, T, v, 0.03)
    if g.vega * v / p > 1e-5:
        assert abs(implied_vol_scalar(p, is_call, 100.0, K, T, 0.03) / v - 1) < 1e-10


def test_round_trip_on_the_benchmark_mix() -> None:
    """The realistic mix ``benchmarks/bench_pricing.py`` times (1 day to 1 year, strikes one
    standard deviation around the forward, vols 0.3 to 1.5): every well-conditioned option
    round-trips within 1e-10 (the Householder iteration converges quartically; nothing is traded for
    the speed)."""
    n = 100_000
    c, F, K, T, v, r = _bench_mix(n, 17)
    g = black76_greeks(c, F, K, T, v, r)
    iv = implied_vol(g.price, c, F, K, T, r)
    well = (g.vega * v / g.price > 1e-5) & (g.price > 0)
    assert well.sum() > 0.95 * n
    assert float(np.max(np.abs(iv[well] / v[well] - 1))) < 1e-10


def test_iv_is_the_root_of_the_80_digit_price(black_ref) -> None:
    """The iteration stops after a small Householder step (quartic convergence, the step
    estimates the error before it). What it returns must be the exact implied vol of the given
    double price to ~1e-14 relative: the 80-digit price at the returned vol differs from the
    input price by no more than that vol error times vega, plus the price's own rounding."""
    n = 400
    c, F, K, T, v, r = _bench_mix(n, 23)
    p = black76_price(c, F, K, T, v, r)
    iv = implied_vol(p, c, F, K, T, r)
    checked = 0
    for i in range(n):
        # vega at the returned vol from first principles: e^{-rT} F phi(d1) sqrt(T)
        s = iv[i] * math.sqrt(T[i])
        d1 = math.log(F[i] / K[i]) / s + 0.5 * s
        vega = math.exp(-r[i] * T[i]) * F[i] * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * math.sqrt(T[i])
        if vega * iv[i] < 1e-6 * p[i]:
            continue  # ill-conditioned: the price barely moves with the vol
        resid = abs(black_ref(bool(c[i]), F[i], K[i], T[i], iv[i], r[i]) - p[i])
        assert resid <= 1e-14 * vega * iv[i] + 2.0 * math.ulp(p[i]), (i, resid, vega * iv[i])
        checked += 1
    assert checked > 0.95 * n


def test_roots_at_the_inflection_point() -> None:
    """The branch (below or above s_c = sqrt(2|x|)) is picked from a one-erfc value of b at
    s_c, whose terms cancel as s_c -> 0; a converged step that crosses s_c returns s_c. Prices a
    few ulp either side of b(x, s_c) must invert to their own vol, near the money and far from
    it. (Below |x| ~ 1e-8, s_c ~ 1e-4, the concave branch's objective ln(e^{x/2} - beta) holds
    beta ~ 0.4 s_c only to eps/beta: 2e-11 at x = -1e-10, 2e-10 at x = -1e-12.)"""
    from engine.pricing.implied_vol import normalised_implied_s
    from engine.pricing.normalised import normalised_black_otm

    for x in (-1e-8, -1e-6, -1e-3, -0.02, -0.5, -3.0, -20.0):
        s_c = math.sqrt(-2.0 * x)
        for k in range(-6, 7):
            s = s_c * (1.0 + k * 1e-13)
            beta = normalised_black_otm(x, s)
            assert abs(normalised_implied_s(beta, x) / s - 1.0) < 1e-11, (x, k)
        # and the price of the inflection point itself, ulp by ulp
        beta_c = normalised_black_otm(x, s_c)
        for beta in (beta_c, math.nextafter(beta_c, 0.0), math.nextafter(beta_c, 1.0)):
            assert abs(normalised_implied_s(beta, x) / s_c - 1.0) < 1e-11, x


def test_bachelier_guess_inverts_psi() -> None:
    """The below-s_c initial guess inverts psi(a) = phi(a)/a - N(-a) (the Bachelier limit of
    b/|x| with a = |x|/s) through a fitted polynomial: within 6e-4 of the exact a on [0.5, 6],
    NaN outside (the other guesses take over)."""
    from engine.pricing.implied_vol import _bachelier_guess

    x = -0.3
    for a in np.linspace(0.501, 5.999, 997):
        a = float(a)
        psi = math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi) / a - 0.5 * math.erfc(a / math.sqrt(2.0))
        s = _bachelier_guess(psi * -x, x)
        assert abs((-x / s) / a - 1.0) < 6e-4, a
    for a in (0.3, 7.0):
        psi = math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi) / a - 0.5 * math.erfc(a / math.sqrt(2.0))
        assert math.isnan(_bachelier_guess(psi * -x, x))
