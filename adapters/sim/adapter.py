"""``SimVenue``: the built-in simulated venue (synthetic BTC perp + option chain, local matching).

Theory of operation: ``bind`` fixes the listing relative to the clock's current time (expiries at
08:00 UTC some days ahead) and wires the three parts together: per-instrument ``SimBook``s
(``queue.py``), the ``MatchingEngine`` for client orders (``matching.py``) and the
``SyntheticMarket`` that moves prices and books (``market.py``). ``start`` publishes a snapshot
of every book and then registers one ``clock.every(tick_ms)`` timer; nothing here sleeps or reads
the system time, so the venue runs unchanged under the live clock (paper trading) and the
virtual clock (backtests), and a given seed and command sequence always yield the same events.

Order commands never block: they take the replay exchange's in-flight path
(``adapters.sim.inflight``): handled at once (or, inside a batch the execution core opened with
``hold_commands``, when it is released: after every command of the batch was handed over, as a
real adapter's corked socket write), or after the order-entry latency (``latency_ms``, or an
``order_latency`` model: the seeded FIFO channels of ``adapters.sim.latency``) through
``clock.call_at``; at ``stop`` what is still in flight is handled, in the order sent. Client orders resting in the synthetic
books move up their queues by the configured queue model (``adapters.sim.queue_model``, the
replay exchange's too), and both simulators validate orders with one set of rules and reject
codes (``adapters.sim.rules``). The account (``state.SimAccount``) sees every client order event before it
is published and, with ``state_path`` set, persists it, so open orders, fills, positions and id
counters survive an engine crash; ``reconcile``, ``query_order`` and ``cancel_all_orders``
answer from it. Expired options stop being listed by ``instruments()`` (their orders end
with ``OrderExpired``) and the account's open positions in them settle as a real venue's do
(``engine.settlement.ExpirySettlement``, over the generator's own index: intrinsic value in
USD at the time-weighted index of the 30 minutes before expiry): one ``PositionSettled`` per
position, recorded by the account (flat from then on, also for reconciliation) and then
published. No new expiries are listed during a run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from adapters.sim.chain import build_instruments
from adapters.sim.inflight import InFlight, Unbound
from adapters.sim.latency import LatencyChannel, LatencyModel
from adapters.sim.market import SyntheticMarket
from adapters.sim.matching import Ids, MatchingEngine
from adapters.sim.params import SimVenueParams
from adapters.sim.queue import RestingOrder, SimBook
from adapters.sim.queue_model import make_queue_share, make_uniform
from adapters.sim.state import SimAccount
from engine.clock import Clock, TimerHandle
from engine.model import (
    AmendOrder,
    CancelOrder,
    Instrument,
    Level,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderStatusReport,
    PositionSettled,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueReconciliation,
)
from engine.settlement import ExpirySettlement
from engine.venue import Publish, VenueAdapter

__all__ = ["SimVenue", "SimVenueParams"]

class SimVenue(VenueAdapter):
    """A deterministic simulated venue; see the module docstring."""

    Params = SimVenueParams

    def __init__(self, params: SimVenueParams | None = None) -> None:
        self.params = params if params is not None else SimVenueParams()
        self.venue = self.params.venue
        self._engine: MatchingEngine | None = None
        self._market: SyntheticMarket | None = None
        self._timer: TimerHandle | None = None
        self._flight = InFlight(Unbound(), LatencyChannel(LatencyModel(), 0))
        """Commands held (a batch) or in flight (order-entry latency): ``adapters.sim.inflight``."""
        self.account: SimAccount | None = None

    def bind(self, publish: Publish, clock: Clock) -> None:
        """Attach to the runtime; builds the listing from the clock's current time."""
        super().bind(publish, clock)
        p = self.params
        now = clock.now_ns()
        insts = build_instruments(p, now)
        share = make_queue_share(p.queue, make_uniform(p.seed * 1_000 + 3))
        books = {i.id: SimBook(i.id, i.tick_size, i.lot_size, share) for i in insts}
        self._flight = InFlight(clock, LatencyChannel(
            p.order_latency if p.order_latency is not None else LatencyModel(ms=p.latency_ms),
            p.seed * 1_000))
        ids = Ids(p.venue)
        if self.account is None:
            self.account = SimAccount(p.state_path)
        account = self.account
        if account.max_order_no or account.max_trade_no:  # never reuse an id after a restart
            ids._orders = itertools.count(account.max_order_no + 1)
            ids._trades = itertools.count(account.max_trade_no + 1)

        settlement = ExpirySettlement(p.venue)
        for iid, (qty, _avg) in account.positions.items():  # (held before a restart)
            settlement.on_fill(iid, qty)

        def publish_order_event(ev: Any) -> None:
            account.record(ev)  # persisted before anyone hears of it
            if type(ev) is OrderFilled:
                settlement.on_fill(ev.instrument_id, ev.side.sign * ev.quantity)
            publish(ev)

        def publish_settlement(rep: PositionSettled) -> None:
            account.record(rep)  # flat at the venue from now on (and after a restart)
            publish(rep)

        self._engine = MatchingEngine({i.id: i for i in insts}, books, ids, publish_order_event,
                                      clock, self.underlying_price, p.option_fee_cap)
        self._market = SyntheticMarket(p, insts, books, self._engine, publish, ids, now,
                                       settlement, publish_settlement)

    # -- VenueAdapter ------------------------------------------------------------------------
    def instruments(self) -> list[Instrument]:
        """Listed (unexpired) instruments: the perp first, then options; empty before ``bind``."""
        if self._engine is None:
            return []
        return [i for i in self._engine.instruments.values() if i.active]

    async def start(self) -> None:
        """Publish every book's snapshot (and first mark/summaries), then start ticking."""
        market = self._need_market()
        for ev in market.start(self.clock.now_ns()):
            self.publish(ev)
        self._restore_orders()
        self._timer = self.clock.every(self.params.tick_ms * 1_000_000, market.on_tick)

    async def stop(self) -> None:
        """Stop the market timer and answer the commands still held or in flight.

        The engine cancels its open orders just before it stops its venues; a venue that
        dropped those cancels would leave them pending forever. They reached the wire before
        the stop, so they are handled now, in the order they were sent.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # (in due order = the order sent: the channel is FIFO; the matching engine keeps the
        # engine's clock, so the answers are stamped now)
        self._flight.drain()
        if self.account is not None:
            self.account.close()

    def submit(self, cmd: SubmitOrder) -> None:
        """Submit an order; the answer comes back as order events."""
        self._hand_over(self._submit_now, cmd)

    def _submit_now(self, cmd: SubmitOrder) -> None:
        engine = self._need_engine()
        if self.account is not None:
            self.account.submitted(cmd)
        engine.submit(cmd)

    def cancel(self, cmd: CancelOrder) -> None:
        """Cancel an order; unknown/finished orders give ``OrderRejected("unknown_order")``."""
        self._hand_over(self._cancel_now, cmd)

    def _cancel_now(self, cmd: CancelOrder) -> None:
        self._need_engine().cancel(cmd)

    def amend(self, cmd: AmendOrder) -> None:
        """Amend price and/or total quantity (queue kept only for a same-price size reduction)."""
        self._hand_over(self._amend_now, cmd)

    def _amend_now(self, cmd: AmendOrder) -> None:
        self._need_engine().amend(cmd)

    def _hand_over(self, run: Callable[[Any], None], cmd: Any) -> None:
        self._flight.send(run, cmd)

    def hold_commands(self) -> None:
        """A batch of commands follows: keep them, in order, until ``release_commands`` (a
        real venue adapter's socket write only queues bytes; the matching happens after)."""
        self._flight.hold()

    def release_commands(self) -> None:
        """Send the held commands in the order they were handed over (each after the
        order-entry latency, as any command). A command that fails is logged and the next
        one runs: its order gets no answer and the engine's status query settles it."""
        self._flight.release()

    def request_resync(self, instrument_id: str) -> None:
        """Publish a fresh snapshot of one book (later deltas continue from it)."""
        book = self._need_engine().books.get(instrument_id)
        if book is not None:
            self.publish(book.snapshot(self.clock.now_ns()))

    # -- reconciliation and protection ---------------------------------------------------------
    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        """Publish an ``OrderStatusReport``; an order the venue never saw reports ``rejected``."""
        ts = self.clock.now_ns()
        acc = self._need_account()
        o = acc.orders.get(client_order_id)
        if o is not None:
            self.publish(acc.report(o, ts))
            return
        self.publish(OrderStatusReport(client_order_id=client_order_id, venue_order_id="",
                                       instrument_id=instrument_id, side=Side.BUY, status="rejected",
                                       price=None, quantity=0.0, filled=0.0, avg_fill_price=0.0,
                                       ts_event=ts, ts_recv=ts))

    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        """Open orders, client fills since ``since_ns`` and positions, from the account."""
        acc = self._need_account()
        ts = self.clock.now_ns()
        return VenueReconciliation(
            venue=self.venue, open_orders=tuple(acc.report(o, ts) for o in acc.open_orders()),
            fills=tuple(f for f in acc.fills if f.ts_event >= since_ns),
            positions=tuple(acc.position_reports(ts)), ts=ts)

    def cancel_all_orders(self) -> None:
        """Cancel every working order of the account (kill switch level 2)."""
        engine = self._need_engine()
        ts = self.clock.now_ns()
        for coid, o in list(engine.orders.items()):
            engine.cancel(CancelOrder(client_order_id=coid, strategy_id="venue",
                                      instrument_id=o.instrument_id, ts=ts))

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        """Arm cancel-on-disconnect: if the engine dies, its orders do not survive it."""
        if self.params.cancel_on_disconnect:
            self._need_account().arm_cancel_on_disconnect(True)

    def _restore_orders(self) -> None:
        """Put the account's open orders back on the books after a restart (or cancel them if
        cancel-on-disconnect was armed when the previous engine died)."""
        acc = self._need_account()
        engine = self._need_engine()
        ts = self.clock.now_ns()
        cod = acc.cancel_on_disconnect
        for ao in acc.open_orders():
            inst = engine.instruments.get(ao.instrument_id)
            if cod or inst is None or not inst.active or ao.price is None:
                ev: Any
                if inst is None or not inst.active:
                    ev = OrderExpired(client_order_id=ao.client_order_id, instrument_id=ao.instrument_id,
                                      ts_event=ts, ts_recv=ts)
                else:
                    ev = OrderCancelled(client_order_id=ao.client_order_id,
                                        instrument_id=ao.instrument_id,
                                        reason="cancel_on_disconnect" if cod else "venue_restart",
                                        ts_event=ts, ts_recv=ts)
                engine.publish(ev)
                continue
            book = engine.books[ao.instrument_id]
            ro = RestingOrder(ao.client_order_id, ao.venue_order_id, ao.instrument_id, ao.side,
                              round(ao.price / inst.tick_size), round(ao.quantity / inst.lot_size),
                              ao.post_only, TimeInForce(ao.tif))
            ro.filled = round(ao.filled / inst.lot_size)
            engine.orders[ro.client_order_id] = ro
            book.add(ro)
        if cod:
            acc.arm_cancel_on_disconnect(False)

    def _need_account(self) -> SimAccount:
        if self.account is None:
            raise RuntimeError("SimVenue used before bind()")
        return self.account

    # -- read-only accessors ---------------------------------------------------------------
    def underlying_price(self) -> float:
        """The current BTC index price of the generator."""
        return self._need_market().spot

    def fair_vol(self, strike: float, t: float) -> float:
        """The generator's implied vol for ``strike`` and ``t`` years to expiry (the smile mid)."""
        return self._need_market().fair_vol(strike, t)

    def open_orders(self) -> list[str]:
        """Client order ids still working on the venue."""
        return list(self._need_engine().orders)

    # -- test hooks -------------------------------------------------------------------------
    def set_book(self, instrument_id: str, bids: list[Level], asks: list[Level]) -> None:
        """Test hook: fix an instrument's synthetic book; the generator then leaves it alone."""
        self._need_market().set_book(instrument_id, bids, asks, self.clock.now_ns())

    def inject_trade(self, instrument_id: str, aggressor: Side, size: float) -> None:
        """Test hook: a synthetic market order walking the published book now."""
        self._need_market().inject_trade(instrument_id, aggressor, size, self.clock.now_ns())

    def _need_engine(self) -> MatchingEngine:
        if self._engine is None:
            raise RuntimeError("SimVenue used before bind()")
        return self._engine

    def _need_market(self) -> SyntheticMarket:
        if self._market is None:
            raise RuntimeError("SimVenue used before bind()")
        return self._market
