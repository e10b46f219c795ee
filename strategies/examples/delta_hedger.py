"""A delta hedger: keeps the portfolio delta of one underlying inside a band with perpetuals.

Theory of operation: the hedger owns no view; it watches the whole portfolio's delta of
``underlying`` (every strategy's options, perpetuals and futures, on every venue, with the
chains' model deltas) on a timer and on every change of the hedge books. When the delta is
further than ``band`` from ``target`` it trades back to ``target`` (or to ``rehedge_to`` of
the band, to trade less often), at most ``max_order_base`` at a time. The hedge is split over
the perpetuals of the allowed venues by the consolidated book's sweep, best price *net of
each venue's taker fee* first, in whole lots; each child is an IOC limit ``slippage_bps``
beyond the venue price of the worst level it needs, so it can never chase the book. While a
hedge is working nothing else is sent, and ``cooldown_s`` after it completes lets fills and
Greeks settle before the next look. Every hedge decision (venue, price, size, the delta that
caused it) is kept in ``self.hedges`` and logged.

An incomplete delta is never hedged: while a position of the underlying has no delta the
portfolio can count (an option before its first chain fit or venue Greeks, an inverse contract
with no price), the total leaves it out, so hedging it would hedge the wrong amount. The hedger
holds (``hedge_held`` logged once, naming the positions) and hedges again as soon as every
delta is known (``hedge_resumed``).

Venue halts: the hedger trades on every venue whose perpetual it may use. While one of them is
halted on its own (``on_venue_halt``: a stream down, reconciliation pending, its start retried)
the hedge goes to the venues that trade; nothing is sent to the halted one, and when every
allowed venue is halted nothing is sent at all (logged). A hedge working on a venue when it
halts has an unknown fate (the IOC may have filled; its cancel, sent at once, may be refused):
it is never assumed cancelled. Until the engine hears how it ended, its unfilled quantity is
counted as if it had filled, so the delta is not hedged a second time elsewhere (the cost: the
book may stay under-hedged by that much while the venue is down, never doubly hedged). At the
resume (every stream up, the venue reconciled, its fills applied) whatever of the hedger's
orders is still open there is cancelled and the delta is checked again at once.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from engine import (
    ConsolidatedBook,
    OrderBook,
    OrderDenied,
    OrderFilled,
    Side,
    Strategy,
    SweepChild,
    TradingState,
)


class DeltaHedgerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    underlying: str = "BTC"
    band: Annotated[float, msgspec.Meta(gt=0)] = 0.05
    """Allowed |delta - target|, in underlying units."""
    target: float = 0.0
    rehedge_to: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    """Fraction of the band left after a hedge (0: hedge all the way to the target)."""
    venues: list[str] = []
    """Venues whose perpetuals may be traded (empty: every venue)."""
    max_order_base: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """Largest hedge at once, in underlying units."""
    slippage_bps: float = 5.0
    reduce_bonus_bps: float = 2.0
    """Prefer a venue where the hedge shrinks an existing perp position unless another venue is
    better by more than this, net of fees (offsetting positions on two venues tie up margin
    and pay funding twice)."""
    check_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    cooldown_s: float = 0.5


class HedgeDecision(msgspec.Struct, frozen=True):
    ts: int
    delta_before: float
    side: str
    instrument_id: str
    price: float
    contracts: float
    net_price: float
    """The venue price net of its taker fee: what the sweep ranked on."""


class DeltaHedger(Strategy[DeltaHedgerConfig]):
    """Trades perpetuals on the venue with the best price net of fees to keep delta in a band."""

    def on_start(self) -> None:
        cfg = self.config
        venues = tuple(cfg.venues) if cfg.venues else None
        self.book = self.ctx.consolidated(cfg.underlying, venues=venues)
        if not self.book.instrument_ids:
            raise ValueError(f"no perpetual on {cfg.underlying} to hedge with (venues {cfg.venues})")
        for iid in self.book.instrument_ids:
            self.ctx.subscribe_book(iid)
        self.working: set[str] = set()
        self.venues = sorted({inst.venue for iid in self.book.instrument_ids
                              if (inst := self.ctx.instrument(iid)) is not None})
        self.halted: dict[str, str] = {v: r for v in self.venues if (r := self.ctx.venue_halted(v))}
        self.stranded: dict[str, float] = {}
        """Hedges working on a venue when it halted: client order id -> signed base units
        per contract (what their unfilled quantity does to the delta if they fill)."""
        self.base_per_contract: dict[str, float] = {}
        self.hedges: list[HedgeDecision] = []
        self.next_ok_ns = 0
        self.last_warn_ns = -(10**18)
        self.held_for: tuple[str, ...] = ()
        """Positions whose delta is unknown, while that holds the hedge (empty: hedging)."""
        self.ctx.set_timer("check", cfg.check_interval_s)

    def on_timer(self, name: str, now_ns: int) -> None:
        self._check()

    def on_book(self, book: OrderBook) -> None:
        self._check()

    def on_fill(self, event: OrderFilled) -> None:
        self.ctx.log.info("hedge_fill", instrument=event.instrument_id, side=str(event.side),
                          qty=event.quantity, price=event.price, delta=self.ctx.delta(self.config.underlying))
        if event.is_final:
            self._done(event.client_order_id)

    def on_order_event(self, event: object) -> None:
        super().on_order_event(event)  # typed callbacks first
        coid: str = event.client_order_id  # type: ignore[attr-defined]
        order = self.ctx.order(coid)
        # ended, whatever the event (a refused cancel, say, leaves the order working)
        if order is None or not order.is_open:
            self._done(coid)

    def on_order_denied(self, event: OrderDenied) -> None:
        self.ctx.log.warning("hedge_denied", reason=event.reason, detail=event.detail)

    def on_halt(self, state: TradingState, reason: str) -> None:
        self.ctx.log.warning("hedger_paused", state=str(state), reason=reason)

    def on_venue_halt(self, venue: str, reason: str) -> None:
        if venue not in self.venues:
            return
        self.halted[venue] = reason
        for coid in [c for c in self.working if self._venue_of(c) == venue]:
            self.working.discard(coid)  # not blocking hedges on the venues that trade
            self.stranded[coid] = self.base_per_contract.get(coid, 0.0)
            self.ctx.cancel(coid)  # may be refused while the venue is down: never assumed out
        self.ctx.log.warning("hedge_venue_halted", venue=venue, reason=reason,
                             in_doubt=len(self.stranded))

    def on_venue_resume(self, venue: str, reason: str) -> None:
        if self.halted.pop(venue, None) is None:
            return
        for order in self.ctx.open_orders():
            if self._venue_of(order.client_order_id) == venue:
                self.ctx.cancel(order.client_order_id)  # still open after reconciliation
        self._check()

    def _venue_of(self, client_order_id: str) -> str:
        order = self.ctx.order(client_order_id)
        inst = self.ctx.instrument(order.instrument_id) if order is not None else None
        return inst.venue if inst is not None else ""

    def _hedge_book(self) -> ConsolidatedBook | None:
        """The consolidated book over the venues that trade now (None: every one is halted)."""
        if not self.halted:
            return self.book
        trading = tuple(v for v in self.venues if v not in self.halted)
        if not trading:
            return None
        return self.ctx.consolidated(self.config.underlying, venues=trading)

    def _in_doubt_delta(self) -> float:
        """The delta the hedges of unknown fate add if they fill (their unfilled part)."""
        total = 0.0
        for coid, per_contract in self.stranded.items():
            order = self.ctx.order(coid)
            if order is not None and order.is_open:
                total += order.remaining * per_contract
        return total

    def _single_venue(self, book: ConsolidatedBook, side: Side, size: float) -> list[SweepChild]:
        """The whole hedge on one venue when the best-ranked venue's top level can take it.

        Ranked by top-of-book price net of taker fee, improved by ``reduce_bonus_bps`` where the
        hedge shrinks that venue's own position.
        """
        best: tuple[float, SweepChild] | None = None
        seen: set[str] = set()
        sign = 1.0 if side is Side.BUY else -1.0  # a buyer ranks low prices first
        for net, base, iid, venue_px, contracts, _ in book.iter_levels(side.opposite, True):
            if iid in seen:
                continue
            seen.add(iid)
            inst = self.ctx.instrument(iid)
            if inst is None:
                continue
            per_base = contracts / base
            need = inst.round_size(math.ceil(size * per_base / inst.lot_size - 1e-9) * inst.lot_size)
            if need > contracts or need < inst.min_size:
                continue
            pos = self.ctx.position_qty(iid)
            bonus = self.config.reduce_bonus_bps / 1e4 * net if pos * side.sign < 0 else 0.0
            score = sign * net - bonus
            if best is None or score < best[0]:
                best = (score, SweepChild(iid, venue_px, min(need, abs(pos)) if bonus and need > abs(pos) else need))
            if len(seen) == len(book.instrument_ids):
                break
        return [best[1]] if best is not None else []

    def _done(self, client_order_id: str) -> None:
        self.stranded.pop(client_order_id, None)
        self.base_per_contract.pop(client_order_id, None)
        if client_order_id in self.working:
            self.working.discard(client_order_id)
            if not self.working:
                self.next_ok_ns = self.ctx.now_ns() + int(self.config.cooldown_s * 1e9)

    def _held(self, unknown: tuple[str, ...]) -> bool:
        """Whether positions without a delta hold the hedge now; logs each change only."""
        if unknown != self.held_for:
            if unknown:
                self.ctx.log.warning("hedge_held", reason="positions without a delta: the portfolio "
                                     "delta is incomplete", positions=list(unknown))
            else:
                self.ctx.log.info("hedge_resumed", reason="every position's delta is known")
            self.held_for = unknown
        return bool(unknown)

    def _check(self) -> None:
        cfg, ctx = self.config, self.ctx
        if self.working or ctx.trading_state is not TradingState.ACTIVE:
            return
        now = ctx.now_ns()
        if now < self.next_ok_ns:
            return
        greeks = ctx.greeks(cfg.underlying)
        if self._held(greeks.uncounted.get("delta", ())):
            return
        delta = greeks.delta + self._in_doubt_delta()
        off = delta - cfg.target
        if abs(off) <= cfg.band:
            return
        size = min(abs(off) - cfg.rehedge_to * cfg.band, cfg.max_order_base)
        side = Side.SELL if off > 0 else Side.BUY
        book = self._hedge_book()
        children = ((self._single_venue(book, side, size) or book.sweep(side, size, net_of_fees=True))
                    if book is not None else [])
        if not children:
            if now - self.last_warn_ns > 10 * 10**9:
                self.last_warn_ns = now
                ctx.log.warning("hedge_impossible", delta=delta, halted=dict(self.halted),
                                excluded=book.excluded if book is not None else {})
            return
        self.next_ok_ns = now + int(cfg.cooldown_s * 1e9)  # also when the IOCs complete at once
        for child in children:
            inst = ctx.instrument(child.instrument_id)
            if inst is None:
                continue
            slip = 1.0 + (cfg.slippage_bps / 1e4 if side is Side.BUY else -cfg.slippage_bps / 1e4)
            raw = child.price * slip
            ticks = math.ceil(raw / inst.tick_size - 1e-9) if side is Side.BUY else math.floor(raw / inst.tick_size + 1e-9)
            price = inst.round_price(ticks * inst.tick_size)
            coid = ctx.submit_ioc(child.instrument_id, side, child.contracts, price)
            if ctx.order(coid) is not None and ctx.order(coid).is_open:  # type: ignore[union-attr]
                self.working.add(coid)
                unit = inst.contract_size / child.price if inst.inverse else inst.contract_size
                self.base_per_contract[coid] = unit if side is Side.BUY else -unit
            fee = inst.taker_fee
            net = child.price * (1 + fee if side is Side.BUY else 1 - fee)
            self.hedges.append(HedgeDecision(now, delta, str(side), child.instrument_id, price,
                                             child.contracts, net))
            ctx.log.info("hedge", delta=round(delta, 6), side=str(side), instrument=child.instrument_id,
                         contracts=child.contracts, limit=price, net_price=round(net, 2))
