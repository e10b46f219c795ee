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
"""

from __future__ import annotations

import math

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
    clip_base: float = 0.02
    max_position_base: float = 0.1
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
        self.next_ok_ns = 0
        self.spreads = 0
        self.repairs = 0
        self.edges: list[float] = []

    def on_book(self, book: OrderBook) -> None:
        self._evaluate()

    def on_fill(self, event: OrderFilled) -> None:
        self.ctx.log.info("leg_fill", instrument=event.instrument_id, side=str(event.side),
                          qty=event.quantity, price=event.price)
        if event.is_final:
            self.working.discard(event.client_order_id)

    def on_order_event(self, event: object) -> None:
        super().on_order_event(event)
        if type(event).__name__ in ("OrderCancelled", "OrderRejected", "OrderExpired", "OrderDenied"):
            self.working.discard(event.client_order_id)  # type: ignore[attr-defined]

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

    def _base(self, iid: str, contracts: float) -> float:
        inst = self.ctx.instrument(iid)
        if inst is None:
            return 0.0
        if inst.inverse:
            book = self.ctx.book(iid)
            mid = book.mid() if book is not None else math.nan
            return contracts * inst.contract_size / mid if mid > 0 else 0.0
        return contracts * inst.contract_size

    def _tops(self, side: Side) -> dict[str, Top]:
        """First level of each live leg on one side (BUY = bids), net of fees."""
        out: dict[str, Top] = {}
        for net, base, iid, price, contracts, _ in self.book.iter_levels(side, True):
            if iid not in out:
                out[iid] = Top(net, price, base, contracts / base)
                if len(out) == len(self.book.instrument_ids):
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
        imb = self.imbalance()
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
            coid = ctx.submit_ioc(iid, side, qty, top.price)
            order = ctx.order(coid)
            if order is not None and order.is_open:
                self.working.add(coid)
        self.spreads += 1
        self.edges.append(edge)
        self.next_ok_ns = now + int(cfg.cooldown_s * 1e9)
        ctx.log.info("spread", buy=x, sell=y, base=size, edge_bps=round(edge, 2))

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
            coid = self.ctx.submit_ioc(iid, side, qty, top.price)
            order = self.ctx.order(coid)
            if order is not None and order.is_open:
                self.working.add(coid)
            self.repairs += 1
            self.ctx.log.warning("leg_repair", instrument=iid, side=str(side), contracts=qty, imbalance=imb)
            return True
        return False
