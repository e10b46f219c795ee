"""A two-sided quoter that leans against its inventory.

It keeps one bid and one ask around the mid of one book. The quotes are skewed by inventory
(long -> both quotes move down, so selling becomes more likely than buying) and stop on the
side that would push the position past ``max_position``. It re-quotes only when the mid has
moved by more than ``requote_bps`` or a quote was filled or cancelled, which keeps the message
rate (and the venue's rate limits) sane. Every order goes through the risk gate; a denial is
logged and the next re-quote tries again.

While its venue is halted on its own (``on_venue_halt``: a stream of the venue down, or
reconciliation pending) it pulls both quotes (quotes left working while the engine is blind to
the venue are a risk; what the venue did meanwhile is reconciled) and sends nothing there,
rather than collecting ``TRADING_HALTED`` denials. On ``on_venue_resume`` it cancels whatever
of its orders is still working there (a cancel the venue could not take while it was down) and
quotes afresh at once off the book if that is LIVE, else at the next book update. The same
when the engine stops trading (``on_halt``: the kill switch, the loss limits, a journal
failure; HALTED or REDUCING): both quotes pulled, nothing sent until ``on_resume``.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from engine import (
    BookStatus,
    OrderBook,
    OrderCancelled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    Side,
    Strategy,
    TradingState,
)


class QuoterConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    instrument: str
    """Symbol on the strategy's venue, e.g. ``"BTC-PERP"``."""
    size: Annotated[float, msgspec.Meta(gt=0)] = 0.01
    half_spread_bps: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    requote_bps: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    max_position: Annotated[float, msgspec.Meta(gt=0)] = 0.05
    skew_bps_per_unit: float = 20.0
    """Quote shift (bps of mid) per unit of position, against the position."""


class Quoter(Strategy[QuoterConfig]):
    Config = QuoterConfig

    def on_start(self) -> None:
        self.iid = self.ctx.instrument_id(self.config.instrument)
        self.inst = self.ctx.instrument(self.iid)
        if self.inst is None:
            raise ValueError(f"unknown instrument {self.iid}")
        self.bid_id: str | None = None
        self.ask_id: str | None = None
        self.quoted_mid = math.nan
        self.denials: dict[str, int] = {}
        self.venue = self.inst.venue
        # why nothing is quoted now ("": quoting): the venue's own halt, or the engine's
        # trading state (kill switch, loss limits, a journal failure); the hooks report changes
        self.venue_halt = self.ctx.venue_halted(self.venue)
        state = self.ctx.trading_state
        self.engine_halt = "" if state is TradingState.ACTIVE else str(state)
        self.halted = self.venue_halt or self.engine_halt
        self.ctx.subscribe_book(self.iid)
        self.ctx.log.info("quoter_started", instrument=self.iid, size=self.config.size)

    def on_venue_halt(self, venue: str, reason: str) -> None:
        if venue != self.venue:
            return
        self.venue_halt = reason
        self._pull("quotes_pulled_venue_halted", venue=venue, reason=reason)

    def on_venue_resume(self, venue: str, reason: str) -> None:
        if venue != self.venue:
            return
        self.venue_halt = ""
        self._resume()

    def on_halt(self, state: TradingState, reason: str) -> None:
        # HALTED or REDUCING (kill switch, loss limits, a journal failure): new quotes would
        # only be denied, and quotes left working cannot follow the market: pull both
        self.engine_halt = f"{state}: {reason}"
        self._pull("quotes_pulled_trading_halted", state=str(state), reason=reason)

    def on_resume(self, reason: str) -> None:
        self.engine_halt = ""
        self._resume()

    def _pull(self, event: str, **why: str) -> None:
        self.halted = self.venue_halt or self.engine_halt
        for coid in (self.bid_id, self.ask_id):
            if coid is not None:
                self.ctx.cancel(coid)
        self.bid_id = self.ask_id = None
        self.quoted_mid = math.nan
        self.ctx.log.info(event, **why)

    def _resume(self) -> None:
        self.halted = self.venue_halt or self.engine_halt
        if self.halted:
            return  # (the other reason still holds)
        # a quote whose cancel could not reach the venue while it was halted (refused
        # NOT_CONNECTED) is still working at its old price: cancel it before quoting afresh
        for order in self.ctx.open_orders(self.iid):
            self.ctx.cancel(order.client_order_id)
        book = self.ctx.book(self.iid)
        if book is not None and book.status is BookStatus.LIVE:
            self.on_book(book)

    def on_book(self, book: OrderBook) -> None:
        if self.halted:
            return  # nothing is sent while halted (on_venue_resume/on_resume quote again)
        mid = book.mid()
        if math.isnan(mid):
            return
        moved = abs(mid - self.quoted_mid) / mid * 1e4 if self.quoted_mid == self.quoted_mid else math.inf
        if moved >= self.config.requote_bps or self._side_missing():
            self._requote(mid)

    def _side_missing(self) -> bool:
        """A side we are allowed to quote has no order (filled, cancelled or denied)."""
        if self.bid_id is not None and self.ask_id is not None:
            return False  # both sides quoted: none missing, whatever the position allows
        qty = self._position()
        want_bid = qty + self.config.size <= self.config.max_position + 1e-12
        want_ask = qty - self.config.size >= -self.config.max_position - 1e-12
        return (want_bid and self.bid_id is None) or (want_ask and self.ask_id is None)

    def _position(self) -> float:
        pos = self.ctx.position(self.iid)
        return pos.qty if pos is not None else 0.0

    def on_order_event(self, event: object) -> None:
        if isinstance(event, OrderFilled):
            self.ctx.log.info("filled", side=str(event.side), qty=event.quantity, price=event.price,
                              remaining=event.remaining)
            if event.is_final:
                self._forget(event.client_order_id)
                self.quoted_mid = math.nan  # re-quote on the next book update
        elif isinstance(event, OrderDenied):
            # the engine logs denials, aggregated per reason: no line per denial here
            self.denials[event.reason] = self.denials.get(event.reason, 0) + 1
            self._forget(event.client_order_id)
        elif isinstance(event, (OrderCancelled, OrderRejected, OrderExpired)):
            self._forget(event.client_order_id)

    def _forget(self, client_order_id: str) -> None:
        if client_order_id == self.bid_id:
            self.bid_id = None
        if client_order_id == self.ask_id:
            self.ask_id = None

    def _requote(self, mid: float) -> None:
        cfg, inst = self.config, self.inst
        assert inst is not None
        qty = self._position()
        skew = -qty * cfg.skew_bps_per_unit
        half_tick = inst.tick_size / 2
        bid_px = inst.round_price(mid * (1 - (cfg.half_spread_bps - skew) / 1e4) - half_tick)
        ask_px = inst.round_price(mid * (1 + (cfg.half_spread_bps + skew) / 1e4) + half_tick)
        self.quoted_mid = mid
        self.bid_id = self._replace(self.bid_id, Side.BUY, bid_px, qty + cfg.size <= cfg.max_position + 1e-12)
        self.ask_id = self._replace(self.ask_id, Side.SELL, ask_px, qty - cfg.size >= -cfg.max_position - 1e-12)

    def _replace(self, current: str | None, side: Side, price: float, allowed: bool) -> str | None:
        if current is not None:
            order = self.ctx.order(current)
            if allowed and order is not None and order.price == price and order.is_open:
                return current
            self.ctx.cancel(current)
        if not allowed:
            return None
        return self.ctx.submit_limit(self.iid, side, self.config.size, price, post_only=True)
