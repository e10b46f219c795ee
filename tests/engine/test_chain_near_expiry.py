"""A degenerate SVI fit near expiry never marks options outside the market (issue 12, point 5)."""

from __future__ import annotations

import math

import numpy as np

from engine.chains import ChainView
from engine.integrity import BookKeeper
from engine.model import NS_PER_YEAR, BookSnapshot, Instrument, InstrumentKind, OptionType
from engine.pricing import SviParams, black76_price, fit_svi, slice_problem

NOW = 1_767_225_600 * 10**9
F = 30_000.0
T = 23 * 60 / (365 * 86_400)  # 23 minutes
STRIKES = np.arange(29_000.0, 31_001.0, 100.0)
LONELY_PUT_K = 29_000.0  # far out of the money: no bid, ask 3 USD


def _insts() -> list[Instrument]:
    out = []
    for K in STRIKES:
        for cp in (OptionType.CALL, OptionType.PUT):
            out.append(Instrument(venue="x", symbol=f"BTC-{int(K)}-{cp.value[0].upper()}",
                                  kind=InstrumentKind.OPTION, base="BTC", quote="USD", settle="USDC",
                                  tick_size=0.01, lot_size=0.1, underlying="BTC", strike=float(K),
                                  option_type=cp, expiry_ns=NOW + int(T * NS_PER_YEAR)))
    return out


def _books(insts: list[Instrument], vol_of: object, seq: int = 1) -> BookKeeper:
    keeper = BookKeeper()
    for inst in insts:
        call = inst.option_type is OptionType.CALL
        if not call and inst.strike == LONELY_PUT_K:
            keeper.on_snapshot(BookSnapshot(inst.id, (), ((3.0, 1.0),), seq, NOW, NOW))
            continue
        v = vol_of(inst.strike)  # type: ignore[operator]
        bid = float(black76_price(call, F, inst.strike, T, v * 0.97, 0.0))
        ask = float(black76_price(call, F, inst.strike, T, v * 1.03, 0.0))
        if ask < 0.5:  # worthless wings: no quotes
            continue
        keeper.on_snapshot(BookSnapshot(inst.id, ((round(bid, 2), 1.0),), ((round(ask, 2) + 0.01, 1.0),),
                                        seq, NOW, NOW))
    return keeper


def _chaotic(K: float) -> float:
    """Quotes no smile can explain: neighbouring strikes alternate between 40 % and 400 %."""
    return 0.4 if int(K / 100) % 2 else 4.0


def test_the_reported_degenerate_slice_is_rejected() -> None:
    k = np.log(STRIKES / F)
    iv = np.full_like(k, 0.6)
    bad = SviParams(a=1e-6, b=0.5, rho=-1.00014, m=0.001, sigma=4e-13)
    assert "rho" in slice_problem(bad, k, iv, T)
    assert "sigma" in slice_problem(bad._replace(rho=-0.9), k, iv, T)
    assert "Lee" in slice_problem(SviParams(0.0, 1.5, 0.5, 0.0, 0.1), k, iv, T)
    assert "minimum total variance" in slice_problem(SviParams(-0.1, 0.1, 0.0, 0.0, 0.1), k, iv, 1.0)
    # a clean smile passes; and fits are constrained: |rho| < 1 and sigma > 0 even on chaos
    w = (0.6 ** 2) * T * np.ones_like(k)
    p, _ = fit_svi(k, w)
    assert slice_problem(p, k, iv, T) == ""
    chaos = np.array([_chaotic(x) for x in STRIKES])
    p, _ = fit_svi(k, chaos ** 2 * T)
    assert abs(p.rho) < 1.0 and p.sigma > 0.0 and p.b >= 0.0


def test_near_expiry_chain_stays_inside_the_market() -> None:
    insts = _insts()
    chain = ChainView("BTC", insts)
    for inst in insts:
        chain.set_expiry_forward(inst.id, F)
    # chaotic quotes with no earlier slice: market marks, reported
    keeper = _books(insts, _chaotic)
    chain.refresh(NOW, keeper.book, F)
    (status,) = chain.slices().values()
    assert status.startswith("market marks:"), status
    assert chain.summary()["rejected_fits"] == 1
    _assert_inside(chain, keeper)
    # a clean smile is fitted and accepted ...
    chain2 = ChainView("BTC", insts)
    for inst in insts:
        chain2.set_expiry_forward(inst.id, F)
    clean = _books(insts, lambda K: 0.6 + 2.0 * math.log(K / F) ** 2)
    assert chain2.refresh(NOW, clean.book, F)
    assert chain2.slice_status == ["fitted"]
    _assert_inside(chain2, clean)
    # ... and kept when the next refit degenerates
    chain2.refresh(NOW, _books(insts, _chaotic, seq=2).book, F)
    assert chain2.slice_status[0].startswith("kept previous slice:")
    _assert_inside(chain2, _books(insts, _chaotic, seq=2))


def _assert_inside(chain: ChainView, keeper: BookKeeper) -> None:
    for n, iid in enumerate(chain.ids):
        book = keeper.book(iid)
        px = float(chain.model_price[n])
        if book is None or px != px:
            continue
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid == bid:
            assert px >= bid - 1e-9, (iid, px, bid)
        if ask == ask:
            assert px <= ask + 1e-9, (iid, px, ask)
    lonely = chain.index[f"x:BTC-{int(LONELY_PUT_K)}-P"]
    assert float(chain.model_price[lonely]) <= 3.0 or math.isnan(float(chain.model_price[lonely]))
