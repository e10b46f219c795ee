"""A committed batch reaches its venue as one unit: every command handed over first, then
``OrderSubmitted`` for its orders, then the venue acts on what it held (hold/release)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.journal import Journal
from engine.model import BookDelta, OrderAccepted, OrderFilled, OrderSubmitted, Side, SubmitOrder
from tests.engine.conftest import PERP
from tests.risk.helpers import Venue, make, order
from tests.sim.test_matching import Sim, of


class HoldingVenue(Venue):
    """Logs the adapter calls; answers every order it held with ``OrderAccepted`` on release."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.held: list[Any] = []

    def hold_commands(self) -> None:
        self.calls.append("hold")

    def submit(self, cmd: SubmitOrder) -> None:
        self.calls.append(f"submit {cmd.client_order_id}")
        self.held.append(cmd)
        super().submit(cmd)

    def cancel(self, cmd: Any) -> None:
        self.calls.append(f"cancel {cmd.client_order_id}")
        super().cancel(cmd)

    def release_commands(self) -> None:
        self.calls.append("release")
        for cmd in self.held:
            self.publish(OrderAccepted(client_order_id=cmd.client_order_id, venue_order_id="v-"
                                       + cmd.client_order_id, instrument_id=cmd.instrument_id,
                                       ts_event=0, ts_recv=0))
        self.held.clear()


def test_a_batch_is_handed_over_whole_before_the_venue_acts(tmp_path: Path) -> None:
    k, _ = make(journal=Journal(tmp_path / "j.sqlite"))
    venue = HoldingVenue()
    k.add_adapter(venue)  # (the same venue name: replaces the recording one)
    a, b, c = order(price=59_000.0), order(price=59_010.0), order(price=59_020.0)
    k.router.submit(a)  # outside any event: a batch of one
    assert venue.calls == ["hold", f"submit {a.client_order_id}", "release"]
    venue.calls.clear()
    heard: list[str] = []
    k.bus.subscribe(OrderSubmitted, lambda ev: heard.append(f"submitted {ev.client_order_id}"))
    k.bus.subscribe(OrderAccepted, lambda ev: heard.append(f"accepted {ev.client_order_id}"))

    def on_book(_ev: BookDelta) -> None:
        k.router.cancel(k.orders.get(a.client_order_id))
        k.router.submit(b)
        k.router.submit(c)

    k.bus.subscribe(BookDelta, on_book)
    k.bus.publish(BookDelta(PERP.id, ((59_991.0, 1.0),), (), 2, 1, 0, 0))
    assert venue.calls == ["hold", f"cancel {a.client_order_id}", f"submit {b.client_order_id}",
                           f"submit {c.client_order_id}", "release"]
    # the strategy hears its orders were submitted before the venue's answers to them
    assert heard == [f"submitted {b.client_order_id}", f"submitted {c.client_order_id}",
                     f"accepted {b.client_order_id}", f"accepted {c.client_order_id}"]
    assert k.orders.get(c.client_order_id).venue_order_id == "v-" + c.client_order_id


def _with_broken(tmp_path: Path, hook: str) -> tuple[Any, HoldingVenue]:
    """A kernel on a ``HoldingVenue`` whose ``hook`` raises."""
    k, _ = make(journal=Journal(tmp_path / "j.sqlite"))
    venue = HoldingVenue()
    k.add_adapter(venue)

    def broken() -> None:
        raise ConnectionError("socket closed")

    setattr(venue, hook, broken)
    return k, venue


def test_a_release_that_fails_is_logged_and_the_orders_wait_for_an_answer(tmp_path: Path) -> None:
    k, _venue = _with_broken(tmp_path, "release_commands")
    a = order(price=59_000.0)
    k.router.submit(a)  # no exception reaches the caller
    assert k.router.send_errors == 1
    assert k.orders.get(a.client_order_id) in k.router.awaiting()  # the ack timeout settles it


def test_the_simulated_venue_matches_held_commands_only_when_released() -> None:
    s = Sim()
    s.venue.hold_commands()
    s.venue.submit(SubmitOrder(client_order_id="t1", strategy_id="s", instrument_id=s.perp,
                               side=Side.BUY, quantity=0.5, price=60_010.0))
    s.venue.submit(SubmitOrder(client_order_id="t2", strategy_id="s", instrument_id=s.perp,
                               side=Side.BUY, quantity=0.5, price=60_010.0))
    assert s.new() == []  # handed over, not matched yet
    s.venue.release_commands()
    fills = of(s.new(), OrderFilled)
    assert [f.client_order_id for f in fills] == ["t1", "t2"]  # in the order handed over
    assert [f.quantity for f in fills] == [0.5, 0.5] and all(f.price == 60_010.0 for f in fills)
    # outside a batch the venue answers at once, as before
    s.venue.submit(SubmitOrder(client_order_id="t3", strategy_id="s", instrument_id=s.perp,
                               side=Side.BUY, quantity=0.5, price=60_010.5))
    assert [f.client_order_id for f in of(s.new(), OrderFilled)] == ["t3"]


def test_a_hold_that_fails_still_sends_the_batch(tmp_path: Path) -> None:
    k, venue = _with_broken(tmp_path, "hold_commands")
    a = order(price=59_000.0)
    k.router.submit(a)
    assert venue.calls == [f"submit {a.client_order_id}", "release"]
    assert k.orders.get(a.client_order_id).venue_order_id == "v-" + a.client_order_id
