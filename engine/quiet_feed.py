"""The kernel's market data handed over past the bus, for a driver outside any handler (the
backtest's replay loop): the same effects as publishing, cheaper.

Theory of operation: a quote or trade of an instrument no strategy listens to only updates
the kernel (its quote counter; the last trade price). While the kernel's own handler is the
only subscriber of its type and the bus is idle, such an event can neither publish nor fail,
so the feed applies it directly (counted in ``bus.published``), exactly as the kernel's
``_on_quote``/``_on_trade`` would; anything else goes through the bus. The feed reads the
kernel's live tables (the subscriber lists ``subscribe`` extends, the counters, the last
trades) and owns none of them: the kernel builds it once its handlers are subscribed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.bus import MessageBus
from engine.model import Quote, Trade


class QuietMarketFeed:
    def __init__(self, bus: MessageBus, quote_handler: Callable[[Any], None],
                 trade_handler: Callable[[Any], None], ticker_subs: dict[str, list[Any]],
                 trade_subs: dict[str, list[Any]], counters: dict[str, int],
                 last_trade: dict[str, float]) -> None:
        self.bus = bus
        self._quote_handler = quote_handler  # (the very objects subscribed)
        self._trade_handler = trade_handler
        self._ticker_subs = ticker_subs  # strategies hearing an instrument's quotes / trades
        self._trade_subs = trade_subs
        self.counters = counters
        self.last_trade = last_trade
        self._quote_subscribers = bus.handlers_of(Quote)  # (live lists)
        self._trade_subscribers = bus.handlers_of(Trade)

    def market_publisher(self, event_type: type, instrument_id: str) -> Callable[[Any], None]:
        """``bus.publish`` for the market events of one type and instrument, for a driver that
        is outside any handler (the backtest's replay loop, once per recorded event): the same
        effects, cheaper.

        A quote or trade of an instrument no strategy listens to only updates the kernel (the
        quote counter; the last trade price). While the kernel's handler is the type's only
        subscriber and the bus is idle, such an event can neither publish nor fail, so it is
        applied here, without the bus's dispatch (and counted in ``bus.published``), exactly as
        ``_on_quote``/``_on_trade`` would. Anything else goes through the bus.
        """
        bus = self.bus
        dispatch = bus.dispatcher(event_type)
        handlers = bus.handlers_of(event_type)
        pending = bus.pending
        if event_type is Quote:
            own, counters = self._quote_handler, self.counters
            listeners = self._ticker_subs[instrument_id]  # the live list ``subscribe`` extends

            def publish_quote(ev: Quote) -> None:
                if (listeners or bus.dispatching or pending or len(handlers) != 1
                        or handlers[0] is not own):
                    dispatch(ev)
                    return
                bus.published += 1
                counters["quotes"] += 1  # = _on_quote without listeners

            return publish_quote
        if event_type is Trade:
            own, last = self._trade_handler, self.last_trade
            listeners = self._trade_subs[instrument_id]

            def publish_trade(ev: Trade) -> None:
                if (listeners or bus.dispatching or pending or len(handlers) != 1
                        or handlers[0] is not own):
                    dispatch(ev)
                    return
                bus.published += 1
                last[instrument_id] = ev.price  # = _on_trade without listeners

            return publish_trade
        return dispatch

    def quiet_market(self, instrument_id: str) -> bool:
        """True while a quote or trade of ``instrument_id`` would only be counted by the kernel
        (the quote counter, the last trade price): no strategy listens to its quotes or trades,
        the kernel's own handlers are the only subscribers and the bus is idle. A replay driver
        may then hand over a run of them in one ``absorb_quiet`` call."""
        bus = self.bus
        if bus.dispatching or bus.pending:
            return False
        if self._ticker_subs.get(instrument_id) or self._trade_subs.get(instrument_id):
            return False
        quotes = self._quote_subscribers
        trades = self._trade_subscribers
        return (len(quotes) == 1 and quotes[0] is self._quote_handler
                and len(trades) == 1 and trades[0] is self._trade_handler)

    def absorb_quiet(self, instrument_id: str, events: int, quotes: int,
                     last_trade_price: float | None) -> None:
        """The effects of ``events`` quotes and trades of ``instrument_id`` (``quotes`` of them
        quotes; the price of the latest trade, or None) published while ``quiet_market``:
        exactly what publishing them one by one does (``market_publisher``)."""
        self.bus.published += events
        if quotes:
            self.counters["quotes"] += quotes
        if last_trade_price is not None:
            self.last_trade[instrument_id] = last_trade_price

    def absorb_if_quiet(self, instrument_id: str, events: int, quotes: int,
                        last_trade_price: float | None) -> bool:
        """``absorb_quiet`` if ``quiet_market``, in one call (a replay driver's, once per run);
        returns whether the run was absorbed."""
        bus = self.bus
        if (bus.dispatching or bus.pending or self._ticker_subs.get(instrument_id)
                or self._trade_subs.get(instrument_id)):
            return False
        quotes_to, trades_to = self._quote_subscribers, self._trade_subscribers
        if not (len(quotes_to) == 1 and quotes_to[0] is self._quote_handler
                and len(trades_to) == 1 and trades_to[0] is self._trade_handler):
            return False
        bus.published += events
        if quotes:
            self.counters["quotes"] += quotes
        if last_trade_price is not None:
            self.last_trade[instrument_id] = last_trade_price
        return True
