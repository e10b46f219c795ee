"""Cases shared by the Binance and Bybit live suites: one session on its fake venue.

Both venues' sessions do the same things the same way from the engine's side (a market stream
resynced by snapshot, REST orders, a private stream that may lose events, a query that settles
an unknown fate), and both fakes run the same tick-grid market (``adapters.fakes.market``), so
the cases are written once (``faults``, ``orders``) and imported by ``tests/binance_live`` and
``tests/bybit_live`` (``from tests.live_rest_cases.faults import *``): each runs there on that
suite's ``live``/``fake``/``live_cls`` fixtures. What differs is read from the suite's ``Live``
class (a ``RestLive``): ``MD_STREAM``, ``PRIVATE_CONNECTS``, ``ORDER_ENDPOINT``,
``TICK_REJECT_CODE``, ``delay_resync``. Not test modules themselves (no ``test_`` prefix), so
pytest collects the cases only where a suite imports them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.model import Side, SubmitOrder
from tests.live_common import LiveHarness


class RestLive(LiveHarness):
    """The harness of a REST-order venue suite, with the table of what differs per venue."""

    PRIVATE_CONNECTS: ClassVar[str]
    """The ``stats`` key counting private (user) stream connections."""
    ORDER_ENDPOINT: ClassVar[tuple[str, str]]
    """The fake's (method, path) of a new order."""
    TICK_REJECT_CODE: ClassVar[str]
    """The venue's error code for a price off the tick grid."""

    def delay_resync(self, seconds: float) -> None:
        """Hold the venue's answer to a book resync for ``seconds``."""
        raise NotImplementedError


Live = RestLive


def order(live: Live, coid: str, side: Side, qty: float, price: float, **kw: Any) -> SubmitOrder:
    return SubmitOrder(client_order_id=coid, strategy_id="t", instrument_id=live.IID, side=side,
                       quantity=qty, price=price, **kw)


def far_bid(live: Live) -> float:
    """A bid far below the market: it rests."""
    return round(live.fake.books[live.SYMBOL].center * 0.1 - 200.0, 1)


def taker_buy_px(live: Live) -> float:
    """A buy limit above the market: it takes liquidity."""
    return round(live.fake.books[live.SYMBOL].center * 0.1 + 100.0, 1)


async def ready(live: Live) -> None:
    await live.until(lambda: live.IID in live.kernel.books and live.book.is_live)
