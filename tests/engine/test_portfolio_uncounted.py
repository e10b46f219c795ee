"""A Greek the portfolio cannot count is left out of the totals *and said to be*: an option with
no delta yet, an inverse perpetual with no price, an option without venue gamma/vega/theta.
Never a silent 0 in a total that looks complete (numbers exact or explicitly unknown)."""

from __future__ import annotations

import math

import pytest

from engine.model import Instrument, InstrumentKind, OptionType, Side
from engine.portfolio import Portfolio
from tests.engine.test_portfolio import INV, OPT, PERP, _fill

PUT = Instrument(venue="sim", symbol="BTC-1JAN27-40000-P", kind=InstrumentKind.OPTION, base="BTC",
                 quote="USD", settle="USDC", tick_size=1.0, lot_size=0.01, underlying="BTC",
                 strike=40000.0, option_type=OptionType.PUT, expiry_ns=1)


def test_option_without_delta_is_named_not_counted_as_zero() -> None:
    pf = Portfolio([PERP, OPT])
    pf.set_underlying_price("BTC", 50_000.0)
    pf.on_fill(_fill(PERP, Side.BUY, 0.5, 50_000.0, "1"))
    pf.on_fill(_fill(OPT, Side.BUY, 2.0, 1_000.0, "2"))  # no chain fit, no venue Greeks yet
    assert pf.delta("BTC") == 0.5  # the perpetual's: the option is left out ...
    assert pf.greeks_uncounted == {"BTC": 1}  # ... and that is known, O(1)
    assert pf.uncounted("BTC") == [OPT.id] == pf.uncounted("btc_usd", "vega")
    s = pf.greeks_summary("BTC")
    assert s["delta"] == 0.5 and s["delta_usd"] == 25_000.0
    for greek in ("delta", "gamma", "vega", "theta"):
        assert s[f"{greek}_incomplete"] == [OPT.id]
    assert math.isnan(pf.position(OPT.id).delta_base(50_000.0))  # unknown, not 0

    # the chain's Greeks arrive: delta 0.25, gamma 2e-5, vega 0.3 per 1.00 vol, theta -73/yr
    pf.set_greeks(OPT.id, 0.25, 2e-5, 30.0, -73.0)
    assert pf.delta("BTC") == pytest.approx(0.5 + 2.0 * 0.25)
    assert pf.greeks("BTC")[2] == pytest.approx(2.0 * 30.0 / 100.0)  # USD per vol point
    assert pf.greeks("BTC")[3] == pytest.approx(2.0 * -73.0 / 365.0)  # USD per day
    assert pf.greeks_uncounted == {} and pf.uncounted("BTC") == []
    assert not any(k.endswith("_incomplete") for k in pf.greeks_summary("BTC"))
    assert pf.position(OPT.id).delta_base(50_000.0) == pytest.approx(0.5)


def test_closed_position_is_no_longer_left_out() -> None:
    pf = Portfolio([OPT, PUT])
    pf.on_fill(_fill(OPT, Side.BUY, 1.0, 1_000.0, "1"))
    pf.on_fill(_fill(PUT, Side.SELL, 3.0, 500.0, "2"))
    assert pf.uncounted("BTC") == [PUT.id, OPT.id] and pf.greeks_uncounted["BTC"] == 2
    pf.on_fill(_fill(OPT, Side.SELL, 1.0, 1_100.0, "3"))  # flat: nothing to count
    assert pf.uncounted("BTC") == [PUT.id] and pf.greeks_uncounted["BTC"] == 1
    pf.resum()  # a rebuild keeps the view in step with the totals
    assert pf.uncounted("BTC") == [PUT.id] and pf.greeks_uncounted["BTC"] == 1
    pf.adjust_position(PUT.id, 0.0, 0.0)  # reconciliation flattens it
    assert pf.greeks_uncounted == {} and pf.greeks_summary("BTC")["delta"] == 0.0


def test_inverse_perpetual_without_any_price_then_priced_by_the_index() -> None:
    pf = Portfolio([INV])
    pf.adjust_position(INV.id, -500.0, 0.0)  # the venue's position, no price known at all
    assert pf.delta("BTC") == 0.0 and pf.uncounted("BTC") == [INV.id]
    assert pf.uncounted("BTC", "gamma") == []  # a perpetual has no gamma: that 0 is exact
    s = pf.greeks_summary("BTC")
    assert s["delta_incomplete"] == [INV.id] and "gamma_incomplete" not in s
    assert math.isnan(pf.position(INV.id).delta_base(math.nan))
    pf.set_underlying_price("BTC", 50_000.0)  # -500 x 10 USD / 50,000 = -0.1 BTC
    assert pf.delta("BTC") == pytest.approx(-0.1)
    assert pf.greeks_uncounted == {}


def test_venue_delta_without_the_other_greeks() -> None:
    pf = Portfolio([OPT])
    pf.on_fill(_fill(OPT, Side.BUY, 2.0, 1_000.0, "1"))
    pf.set_greeks(OPT.id, 0.4, math.nan, math.nan, math.nan)
    assert pf.delta("BTC") == pytest.approx(0.8) and pf.uncounted("BTC") == []
    assert pf.uncounted("BTC", "vega") == [OPT.id]
    s = pf.greeks_summary("BTC")
    assert "delta_incomplete" not in s and s["gamma_incomplete"] == [OPT.id]
    assert s["vega_incomplete"] == s["theta_incomplete"] == [OPT.id]


def test_status_line_and_fields_name_the_positions_left_out() -> None:
    from engine.status import status_fields, status_line
    from tests.risk import helpers
    from tests.risk.helpers import CALL, make

    k, _fake = make()
    k.portfolio.set_underlying_price("BTC", 60_000.0)
    k.portfolio.on_fill(_fill(helpers.PERP, Side.BUY, 0.31, 60_000.0, "1"))
    k.portfolio.on_fill(_fill(CALL, Side.BUY, 1.0, 2_000.0, "2"))  # no Greeks for it yet
    fields = status_fields(k)
    g = fields["greeks"]["BTC"]
    assert g["delta"] == 0.31 and g["delta_usd"] == pytest.approx(0.31 * 60_000.0)
    assert g["delta_incomplete"] == [CALL.id] == g["vega_incomplete"]
    assert "delta +0.3100 BTC (+1 position without a delta)" in status_line(fields)
    k.portfolio.set_greeks(CALL.id, 0.5, 1e-5, 50.0, -36.5)  # 0.31 + 1 x 0.5
    fields = status_fields(k)
    assert fields["greeks"]["BTC"]["delta"] == pytest.approx(0.81)
    assert not any(key.endswith("_incomplete") for key in fields["greeks"]["BTC"])
    assert "without a delta" not in status_line(fields)


def test_a_venue_delta_update_keeps_the_other_greeks_as_they_were() -> None:
    pf = Portfolio([OPT])
    pf.on_fill(_fill(OPT, Side.BUY, 2.0, 1_000.0, "1"))
    pf.set_greeks(OPT.id, 0.25, 2e-5, 30.0, -73.0)  # vega 0.30 USD/vol pt, theta -0.2 USD/day
    pf.set_option_delta(OPT.id, 0.4)  # a new delta alone
    assert pf.greeks_per_contract(OPT.id) == pytest.approx((0.4, 2e-5, 0.30, -0.2))
    assert pf.greeks("BTC") == pytest.approx((0.8, 4e-5, 0.60, -0.4))
