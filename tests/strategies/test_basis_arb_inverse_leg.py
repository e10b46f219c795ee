"""The basis strategy with an inverse (USD-face) leg: a spread held across a linear and an
inverse perpetual stays hedged when the inverse leg's venue halts and its book is cleared (the
leg's coin size then comes from its last price, not from a book that is gone)."""

from __future__ import annotations

import pytest

from engine import Side
from engine.model import (
    BookSnapshot,
    Instrument,
    InstrumentKind,
    Liquidity,
    OrderFilled,
    SubmitOrder,
    VenueStatusChanged,
)
from strategies.examples.basis_arb import BasisArb, BasisArbConfig
from tests.sdk.conftest import RecordingVenue, add_strategy, make_kernel

LINEAR = Instrument(venue="a", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                    quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001,
                    underlying="BTC", taker_fee=0.0005)
INVERSE = Instrument(venue="b", symbol="BTC-USD-SWAP", kind=InstrumentKind.PERPETUAL, base="BTC",
                     quote="USD", settle="BTC", inverse=True, contract_size=100.0, tick_size=0.5,
                     lot_size=1.0, min_size=1.0, underlying="BTC", taker_fee=0.0005)
FLAT = {LINEAR.id: (59_999.0, 60_000.0), INVERSE.id: (59_999.0, 60_000.0)}


def _fill(iid: str, side: Side, qty: float, trade_id: str) -> OrderFilled:
    return OrderFilled(client_order_id="ext", venue_order_id="v", instrument_id=iid,
                       trade_id=trade_id, side=side, price=60_000.0, quantity=qty, remaining=0.0,
                       liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0)


def test_a_hedged_spread_with_an_inverse_leg_is_not_repaired_when_that_venue_halts() -> None:
    a, b = RecordingVenue("a", [LINEAR]), RecordingVenue("b", [INVERSE])
    k, _ = make_kernel(venues=[a, b])
    # long 0.1 BTC on a, short 60 x 100 USD = 6,000 USD = 0.1 BTC at 60,000 on b: hedged
    k.portfolio.on_fill(_fill(LINEAR.id, Side.BUY, 0.1, "p1"))
    k.portfolio.on_fill(_fill(INVERSE.id, Side.SELL, 60.0, "p2"))
    for seq, (iid, (bid, ask)) in enumerate(FLAT.items(), 10):
        k.bus.publish(BookSnapshot(iid, ((bid, 1000.0),), ((ask, 1000.0),), seq, 0, 0))
    arb: BasisArb = add_strategy(k, BasisArb, "arb", "a", BasisArbConfig(
        instruments=[LINEAR.id, INVERSE.id], entry_bps=4.0, clip_base=0.02, cooldown_s=0.0))
    k.start_strategies()
    assert arb.imbalance() == pytest.approx(0.0, abs=1e-4)
    k.bus.publish(VenueStatusChanged("b", "disconnected", "public stream closed", 0, "public"))
    assert arb.halted and "b" in arb.halted
    k.bus.publish(BookSnapshot(LINEAR.id, ((59_999.0, 1.0),), ((60_000.0, 1.0),), 20, 0, 0))
    # the short on b did not go away with its book: still hedged, nothing to repair on a
    assert arb.imbalance() == pytest.approx(0.0, abs=1e-4)
    assert [c for c in a.sent if isinstance(c, SubmitOrder)] == []
