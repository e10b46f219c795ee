"""The live chain view recovers a known smile from option books and prices Greeks off it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.chains import ChainView
from engine.integrity import BookKeeper
from engine.model import NS_PER_YEAR, BookSnapshot, Instrument, InstrumentKind, OptionType
from engine.pricing import SviParams, black76_greeks, black76_price, svi_total_variance

NOW = 1_767_225_600 * 10**9
F = 60_000.0
EXPIRIES = (7 / 365, 30 / 365)
TRUE = {0: SviParams(0.004, 0.02, -0.3, 0.0, 0.08), 1: SviParams(0.02, 0.05, -0.25, 0.0, 0.15)}
STRIKES = np.arange(44_000.0, 76_001.0, 2_000.0)


def _true_vol(e: int, K: float) -> float:
    T = EXPIRIES[e]
    return math.sqrt(svi_total_variance(math.log(K / F), *TRUE[e]) / T)


def _chain(coin: bool = False, half_spread_vol: float = 0.002):
    insts, keeper = [], BookKeeper()
    for e, T in enumerate(EXPIRIES):
        for K in STRIKES:
            for cp in (OptionType.CALL, OptionType.PUT):
                inst = Instrument(venue="x", symbol=f"BTC-{e}-{int(K)}-{cp.value[0].upper()}",
                                  kind=InstrumentKind.OPTION, base="BTC", quote="USD",
                                  settle="BTC" if coin else "USDC", inverse=coin,
                                  premium_in_coin=coin, tick_size=1e-9, lot_size=0.1,
                                  underlying="BTC", strike=float(K), option_type=cp,
                                  expiry_ns=NOW + int(T * NS_PER_YEAR))
                vol = _true_vol(e, K)
                call = cp is OptionType.CALL
                bid = float(black76_price(call, F, K, T, vol - half_spread_vol, 0.0))
                ask = float(black76_price(call, F, K, T, vol + half_spread_vol, 0.0))
                if coin:
                    bid, ask = bid / F, ask / F
                keeper.on_snapshot(BookSnapshot(inst.id, ((bid, 1.0),), ((ask, 1.0),), 1, NOW, NOW))
                insts.append(inst)
    chain = ChainView("BTC", insts)
    for inst in insts:
        chain.set_expiry_forward(inst.id, F)
    return chain, keeper


@pytest.mark.parametrize("coin", [False, True])
def test_surface_recovers_the_smile(coin: bool) -> None:
    chain, keeper = _chain(coin)
    assert chain.refresh(NOW, keeper.book, F)
    assert chain.surface is not None and len(chain.surface.expiries) == 2
    for e, T in enumerate(EXPIRIES):
        for K in (50_000.0, 60_000.0, 70_000.0):
            assert chain.surface.vol(K, T) == pytest.approx(_true_vol(e, K), abs=2e-4)
    assert chain.atm_vol() == pytest.approx(_true_vol(0, F), abs=2e-4)
    assert chain.fit_error() < 0.05  # vol points
    # market IVs bracket the model: bid < model < ask on every live quote
    ok = np.isfinite(chain.bid_iv) & np.isfinite(chain.ask_iv)
    assert ok.sum() > 40
    assert np.all(chain.bid_iv[ok] <= chain.model_vol[ok] + 1e-6)
    assert np.all(chain.ask_iv[ok] >= chain.model_vol[ok] - 1e-6)


def test_model_greeks_and_premium_adjusted_delta() -> None:
    chain, keeper = _chain(coin=True)
    chain.refresh(NOW, keeper.book, F)
    iid = next(i for i in chain.ids if i.endswith("-1-60000-C"))
    n = chain.index[iid]
    g = black76_greeks(True, F, 60_000.0, EXPIRIES[1], chain.model_vol[n], 0.0)
    assert chain.delta[n] == pytest.approx(float(g.delta), rel=1e-12)
    assert chain.position_delta(iid) == pytest.approx(float(g.delta) - float(g.price) / F, rel=1e-9)


def test_risk_reversal_sign_follows_skew() -> None:
    chain, keeper = _chain()
    chain.refresh(NOW, keeper.book, F)
    rr = chain.risk_reversal_25d(0)
    assert rr < 0  # rho < 0: puts richer than calls
    # against a brute-force 25-delta search on the true smile
    T = EXPIRIES[0]
    Ks = np.linspace(40_000, 90_000, 20_001)
    vols = np.array([_true_vol(0, k) for k in Ks])
    cd = black76_greeks(True, F, Ks, T, vols, 0.0).delta
    pdl = black76_greeks(False, F, Ks, T, vols, 0.0).delta
    kc, kp = Ks[np.argmin(abs(cd - 0.25))], Ks[np.argmin(abs(pdl + 0.25))]
    assert rr == pytest.approx(_true_vol(0, kc) - _true_vol(0, kp), abs=5e-4)


def test_one_sided_and_missing_books_do_not_break_the_fit() -> None:
    chain, keeper = _chain()
    for iid in chain.ids[::3]:
        keeper.invalidate(iid, "gap")
    assert chain.refresh(NOW, keeper.book, F)
    assert np.isnan(chain.mid_iv[::3]).all()
    assert np.isfinite(chain.model_vol).all()  # model Greeks exist for every listed option


def test_each_refit_reports_arbitrage_in_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    chain, keeper = _chain()
    assert chain.refresh(NOW, keeper.book, F)
    summary = chain.summary()
    assert summary["arb_butterfly"] == 0 and summary["arb_calendar"] == 0
    # A later expiry with less total variance than the earlier one: calendar arbitrage.
    monkeypatch.setitem(TRUE, 1, SviParams(0.001, 0.01, -0.3, 0.0, 0.08))
    chain, keeper = _chain()
    assert chain.refresh(NOW, keeper.book, F)
    assert chain.summary()["arb_calendar"] == 1
    assert chain.arbitrage is not None and not chain.arbitrage.ok
