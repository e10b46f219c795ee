"""Cross-venue basis capture between perpetuals (or futures) of one underlying.

Theory of operation: on every change of a leg's book the strategy reads the top of each live
leg from the consolidated book, in USD and net of each venue's taker fee, and scores every
ordered pair (buy X at its ask, sell Y at its bid):

    edge (bps) = (bid_Y * (1 - fee_Y) - ask_X * (1 + fee_X)) / mid * 1e4

A pair that *closes* inventory (X is short and Y is long) is taken when the edge is at least
``-exit_bps`` (the round trip then keeps at least ``entry_bps - exit_bps``); any other pair
opens or extends a spread and needs ``entry_bps``. The best-scoring pair trades one clip
(``clip_base`` underlying units, cut to the top-of-book sizes, the ``max_position_base`` per
leg and whole lots of both legs) as two IOC limit orders at the two touch prices, sent in the
same callback. Nothing else is sent while either leg is working. If the legs do not fill
alike, the net position across legs (``imbalance``) is repaired first, with an IOC on the
venue with the best net price, before any new spread is taken: the strategy is flat in the
underlying except for the moment between two legs.

Venue halts: the strategy trades on every leg's venue. While one is halted on its own
(``on_venue_halt``: a stream down, reconciliation pending, its start retried) nothing is sent
there and no spread is opened or closed that needs it (with two legs: none at all); spreads
already held stay as they are, hedged (a position at a halted venue does not go away). A leg
working there when it halts has an unknown fate: its cancel is sent at once (it may be
refused) and it is never assumed cancelled. The legs are IOCs at the touch, so until the engine
hears how it ended its unfilled quantity counts as filled in the imbalance: repairing on the
assumption that it missed would, in the likely case, itself leave the one-legged position the
repair is meant to remove. Any other imbalance (a leg heard to have filled alone, a partial
fill) is repaired at once on the best venue that trades. At the resume (every stream up, the
venue reconciled, its fills applied) whatever is still open there is cancelled, the imbalance
is recomputed from the reconciled positions and repaired first, and only then are new spreads
taken. While every leg's venue is halted nothing is sent.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from engine import OrderBook, OrderDenied, OrderFilled, Side, Strategy, TradingState


class BasisArbConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    underlying: str = "BTC"
    instruments: list[str] = []
    """Legs as ``"venue:SYMBOL"``; empty: every perpetual of the underlying on any venue."""
    entry_bps: float = 4.0
    """Net edge after both taker fees needed to open or extend a spread."""
    exit_bps: float = 2.0
    """Largest net cost after fees accepted to close a spread."""
    clip_base: Annotated[float, msgspec.Meta(gt=0)] = 0.02
    max_position_base: Annotated[float, msgspec.Meta(gt=0)] = 0.1
    """Per leg, absolute, in underlying units."""
    cooldown_s: float = 0.2


class Top(msgspec.Struct):
    """One leg's touch: net USD price, venue price, size in base units and contracts per base."""

    net: float
    price: float
    base: float
    per_base: float


class BasisArb(Strategy[BasisArbConfig]):
    """Buys the cheap venue and sells the rich one when the basis beats fees; unwinds on reversion."""

    def on_start(self) -> None:
        cfg = self.config
        ids = tuple(cfg.instruments) if cfg.instruments else None
        self.book = self.ctx.consolidated(cfg.underlying, instrument_ids=ids)
        if len(self.book.instrument_ids) < 2:
            raise ValueError(f"basis arb needs two legs, got {self.book.instrument_ids}")
        for iid in self.book.instrument_ids:
            self.ctx.subscribe_book(iid)
        self.working: set[str] = set()
        self.venue_of: dict[str, str] = {}
        for iid in self.book.instrument_ids:
            inst = self.ctx.instrument(iid)
            self.venue_of[iid] = inst.venue if inst is not None else iid.partition(":")[0]
        self.halted: dict[str, str] = {v: r for v in set(self.venue_of.values())
                                       if (r := self.ctx.venue_halted(v))}
        self.stranded: dict[str, float] = {}
        """Legs working on a venue when it halted: client order id -> signed base units per
        contract (what their unfilled quantity does to the imbalance if they fill)."""
        self.base_per_contract: dict[str, float] = {}
        self.next_ok_ns = 0
        self.spreads = 0
        self.repairs = 0
        self.edges: list[float] = []

    def on_book(self, book: OrderBook) -> None:
        self._evaluate()

    def on_fill(self, event: OrderFilled) -> None:
        self.ctx.log.info("leg_fill", instrument=event.instrument_id, side=str(event.side),
                          qty=event.quantity, price=event.price)

    def on_order_event(self, event: object) -> None:
        super().on_order_event(event)
        coid: str = event.client_order_id  # type: ignore[attr-defined]
        order = self.ctx.order(coid)
        # ended, whatever the event (a refused cancel, say, leaves the order working)
        if order is None or not order.is_open:
            self.working.discard(coid)
            self.stranded.pop(coid, None)
            self.base_per_contract.pop(coid, None)

    def on_venue_halt(self, venue: str, reason: str) -> None:
        if venue not in self.venue_of.values():
            return
        self.halted[venue] = reason
        for coid in [c for c in self.working if self._venue_of_order(c) == venue]:
            self.working.discard(coid)  # not blocking a repair on the venues that trade
            self.stranded[coid] = self.base_per_contract.get(coid, 0.0)
            self.ctx.cancel(coid)  # may be refused while the venue is down: never assumed out
        self.ctx.log.warning("basis_venue_halted", venue=venue, reason=reason,
                             in_doubt=len(self.stranded))
        self._evaluate()  # a known imbalance is repaired on a venue that trades, now

    def on_venue_resume(self, venue: str, reason: str) -> None:
        if self.halted.pop(venue, None) is None:
            return
        for order in self.ctx.open_orders():
            if self._venue_of_order(order.client_order_id) == venue:
                self.ctx.cancel(order.client_order_id)  # still open after reconciliation
        self.next_ok_ns = 0
        self._evaluate()  # the reconciled imbalance first, then spreads

    def _venue_of_order(self, client_order_id: str) -> str:
        order = self.ctx.order(client_order_id)
        return self.venue_of.get(order.instrument_id, "") if order is not None else ""

    def on_order_denied(self, event: OrderDenied) -> None:
        self.ctx.log.warning("leg_denied", instrument=event.instrument_id, reason=event.reason,
                             detail=event.detail)

    # -- decisions --------------------------------------------------------------------------
    def imbalance(self) -> float:
        """Net underlying position across the legs (0 when every spread is hedged)."""
        total = 0.0
        for iid in self.book.instrument_ids:
            pos = self.ctx.position(iid)
            if pos is not None and pos.qty != 0.0:
                total += self._base(iid, pos.qty)
        return total

    def in_doubt(self) -> float:
        """What the legs of unknown fate (working on a venue when it halted) add to the
        imbalance if they fill, in underlying units."""
        total = 0.0
        for coid, per_contract in self.stranded.items():
            order = self.ctx.order(coid)
            if order is not None and order.is_open:
                total += order.remaining * per_contract
        return total

    def _base(self, iid: str, contracts: float) -> float:
        inst = self.ctx.instrument(iid)
        if inst is None:
            return 0.0
        if inst.inverse:
            # USD face -> coin at the mid; a halted venue's book is cleared but its position
            # stays: then at the position's last mark, else its entry price (never as 0 coin)
            book = self.ctx.book(iid)
            px = book.mid() if book is not None else math.nan
            pos = self.ctx.position(iid)
            if not px > 0 and pos is not None:
                px = pos.mark if pos.mark > 0 else pos.avg_price
            return contracts * inst.contract_size / px if px > 0 else 0.0
        return contracts * inst.contract_size

    def _tops(self, side: Side) -> dict[str, Top]:
        """First level of each live leg on a venue that trades, on one side (BUY = bids), net
        of fees."""
        out: dict[str, Top] = {}
        legs = len(self.book.instrument_ids)
        if self.halted:
            legs = sum(1 for v in self.venue_of.values() if v not in self.halted)
            if not legs:
                return out
        for net, base, iid, price, contracts, _ in self.book.iter_levels(side, True):
            if iid not in out and (not self.halted or self.venue_of[iid] not in self.halted):
                out[iid] = Top(net, price, base, contracts / base)
                if len(out) == legs:
                    break
        return out

    def _evaluate(self) -> None:
        cfg, ctx = self.config, self.ctx
        if self.working or ctx.trading_state is not TradingState.ACTIVE:
            return
        now = ctx.now_ns()
        if now < self.next_ok_ns:
            return
        bids, asks = self._tops(Side.BUY), self._tops(Side.SELL)
        if not bids or not asks:
            return
        imb = self.imbalance() + self.in_doubt()
        if self._repair(imb, bids, asks):
            return
        best: tuple[float, str, str, float, float] | None = None
        for x, ax in asks.items():
            for y, by in bids.items():
                if x == y:
                    continue
                mid = 0.5 * (ax.price + by.price)
                edge = (by.net - ax.net) / mid * 1e4
                px, py = ctx.position_qty(x), ctx.position_qty(y)
                closing = px < 0 and py > 0
                threshold = -cfg.exit_bps if closing else cfg.entry_bps
                room = (min(-self._base(x, px), self._base(y, py)) if closing else
                        min(cfg.max_position_base - self._base(x, px),
                            cfg.max_position_base + self._base(y, py)))
                size = min(cfg.clip_base, ax.base, by.base, room)
                if edge >= threshold and size > 0 and (best is None or edge - threshold > best[0]):
                    best = (edge - threshold, x, y, size, edge)
        if best is None:
            return
        _, x, y, size, edge = best
        qx, qy = self._contracts(x, size, asks[x]), self._contracts(y, size, bids[y])
        if qx <= 0 or qy <= 0:
            return
        # both legs in the same callback: nothing else runs between the two submits
        for iid, side, qty, top in ((x, Side.BUY, qx, asks[x]), (y, Side.SELL, qy, bids[y])):
            self._track(ctx.submit_ioc(iid, side, qty, top.price), side, top)
        self.spreads += 1
        self.edges.append(edge)
        self.next_ok_ns = now + int(cfg.cooldown_s * 1e9)
        ctx.log.info("spread", buy=x, sell=y, base=size, edge_bps=round(edge, 2))

    def _track(self, coid: str, side: Side, top: Top) -> None:
        """Wait for a leg sent (nothing new meanwhile) unless it was denied at once."""
        order = self.ctx.order(coid)
        if order is not None and order.is_open:
            self.working.add(coid)
            self.base_per_contract[coid] = side.sign / top.per_base

    def _contracts(self, iid: str, base: float, top: Top) -> float:
        inst = self.ctx.instrument(iid)
        if inst is None:
            return 0.0
        qty = inst.round_size(math.floor(base * top.per_base / inst.lot_size + 1e-9) * inst.lot_size)
        return qty if qty >= inst.min_size else 0.0

    def _repair(self, imb: float, bids: dict[str, Top], asks: dict[str, Top]) -> bool:
        """Flatten a leg mismatch on the venue with the best net price; True if one was sent."""
        side = Side.SELL if imb > 0 else Side.BUY
        tops = bids if side is Side.SELL else asks
        for iid, top in sorted(tops.items(), key=lambda kv: -kv[1].net if side is Side.SELL else kv[1].net):
            qty = self._contracts(iid, min(abs(imb), top.base), top)
            if qty <= 0:
                continue
            self._track(self.ctx.submit_ioc(iid, side, qty, top.price), side, top)
            self.repairs += 1
            self.ctx.log.warning("leg_repair", instrument=iid, side=str(side), contracts=qty, imbalance=imb)
            return True
        return False
