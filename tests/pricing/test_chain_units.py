"""The chain view's arrays are in the units docs/strategies.md states ("The option chain"),
checked against Black-76 written out here with math.erf (not the code under test)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from engine.chains import ChainView
from engine.integrity import BookKeeper
from engine.model import NS_PER_YEAR, BookSnapshot, Instrument, InstrumentKind, OptionType

GUIDE = (Path(__file__).resolve().parents[2] / "docs/strategies.md").read_text()
NOW = 1_767_225_600 * 10**9
F = 60_000.0
T = 30 / 365
VOL = 0.6
STRIKES = (50_000.0, 55_000.0, 60_000.0, 65_000.0, 70_000.0, 75_000.0)


def _n(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _b76(call: bool, f: float, k: float, t: float, vol: float) -> float:
    s = vol * math.sqrt(t)
    d1 = math.log(f / k) / s + s / 2
    d2 = d1 - s
    return f * _n(d1) - k * _n(d2) if call else k * _n(-d2) - f * _n(-d1)


def _chain(coin: bool) -> ChainView:
    insts, keeper = [], BookKeeper()
    for K in STRIKES:
        for cp in (OptionType.CALL, OptionType.PUT):
            call = cp is OptionType.CALL
            inst = Instrument(venue="x", symbol=f"BTC-{int(K)}-{cp.value[0].upper()}",
                              kind=InstrumentKind.OPTION, base="BTC", quote="USD",
                              settle="BTC" if coin else "USDC", inverse=coin, premium_in_coin=coin,
                              tick_size=1e-9, lot_size=0.1, underlying="BTC", strike=K,
                              option_type=cp, expiry_ns=NOW + int(T * NS_PER_YEAR))
            insts.append(inst)
            bid, ask = _b76(call, F, K, T, VOL - 0.001), _b76(call, F, K, T, VOL + 0.001)
            if coin:
                bid, ask = bid / F, ask / F
            keeper.on_snapshot(BookSnapshot(inst.id, ((bid, 1.0),), ((ask, 1.0),), 1, NOW, NOW))
    chain = ChainView("BTC", insts)
    for inst in insts:
        chain.set_expiry_forward(inst.id, F)
    assert chain.refresh(NOW, keeper.book, F)
    return chain


@pytest.mark.parametrize("coin", [False, True])
def test_model_arrays_are_in_the_documented_units(coin: bool) -> None:
    chain = _chain(coin)
    for K, call in ((55_000.0, False), (60_000.0, True), (70_000.0, True)):
        n = next(i for i, inst in enumerate(chain.instruments) if inst.strike == K and inst.is_call == call)
        vol, t = float(chain.model_vol[n]), float(chain.T[n])
        assert vol == pytest.approx(VOL, abs=2e-4)  # a fraction, not vol points
        assert t == pytest.approx(T, rel=1e-9)  # years of 365 days
        price = _b76(call, F, K, t, vol)
        # USD per coin of underlying, for coin-premium options too
        assert chain.model_price[n] == pytest.approx(price, rel=1e-9)
        h = 1e-4
        vega = (_b76(call, F, K, t, vol + h) - _b76(call, F, K, t, vol - h)) / (2 * h)
        assert chain.vega[n] == pytest.approx(vega, rel=1e-6)  # USD per 1.00 of vol
        dt = 1e-6
        theta = -(_b76(call, F, K, t + dt, vol) - _b76(call, F, K, t - dt, vol)) / (2 * dt)
        assert chain.theta[n] == pytest.approx(theta, rel=1e-5)  # USD per year
        dF = 1.0
        up, down = _b76(call, F + dF, K, t, vol), _b76(call, F - dF, K, t, vol)
        assert chain.delta[n] == pytest.approx((up - down) / (2 * dF), rel=1e-6)  # coins
        assert chain.gamma[n] == pytest.approx((up - 2 * price + down) / dF**2, rel=1e-3)  # per USD
        pa = chain.position_delta(chain.ids[n])
        assert pa == pytest.approx((up - down) / (2 * dF) - (price / F if coin else 0.0), rel=1e-6)
        if coin:
            assert chain.mid[n] == pytest.approx(price / F, rel=1e-3)  # the book's own currency


def test_the_guide_states_the_unit_of_every_array() -> None:
    chain = _chain(False)
    arrays = {name for name in vars(chain) if not name.startswith("_")
              and isinstance(getattr(chain, name), np.ndarray)
              and getattr(chain, name).shape == (len(chain.ids),)}
    table = GUIDE.split("**The option chain**", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"`([A-Za-z_]+)`", "\n".join(
        line.split("|")[1] for line in table.splitlines() if line.startswith("| `"))))
    assert arrays - documented == set()
