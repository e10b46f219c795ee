"""``MarginModel.change`` (the pre-trade check's one call for the margin before and after an
order) gives exactly the floats of the documented per-position rule at both sizes, and the
option rule by hand for a short USD-premium call."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.margin import LinearTerms, MarginModel
from engine.model import Instrument, InstrumentKind, OptionType

EXP = 1_800_000_000 * 10**9


def _option(ot: OptionType, coin: bool) -> Instrument:
    return Instrument(venue="v", symbol=f"BTC-X-30000-{ot.value}-{coin}", kind=InstrumentKind.OPTION,
                      base="BTC", quote="USD", settle="BTC" if coin else "USDC", inverse=coin,
                      premium_in_coin=coin, tick_size=0.0005 if coin else 1.0, lot_size=0.1,
                      min_size=0.1, underlying="BTC", strike=30_000.0, option_type=ot, expiry_ns=EXP)


KINDS = [
    _option(OptionType.CALL, True), _option(OptionType.PUT, True),
    _option(OptionType.CALL, False), _option(OptionType.PUT, False),
    Instrument(venue="v", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL, base="BTC", quote="USD",
               settle="BTC", inverse=True, contract_size=10.0, tick_size=0.5, lot_size=1.0, underlying="BTC"),
    Instrument(venue="v", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC", quote="USDT",
               settle="USDT", tick_size=0.1, lot_size=0.001, underlying="BTC"),
    Instrument(venue="v", symbol="BTC/USDT", kind=InstrumentKind.SPOT, base="BTC", quote="USDT",
               settle="USDT", tick_size=0.01, lot_size=0.0001),
]


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(KINDS), q0=st.integers(-500, 500), q1=st.integers(-500, 500),
       mark=st.floats(0.0001, 2_000.0), und=st.floats(1_000.0, 200_000.0))
def test_change_is_margin_at_both_sizes(kind: Instrument, q0: int, q1: int, mark: float, und: float) -> None:
    model = MarginModel(kind, LinearTerms(25.0, 0.005))
    a, b = q0 / 10.0, q1 / 10.0
    assert model.change(a, b, mark, und) == (*model.margin(a, mark, und), *model.margin(b, mark, und))


def test_short_usd_call_by_hand() -> None:
    call = _option(OptionType.CALL, False)
    und, mark = 32_000.0, 2_500.0  # 2,000 in the money: OTM 0
    im0, mm0, im1, mm1 = MarginModel(call, LinearTerms()).change(-1.0, -3.0, mark, und)
    m_coin = mark / und
    per_im, per_mm = max(0.15 - 0.0 / und, 0.10) + m_coin, 0.075 + m_coin
    assert (im0, mm0) == pytest.approx((per_im * und, per_mm * und), rel=1e-15)
    assert (im1, mm1) == pytest.approx((3 * per_im * und, 3 * per_mm * und), rel=1e-15)
    assert MarginModel(call, LinearTerms()).change(0.0, 2.0, mark, und) == (0.0, 0.0, 0.0, 0.0)
