"""Recovery: rebuild state from the journal, then reconcile it against each venue.

Theory of operation: start-up and crash recovery share one path.

1. ``rebuild(kernel, journal)`` replays every journaled record through the same code that
   handled it live (``Kernel.apply_order_event``): submits register orders, cancels and
   amends move them to pending, venue events settle them, fills rebuild positions and PnL
   (de-duplicated by trade id), ``PositionAdjusted`` records re-apply earlier
   reconciliation decisions, ``KillSwitchTripped`` restores the kill-switch level. Nothing is
   sent and no strategy is called.
2. ``reconcile(kernel, adapter)`` asks the venue what it knows (``adapter.reconcile``);
   ``engine.execution.reconcile.plan`` (a pure function: venue report + engine state ->
   corrections; its module has the table of cases) decides, and ``apply_reconciliation``
   applies the plan through the usual entries: venue events through the bus to the execution
   core (journaled and applied like any report; a second ending is absorbed there), cancels
   of orders that are not ours journaled and sent, position fixes journaled as
   ``PositionAdjusted``; then the venue's trading state is released (``venue_reconciled``).
3. ``recover`` runs both for every venue; the runtime lets strategies trade only after it
   succeeded (``reconciliation`` hold, put by the trading-state owner, until then).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog

from engine.execution.reconcile import plan
from engine.execution.snapshot import KEEP_ENDED, KEEP_TRADES, retain
from engine.execution.snapshot import load as load_snapshot
from engine.journal import Journal, KillSwitchTripped, PositionAdjusted, ReconciliationCompleted
from engine.killswitch import replayed
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderDenied,
    OrderFilled,
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
RETAIN_EVERY = 1024
"""Replayed records between two applications of the retention rule (``replay``)."""


def rebuild(kernel: Kernel, journal: Journal, *, use_snapshot: bool = True,
            keep: tuple[int, int] | None = (KEEP_ENDED, KEEP_TRADES)) -> dict[str, int]:
    """Restore the newest snapshot (``use_snapshot``), then replay the journal records after
    it into ``kernel`` (orders, positions, PnL, kill switch); counts by record type (and
    ``snapshot_seq``: the seq the snapshot covered, 0 for a full replay). ``keep``: the
    retention rule's caps (ended orders, trade ids) applied as the replay goes, as the live
    process applies them (None: keep everything)."""
    counts: dict[str, int] = {}
    ob = kernel.orders
    after = _restore_snapshot(kernel, journal) if use_snapshot else 0
    counts["snapshot_seq"] = after
    replay(kernel, journal.records(after_seq=after), counts, keep)
    # Everything still open after the replay waits for the venue's word (never resent).
    for order in ob.open_orders():
        order.in_doubt = True
    log.info("journal_rebuilt", records=sum(v for t, v in counts.items() if t != "snapshot_seq"),
             snapshot_seq=after, orders=len(ob),
             open_orders=len(ob.open_orders()), fills=kernel.portfolio.fills,
             positions={p.instrument.id: p.qty for p in kernel.portfolio.positions() if p.qty})
    return counts


def replay(kernel: Kernel, records: Iterable[tuple[int, int, str, str, Any]],
           counts: dict[str, int], keep: tuple[int, int] | None = None) -> None:
    """Apply journal records to ``kernel`` as they were applied live (nothing sent, no
    strategy called); ``counts`` collects the records by type. ``keep`` (ended orders, trade
    ids): the live process's retention rule, every ``RETAIN_EVERY`` records, so a full
    replay of a long journal holds what the live process held, not its whole history."""
    ob = kernel.orders
    n = 0
    for _seq, _ts, _direction, type_name, obj in records:
        counts[type_name] = counts.get(type_name, 0) + 1
        n += 1
        if keep is not None and not n % RETAIN_EVERY:
            retain(ob, kernel.portfolio, *keep, sliced=False)
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
            kernel.adjust_position(obj)
        elif isinstance(obj, KillSwitchTripped):
            _restore_kill(kernel, obj)
        elif type_name == "OperatorAction" and isinstance(obj, dict):
            _replay_operator_action(kernel, obj)
        elif hasattr(obj, "client_order_id") and type_name != "OrderStatusReport":
            order = ob.get(obj.client_order_id)
            try:
                if order is None:
                    if isinstance(obj, OrderFilled):
                        _apply_orphan_fill(kernel, obj)
                    continue
                if kernel.apply_order_event(order, obj) and isinstance(obj, OrderFilled):
                    # the repeated-execution window counts it, as it did live (same clock time)
                    kernel.gate.on_fill(order.strategy_id, _ts)
            except KeyError as exc:
                # An instrument no venue lists any more: reconciliation's positions decide.
                counts["unreplayable"] = counts.get("unreplayable", 0) + 1
                log.error("journal_record_not_replayable", type=type_name, error=str(exc))
    if keep is not None:
        retain(ob, kernel.portfolio, *keep, sliced=False)


def _replay_operator_action(kernel: Kernel, rec: dict[str, Any]) -> None:
    """An operator's strategy enable/disable (journaled by engine/operator/actions.py) holds
    after a restart, like the throttle's own disabling replayed from the fills."""
    args = rec.get("args") or {}
    sid = args.get("strategy_id")
    if not sid:
        return
    if rec.get("action") == "enable_strategy":
        kernel.gate.enable_strategy(sid)
    elif rec.get("action") == "disable_strategy":
        kernel.gate.disable_strategy(sid, f"disabled by operator ({args.get('reason', 'operator')})")


def _restore_snapshot(kernel: Kernel, journal: Journal) -> int:
    """Put back the newest usable snapshot; the seq it covers (0: none, replay everything)."""
    snap = load_snapshot(journal)
    if snap is None:
        return 0
    kernel.orders.restore(snap.orders)
    unknown = kernel.portfolio.restore(snap.portfolio)
    for iid in unknown:  # reconciliation's positions decide, as for a replayed record
        log.error("snapshot_position_not_restorable", instrument=iid)
    if snap.kill[0] or snap.kill[2]:
        kernel.killswitch.restore(*snap.kill)
    if snap.execution is not None:
        kernel.execution.restore(snap.execution)
    if snap.throttle is not None:
        kernel.gate.restore(snap.throttle)
    return snap.seq


def _restore_kill(kernel: Kernel, rec: KillSwitchTripped) -> None:
    ks = kernel.killswitch
    kept = replayed(ks.durable, rec.level, rec.reason, rec.source)
    if kept is not None:
        ks.restore(*kept)


def _apply_orphan_fill(kernel: Kernel, fill: OrderFilled) -> bool:
    """A fill of an order this process does not know (placed elsewhere, or its journal lost)."""
    if kernel.apply_fill(fill):
        kernel.counters["fills"] += 1
        return True
    return False


async def reconcile(kernel: Kernel, adapter: VenueAdapter, since_ns: int = 0,
                    timeout_s: float = 10.0) -> int:
    """Reconcile one venue; returns the number of differences found (all resolved)."""
    report: VenueReconciliation = await asyncio.wait_for(adapter.reconcile(since_ns), timeout_s)
    return apply_reconciliation(kernel, report)


class _KernelView:
    """``ReconcileView`` over a kernel (read-only)."""

    def __init__(self, kernel: Kernel) -> None:
        self._k = kernel

    def has_trade(self, instrument_id: str, trade_id: str) -> bool:
        return self._k.portfolio.has_trade(instrument_id, trade_id)

    def order(self, client_order_id: str) -> Any:
        return self._k.execution.order(client_order_id)

    def open_orders(self) -> list[Any]:
        return self._k.execution.open_orders()

    def position_qty(self, instrument_id: str) -> tuple[float, float] | None:
        pf = self._k.portfolio
        if pf.instrument(instrument_id) is None:
            return None
        pos = pf.position(instrument_id)
        if pos is None:
            return (0.0, 0.0)
        # an entry not known yet (a takeover with no price: NaN) is 0, the journal's word for it
        # (a JSON record cannot carry NaN; ``Portfolio.adjust_position`` reads 0 as unknown)
        return (pos.qty, pos.avg_price if pos.avg_price == pos.avg_price else 0.0)

    def venue_positions(self, venue: str) -> list[str]:
        return [p.instrument.id for p in self._k.portfolio.positions()
                if p.instrument.venue == venue and p.qty != 0.0]


def apply_reconciliation(kernel: Kernel, report: VenueReconciliation) -> int:
    """Plan (a pure function, ``engine.execution.reconcile.plan``) and apply: venue events
    through the bus (the execution core's report entry), cancels to the venue (journaled),
    position fixes to the portfolio (journaled); returns the number of differences."""
    venue = report.venue
    journal = kernel.journal
    now = kernel.clock.now_ns()
    young_ns = int(kernel.gate.limits.ack_timeout_s * 1e9)
    p = plan(report, _KernelView(kernel), now, young_ns)
    for kind, fields in p.notes:
        log.warning("reconcile_difference", venue=venue, kind=kind, **fields)
    for ev in p.events:
        kernel.bus.publish(ev)  # journaled, applied, strategy told (if running)
    for sync in p.quantity_syncs:
        order = kernel.execution.order(sync.client_order_id)
        if order is not None:
            kernel.execution.sync_quantity(order, sync.price, sync.quantity)
    adapter = kernel.adapters.get(venue)
    for cmd in p.cancels:
        if journal is not None and not journal.closed:
            journal.append(now, "out", cmd)
    kernel.execution.checkpoint()  # (commits the cancels before they leave)
    if adapter is not None:
        for cmd in p.cancels:
            adapter.cancel(cmd)
    for fix in p.positions:
        held = kernel.portfolio.position(fix.instrument_id)
        mark = held.mark if held is not None and held.mark > 0 else 0.0  # (NaN: none, 0)
        rec = PositionAdjusted(instrument_id=fix.instrument_id, quantity=fix.quantity,
                               avg_price=fix.avg_price, previous=fix.previous,
                               reason="reconciliation: venue position wins", ts=now,
                               close_price=mark)
        if journal is not None and not journal.closed:
            journal.append(now, "out", rec)
        kernel.portfolio.adjust_position(fix.instrument_id, fix.quantity, fix.avg_price, mark)
    if journal is not None and not journal.closed:
        journal.append(now, "out", ReconciliationCompleted(venue=venue, differences=p.differences,
                                                           ts=now))
    kernel.execution.checkpoint()
    kernel.counters["reconcile_differences"] += p.differences
    log.info("venue_reconciled", venue=venue, differences=p.differences,
             open_orders=len(report.open_orders), fills=len(report.fills),
             positions=len(report.positions))
    kernel.trading.venue_reconciled(venue)
    return p.differences


async def recover(kernel: Kernel, since_ns: int = 0, attempts: int = 3,
                  timeout_s: float = 10.0, venues: list[VenueAdapter] | None = None) -> bool:
    """Reconcile every venue (or only ``venues``: the ones that started; engine/startup.py
    reconciles the others when they come up) with retries; True when all succeeded. The gate
    holds trading (``reconciliation``) until then."""
    kernel.trading.hold("reconciliation", TradingState.HALTED, "waiting for venue reconciliation")
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
        kernel.trading.release("reconciliation", "every venue reconciled")
    return ok
