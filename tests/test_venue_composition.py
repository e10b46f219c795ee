"""Live venues are assembled by composition: no mixins, explicit constructors, typed parts."""

from __future__ import annotations

import inspect
import typing

import pytest

from adapters.binance.orders import BinanceOrders
from adapters.binance.session import BinanceStreams, BinanceVenue
from adapters.bybit.orders import BybitOrders
from adapters.bybit.session import BybitStreams, BybitVenue
from adapters.deribit.orders import DeribitOrders
from adapters.deribit.session import DeribitStreams, DeribitVenue
from adapters.live.session import LiveSession
from adapters.live.venue import LiveVenue, OrderApi, VenueStreams
from adapters.okx.orders import OkxOrders
from adapters.okx.session import OkxStreams, OkxVenue
from engine.venue import VenueAdapter

VENUES = [(BinanceVenue, BinanceStreams, BinanceOrders), (BybitVenue, BybitStreams, BybitOrders),
          (DeribitVenue, DeribitStreams, DeribitOrders), (OkxVenue, OkxStreams, OkxOrders)]


def _members(proto: type) -> set[str]:
    return {n for n in vars(proto) if not n.startswith("_")}


@pytest.mark.parametrize(("venue", "streams", "orders"), VENUES)
def test_a_venue_is_its_parts_not_a_stack_of_mixins(venue: type, streams: type,
                                                    orders: type) -> None:
    assert venue.__mro__[1:] == LiveVenue.__mro__  # one base: the composed adapter
    for part in (streams, orders):
        assert part.__mro__ == (part, object), f"{part.__name__} inherits behaviour"
        hints = typing.get_type_hints(part.__init__)
        params = [p for p in inspect.signature(part.__init__).parameters if p != "self"]
        assert params and all(p in hints for p in params), f"{part.__name__}: untyped parameter"
        assert typing.Any not in hints.values(), f"{part.__name__}: a collaborator typed Any"
    assert _members(OrderApi) <= set(dir(orders))
    assert _members(VenueStreams) | {"connect", "before_stop", "websockets",
                                     "after_streams_closed"} <= set(dir(streams))


@pytest.mark.parametrize(("venue", "streams", "orders"), VENUES)
def test_the_parts_share_one_session_and_the_engine_binds_through_it(
        venue: type, streams: type, orders: type) -> None:
    v = venue()
    assert isinstance(v, VenueAdapter)
    assert isinstance(v.session, LiveSession)
    assert isinstance(v.streams, streams) and isinstance(v.orders, orders)
    assert v.stats is v.session.stats
    seen: list[object] = []
    v.bind(seen.append, v.session.clock)
    v.session.status("connected", "test")  # what a part publishes reaches the bound bus
    assert len(seen) == 1 and seen[0].venue == v.venue  # type: ignore[attr-defined]
