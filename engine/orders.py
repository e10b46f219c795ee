"""Order state: a transition table and the book of orders the engine knows about.

Theory of operation (h11-style): every order is in one ``OrderStatus``. What can happen to an
order is a small set of *triggers* (``submit``, ``deny``, ``accept``, ``reject``, ``fill``,
``fill_final``, ``cancel_request``, ``cancelled``, ``amend_request``, ``amended``,
``expire``, ``cancel_rejected``, ``amend_rejected``). ``TRANSITIONS[state][trigger]`` is
the next state; a trigger missing from the table is illegal: it is reported (counted, and
returned as an ``IllegalTransition``) and never applied. ``RESTORE`` marks transitions back to
the state before a pending cancel/amend (the venue refused the cancel or the amend).

Fills are de-duplicated by the venue's trade id, so a fill replayed by a reconnect or a
reconciliation is never counted twice. A fill for an order already final is still recorded
(``record_late_fill``) and, when it completes the order, corrects it to FILLED.

An order whose fate is unknown (no acknowledgement in time, connection lost, 5xx) keeps its
state and is flagged ``in_doubt``: it still counts as working (toward limits, open-order
caps) and is never resent; a venue status report (``settle``) or reconciliation settles it.

The bookkeeper keeps O(1) indexes the risk gate reads on every order: open-order counts per
instrument and per strategy, and the remaining working quantity per (instrument, side).
Every change to an order goes through a method here so the indexes stay exact. Ended orders
beyond the snapshot's retention rule are dropped by ``retire`` (only ended ones: no index
counts them), so the live record stays as bounded as a restarted one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, KeysView, Mapping, Set as AbstractSet
from contextlib import contextmanager
from decimal import Decimal
from itertools import count, islice
from types import MappingProxyType
from typing import Any

import msgspec

from engine.model import OrderStatus, Side, SubmitOrder
from engine.portfolio import exact  # (memoised: order sizes repeat)

_ZERO = Decimal(0)
_NO_TRADES: frozenset[str] = frozenset()


S = OrderStatus
RESTORE = "restore"
_LIVE_TRIGGERS = {
    "accept": S.ACCEPTED,
    "reject": S.REJECTED,
    "fill": S.PARTIALLY_FILLED,
    "fill_final": S.FILLED,
    "cancel_request": S.PENDING_CANCEL,
    "amend_request": S.PENDING_AMEND,
    "cancelled": S.CANCELLED,
    "expire": S.EXPIRED,
}
TRANSITIONS: dict[OrderStatus, dict[str, OrderStatus | str]] = {
    S.INITIALIZED: {"submit": S.SUBMITTED, "deny": S.DENIED},
    S.SUBMITTED: dict(_LIVE_TRIGGERS),
    S.ACCEPTED: {k: v for k, v in _LIVE_TRIGGERS.items() if k != "reject"} | {"accept": S.ACCEPTED},
    S.PARTIALLY_FILLED: {k: v for k, v in _LIVE_TRIGGERS.items() if k not in ("reject", "accept")},
    S.PENDING_CANCEL: {
        "fill": S.PENDING_CANCEL,
        "fill_final": S.FILLED,
        "cancelled": S.CANCELLED,
        "expire": S.EXPIRED,
        "accept": S.PENDING_CANCEL,
        "cancel_rejected": RESTORE,
        "cancel_request": S.PENDING_CANCEL,
        # a cancel sent while an amend was in flight: the amend's answer still arrives
        "amended": S.PENDING_CANCEL,
        "amend_rejected": S.PENDING_CANCEL,
    },
    S.PENDING_AMEND: {
        # an amend sent before the venue acknowledged the order: the acknowledgement still
        # arrives first (one FIFO connection), and the amend's answer after it
        "accept": S.PENDING_AMEND,
        "fill": S.PENDING_AMEND,
        "fill_final": S.FILLED,
        "amended": RESTORE,
        "amend_rejected": RESTORE,
        "cancelled": S.CANCELLED,
        "expire": S.EXPIRED,
        "cancel_request": S.PENDING_CANCEL,
    },
    S.DENIED: {},
    S.FILLED: {},
    S.CANCELLED: {},
    S.REJECTED: {},
    S.EXPIRED: {},
}
TERMINAL = frozenset(s for s, t in TRANSITIONS.items() if not t)
_SUBMITTED = S.SUBMITTED
OPEN = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_AMEND})
_PENDING = frozenset({S.PENDING_CANCEL, S.PENDING_AMEND})

# What ``transition`` does, worked out once from ``TRANSITIONS``: per (state, trigger), the
# target, whether the move opens or closes the order (the only moves that touch the indexes:
# a move between two open states leaves the remaining quantity as it was), and which of the
# three special cases applies. One dict lookup per call, nothing built per call.
_PLAIN, _SAVE, _RESTORE, _ACCEPT_PENDING = 0, 1, 2, 3


def _move(state: OrderStatus, trigger: str, target: OrderStatus | str) -> tuple[Any, bool, bool, int]:
    was_open = state in OPEN
    if target == RESTORE:
        return None, was_open, True, _RESTORE  # back to an open state (the one before pending)
    kind = _PLAIN
    if target in _PENDING and state not in _PENDING:
        kind = _SAVE  # remember the state to restore if the venue refuses the cancel/amend
    elif trigger == "accept" and state in _PENDING:
        kind = _ACCEPT_PENDING  # the acknowledgement of an order with a cancel/amend in flight
    return target, was_open, target in OPEN, kind


_MOVES: dict[OrderStatus, dict[str, tuple[Any, bool, bool, int]]] = {
    state: {trigger: _move(state, trigger, target) for trigger, target in row.items()}
    for state, row in TRANSITIONS.items()}
# A venue status report names a state; this is the trigger that moves an order there.
_SETTLE_TRIGGER: dict[OrderStatus, str] = {
    S.ACCEPTED: "accept", S.PARTIALLY_FILLED: "accept", S.CANCELLED: "cancelled",
    S.REJECTED: "reject", S.EXPIRED: "expire",
}


_FLOATS: dict[float, Decimal] = {}  # float(d) -> d, for working totals seen (bounded)


def _float_of(total: Decimal, guess: float) -> float:
    """``float(total)``, without the conversion (it goes through a string, ~0.25 us) when
    ``guess`` (the float sum) was already seen as the float of a decimal equal to ``total``:
    equal decimals have the same float. Working totals repeat (a requote's two orders, one)."""
    if _FLOATS.get(guess) == total:
        return guess
    f = float(total)
    if len(_FLOATS) < 4096:
        _FLOATS[f] = total
    return f


class IllegalTransition(Exception):
    def __init__(self, client_order_id: str, state: OrderStatus, trigger: str) -> None:
        super().__init__(f"order {client_order_id}: '{trigger}' is not allowed in state {state}")
        self.client_order_id = client_order_id
        self.state = state
        self.trigger = trigger


class Order(msgspec.Struct, gc=False, eq=False):
    """The engine's view of one order (mutable; only ``OrderBookkeeper`` changes it).

    One flat record: the command's identity (ids, side) is copied into plain fields, because
    the order path, the gate and the kernel read them on every event (a field read, not a
    property call through the command). Built by ``order_of``. A msgspec struct, not a Python
    class with ``__init__``: made in C with its defaults (no Python frame, a third of the cost
    per order), and not tracked by the cycle
    collector (an order refers to no order; thousands stay in memory, where each collection
    would walk them). Compared and hashed by identity (``eq=False``)."""

    command: SubmitOrder
    client_order_id: str
    instrument_id: str
    strategy_id: str
    side: Side
    status: OrderStatus
    price: float | None
    quantity: float
    quantity_exact: Decimal
    added: int = 0  # its place in the bookkeeper's sequence (strictly increasing, never reused)
    counted: Decimal = _ZERO  # remaining quantity in the working-quantity index (read-only)
    filled: float = 0.0
    filled_exact: Decimal = _ZERO
    avg_fill_price: float = 0.0
    venue_order_id: str = ""
    fees: float = 0.0
    # the venue's trade ids of its fills; a shared empty set until the first fill (most
    # orders never fill: no set made per order)
    trade_ids: AbstractSet[str] = _NO_TRADES
    _before_pending: OrderStatus | None = None
    reject_reason: str = ""
    close_reason: str = ""  # why it ended (the venue's word once it has spoken)
    in_doubt: bool = False  # fate unknown: waiting for a status report or reconciliation
    sent_ns: int = 0  # when the last command for it left (ack-timeout clock)
    queries: int = 0  # status queries sent while in doubt

    @property
    def remaining(self) -> float:
        """Quantity still to fill, exact (computed in decimal, then the nearest float)."""
        left = self.quantity_exact - self.filled_exact
        return float(left) if left > 0 else 0.0

    @property
    def remaining_exact(self) -> Decimal:
        left = self.quantity_exact - self.filled_exact
        return left if left > 0 else _ZERO

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def __repr__(self) -> str:
        return (f"Order({self.client_order_id} {self.side} {self.quantity}@{self.price} "
                f"{self.instrument_id} {self.status} filled={self.filled})")


def order_of(command: SubmitOrder, status: OrderStatus = S.INITIALIZED, added: int = 0,
             working: bool = False) -> Order:
    """A new ``Order`` for ``command`` in ``status`` (nothing filled; ``working``: its whole
    quantity counted in the working index, ``counted``, set here: a struct is built in one C
    call, a field stored after is a generic attribute store)."""
    q_exact = exact(command.quantity)
    return Order(command, command.client_order_id, command.instrument_id, command.strategy_id,
                 command.side, status, command.price, command.quantity, q_exact, added,
                 q_exact if working else _ZERO)


def _note_trade(order: Order, trade_id: str) -> None:
    """Remember a trade id applied to ``order`` (its own set made at its first fill)."""
    ids = order.trade_ids
    if isinstance(ids, set):
        ids.add(trade_id)
    else:
        order.trade_ids = {trade_id}


class OrderState(msgspec.Struct, frozen=True, kw_only=True):
    """One order as a snapshot keeps it (quantities exact; see ``OrderBookkeeper.snapshot``)."""

    command: SubmitOrder
    status: OrderStatus
    price: float | None
    quantity: Decimal
    filled: Decimal
    avg_fill_price: float
    venue_order_id: str
    fees: float
    trade_ids: list[str]
    before_pending: OrderStatus | None
    reject_reason: str
    close_reason: str
    in_doubt: bool


class OrderBookkeeper:
    """The orders of this process, by client order id, with their state machine applied:
    all of them until ``retire`` drops the ended ones the retention rule leaves out."""

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}  # insertion-ordered index of the OPEN orders
        self.illegal_transitions = 0
        self.late_fills = 0
        self.open_by_instrument: dict[str, int] = {}
        self.open_by_strategy: dict[str, int] = {}
        self._working: dict[tuple[str, Side], float] = {}  # (read by the gate on every order)
        # per (instrument, side): [exact total, its float] (one record read per change; the
        # float of a total seen before comes from ``_float_of``, no conversion)
        self._totals: dict[tuple[str, Side], list[Any]] = {}
        # strategy -> its newest order (snapshots), among the orders added before number
        # ``_newest_seen`` (the rest read when asked: no write per order on the order path)
        self._newest_of: dict[str, Order] = {}
        self._newest_seen = 0
        # ``Order.added``: a sequence, not ``len(_orders)``, which repeats once orders retire
        self._added = count()
        self._retired_kept = 0  # ended orders a strategy's newest kept beyond the last retire
        self.listeners: list[Callable[[Order, float], None]] = []
        """Called with (order, change in working quantity) whenever it changes (the risk
        gate's Greeks of working orders); ``order.counted`` is what is left working."""
        # Read-only live views for the gate, which reads them on every order (a dict lookup,
        # not a method call): client order ids, ids of the open orders, working quantities.
        self.ids: KeysView[str] = self._orders.keys()
        self.open_ids: KeysView[str] = self._open.keys()
        self.working: Mapping[tuple[str, Side], float] = MappingProxyType(self._working)
        self.get: Callable[[str], Order | None] = self._orders.get
        """The order of a client order id, or None (the dict's own lookup: no Python frame
        on the order path, where strategies and the core look orders up per command)."""

    def working_qty(self, instrument_id: str, side: Side) -> float:
        """Remaining quantity of open orders on ``instrument_id`` and ``side`` (O(1))."""
        return self._working.get((instrument_id, side), 0.0)

    def open_count(self, instrument_id: str | None = None, strategy_id: str | None = None) -> int:
        """Open orders, overall or on one instrument or of one strategy (O(1))."""
        if instrument_id is not None:
            return self.open_by_instrument.get(instrument_id, 0)
        if strategy_id is not None:
            return self.open_by_strategy.get(strategy_id, 0)
        return len(self._open)

    def _reindex(self, order: Order, was_open: bool) -> None:
        now_open = order.status in OPEN
        if was_open != now_open:
            step = 1 if now_open else -1
            iid, sid = order.instrument_id, order.strategy_id
            self.open_by_instrument[iid] = self.open_by_instrument.get(iid, 0) + step
            self.open_by_strategy[sid] = self.open_by_strategy.get(sid, 0) + step
        # The exact (Decimal) change of the working quantity, and its float for the float
        # views. Converting a Decimal to a float is the costly step (several additions'
        # worth), so the common moves (an order starts working with nothing filled, or stops
        # working) take the float the command was written with: exact(q) round-trips to q.
        q_exact = order.quantity_exact
        counted = _ZERO
        if now_open:
            filled = order.filled_exact
            counted = q_exact - filled if filled else q_exact
            if counted < _ZERO:
                counted = _ZERO
        old = order.counted
        if counted is old or counted == old:
            return
        if not old:
            change = counted
            fchange = float(order.quantity) if counted is q_exact else float(counted)
        elif not counted:
            change = -old
            fchange = -float(order.quantity) if old is q_exact else -float(old)
        else:
            change = counted - old
            fchange = float(change)
        order.counted = counted
        self._add_working(order, change, fchange)

    def _add_working(self, order: Order, change: Decimal, fchange: float) -> None:
        """Add ``change`` (exact; ``fchange`` its float) to the working quantity of ``order``'s
        instrument and side, and tell the listeners (``order.counted`` already updated)."""
        key = (order.instrument_id, order.side)
        rec = self._totals.get(key)
        if rec is None:
            self._totals[key] = [change, fchange]
            self._working[key] = fchange
        else:
            before = rec[0]
            if not before:
                total, f = change, fchange
            else:
                total = before + change
                f = _float_of(total, rec[1] + fchange) if total else 0.0
            rec[0], rec[1] = total, f
            self._working[key] = f
        for listener in self.listeners:
            listener(order, fchange)

    def __contains__(self, client_order_id: str) -> bool:
        return client_order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def add(self, command: SubmitOrder) -> Order:
        return self._new(command, S.INITIALIZED)

    def _new(self, command: SubmitOrder, status: OrderStatus, working: bool = False) -> Order:
        """A new order of ``command`` in ``status``, indexed by its id (``working``: its whole
        quantity counted as working from the start)."""
        coid = command.client_order_id
        orders = self._orders
        if coid in orders:
            raise ValueError(f"duplicate client order id {coid}")
        order = orders[coid] = order_of(command, status, next(self._added), working)
        return order

    def add_submitted(self, command: SubmitOrder) -> Order:
        """A new order the risk gate passed, straight to SUBMITTED and indexed: what ``add``
        followed by ``transition(order, "submit")`` does, in one step (the order path)."""
        q = command.quantity
        order = self._new(command, _SUBMITTED, q > 0.0)
        iid, sid = order.instrument_id, order.strategy_id
        self._open[order.client_order_id] = order
        # (``_reindex`` of an order opening with nothing filled, worked out: it now counts as
        # open, and its whole quantity is working)
        by_instrument = self.open_by_instrument
        by_instrument[iid] = by_instrument.get(iid, 0) + 1
        by_strategy = self.open_by_strategy
        by_strategy[sid] = by_strategy.get(sid, 0) + 1
        if q > 0.0:  # (= quantity_exact > 0: exact() keeps the float's value and sign)
            self._add_working(order, order.quantity_exact, float(q))
        return order

    def transition(self, order: Order, trigger: str) -> OrderStatus:
        """Apply ``trigger``; raises ``IllegalTransition`` (state unchanged) if not allowed."""
        move = _MOVES[order.status].get(trigger)
        if move is None:
            self.illegal_transitions += 1
            raise IllegalTransition(order.client_order_id, order.status, trigger)
        target, was_open, now_open, kind = move
        if kind:
            if kind == _SAVE:
                order._before_pending = order.status
            elif kind == _RESTORE:
                target = order._before_pending or S.ACCEPTED
                if target is S.ACCEPTED and order.filled > 0:
                    target = S.PARTIALLY_FILLED
                order._before_pending = None
            elif order._before_pending is S.SUBMITTED:  # _ACCEPT_PENDING
                # a refused cancel/amend now restores it to ACCEPTED, not to SUBMITTED
                order._before_pending = S.ACCEPTED
        order.status = target
        if was_open != now_open:  # opened or ended: the only moves that change the indexes
            if now_open:
                self._open[order.client_order_id] = order
            else:
                self._open.pop(order.client_order_id, None)
                order.in_doubt = False
            self._reindex(order, was_open)
        elif not now_open:
            order.in_doubt = False
        return target

    def apply_fill(self, order: Order, trade_id: str, price: float, quantity: float, fee: float,
                   remaining: float | None = None) -> bool:
        """Record a fill; False (and nothing changed) if ``trade_id`` was already applied."""
        if trade_id in order.trade_ids:
            return False
        qty = exact(quantity)
        # venues that do not say what is left (NaN or None): work it out from our own books
        if remaining is None or remaining != remaining:
            final = order.quantity_exact - order.filled_exact - qty <= 0
        else:
            final = exact(remaining) <= 0
        self.transition(order, "fill_final" if final else "fill")
        _note_trade(order, trade_id)
        self._add_fill(order, qty, float(quantity), price, fee)
        self._reindex(order, order.status in OPEN)
        return True

    def record_late_fill(self, order: Order, trade_id: str, price: float, quantity: float,
                         fee: float) -> bool:
        """A fill for an order already in a final state (e.g. cancelled on a stale status
        report or during reconciliation): the fill is a fact, so it is recorded on the order
        (filled quantity, trade id, fees); if it completes the order, the order is corrected
        to FILLED (the one move outside the table, counted in ``late_fills``)."""
        if trade_id in order.trade_ids:
            return False
        _note_trade(order, trade_id)
        self._add_fill(order, exact(quantity), float(quantity), price, fee)
        self.late_fills += 1
        if order.filled_exact >= order.quantity_exact and order.status is not S.FILLED:
            order.status = S.FILLED
        return True

    def _add_fill(self, order: Order, qty: Decimal, q: float, price: float, fee: float) -> None:
        """Filled quantity summed exactly (decimal), never as a float running sum; ``q`` is
        the fill's float (``qty`` is its exact decimal)."""
        before = order.filled
        if order.filled_exact:
            order.filled_exact += qty
            order.filled = float(order.filled_exact)
        else:  # the first fill: its own float (exact() round-trips), no conversion
            order.filled_exact = qty
            order.filled = q
        order.avg_fill_price = (order.avg_fill_price * before + price * q) / (before + q)
        order.fees += fee

    @contextmanager
    def set_aside(self, order: Order) -> Iterator[None]:
        """Leave ``order``'s remaining quantity out of the working index while the block runs
        (the gate checks an amend as the order it would become, not on top of itself)."""
        key = (order.instrument_id, order.side)
        rec = self._totals.get(key)
        total = rec[0] if rec is not None else _ZERO
        self._working[key] = float(max(total - order.counted, _ZERO))
        try:
            yield
        finally:
            self._working[key] = float(total)

    def apply_amend(self, order: Order, price: float | None, quantity: float) -> None:
        """The venue confirmed a new price/quantity (call before the ``amended`` trigger)."""
        order.price = price
        order.quantity = quantity
        order.quantity_exact = exact(quantity)
        self._reindex(order, order.status in OPEN)

    def settle(self, order: Order, status: OrderStatus) -> OrderStatus:
        """Move an order to the state a venue status report gives it (settles ``in_doubt``).

        Only moves the table allows are applied; a report of a state the order cannot reach
        from where it is raises ``IllegalTransition`` (counted, state unchanged).
        """
        trigger = _SETTLE_TRIGGER.get(status)
        order.in_doubt = False
        order.queries = 0
        if trigger is None or order.status is status:
            return order.status
        if status is S.ACCEPTED and order.status in (S.ACCEPTED, S.PARTIALLY_FILLED,
                                                       S.PENDING_CANCEL, S.PENDING_AMEND):
            return order.status
        if status is S.REJECTED and order.status is not S.SUBMITTED:
            trigger = "cancelled"  # the venue no longer knows an order it had accepted
        return self.transition(order, trigger)

    def in_doubt(self) -> list[Order]:
        return [o for o in self._open.values() if o.in_doubt]

    def open_orders(self, instrument_id: str | None = None, strategy_id: str | None = None) -> list[Order]:
        return [o for o in self._open.values()
                if (instrument_id is None or o.instrument_id == instrument_id)
                and (strategy_id is None or o.strategy_id == strategy_id)]

    def __iter__(self) -> Iterator[Order]:
        return iter(self._orders.values())

    # -- snapshots (engine/execution/snapshot.py) ---------------------------------------------
    def newest_of_each_strategy(self) -> list[Order]:
        """The newest order of each strategy. Worked out here, off the order path: the orders
        added since the last call are read newest first (O(orders since then), not O(all))."""
        fresh: dict[str, Order] = {}
        seen = self._newest_seen
        for o in reversed(self._orders.values()):
            if o.added < seen:
                break
            if not fresh:
                self._newest_seen = o.added + 1
            if o.strategy_id not in fresh:
                fresh[o.strategy_id] = o
        self._newest_of.update(fresh)
        return list(self._newest_of.values())

    def _beyond(self, keep_ended: int) -> Iterator[Order]:
        """The retention rule, the one definition of what the live process (``retire``) and
        its snapshots keep: every open order, the newest ``keep_ended`` ended ones and each
        strategy's newest order (its id numbering continues after a restart). Yields the
        others (ended, older than the newest ``keep_ended`` ended ones), oldest first, read
        from the front up to the last of them: O(those + the open and strategy-newest orders
        passed on the way), not O(all orders)."""
        excess = len(self._orders) - len(self._open) - keep_ended  # (ended = not open)
        if excess <= 0:
            return
        self.newest_of_each_strategy()
        newest = self._newest_of
        for o in self._orders.values():
            if o.status in OPEN:
                continue
            if newest.get(o.strategy_id) is not o:
                yield o
            excess -= 1
            if not excess:
                return

    def excess_ended(self, keep_ended: int) -> int:
        """Ended orders beyond the newest ``keep_ended``, less those the last complete
        ``retire`` found kept anyway (strategies' newest): O(1), what a call could drop."""
        return len(self._orders) - len(self._open) - keep_ended - self._retired_kept

    def retire(self, keep_ended: int, limit: int | None = None) -> int:
        """Drop the orders the retention rule leaves out (``_beyond``), oldest first, at most
        ``limit`` of them (None: all). O(orders dropped + the open and strategy-newest ones
        passed at the front, which the gate's open-order cap bounds). Returns how many were
        dropped. A later venue report about a dropped order is one about an unknown order,
        as after a restart (``VenueReports.on_report``)."""
        if self.excess_ended(keep_ended) <= 0:
            return 0
        orders = self._orders
        gone = list(islice(self._beyond(keep_ended), limit))
        for o in gone:
            del orders[o.client_order_id]
        # ended orders left beyond the cap when the rule was applied whole: strategies'
        # newest (not counted as work next time); after a cut-short call, not known yet
        complete = limit is None or len(gone) < limit
        self._retired_kept = max(len(orders) - len(self._open) - keep_ended, 0) if complete else 0
        return len(gone)

    def snapshot(self, keep_ended: int) -> list[OrderState]:
        """The orders the retention rule keeps (``_beyond``), in the order they were added.
        Older ended orders stay in the journal's history only: the snapshot's size does not
        grow with it (the live process keeps the same set, ``retire``: then this reads
        the kept orders and what gathered since its last call)."""
        drop = set(self._beyond(keep_ended))
        return [OrderState(command=o.command, status=o.status, price=o.price,
                           quantity=o.quantity_exact, filled=o.filled_exact,
                           avg_fill_price=o.avg_fill_price, venue_order_id=o.venue_order_id,
                           fees=o.fees, trade_ids=sorted(o.trade_ids),
                           before_pending=o._before_pending, reject_reason=o.reject_reason,
                           close_reason=o.close_reason, in_doubt=o.in_doubt)
                for o in self._orders.values() if o not in drop]

    def restore(self, states: list[OrderState]) -> None:
        """Put back the orders of a snapshot (into an empty bookkeeper), indexes included;
        numbered in the snapshot's order, and the orders added next after them."""
        if self._orders:
            raise ValueError("restore into a bookkeeper that already holds orders")
        for st in states:
            order = order_of(st.command, st.status, next(self._added))
            order.price = st.price
            order.quantity_exact = st.quantity
            order.quantity = float(st.quantity)
            order.filled_exact = st.filled
            order.filled = float(st.filled)
            order.avg_fill_price = st.avg_fill_price
            order.venue_order_id = st.venue_order_id
            order.fees = st.fees
            order.trade_ids = set(st.trade_ids)
            order._before_pending = st.before_pending
            order.reject_reason = st.reject_reason
            order.close_reason = st.close_reason
            order.in_doubt = st.in_doubt
            self._orders[order.client_order_id] = order
            if order.status in OPEN:
                self._open[order.client_order_id] = order
            self._reindex(order, False)
