"""With Greek limits set, an order adding risk is not checked against a total that leaves
positions out (their Greek not known yet): it is denied NO_GREEKS, naming them. Before, the
gate compared the order with the known part alone, treating the unknown positions as 0: a
long call without Greeks let a perpetual buy through whatever the call's delta, and could
also deny an order the complete total allows. Reducing orders are never held back."""

from __future__ import annotations

from engine.model import Liquidity, OrderFilled, Side
from engine.risk import Reason, RiskLimits, UnderlyingLimits
from tests.risk.helpers import CALL, PERP, make, order


def _filled(k, inst, side: Side, qty: float, price: float, tid: str) -> None:  # type: ignore[no-untyped-def]
    k.portfolio.on_fill(OrderFilled(client_order_id=tid, venue_order_id="v", instrument_id=inst.id,
                                    trade_id=tid, side=side, price=price, quantity=qty,
                                    remaining=0.0, liquidity=Liquidity.MAKER, fee=0.0,
                                    fee_currency="USD", ts_event=0, ts_recv=0))


def test_an_incomplete_delta_holds_orders_that_add_risk_not_those_that_reduce() -> None:
    k, _venue = make(RiskLimits(max_position_qty=10.0,
                                underlyings={"BTC": UnderlyingLimits(max_delta=1.0)}))
    _filled(k, PERP, Side.BUY, 0.3, 60_000.0, "t1")
    assert k.gate.check(order(PERP, Side.BUY, 0.1)) is None  # complete: 0.3 + 0.1 <= 1 BTC
    _filled(k, CALL, Side.BUY, 2.0, 1_050.0, "t2")  # a call with no chain fit, no venue Greeks
    assert k.portfolio.uncounted("BTC") == [CALL.id]
    denial = k.gate.check(order(PERP, Side.BUY, 0.1))
    assert denial is not None and denial.reason == Reason.NO_GREEKS
    assert denial.detail == (f"BTC delta not known for {CALL.id}: cannot check the BTC delta limit")
    # selling the perpetual adds risk too when flat... here it reduces the long 0.3: allowed
    assert k.gate.check(order(PERP, Side.SELL, 0.1, price=60_000.0)) is None
    # the call's Greeks arrive: 0.3 + 2 x 0.45 = 1.2 BTC, over the 1 BTC limit, now visible
    k.portfolio.set_greeks(CALL.id, 0.45, 2e-5, 60.0, -30.0, raw=True)
    assert k.portfolio.uncounted("BTC") == []
    denial = k.gate.check(order(PERP, Side.BUY, 0.1))
    assert denial is not None and denial.reason == Reason.MAX_DELTA
    assert k.gate.check(order(PERP, Side.SELL, 0.25, price=60_000.0)) is None  # lowers |delta|


def test_without_greek_limits_nothing_changes() -> None:
    k, _venue = make(RiskLimits(max_position_qty=10.0))
    _filled(k, CALL, Side.BUY, 2.0, 1_050.0, "t1")
    assert k.portfolio.uncounted("BTC") == [CALL.id]
    assert k.gate.check(order(PERP, Side.BUY, 0.1)) is None
