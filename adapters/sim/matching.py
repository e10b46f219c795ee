"""Client order handling on the simulated venue: the matching core over the synthetic books.

Theory of operation: every command is handled to completion in one synchronous call (the adapter
may delay the call to model latency) by the matching core both simulators share
(``adapters.sim.core.MatchingCore``: validation with the shared rules, acknowledgement, taking,
resting, amend priority, cancel, expiry and the order events). Here is what is particular to
the synthetic market: the markets are the ``SimBook``s (integer ticks and lots, the client's
orders included in the published book), a taker walks the displayed synthetic liquidity in
price priority and its executions are public ``Trade``s too, the book it changed is published as
one ``BookDelta`` when the command is done, and option fees are charged on the generator's index.
Maker fills of resting orders come from the market generator (synthetic flow at the order's
price, or the market moving through it) via :meth:`MatchingEngine.on_maker_fills`.

Events for one command are published in causal order: ``OrderAccepted``, any self-trade
cancels, ``OrderFilled`` per level, the public ``Trade``s, a remainder ``OrderCancelled``, and
finally the ``BookDelta`` that shows the consumed / added liquidity. Fees are ``notional * rate``
in the settlement currency (negative = rebate); for options the notional is the underlying's and
the fee is capped at a fraction of the premium, as on Deribit and Bybit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.sim.core import Ids, MatchingCore, Order
from adapters.sim.queue import Fill, SimBook
from engine.clock import Clock
from engine.model import AmendOrder, CancelOrder, Instrument, SubmitOrder, Trade

__all__ = ["Ids", "MatchingEngine"]

Publish = Callable[[Any], None]


class MatchingEngine:
    """The simulated venue's order handling: the matching core, hosted over its ``SimBook``s
    (this class is the core's ``Host``)."""

    def __init__(self, instruments: dict[str, Instrument], books: dict[str, SimBook], ids: Ids,
                 publish: Publish, clock: Clock, underlying: Callable[[], float],
                 option_fee_cap: float) -> None:
        self.books = books
        self.ids = ids
        self.publish = publish
        self.clock = clock
        self._underlying = underlying
        self.core = MatchingCore(instruments, self, ids, option_fee_cap)
        self.instruments = self.core.instruments
        self.orders: dict[str, Order] = self.core.orders
        self.depleted: set[str] = set()
        """Books whose synthetic liquidity was consumed; the market refills them next tick."""
        # the commands are the core's (bound once: the adapter calls them per command)
        self.submit: Callable[[SubmitOrder], None] = self.core.submit
        self.cancel: Callable[[CancelOrder], None] = self.core.cancel
        self.amend: Callable[[AmendOrder], None] = self.core.amend

    # -- the core's Host -----------------------------------------------------------------------
    def now_ns(self) -> int:
        return self.clock.now_ns()

    def market(self, instrument_id: str) -> SimBook | None:
        return self.books.get(instrument_id)

    def underlying(self, inst: Instrument) -> float:
        return self._underlying()

    def send(self, make: Callable[[int, int], Any]) -> None:
        ts = self.clock.now_ns()
        self.publish(make(ts, ts))

    def filled(self, order: Order, qty: float, price: float, maker: bool, trade_id: str) -> None:
        pass  # (the account records the published fill; nothing else keeps positions here)

    def taken(self, market: SimBook, order: Order, execs: list[tuple[Any, Any, str]]) -> None:
        """A client taker's executions are public trades too; the book refills next tick."""
        ts = self.clock.now_ns()
        iid, px, sz, side = order.instrument_id, market.px, market.sz, order.side
        for p, x, tid in execs:
            self.publish(Trade(iid, px(p), sz(x), side, tid, ts, ts))
        self.depleted.add(iid)

    def done(self, market: SimBook) -> None:
        delta = market.flush(self.clock.now_ns())
        if delta is not None:
            self.publish(delta)

    # -- market-driven -----------------------------------------------------------------------
    def fee(self, inst: Instrument, price: float, qty: float, maker: bool) -> float:
        """Fee in the settlement currency for ``qty`` contracts at ``price`` (``rules.fee``)."""
        return self.core.fee(inst, price, qty, maker)

    def fill(self, o: Order, book: SimBook, lots: int, price: int, maker: bool, ts: int,
             trade_id: str | None = None) -> None:
        """Publish a fill of ``lots`` at ``price`` ticks for ``o`` (already applied to ``o``)."""
        self.core.fill(o, book, lots, price, maker, trade_id)

    def on_maker_fills(self, book: SimBook, fills: list[Fill], ts: int) -> None:
        """Publish maker fills produced by synthetic flow or by the market moving through."""
        self.core.maker_fills(book, fills)

    def expire(self, iid: str, ts: int) -> None:
        """The instrument expired: resting orders end with ``OrderExpired``; the book empties."""
        self.core.expire(iid)
        book = self.books[iid]
        book.clear()
        self.done(book)
