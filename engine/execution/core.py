"""The execution core: the one owner of orders, pending acknowledgements and the journal.

Theory of operation: two entries, nothing else writes order state.

* **Commands** (``execute``; ``submit``/``cancel``/``amend``/``cancel_all`` are its typed
  faces): a new order runs the venue's trading state and the risk gate synchronously; a denial
  is recorded as a DENIED order (its client id can never be reused) and published as
  ``OrderDenied``. An accepted command moves its order (SUBMITTED, PENDING_CANCEL, ...),
  is *appended* to the journal and put in the outbox. Cancels skip the gate (a cancel only
  ever reduces risk); an amend is re-checked as the order it would become.
* **Venue reports** (``on_report``: order events and ``OrderStatusReport``): journaled, then
  applied through the order state machine; fills reach the portfolio through the fill port.
  Reconciliation's corrections come in here too. That half of the core, with the
  acknowledgements (ack timeouts, status queries), is its base class
  ``engine.execution.reports.VenueReports``: the same object, one owner of order state.

**Group commit.** The outbox is flushed when the event being handled is done (the bus calls
``flush`` when it goes idle; a command issued outside any dispatch flushes at once): one
journal commit for every command of the batch (and every report journaled before them),
then each command is handed to its venue adapter, in the order it was issued, between the
adapter's ``hold_commands`` and ``release_commands`` (a corked socket: the simulated venue
matches only at the release, so no order of the batch waits for the venue's work on the one
before); then the in-flight bookkeeping (which orders await an answer, since when), the
latency samples and ``OrderSubmitted`` for the batch's orders, and the adapters are released.
Before the send a command costs only what the write-ahead rule and the next command's gate
need: the gate, the order record with its indexes, the journal append, the commit. Nothing
is sent before its commit. A command issued while
the outbox is being sent (a synchronous venue answering inside ``submit``) joins the next
batch of the same flush.

**Journal failure** (disk full, I/O error, file removed): the batch is not sent. New orders
and amends are rejected locally (``OrderRejected`` with the journal's error); cancels are sent
anyway (they only reduce risk; reconciliation at restart settles them). ``on_journal_failure``
is called once: the runtime trips the kill switch to CANCEL_ALL and trading stays HALTED until
the operator acts. Nothing is raised into a strategy or the event loop.

Unknown stays unknown (``engine/execution/inflight.py``): an order whose command could not
be handed over or got no answer within ``ack_timeout_s`` is flagged ``in_doubt`` and queried,
never resent; that module decides (overdue orders, what a status report means), this core
applies its decisions: nothing else writes order state.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import structlog

from engine.clock import NS_PER_S, Clock
from engine.consolidated import ConsolidatedBook
from engine.execution.commands import CancelAll, amend_probe, sweep_children
from engine.execution.latency import ExecutionLatency
from engine.execution.reports import VenueReports
from engine.execution.state import REPLAYED_COUNTERS, ExecutionState
from engine.journal import Journal, JournalError, PositionAdjusted
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    Side,
    SubmitOrder,
)
from engine.orders import OPEN, IllegalTransition, Order, OrderBookkeeper
from engine.repeats import RepeatAggregator
from engine.risk import Denial, Reason, RiskGate
from engine.venue import VenueAdapter

log = structlog.get_logger("volta.execution")
_pc = time.perf_counter_ns
_SUBMIT, _CANCEL, _AMEND = 0, 1, 2
RECENT_FILLS = 1_000
STORE_INTERVAL_NS = 5_000_000_000  # journal log -> SQLite store, at most this far behind
STORE_ROWS = 20_000


class ExecutionCore(VenueReports):
    def __init__(self, adapters: dict[str, VenueAdapter], gate: RiskGate, orders: OrderBookkeeper,
                 journal: Journal | None, clock: Clock, publish: Callable[[Any], None],
                 in_dispatch: Callable[[], bool] = lambda: False,
                 on_fill: Callable[[OrderFilled], bool] = lambda ev: True,
                 held: Callable[[str], float | None] = lambda iid: None,
                 adjust: Callable[[PositionAdjusted], None] = lambda rec: None,
                 venue_halt: Callable[[str], str] = lambda venue: "",
                 counters: dict[str, int] | None = None) -> None:
        self.adapters = adapters
        self.gate = gate
        self.orders = orders
        self.journal = journal
        self.clock = clock
        # (a logger of its own: bound to the logging configuration in force when the node is built)
        self.denial_log = RepeatAggregator(structlog.get_logger("volta.execution"), "order_denied",
                                           "orders_denied", 10 * NS_PER_S)
        self.publish = publish
        self._in_dispatch = in_dispatch
        self._on_fill = on_fill
        self._held = held
        self._adjust = adjust
        self._venue_halt = venue_halt
        self.sent = 0
        self.send_errors = 0
        self.queries = 0
        self.timeouts = 0
        self.counters: dict[str, int] = counters if counters is not None else defaultdict(int)
        self._awaiting: dict[str, Order] = {}
        self._recent_fills: deque[OrderFilled] = deque(maxlen=RECENT_FILLS)
        # (kind, order, command, its venue's adapter or None), in the order issued.
        # _queued: only a batch's first command asks whether an event is being dispatched;
        # outside one each command is flushed as it comes, so a non-empty outbox means a
        # dispatch (or a flush) is under way and will send what is added to it.
        self._outbox: list[tuple[int, Order, Any, VenueAdapter | None]] = []
        self._venue_of: dict[str, str] = {}  # instrument id -> venue (no split per order)
        self._flushing = False
        self._gate_ns: list[int] = []  # gate times of queued orders, not yet in their ring
        self.journal_failure = ""
        self._failure_reported = False
        self._stored_ns = 0
        self.reconcile_hook: Callable[[str], None] | None = None
        self.on_journal_failure: Callable[[str], None] | None = None
        self.on_strategy_fills_exceeded: Callable[[str], None] | None = None
        self.on_sent: Callable[[SubmitOrder], None] | None = None
        """Diagnostic hook: called as a committed order is handed to the venue adapter."""
        self.latency = ExecutionLatency()
        self.tick_ns = 0
        """perf_counter_ns when the book event being handled arrived (0: none); read and
        cleared by ``flush`` to time tick-to-order (``engine.execution.latency``)."""
        self.order: Callable[[str], Order | None] = orders.get
        """The order of a client order id, or None (read-only; the bookkeeper's lookup)."""
        self._execute = {SubmitOrder: self.submit, CancelOrder: self._cancel_cmd,
                         AmendOrder: self._amend_cmd, CancelAll: self._cancel_all_cmd}

    # -- the command entry ------------------------------------------------------------------
    def execute(self, command: Any) -> Any:
        """Run one command (``SubmitOrder``, ``CancelOrder``, ``AmendOrder``, ``CancelAll``)."""
        return self._execute[type(command)](command)

    def submit(self, cmd: SubmitOrder) -> Denial | None:
        """Check and queue ``cmd``; returns the denial, or None when it will be sent. (The
        order record is indexed here: the next command's gate reads it.)"""
        iid = cmd.instrument_id
        venue = self._venue_of.get(iid) or self._learn_venue(iid)
        halted = self._venue_halt(venue)
        if halted:
            denial: Denial | None = Denial(Reason.TRADING_HALTED, f"{venue} halted: {halted}")
        else:
            t0 = _pc()
            denial = self.gate.check(cmd)
            gate_ns = _pc() - t0
            if denial is None:
                self._gate_ns.append(gate_ns)  # (into its ring after the send)
                adapter = self.adapters.get(venue)
                if adapter is not None:
                    order = self.orders.add_submitted(cmd)
                    if self.journal is not None:
                        self.journal.append(self.clock.now_ns(), "out", cmd)
                    outbox = self._outbox
                    outbox.append((_SUBMIT, order, cmd, adapter))
                    if len(outbox) == 1 and not self._in_dispatch():  # (see _queued)
                        self.flush()
                    return None
                denial = Denial(Reason.NO_VENUE, f"no venue adapter for {iid}")
            else:
                self.latency.gate.add(gate_ns)
        self._deny(cmd, denial, self.clock.now_ns())
        return denial

    def _learn_venue(self, instrument_id: str) -> str:
        """The venue of an instrument id (``venue:symbol``), looked up once per instrument."""
        venue = self._venue_of[instrument_id] = instrument_id.partition(":")[0]
        return venue

    def _deny(self, cmd: SubmitOrder, denial: Denial, now: int) -> None:
        if cmd.client_order_id not in self.orders:
            order = self.orders.add(cmd)
            self.orders.transition(order, "deny")
            order.reject_reason = denial.reason  # (orders.csv names the gate's reason code)
        event = OrderDenied(client_order_id=cmd.client_order_id, strategy_id=cmd.strategy_id,
                            instrument_id=cmd.instrument_id, reason=denial.reason,
                            detail=denial.detail, ts=now)
        if self.journal is not None:
            self.journal.append(now, "in", event)
        self.counters["denials"] += 1
        self.publish(event)

    def cancel(self, order: Order) -> bool:
        """Request a cancel; False if the order is not open (nothing is sent)."""
        if order.status not in OPEN:
            return False
        try:
            self.orders.transition(order, "cancel_request")
        except IllegalTransition:
            return False
        iid = order.instrument_id
        cmd = CancelOrder(client_order_id=order.client_order_id, strategy_id=order.strategy_id,
                          instrument_id=iid, ts=self.clock.now_ns())
        if self.journal is not None:
            self.journal.append(cmd.ts, "out", cmd)
        outbox = self._outbox
        outbox.append((_CANCEL, order, cmd,
                       self.adapters.get(self._venue_of.get(iid) or self._learn_venue(iid))))
        if len(outbox) == 1 and not self._in_dispatch():  # (see _queued)
            self.flush()
        return True

    def _cancel_cmd(self, cmd: CancelOrder) -> bool:
        order = self.orders.get(cmd.client_order_id)
        return False if order is None else self.cancel(order)

    def amend(self, order: Order, price: float | None, quantity: float | None) -> Denial | None:
        """Request an amend after re-checking the order as it would become."""
        if not order.is_open or order.status in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_AMEND):
            return Denial(Reason.ORDER_NOT_OPEN, f"order {order.client_order_id} is {order.status}")
        venue = order.instrument_id.partition(":")[0]
        halted = self._venue_halt(venue)
        if halted:  # (a venue's own halt: its streams are down or it is being reconciled)
            return Denial(Reason.TRADING_HALTED, f"{venue} halted: {halted}")
        new_qty = quantity if quantity is not None else order.quantity
        if new_qty <= order.filled:
            return Denial(Reason.INVALID_QUANTITY,
                          f"new quantity {new_qty} <= already filled {order.filled}")
        # The amended order is checked as a new order for what it would leave working, with
        # its own working quantity set aside while the gate looks.
        probe = amend_probe(order, price, new_qty)
        with self.orders.set_aside(order):
            denial = self.gate.check(probe)
        if denial is not None:
            return denial
        cmd = AmendOrder(client_order_id=order.client_order_id, strategy_id=order.strategy_id,
                         instrument_id=order.instrument_id, quantity=quantity, price=price,
                         ts=self.clock.now_ns())
        try:
            self.orders.transition(order, "amend_request")
        except IllegalTransition as exc:
            return Denial(Reason.ORDER_NOT_OPEN, str(exc))
        if self.journal is not None:
            self.journal.append(cmd.ts, "out", cmd)
        outbox = self._outbox
        outbox.append((_AMEND, order, cmd, self.adapters.get(venue)))
        if len(outbox) == 1 and not self._in_dispatch():  # (see _queued)
            self.flush()
        return None

    def _amend_cmd(self, cmd: AmendOrder) -> Denial | None:
        order = self.orders.get(cmd.client_order_id)
        if order is None:
            return Denial(Reason.ORDER_NOT_OPEN, f"unknown order {cmd.client_order_id}")
        return self.amend(order, cmd.price, cmd.quantity)

    def cancel_all(self, instrument_id: str | None = None, strategy_id: str | None = None) -> int:
        return sum(self.cancel(o) for o in self.orders.open_orders(instrument_id, strategy_id))

    def _cancel_all_cmd(self, cmd: CancelAll) -> int:
        return self.cancel_all(cmd.instrument_id, cmd.strategy_id)

    def submit_smart(self, strategy_id: str, book: ConsolidatedBook, side: Side, size_base: float,
                     new_id: Callable[[], str], net_of_fees: bool = True) -> list[tuple[str, Denial | None]]:
        """Split a parent of ``size_base`` underlying units across venues; IOC children at
        each venue's worst level reached. Returns ``(client_order_id, denial)`` per child."""
        children = sweep_children(book, strategy_id, side, size_base, new_id,
                                  self.clock.now_ns(), net_of_fees)
        return [(cmd.client_order_id, self.submit(cmd)) for cmd in children]

    # -- group commit -----------------------------------------------------------------------
    def flush(self) -> None:
        """Commit the outbox's journal records once, then send its commands in order."""
        tick, self.tick_ns = self.tick_ns, 0  # an order queued later is not this tick's
        if self._flushing or not self._outbox:
            return
        self._flushing = True
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                failure = ""
                commit_ns = -1
                if self.journal is not None:
                    t0 = _pc()
                    try:
                        self.journal.commit()
                    except JournalError as exc:
                        failure = str(exc)
                        self.journal_failure = self.journal_failure or failure
                    commit_ns = _pc() - t0
                if failure:
                    self._send_after_failure(batch, failure)
                else:
                    self._send_batch(batch, tick)
                self.counters["batches"] += 1  # (counted once the batch is out)
                if commit_ns >= 0:
                    self.latency.journal.add(commit_ns)
                gate_ns = self._gate_ns
                if gate_ns:
                    self.latency.gate.add_all(gate_ns)
                    gate_ns.clear()
        finally:
            self._flushing = False

    def _send_batch(self, batch: list[tuple[int, Order, Any, VenueAdapter | None]], tick: int) -> None:
        """Hand every command of a committed batch to its adapter, in order, then note what
        is in flight, publish ``OrderSubmitted`` for its new orders and let the adapters act
        on what they held.

        Adapters hear ``hold_commands`` before their first command and ``release_commands``
        after the batch (module docstring). The in-flight bookkeeping follows the hand-over;
        nothing runs in between but the adapters' own calls (one thread): an answer published
        inside ``submit`` finds its order (recorded before the commit; while the bus
        dispatches it is queued anyway), and an order already answered when noted as in
        flight is dropped by the next timeout check (``inflight.overdue``)."""
        held: list[VenueAdapter] = []
        last: VenueAdapter | None = None
        on_sent = self.on_sent
        stamps: list[int] = []  # when each new order was handed over (tick-to-order)
        for kind, order, cmd, adapter in batch:
            if adapter is None:
                continue
            if adapter is not last:
                last = adapter
                if adapter not in held:
                    held.append(adapter)
                    try:
                        adapter.hold_commands()
                    except Exception as exc:  # noqa: BLE001 - then it sends each command at once
                        log.error("venue_hold_failed", venue=adapter.venue, error=repr(exc))
            try:
                if kind == _SUBMIT:
                    if tick:
                        stamps.append(_pc())
                    if on_sent is not None:
                        on_sent(cmd)
                    adapter.submit(cmd)
                elif kind == _CANCEL:
                    adapter.cancel(cmd)
                else:
                    adapter.amend(cmd)
            except Exception as exc:  # noqa: BLE001 - the fate of the command is now unknown
                self._send_failed(order, cmd, exc)
        # -- after the hand-over: what is in flight, what was submitted ----------------------
        now = self.clock.now_ns()
        awaiting = self._awaiting
        publish = self.publish
        new_orders = 0
        for kind, order, cmd, adapter in batch:
            order.sent_ns = now
            awaiting[order.client_order_id] = order
            if adapter is None:
                order.in_doubt = True  # (no adapter for its venue: never handed over)
            elif kind == _SUBMIT:
                new_orders += 1
                publish(OrderSubmitted(client_order_id=order.client_order_id,
                                       strategy_id=order.strategy_id,
                                       instrument_id=order.instrument_id, ts=now))
        self.sent += new_orders
        if stamps:
            self.latency.tick_to_order.add_all(stamps, tick)
        for adapter in held:
            try:
                adapter.release_commands()
            except Exception as exc:  # noqa: BLE001 - its commands' answers are now unknown
                self.send_errors += 1
                log.error("venue_release_failed", venue=adapter.venue, error=repr(exc))

    def _send_after_failure(self, batch: list[tuple[int, Order, Any, VenueAdapter | None]],
                            failure: str) -> None:
        """The journal could not record the batch: its cancels go out anyway (they only
        reduce risk; reconciliation at restart settles them), the rest is refused."""
        cancels = [item for item in batch if item[0] == _CANCEL]
        if cancels:
            self._send_batch(cancels, 0)
        for kind, order, cmd, _adapter in batch:
            if kind != _CANCEL:
                self._refuse_unjournaled(kind, order, cmd)
        # (after the refusals: the kill switch's cancels skip orders never sent)
        self._journal_failed(failure)

    def _send_failed(self, order: Order, cmd: Any, exc: BaseException) -> None:
        self.send_errors += 1
        order.in_doubt = True
        log.error("send_failed_order_in_doubt", client_order_id=order.client_order_id,
                  command=type(cmd).__name__, error=repr(exc))

    def _refuse_unjournaled(self, kind: int, order: Order, cmd: Any) -> None:
        """The journal could not record ``cmd``: it never leaves; its order says why."""
        self.counters["journal_rejected"] += 1
        now = self.clock.now_ns()
        reason = f"not sent: {self.journal_failure}"
        self.publish(OrderRejected(client_order_id=order.client_order_id,
                                   instrument_id=order.instrument_id, reason=reason,
                                   ts_event=now, ts_recv=now))

    def _journal_failed(self, cause: str) -> None:
        if self._failure_reported:
            return
        self._failure_reported = True
        self.journal_failure = cause
        log.error("journal_failed_trading_halted", journal=str(self.journal.path if self.journal else ""),
                  cause=cause, alert=True)
        if self.on_journal_failure is not None:
            self.on_journal_failure(cause)

    def checkpoint(self, now_ns: int | None = None) -> None:
        """Timer (every 200 ms): commit what reports left in the journal and prepare the
        log's next pages; every ``STORE_INTERVAL_NS`` (or past ``STORE_ROWS`` records, or when
        called without a time; an in-memory journal only in the last two cases) also move the
        committed records into the indexed store (off the order path)."""
        j = self.journal
        if j is None or j.closed or self.journal_failure:
            return
        try:
            # (an in-memory journal, a backtest's, moves records into its store only when
            # asked or past STORE_ROWS: its timed move bounds nothing a crash could lose, and
            # unstored committed records are read like stored ones)
            if (now_ns is None or j.uncheckpointed > STORE_ROWS
                    or (not j.memory and now_ns - self._stored_ns >= STORE_INTERVAL_NS)):
                j.checkpoint()
                self._stored_ns = now_ns if now_ns is not None else self.clock.now_ns()
            else:
                j.commit()
            j.prepare_log()  # the log's next pages faulted in here, not by an order's commit
        except JournalError as exc:
            self._journal_failed(str(exc))

    # -- queries (operator API, status) -----------------------------------------------------
    def open_orders(self, instrument_id: str | None = None,
                    strategy_id: str | None = None) -> list[Order]:
        return self.orders.open_orders(instrument_id, strategy_id)


    # -- snapshots (engine/execution/snapshot.py) -------------------------------------------
    def snapshot(self) -> ExecutionState:
        """What a journal replay rebuilds here besides orders: the fill counter, the counters
        of applied reports (``REPLAYED_COUNTERS``), recent fills."""
        c = self.counters
        return ExecutionState(fills=c.get("fills", 0), recent_fills=list(self._recent_fills),
                              counters={k: c[k] for k in REPLAYED_COUNTERS if c.get(k)})

    def restore(self, state: ExecutionState) -> None:
        self.counters["fills"] = state.fills
        for key, n in state.counters.items():
            if key in REPLAYED_COUNTERS:
                self.counters[key] = n
        self._recent_fills.clear()
        self._recent_fills.extend(state.recent_fills)

    def recent_fills(self, limit: int = 100, strategy_id: str | None = None) -> list[OrderFilled]:
        """The newest fills applied to our orders (newest last; at most ``RECENT_FILLS`` kept)."""
        fills = list(self._recent_fills)
        if strategy_id is not None:
            fills = [f for f in fills if (o := self.orders.get(f.client_order_id)) is not None
                     and o.strategy_id == strategy_id]
        return fills[-limit:] if limit > 0 else []
