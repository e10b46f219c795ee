"""A depth update around resting orders (``InstrumentQueues.depth_update``): an emptied
opposite side crosses nothing, and a side that comes back through our price fills at our limit."""

from __future__ import annotations

from engine.model import Liquidity, OrderAccepted, Side
from tests.backtest.helpers import MS, T0, delta, filled_qty, fills, make_exchange, order, snapshot


def test_an_empty_opposite_side_crosses_nothing_and_its_return_through_our_bid_fills() -> None:
    ex, clock, out = make_exchange(queue="worst")
    ex.on_market(snapshot([(100.0, 5.0)], [(101.0, 5.0)], T0))
    ex.submit(order("b1", Side.BUY, 1.0, 100.0, post_only=True))
    assert any(isinstance(e, OrderAccepted) for e in out)
    ex.on_market(delta([], [(101.0, 0.0)], 2, T0 + MS))  # every ask gone
    assert fills(out, "b1") == []
    ex.on_market(delta([(100.0, 4.0)], [], 3, T0 + 2 * MS))  # 1 lot ahead of us left
    assert fills(out, "b1") == []
    ex.on_market(delta([], [(99.5, 0.4)], 4, T0 + 3 * MS))  # an ask through our bid: 0.4 at 100
    (f,) = fills(out, "b1")
    assert (f.price, f.quantity, f.remaining, f.liquidity) == (100.0, 0.4, 0.6, Liquidity.MAKER)


def test_an_empty_opposite_side_crosses_nothing_for_an_ask_either() -> None:
    ex, clock, out = make_exchange(queue="worst")
    ex.on_market(snapshot([(99.0, 5.0)], [(100.0, 5.0)], T0))
    ex.submit(order("a1", Side.SELL, 1.0, 100.0, post_only=True))
    assert any(isinstance(e, OrderAccepted) for e in out)
    ex.on_market(delta([(99.0, 0.0)], [], 2, T0 + MS))  # every bid gone
    assert fills(out, "a1") == []
    ex.on_market(delta([(100.5, 2.5)], [], 3, T0 + 2 * MS))  # a bid through our ask
    assert filled_qty(out, "a1") == 1.0 and fills(out, "a1")[-1].price == 100.0
