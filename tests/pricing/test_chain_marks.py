"""What the chain view reports for an option the model cannot price: unknown (NaN), never the
bid or the ask dressed up as a model price."""

from __future__ import annotations

import math

import numpy as np

from engine.chains import ChainView
from engine.integrity import BookKeeper
from engine.model import NS_PER_YEAR, BookSnapshot, Instrument, InstrumentKind, OptionType

NOW = 1_767_225_600 * 10**9
F = 60_000.0
T = 30 / 365
EXPIRY_NS = NOW + int(T * NS_PER_YEAR)


def _bid_only_chain() -> tuple[ChainView, BookKeeper]:
    """Three strikes with a bid of 1,000 USD and no ask: no mid, so no mid IV; too few points
    for an SVI slice and no venue mark IV, so the expiry has no model vol at all."""
    insts, keeper = [], BookKeeper()
    for K in (55_000.0, 60_000.0, 65_000.0):
        for cp in (OptionType.CALL, OptionType.PUT):
            inst = Instrument(venue="x", symbol=f"BTC-{int(K)}-{cp.value[0].upper()}",
                              kind=InstrumentKind.OPTION, base="BTC", quote="USD", settle="USDC",
                              tick_size=0.01, lot_size=0.1, underlying="BTC", strike=K,
                              option_type=cp, expiry_ns=EXPIRY_NS)
            insts.append(inst)
            keeper.on_snapshot(BookSnapshot(inst.id, ((1_000.0, 1.0),), (), 1, NOW, NOW))
    return ChainView("BTC", insts), keeper


def test_no_model_vol_means_no_model_price() -> None:
    chain, keeper = _bid_only_chain()
    assert chain.refresh(NOW, keeper.book, F)
    assert chain.slice_status[0].startswith("market marks")
    assert np.isnan(chain.model_vol).all()
    # the model has nothing to say: its price is unknown, not the 1,000 USD bid
    assert np.isnan(chain.model_price).all()
    assert np.isnan(chain.vega).all() and np.isnan(chain.delta).all()
    assert math.isnan(chain.position_delta(chain.ids[0]))


def test_an_expired_option_has_no_model_price() -> None:
    chain, keeper = _bid_only_chain()
    assert chain.refresh(EXPIRY_NS + 1, keeper.book, F)
    assert chain.slice_status[0] == "expired"
    assert np.isnan(chain.model_price).all()


def test_an_expiry_with_too_few_quotes_says_so_and_is_no_rejected_fit() -> None:
    # no fit was tried (a slice needs 5 out-of-the-money mids): "non-finite parameters" and a
    # rejected fit counted at every refit told the user nothing about the cause
    chain, keeper = _bid_only_chain()
    assert chain.refresh(NOW, keeper.book, F)
    assert chain.slice_status[0] == ("market marks: 0 out-of-the-money quotes with a mid IV "
                                     "(a fit needs 5)")
    assert chain.rejected_fits == 0
    assert chain.summary()["slices_not_fitted"] == 1
