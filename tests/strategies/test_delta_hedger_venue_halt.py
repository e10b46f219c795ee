"""The delta hedger on venue halts, through the real kernel: the hedge goes to a venue that
trades, nothing to a halted one; a hedge of unknown fate on a venue that halts is not hedged a
second time elsewhere, and after the venue is reconciled the delta is hedged from what
reconciliation found."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Side
from engine.model import (
    CancelOrder,
    Instrument,
    InstrumentKind,
    Liquidity,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
    VenueReconciliation,
    VenueStatusChanged,
)
from engine.reconcile import apply_reconciliation
from strategies.examples.delta_hedger import DeltaHedger, DeltaHedgerConfig
from tests.sdk.conftest import RecordingVenue, add_strategy, make_kernel

S = 1_000_000_000


def _perp(venue: str, fee: float) -> Instrument:
    return Instrument(venue=venue, symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                      quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001,
                      underlying="BTC", taker_fee=fee)


def _setup() -> tuple[Any, DeltaHedger, RecordingVenue, RecordingVenue]:
    # the same book on both venues (bid 59 990 USD); "cheap" charges 1 bp taker, "dear" 10 bp:
    # a sale nets more on "cheap", which is where the hedge goes while both trade
    dear, cheap = RecordingVenue("dear", [_perp("dear", 0.001)]), RecordingVenue("cheap", [_perp("cheap", 0.0001)])
    k, _ = make_kernel(venues=[dear, cheap])
    k.portfolio.on_fill(OrderFilled(  # long 0.5 BTC from elsewhere: 0.5 to sell
        client_order_id="ext", venue_order_id="x", instrument_id="dear:BTC-PERP", trade_id="t0",
        side=Side.BUY, price=60_000.0, quantity=0.5, remaining=0.0, liquidity=Liquidity.TAKER,
        fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))
    h = add_strategy(k, DeltaHedger, "hedger", "dear", DeltaHedgerConfig(band=0.05, reduce_bonus_bps=0.0))
    k.start_strategies()
    return k, h, dear, cheap


def _wait(k: Any, seconds: float) -> None:
    k.clock.advance_to(k.clock.now_ns() + int(seconds * S))


def _submits(v: RecordingVenue) -> list[SubmitOrder]:
    return [c for c in v.sent if isinstance(c, SubmitOrder)]


def _down(k: Any, venue: str) -> None:
    k.bus.publish(VenueStatusChanged(venue, "disconnected", "user stream closed", 0, "private"))


def _back(k: Any, venue: str, fills: tuple[OrderFilled, ...] = ()) -> None:
    k.bus.publish(VenueStatusChanged(venue, "connected", "", 0, "private"))
    apply_reconciliation(k, VenueReconciliation(venue=venue, open_orders=(), fills=fills,
                                                positions=(), ts=0))


def test_while_the_best_venue_is_halted_the_hedge_goes_to_the_other_and_back_after() -> None:
    k, h, dear, cheap = _setup()
    _down(k, "cheap")
    assert "private down" in h.halted["cheap"]
    _wait(k, 0.6)
    assert cheap.sent == [], "nothing to the halted venue"
    (order,) = _submits(dear)
    # the whole 0.5 BTC on the venue that trades, IOC 5 bp through its touch (59 990 USD)
    assert (order.side, order.quantity, str(order.time_in_force)) == (Side.SELL, 0.5, "ioc")
    assert order.price == pytest.approx(59_990.0 * (1 - 5e-4), abs=0.5)
    assert "TRADING_HALTED" not in k.gate.denied and k.strategy_errors == {}


def test_with_every_venue_halted_nothing_is_sent_and_the_resume_hedges_at_once() -> None:
    k, h, dear, cheap = _setup()
    _down(k, "cheap")
    _down(k, "dear")
    _wait(k, 5)
    assert dear.sent == [] and cheap.sent == [] and h.hedges == []
    assert sum(k.gate.denied.values()) == 0
    _back(k, "cheap")
    # heard in the resume itself, not at the next timer
    (order,) = _submits(cheap)
    assert (order.side, order.quantity) == (Side.SELL, 0.5) and dear.sent == []
    assert h.halted.keys() == {"dear"}


@pytest.mark.parametrize("outcome", ["filled", "not_open"])
def test_a_hedge_of_unknown_fate_is_not_hedged_twice_and_reconciliation_decides(outcome: str) -> None:
    k, h, dear, cheap = _setup()
    _wait(k, 0.6)
    (ioc,) = _submits(cheap)
    assert (ioc.side, ioc.quantity) == (Side.SELL, 0.5)
    k.bus.publish(OrderAccepted(client_order_id=ioc.client_order_id, venue_order_id="v1",
                                instrument_id=ioc.instrument_id, ts_event=0, ts_recv=0))
    _down(k, "cheap")
    # its cancel is sent at the halt, and refused by the venue's session: the IOC's fate is unknown
    assert [c.client_order_id for c in cheap.sent if isinstance(c, CancelOrder)] == [ioc.client_order_id]
    k.bus.publish(OrderRejected(client_order_id=ioc.client_order_id, instrument_id=ioc.instrument_id,
                                reason="NOT_CONNECTED: private stream down (never sent)",
                                ts_event=0, ts_recv=0))
    assert k.orders.get(ioc.client_order_id).is_open
    _wait(k, 5)
    # "dear" trades, the delta is still +0.5 in the books, but the IOC may have sold it: no
    # second hedge (it would double the hedge if the IOC filled)
    assert dear.sent == [] and len(cheap.sent) == 2
    assert h.stranded.keys() == {ioc.client_order_id}

    fills: tuple[OrderFilled, ...] = ()
    if outcome == "filled":
        fills = (OrderFilled(client_order_id=ioc.client_order_id, venue_order_id="v1",
                             instrument_id=ioc.instrument_id, trade_id="f1", side=Side.SELL,
                             price=59_990.0, quantity=0.5, remaining=0.0, liquidity=Liquidity.TAKER,
                             fee=3.0, fee_currency="USD", ts_event=0, ts_recv=0),)
    _back(k, "cheap", fills)
    _wait(k, 1)
    assert h.stranded == {} and not h.halted
    after = _submits(cheap)[1:] + _submits(dear)
    assert h.working == {c.client_order_id for c in after}
    if outcome == "filled":
        # the IOC sold the 0.5: delta 0 (0.5 long on dear, 0.5 short on cheap), nothing more
        assert k.portfolio.delta("BTC") == pytest.approx(0.0, abs=1e-12)
        assert after == []
    else:
        # reconciliation ended it unfilled: the 0.5 is hedged now, on the best venue
        assert len(after) == 1 and after[0].instrument_id == "cheap:BTC-PERP"
        assert (after[0].side, after[0].quantity) == (Side.SELL, 0.5)
    assert k.strategy_errors == {} and sum(k.gate.denied.values()) == 0
