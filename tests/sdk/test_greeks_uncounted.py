"""ctx.greeks tells a strategy when a total leaves a position out (its Greek not known yet),
as pnl_usd tells it of unpriced amounts: the numbers stay a 4-tuple, ``uncounted`` names the
positions left out, ``complete`` says whether there are any."""

from __future__ import annotations

import pytest

from engine import Greeks, Side, Strategy
from tests.engine.test_portfolio import _fill
from tests.risk.helpers import CALL

from .conftest import PERP, RecordingVenue, add_strategy, make_kernel


def test_ctx_greeks_names_the_option_without_a_delta_and_stays_a_4_tuple() -> None:
    kernel, _ = make_kernel(venues=[RecordingVenue(instruments=[PERP, CALL])])
    s = add_strategy(kernel, Strategy)
    kernel.start_strategies()
    kernel.portfolio.on_fill(_fill(PERP, Side.BUY, 0.3, 60_000.0, "1"))
    assert s.ctx.greeks("BTC").complete and s.ctx.greeks("BTC").uncounted == {}
    kernel.portfolio.on_fill(_fill(CALL, Side.BUY, 2.0, 2_000.0, "2"))  # no Greeks for it yet

    g = s.ctx.greeks("btc_usd")  # any venue's spelling
    d, gamma, vega, theta = g  # existing strategies unpack four numbers
    assert (d, gamma, vega, theta) == (0.3, 0.0, 0.0, 0.0)  # the perpetual only ...
    assert not g.complete  # ... and it says so
    assert g.uncounted == {name: (CALL.id,) for name in ("delta", "gamma", "vega", "theta")}
    assert s.ctx.delta("BTC") == 0.3

    # Greeks of the call (per 1.00 vol, per year): 2 x 0.5 delta, 2 x 40/100 USD/vol pt
    kernel.portfolio.set_greeks(CALL.id, 0.5, 1e-5, 40.0, -36.5)
    g = s.ctx.greeks("BTC")
    assert g.complete and g.delta == pytest.approx(0.3 + 1.0) and g.vega == pytest.approx(0.8)
    assert g.theta == pytest.approx(2 * -36.5 / 365.0)
    assert isinstance(g, Greeks) and isinstance(g, tuple) and len(g) == 4
