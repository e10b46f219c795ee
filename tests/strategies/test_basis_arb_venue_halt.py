"""The basis strategy on a halt of one leg's venue, through the real kernel: nothing sent to the
halted venue and no spread that needs it; a known leg mismatch repaired on the venue that
trades; a leg of unknown fate not repaired blindly; at the resume the reconciled imbalance is
repaired first, then spreads resume."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Side
from engine.model import (
    BookSnapshot,
    CancelOrder,
    Instrument,
    InstrumentKind,
    Liquidity,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    PositionReport,
    SubmitOrder,
    VenueReconciliation,
    VenueStatusChanged,
)
from engine.reconcile import apply_reconciliation
from strategies.examples.basis_arb import BasisArb, BasisArbConfig
from tests.sdk.conftest import RecordingVenue, add_strategy, make_kernel

FEE = 0.0005
# a cheap (ask 60 000 USD), b rich (bid 60 120 USD): 20 bp gross, 10 bp of fees, ~10 bp net
WIDE = {"a:BTC-PERP": (59_999.0, 60_000.0), "b:BTC-PERP": (60_120.0, 60_121.0)}
# no basis: nothing to do but repairs
FLAT = {"a:BTC-PERP": (59_999.0, 60_000.0), "b:BTC-PERP": (59_999.0, 60_000.0)}


def _perp(venue: str) -> Instrument:
    return Instrument(venue=venue, symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                      quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001,
                      underlying="BTC", taker_fee=FEE)


class Node:
    def __init__(self, positions: dict[str, float] | None = None) -> None:
        self.a, self.b = RecordingVenue("a", [_perp("a")]), RecordingVenue("b", [_perp("b")])
        self.k, _ = make_kernel(venues=[self.a, self.b])
        self.seq = 10
        for n, (iid, qty) in enumerate((positions or {}).items()):
            self.k.portfolio.on_fill(_fill("ext", iid, Side.BUY if qty > 0 else Side.SELL, abs(qty), f"p{n}"))
        self.books(FLAT)
        self.arb: BasisArb = add_strategy(self.k, BasisArb, "arb", "a", BasisArbConfig(
            instruments=["a:BTC-PERP", "b:BTC-PERP"], entry_bps=4.0, clip_base=0.02, cooldown_s=0.0))
        self.k.start_strategies()

    def books(self, books: dict[str, tuple[float, float]]) -> None:
        for iid, (bid, ask) in books.items():
            self.seq += 1
            self.k.bus.publish(BookSnapshot(iid, ((bid, 1.0),), ((ask, 1.0),), self.seq, 0, 0))

    def down(self, venue: str) -> None:
        self.k.bus.publish(VenueStatusChanged(venue, "disconnected", "user stream closed", 0, "private"))

    def back(self, venue: str, fills: tuple[OrderFilled, ...] = (),
             positions: dict[str, float] | None = None) -> None:
        """The stream back, then the venue's reconciliation: nothing open, ``fills`` and
        ``positions`` (instrument -> contracts) as the venue reports them."""
        self.k.bus.publish(VenueStatusChanged(venue, "connected", "", 0, "private"))
        apply_reconciliation(self.k, VenueReconciliation(
            venue=venue, open_orders=(), fills=fills, ts=0, positions=tuple(
                PositionReport(instrument_id=iid, quantity=q, avg_price=60_000.0, ts_event=0, ts_recv=0)
                for iid, q in (positions or {}).items())))

    def submits(self, v: RecordingVenue) -> list[SubmitOrder]:
        return [c for c in v.sent if isinstance(c, SubmitOrder)]


def _fill(coid: str, iid: str, side: Side, qty: float, trade_id: str, price: float = 60_000.0) -> OrderFilled:
    return OrderFilled(client_order_id=coid, venue_order_id="v" + coid, instrument_id=iid,
                       trade_id=trade_id, side=side, price=price, quantity=qty, remaining=0.0,
                       liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0)


def test_no_spread_while_a_leg_venue_is_halted_then_one_at_the_resume() -> None:
    n = Node()
    n.down("b")
    assert "private down" in n.arb.halted["b"]
    n.books(WIDE)
    n.books(WIDE)
    assert n.a.sent == [] and n.b.sent == [], "one leg alone is no spread, the other venue is halted"
    assert sum(n.k.gate.denied.values()) == 0 and n.arb.spreads == 0
    n.back("b")
    # at the resume itself: both legs, one clip each
    (buy,), (sell,) = n.submits(n.a), n.submits(n.b)
    assert (buy.side, buy.price, buy.quantity) == (Side.BUY, 60_000.0, 0.02)
    assert (sell.side, sell.price, sell.quantity) == (Side.SELL, 60_120.0, 0.02)
    assert n.arb.halted == {} and n.k.strategy_errors == {}


def test_a_known_leg_mismatch_is_repaired_on_the_venue_that_trades() -> None:
    # long 0.02 on a, short only 0.015 on b: 0.005 BTC long in the underlying
    n = Node({"a:BTC-PERP": 0.02, "b:BTC-PERP": -0.015})
    n.a.sent.clear(), n.b.sent.clear()  # (any repair at the start: not under test here)
    n.arb.working.clear()
    n.k.portfolio.on_fill(_fill("ext", "a:BTC-PERP", Side.BUY, 0.005, "p9"))  # now 0.01 long
    n.down("b")
    n.books(FLAT)
    fixes = n.submits(n.a)
    assert n.b.sent == [] and len(fixes) == 1
    # sold on a, the only venue that trades: 0.025 long on a - 0.015 short on b = 0.01
    assert (fixes[0].side, fixes[0].quantity) == (Side.SELL, pytest.approx(0.01))


@pytest.mark.parametrize("outcome", ["filled", "missed"])
def test_a_leg_of_unknown_fate_is_not_repaired_blindly_and_reconciliation_decides(outcome: str) -> None:
    n = Node()
    n.books(WIDE)
    (buy,), (sell,) = n.submits(n.a), n.submits(n.b)
    for cmd in (buy, sell):
        n.k.bus.publish(OrderAccepted(client_order_id=cmd.client_order_id, venue_order_id="v" + cmd.client_order_id,
                                      instrument_id=cmd.instrument_id, ts_event=0, ts_recv=0))
    n.books(FLAT)  # the basis is gone: only repairs would be sent from here
    n.k.bus.publish(_fill(buy.client_order_id, buy.instrument_id, Side.BUY, 0.02, "a1"))
    n.down("b")
    # the sell leg's cancel is sent at the halt and refused: its fate is unknown
    assert [c.client_order_id for c in n.b.sent if isinstance(c, CancelOrder)] == [sell.client_order_id]
    n.k.bus.publish(OrderRejected(client_order_id=sell.client_order_id, instrument_id=sell.instrument_id,
                                  reason="NOT_CONNECTED: private stream down (never sent)",
                                  ts_event=0, ts_recv=0))
    n.books(FLAT)
    n.books(FLAT)
    # long 0.02 on a as far as the engine knows, but the IOC on b most likely sold it: no repair
    assert n.arb.imbalance() == pytest.approx(0.02) and n.arb.in_doubt() == pytest.approx(-0.02)
    assert len(n.a.sent) == 1 and len(n.b.sent) == 2
    fills = (_fill(sell.client_order_id, sell.instrument_id, Side.SELL, 0.02, "b1", 60_120.0),) \
        if outcome == "filled" else ()
    n.back("b", fills, {"b:BTC-PERP": -0.02} if outcome == "filled" else {})
    n.books(FLAT)
    assert n.arb.stranded == {} and n.arb.halted == {}
    after = n.submits(n.a)[1:] + n.submits(n.b)[1:]
    if outcome == "filled":
        assert n.arb.imbalance() == pytest.approx(0.0, abs=1e-12) and after == []
    else:
        # reconciliation ended it unfilled: the 0.02 long is sold at once, where the bid is best
        # net of fees (both books equal: either venue)
        assert len(after) == 1 and (after[0].side, after[0].quantity) == (Side.SELL, 0.02)
        assert n.arb.repairs == 1
    assert n.k.strategy_errors == {} and sum(n.k.gate.denied.values()) == 0


def test_with_both_venues_halted_nothing_is_sent_and_the_first_back_repairs() -> None:
    n = Node()
    n.down("a")
    n.down("b")
    # 0.02 BTC long on a, unhedged (a fill of another strategy, say), and a wide basis
    n.k.portfolio.on_fill(_fill("ext", "a:BTC-PERP", Side.BUY, 0.02, "p1"))
    n.books(WIDE)
    assert n.a.sent == [] and n.b.sent == [] and sum(n.k.gate.denied.values()) == 0
    n.back("a", positions={"a:BTC-PERP": 0.02})
    # a trades again: the imbalance is repaired there at once; no spread (b is still halted)
    (fix,) = n.submits(n.a)
    assert (fix.side, fix.quantity, str(fix.time_in_force)) == (Side.SELL, 0.02, "ioc")
    assert n.b.sent == [] and n.arb.spreads == 0 and n.arb.halted.keys() == {"b"}


def test_with_three_legs_spreads_go_on_between_the_two_that_trade() -> None:
    a, b, c = (RecordingVenue(v, [_perp(v)]) for v in ("a", "b", "c"))
    k, _ = make_kernel(venues=[a, b, c])
    arb = add_strategy(k, BasisArb, "arb", "a", BasisArbConfig(
        instruments=["a:BTC-PERP", "b:BTC-PERP", "c:BTC-PERP"], entry_bps=4.0, clip_base=0.02))
    k.start_strategies()
    k.bus.publish(VenueStatusChanged("c", "disconnected", "user stream closed", 0, "private"))
    # c is the richest (bid 60 300 USD: ~40 bp net over a), b is ~10 bp net over a
    for seq, (iid, bid, ask) in enumerate((("c:BTC-PERP", 60_300.0, 60_301.0),
                                           ("a:BTC-PERP", 59_999.0, 60_000.0),
                                           ("b:BTC-PERP", 60_120.0, 60_121.0)), start=20):
        k.bus.publish(BookSnapshot(iid, ((bid, 1.0),), ((ask, 1.0),), seq, 0, 0))
    assert c.sent == [], "the richest leg's venue is halted: nothing there"
    (buy,), (sell,) = [x for x in a.sent if isinstance(x, SubmitOrder)], \
        [x for x in b.sent if isinstance(x, SubmitOrder)]
    assert (buy.side, buy.price, sell.side, sell.price) == (Side.BUY, 60_000.0, Side.SELL, 60_120.0)
    assert arb.spreads == 1 and sum(k.gate.denied.values()) == 0
