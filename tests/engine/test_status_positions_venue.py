"""The same symbol held on two venues printed twice on the status line's positions with nothing
to tell them apart ('BTC-PERP +1@... USD, BTC-PERP -1@... USD'): the venue is now named when a
symbol is on more than one, and only then."""

from __future__ import annotations

import msgspec

from engine.status import status_fields
from tests.risk.helpers import CALL, PERP, make, position

OTHER = msgspec.structs.replace(PERP, venue="other")


def test_a_symbol_on_two_venues_names_its_venue() -> None:
    k, _venue = make()
    k.add_instruments([OTHER])
    position(k, PERP, 0.5, 60_000.0)
    position(k, OTHER, -0.25, 60_100.0)
    position(k, CALL, 1.0, 1_000.0)
    held = status_fields(k)["positions"].split(", ")
    assert sorted(held) == sorted(["fake:BTC-PERP +0.5@60,000.00 USD", "other:BTC-PERP -0.25@60,100.00 USD",
                                   f"{CALL.symbol} +1@1,000.00 USD"])


def test_a_symbol_on_one_venue_stays_short() -> None:
    k, _venue = make()
    position(k, PERP, 0.5, 60_000.0)
    assert status_fields(k)["positions"] == "BTC-PERP +0.5@60,000.00 USD"


def test_book_tops_of_one_symbol_on_two_venues_name_the_venue() -> None:
    from engine.model import BookSnapshot

    k, _venue = make()
    k.add_instruments([OTHER])
    k.bus.publish(BookSnapshot(OTHER.id, ((60_000.0, 1.0),), ((60_030.0, 1.0),), 1, 0, 0))
    tops = status_fields(k)["tops"].split(" | ")
    assert "fake:BTC-PERP 59,990.00/60,010.00" in tops and "other:BTC-PERP 60,000.00/60,030.00" in tops
