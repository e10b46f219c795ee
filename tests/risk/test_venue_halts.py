"""A venue's own halt: one venue's private stream drops, its orders are denied TRADING_HALTED
naming it, the other venue keeps trading; after reconnect and reconciliation both trade."""

from __future__ import annotations

from typing import Any

from engine.execution import TradingStateChanged, VenueTradingChanged
from engine.model import (
    BookSnapshot,
    Instrument,
    InstrumentKind,
    TradingState,
    VenueReconciliation,
    VenueStatusChanged,
)
from engine.operator.views import state_view
from engine.reconcile import apply_reconciliation
from engine.risk import Reason
from engine.status import status_fields, status_line
from tests.risk.helpers import PERP, Venue, make, order

PERP2 = Instrument(venue="other", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                   quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001)


class OtherVenue(Venue):
    def __init__(self) -> None:
        super().__init__()
        self.venue = "other"

    def instruments(self) -> list[Instrument]:
        return [PERP2]


def _two_venues() -> tuple[Any, Venue, OtherVenue, list[Any]]:
    k, fake = make()
    other = OtherVenue()
    k.add_adapter(other)
    k.add_instruments(other.instruments())
    k.bus.publish(BookSnapshot(PERP2.id, ((59_990.0, 1.0),), ((60_010.0, 1.0),), 1, 0, 0))
    heard: list[Any] = []
    k.bus.subscribe(TradingStateChanged, heard.append)
    k.bus.subscribe(VenueTradingChanged, heard.append)
    return k, fake, other, heard


def test_one_venues_private_stream_drop_halts_that_venue_only() -> None:
    k, fake, other, heard = _two_venues()
    resting = order(coid="rest-fake")
    assert k.router.submit(resting) is None
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "user stream closed", 0, "private"))

    # the dropped venue: new orders and amends denied, naming the venue and the stream
    denied = k.router.submit(order(coid="f1"))
    assert denied is not None and denied.reason == Reason.TRADING_HALTED
    assert denied.detail.startswith("fake halted: private down") and "user stream closed" in denied.detail
    amend = k.router.amend(k.orders.get("rest-fake"), 59_000.0, None)
    assert amend is not None and amend.reason == Reason.TRADING_HALTED and "fake" in amend.detail
    # the other venue keeps trading; the global state never left ACTIVE
    assert k.gate.state is TradingState.ACTIVE
    assert k.router.submit(order(PERP2, coid="o1")) is None
    assert [c.client_order_id for c in other.sent] == ["o1"]
    assert [c.client_order_id for c in fake.sent] == ["rest-fake"]  # nothing else left for fake

    # one event naming the venue, none for the global state
    assert [type(e) for e in heard] == [VenueTradingChanged]
    ev = heard[0]
    assert (ev.venue, ev.halted, ev.down) == ("fake", True, ("private",))
    # status and operator views show it per venue
    view = state_view(k)
    assert view["state"] == "active" and view["venues"]["fake"]["state"] == "halted"
    assert view["venues"]["fake"]["down"] == ["private"]
    fields = status_fields(k)
    assert "fake" in fields["venues_halted"] and "other" not in fields["venues_halted"]
    assert "fake halted" in status_line(fields)

    # reconnect: still halted until reconciled (the other venue trades meanwhile)
    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "private"))
    assert k.reconcile_requests == ["fake"]
    assert k.router.submit(order(coid="f2")).reason == Reason.TRADING_HALTED
    assert "waiting for reconciliation" in k.trading.venue_halt("fake")
    assert k.router.submit(order(PERP2, coid="o2")) is None
    apply_reconciliation(k, VenueReconciliation(venue="fake", open_orders=(), fills=(),
                                                positions=(), ts=0))
    # both trade again
    assert k.trading.venue_halt("fake") == "" and k.trading.halted_venues() == {}
    assert k.router.submit(order(coid="f3")) is None
    assert k.router.submit(order(PERP2, coid="o3")) is None
    assert fake.sent[-1].client_order_id == "f3" and other.sent[-1].client_order_id == "o3"
    assert [(e.venue, e.halted) for e in heard] == [("fake", True), ("fake", False)]
    assert "venues_halted" not in status_fields(k)


def test_a_global_hold_still_halts_every_venue_and_says_so() -> None:
    k, _fake, _other, heard = _two_venues()
    k.killswitch.trip(1, "operator stop")
    assert k.gate.state is TradingState.HALTED
    for inst in (PERP, PERP2):
        d = k.router.submit(order(inst))
        assert d is not None and d.reason == Reason.TRADING_HALTED
    assert [type(e) for e in heard] == [TradingStateChanged]


def test_both_venues_down_then_each_resumes_on_its_own() -> None:
    k, _fake, _other, heard = _two_venues()
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "ws closed", 0))
    k.bus.publish(VenueStatusChanged("other", "reconnecting", "", 0, "market_data"))
    assert set(k.trading.halted_venues()) == {"fake", "other"}
    k.bus.publish(VenueStatusChanged("other", "connected", "", 0, "market_data"))
    k.bus.publish(BookSnapshot(PERP2.id, ((59_990.0, 1.0),), ((60_010.0, 1.0),), 2, 0, 0))  # re-snapshot
    apply_reconciliation(k, VenueReconciliation(venue="other", open_orders=(), fills=(),
                                                positions=(), ts=0))
    assert set(k.trading.halted_venues()) == {"fake"}
    assert k.router.submit(order(PERP2)) is None
    assert k.router.submit(order()).reason == Reason.TRADING_HALTED
    assert not any(isinstance(e, TradingStateChanged) for e in heard)


def test_a_venue_hold_put_by_a_caller_and_released() -> None:
    k, _fake, _other, heard = _two_venues()
    k.trading.hold_venue("other", "maintenance", "other: exchange maintenance window")
    d = k.router.submit(order(PERP2))
    assert d is not None and "exchange maintenance window" in d.detail
    assert k.router.submit(order()) is None
    k.trading.release_venue("other", "maintenance")
    assert k.router.submit(order(PERP2)) is None
    assert [(e.venue, e.halted) for e in heard] == [("other", True), ("other", False)]
