"""Recovery: rebuild state from the journal, then reconcile it against each venue.

Theory of operation: start-up and crash recovery share one path.

1. ``rebuild(kernel, journal)`` replays every journaled record through the same code that
   handled it live (``Kernel.apply_order_event``): submits register orders, cancels and
   amends move them to pending, venue events settle them, fills rebuild positions and PnL
   (de-duplicated by trade id), ``PositionAdjusted`` records re-apply earlier
   reconciliation decisions, ``KillSwitchTripped`` restores the kill-switch level. Nothing is
   sent and no strategy is called.
2. ``reconcile(kernel, adapter)`` asks the venue what it knows (``adapter.reconcile``) and
   resolves every difference explicitly, logging and journaling each one:

   | venue says                            | engine thinks           | resolution                                 |
   | ------------------------------------- | ----------------------- | ------------------------------------------ |
   | a fill we have not seen               | -                       | applied and journaled (dedup by trade id)  |
   | order open                            | open                    | status synced (accepted, amended size)     |
   | order open                            | finished / never sent   | cancelled at the venue (not ours to keep)  |
   | order not open                        | open (or in doubt)      | ``OrderCancelled("reconciled: ...")``      |
   | position q                            | position p != q         | venue wins: ``PositionAdjusted`` journaled |

   Fills first, so an order that filled while we were away ends FILLED, not cancelled.
3. ``recover`` runs both for every venue; the runtime lets strategies trade only after it
   succeeded (``reconciliation`` hold on the gate until then).
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

import structlog

from engine.journal import Journal, KillSwitchTripped, PositionAdjusted, ReconciliationCompleted
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderStatus,
    Side,
    SubmitOrder,
    TradingState,
    VenueReconciliation,
)
from engine.orders import IllegalTransition

if TYPE_CHECKING:
    from engine.kernel import Kernel
    from engine.venue import VenueAdapter

log = structlog.get_logger("volta.reconcile")
QTY_EPS = 1e-9


def rebuild(kernel: Kernel, journal: Journal) -> dict[str, int]:
    """Replay the journal into ``kernel`` (orders, positions, PnL, kill switch); counts by type."""
    counts: dict[str, int] = {}
    ob = kernel.orders
    for _seq, _ts, _direction, type_name, obj in journal.records():
        counts[type_name] = counts.get(type_name, 0) + 1
        if isinstance(obj, SubmitOrder):
            if obj.client_order_id not in ob:
                order = ob.add(obj)
                ob.transition(order, "submit")
                order.sent_ns = 0
        elif isinstance(obj, OrderDenied):
            if obj.client_order_id not in ob:
                order = ob.add(SubmitOrder(client_order_id=obj.client_order_id,
                                           strategy_id=obj.strategy_id, instrument_id=obj.instrument_id,
                                           side=Side.BUY, quantity=0.0))
                ob.transition(order, "deny")
        elif isinstance(obj, (CancelOrder, AmendOrder)):
            order = ob.get(obj.client_order_id)
            if order is not None:
                try:
                    ob.transition(order, "cancel_request" if isinstance(obj, CancelOrder) else "amend_request")
                except IllegalTransition:
                    pass  # the answer had already arrived when the request left
        elif isinstance(obj, PositionAdjusted):
            if kernel.portfolio.instrument(obj.instrument_id) is not None:
                kernel.portfolio.adjust_position(obj.instrument_id, obj.quantity, obj.avg_price)
        elif isinstance(obj, KillSwitchTripped):
            _restore_kill(kernel, obj)
        elif hasattr(obj, "client_order_id") and type_name != "OrderStatusReport":
            order = ob.get(obj.client_order_id)
            try:
                if order is None:
                    if isinstance(obj, OrderFilled):
                        _apply_orphan_fill(kernel, obj)
                    continue
                kernel.apply_order_event(order, obj)
            except KeyError as exc:
                # An instrument no venue lists any more: reconciliation's positions decide.
                counts["unreplayable"] = counts.get("unreplayable", 0) + 1
                log.error("journal_record_not_replayable", type=type_name, error=str(exc))
    # Everything still open after the replay waits for the venue's word (never resent).
    for order in ob.open_orders():
        order.in_doubt = True
    log.info("journal_rebuilt", records=sum(counts.values()), orders=len(ob),
             open_orders=len(ob.open_orders()), fills=kernel.portfolio.fills,
             positions={p.instrument.id: p.qty for p in kernel.portfolio.positions() if p.qty})
    return counts


def _restore_kill(kernel: Kernel, rec: KillSwitchTripped) -> None:
    ks = kernel.killswitch
    if rec.source == "connectivity" or (rec.level == 0 and rec.source != "operator"):
        return  # connectivity holds come back from the sessions; loss holds from their state
    if rec.level == 0:
        ks.level, ks.reason = 0, ""
        kernel.gate.release("kill")
    elif rec.level > ks.level:
        ks.level, ks.reason, ks.source = rec.level, rec.reason, rec.source
        kernel.gate.hold("kill", TradingState.HALTED, f"kill switch level {rec.level}: {rec.reason} (restored)")


def _apply_orphan_fill(kernel: Kernel, fill: OrderFilled) -> bool:
    """A fill of an order this process does not know (placed elsewhere, or its journal lost)."""
    if kernel.portfolio.instrument(fill.instrument_id) is None:
        log.error("fill_for_unknown_instrument", instrument=fill.instrument_id, trade_id=fill.trade_id)
        return False
    if kernel.portfolio.on_fill(fill):
        kernel.counters["fills"] += 1
        return True
    return False


async def reconcile(kernel: Kernel, adapter: VenueAdapter, since_ns: int = 0,
                    timeout_s: float = 10.0) -> int:
    """Reconcile one venue; returns the number of differences found (all resolved)."""
    report: VenueReconciliation = await asyncio.wait_for(adapter.reconcile(since_ns), timeout_s)
    return apply_reconciliation(kernel, report)


def apply_reconciliation(kernel: Kernel, report: VenueReconciliation) -> int:
    venue = report.venue
    journal = kernel.journal
    now = kernel.clock.now_ns()
    ob = kernel.orders
    diffs = 0

    def note(kind: str, **fields: Any) -> None:
        nonlocal diffs
        diffs += 1
        log.warning("reconcile_difference", venue=venue, kind=kind, **fields)

    # 1. fills the venue has and we lack: apply and journal (the bus path journals them).
    for fill in report.fills:
        if kernel.portfolio.has_trade(fill.instrument_id, fill.trade_id):
            continue
        note("missing_fill", client_order_id=fill.client_order_id, trade_id=fill.trade_id,
             qty=fill.quantity, price=fill.price)
        order = ob.get(fill.client_order_id)
        if order is not None:
            kernel.bus.publish(fill)  # journaled, applied, strategy told (if running)
        else:
            if journal is not None:
                journal.write_event(now, fill)
            _apply_orphan_fill(kernel, fill)

    # 2. open orders
    venue_open = {r.client_order_id: r for r in report.open_orders}
    for coid, rep in venue_open.items():
        order = ob.get(coid) if coid else None
        if order is None or not order.is_open:
            note("unexpected_open_order", client_order_id=coid, venue_order_id=rep.venue_order_id,
                 engine_state=None if order is None else str(order.status))
            adapter = kernel.adapters.get(venue)
            if adapter is not None and coid:
                adapter.cancel(CancelOrder(client_order_id=coid, strategy_id="reconcile",
                                           instrument_id=rep.instrument_id, ts=now))
            continue
        if rep.venue_order_id:
            order.venue_order_id = rep.venue_order_id
        if abs(rep.quantity - order.quantity) > QTY_EPS and order.status is not OrderStatus.PENDING_AMEND:
            note("order_quantity", client_order_id=coid, at_venue=rep.quantity, engine=order.quantity)
            ob.apply_amend(order, rep.price, rep.quantity)
        if abs(rep.filled - order.filled) > QTY_EPS:
            note("order_filled_qty", client_order_id=coid, at_venue=rep.filled, engine=order.filled)
        try:
            status = OrderStatus(rep.status)
            if order.status is OrderStatus.PENDING_CANCEL:
                # our cancel may never have arrived: ask again
                adapter = kernel.adapters.get(venue)
                if adapter is not None:
                    adapter.cancel(CancelOrder(client_order_id=coid, strategy_id=order.strategy_id,
                                               instrument_id=order.instrument_id, ts=now))
            elif status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
                ob.settle(order, status)
            order.in_doubt = False
        except (ValueError, IllegalTransition) as exc:
            note("order_status", client_order_id=coid, at_venue=rep.status, error=str(exc))
        kernel.router.on_order_update(order)

    # 3. orders we think open that the venue does not list. A command sent less than the ack
    # timeout ago may simply not have reached the venue's list yet: the router's ack timer
    # (status query, then reconciliation) settles it, so it is not cancelled here.
    young_ns = int(kernel.gate.limits.ack_timeout_s * 1e9)
    for order in ob.open_orders():
        if order.instrument_id.partition(":")[0] != venue or order.client_order_id in venue_open:
            continue
        if order.sent_ns > 0 and not order.in_doubt and now - order.sent_ns < young_ns:
            log.info("reconcile_skipped_young_order", venue=venue,
                     client_order_id=order.client_order_id, state=str(order.status),
                     age_s=(now - order.sent_ns) / 1e9)
            continue
        note("order_not_at_venue", client_order_id=order.client_order_id, state=str(order.status),
             filled=order.filled)
        kernel.bus.publish(OrderCancelled(client_order_id=order.client_order_id,
                                          instrument_id=order.instrument_id,
                                          reason="reconciled: not open at venue", ts_event=now,
                                          ts_recv=now))

    # 4. positions: the venue wins
    venue_pos = {p.instrument_id: p for p in report.positions}
    ids = set(venue_pos) | {p.instrument.id for p in kernel.portfolio.positions()
                            if p.instrument.venue == venue and p.qty != 0.0}
    for iid in sorted(ids):
        want = venue_pos[iid].quantity if iid in venue_pos else 0.0
        pos = kernel.portfolio.position(iid)
        have = pos.qty if pos is not None else 0.0
        if abs(want - have) <= QTY_EPS or kernel.portfolio.instrument(iid) is None:
            if kernel.portfolio.instrument(iid) is None and abs(want) > QTY_EPS:
                note("position_unknown_instrument", instrument=iid, at_venue=want)
            continue
        avg = venue_pos[iid].avg_price if iid in venue_pos else 0.0
        if math.isnan(avg) or avg <= 0:
            avg = pos.avg_price if pos is not None else 0.0
        note("position", instrument=iid, at_venue=want, engine=have)
        rec = PositionAdjusted(instrument_id=iid, quantity=want, avg_price=avg, previous=have,
                               reason="reconciliation: venue position wins", ts=now)
        if journal is not None:
            journal.write_command(now, rec)
        kernel.portfolio.adjust_position(iid, want, avg)

    if journal is not None:
        journal.write_command(now, ReconciliationCompleted(venue=venue, differences=diffs, ts=now))
    kernel.counters["reconcile_differences"] += diffs
    log.info("venue_reconciled", venue=venue, differences=diffs,
             open_orders=len(report.open_orders), fills=len(report.fills),
             positions=len(report.positions))
    kernel.killswitch.venue_reconciled(venue)
    return diffs


async def recover(kernel: Kernel, since_ns: int = 0, attempts: int = 3,
                  timeout_s: float = 10.0, venues: list[VenueAdapter] | None = None) -> bool:
    """Reconcile every venue (or only ``venues``: the ones that started; engine/startup.py
    reconciles the others when they come up) with retries; True when all succeeded. The gate
    holds trading (``reconciliation``) until then."""
    kernel.gate.hold("reconciliation", TradingState.HALTED, "waiting for venue reconciliation")
    ok = True
    for adapter in list(kernel.adapters.values()) if venues is None else venues:
        for attempt in range(1, attempts + 1):
            try:
                await reconcile(kernel, adapter, since_ns, timeout_s)
                break
            except Exception as exc:  # noqa: BLE001 - retried, then reported
                log.error("reconcile_failed", venue=adapter.venue, attempt=attempt, error=repr(exc))
                await asyncio.sleep(min(0.2 * attempt, 1.0))
        else:
            ok = False
    if ok:
        kernel.gate.release("reconciliation")
    return ok
