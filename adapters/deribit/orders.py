"""Order entry, status queries, reconciliation and cancel-on-disconnect of ``DeribitVenue``.

Theory of operation: composed from the session core, the JSON-RPC connection (``RpcLink``:
one request, its answer or an exception), the order tracker and ``RpcOrderFlow``
(``adapters.live.rpc_orders``: the outcomes and order events Deribit shares with Derive); what is
Deribit's own is here: its requests, order and trade objects, queries and reconciliation.
``submit``/``cancel``/``amend`` never block: each spawns a task that sends
``private/buy|sell|edit|cancel`` (paced by the matching-engine bucket).

* An error answer means the venue did nothing: a refused order becomes ``OrderRejected``; a
  refused cancel/amend of a working order becomes ``OrderRejected`` (the engine restores the
  order), otherwise the venue is asked about the order.
* No answer within ``ack_timeout_s`` or a connection lost after sending: the order's fate is
  UNKNOWN. Nothing is published and nothing is resent; ``query_order`` settles it from the
  venue's own word (``private/get_order_state``, or ``get_order_state_by_label`` when the
  venue's order id never reached us). An order the venue does not know is reported REJECTED
  only once the connection that carried its request is gone (a request cannot arrive later).
* A new order still held by the matching-engine bucket when the engine asks about it (a
  status query, a reconciliation) is rejected ``WITHDRAWN`` and never sent
  (``OrderDesk.withdraw_unsent``/``still_wanted``): the venue cannot list it, so a reconciliation
  would call it gone, and the limiter would otherwise place it behind the engine's back.
* Order objects (RPC answers and ``user.orders``) and trades (``user.trades``, answers'
  ``trades``) pass the tracker, which drops duplicates (fills by venue trade id). A terminal
  state whose fills we have not seen yet (``user.orders`` may beat ``user.trades``) is held
  back until the fills arrive, so the engine never sees a fill after the order ended.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import msgspec
import structlog

from adapters.deribit import private as pv
from adapters.deribit.params import DeribitParams
from adapters.live.jsonrpc import Refused, Unknown, Withdrawn
from adapters.live.rpc_orders import FillLedger, RpcConnection, RpcOrderFlow
from adapters.live.session import LiveSession
from adapters.live.tracker import OrderTracker, Tracked
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderFilled,
    OrderStatusReport,
    SubmitOrder,
    VenueProtocolError,
    VenueReconciliation,
)

__all__ = ["DeribitOrders", "Refused", "Unknown", "Withdrawn"]

_log = structlog.get_logger("volta.deribit")
_NS_PER_MS = 1_000_000


class DeribitOrders:
    """Deribit's order API over the session core, its JSON-RPC connection and order tracker."""

    def __init__(self, session: LiveSession, rpc: RpcConnection, tracker: OrderTracker,
                 params: DeribitParams) -> None:
        self.params = params
        self.tracker = tracker
        self._session = session
        self._conn = rpc
        self.flow = RpcOrderFlow(session, rpc, tracker, self._query,
                                 ack_timeout_s=params.ack_timeout_s, log=_log, log_name="deribit")
        self.desk = self.flow.desk

    def unknown_orders(self) -> list[str]:
        return self.desk.unknown_orders()

    # ------------------------------------------------------------------ commands
    def submit(self, cmd: SubmitOrder) -> None:
        if not self.params.trading:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, "NOT_TRADING: no credentials")
            return
        inst = self._session.instruments.get(cmd.instrument_id)
        if inst is None:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, "UNKNOWN_INSTRUMENT")
            return
        try:
            method, params = pv.order_request(cmd, inst.symbol)
        except ValueError as exc:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, f"INVALID_ORDER: {exc}")
            return
        self.tracker.add(cmd, inst.symbol)
        self._session.spawn(self.flow.send_new(
            cmd, method, params, not_connected="NOT_CONNECTED: not authenticated (never sent)",
            on_result=self._on_result), order=True)

    def _on_result(self, result: Any) -> None:
        try:
            order = result["order"] if "order" in result else result
            trades = [pv.parse_trade(t) for t in result.get("trades", ())]
            self.on_order(pv.parse_order(order), trades, self._session.clock.now_ns())
        except (VenueProtocolError, KeyError, TypeError) as exc:
            self._session.stats["private_malformed"] += 1
            _log.error("deribit.order_answer_malformed", venue=self._session.venue, error=str(exc))

    def cancel(self, cmd: CancelOrder) -> None:
        self._session.spawn(self._send_cancel(cmd), order=True)

    async def _send_cancel(self, cmd: CancelOrder) -> None:
        t = await self.flow.acknowledged(cmd)
        if t is not None:
            await self.flow.request(cmd, "cancel", "private/cancel",
                                    {"order_id": t.venue_order_id}, self._on_result)

    def amend(self, cmd: AmendOrder) -> None:
        t = self.flow.amendable(cmd)
        if t is None:
            return
        params: dict[str, Any] = {"order_id": t.venue_order_id,
                                  "amount": cmd.quantity if cmd.quantity is not None else t.quantity}
        price = cmd.price if cmd.price is not None else t.price
        if price is not None:
            params["price"] = price
        self._session.spawn(self.flow.request(cmd, "amend", "private/edit", params,
                                              self._on_result), order=True)

    # ------------------------------------------------------------------ venue events
    def on_order(self, info: pv.OrderInfo, trades: Iterable[pv.TradeInfo], ts_recv: int) -> None:
        t = self.flow.tracked(info.client_order_id, info.venue_order_id)
        if t is None:
            self.flow.foreign_order(info.client_order_id, info.instrument_id, info.venue_order_id,
                                    info.state, info.cancel_reason, info.ts_event, ts_recv,
                                    trades, self.on_trade)
            return
        amended = info.replaced and (info.price != t.price or info.amount != t.quantity)
        self.flow.order_seen(t, info.venue_order_id, info.state, amended, info.price,
                             info.amount, info.ts_event, ts_recv)
        for tr in trades:
            self.on_trade(tr, ts_recv)
        self.flow.settle(t, info.state, info.cancel_reason, info.filled, info.ts_event, ts_recv)

    def _fill_event(self, tr: pv.TradeInfo, t: Tracked | None, ts_recv: int) -> OrderFilled:
        if tr.order_state == "filled":
            remaining = 0.0
        elif t is not None:
            remaining = max(t.quantity - t.filled - tr.amount, 0.0)
        else:
            remaining = math.nan
        return OrderFilled(
            client_order_id=t.cmd.client_order_id if t is not None else tr.client_order_id,
            venue_order_id=tr.venue_order_id,
            instrument_id=t.cmd.instrument_id if t is not None else tr.instrument_id,
            trade_id=tr.trade_id, side=tr.side, price=tr.price, quantity=tr.amount,
            remaining=round(remaining, 12), liquidity=tr.liquidity, fee=tr.fee,
            fee_currency=tr.fee_currency, ts_event=tr.ts_event, ts_recv=ts_recv)

    def on_trade(self, tr: pv.TradeInfo, ts_recv: int) -> None:
        self.flow.trade_seen(tr.client_order_id, tr.venue_order_id, tr.trade_id, tr.ts_event,
                             ts_recv, lambda t: self._fill_event(tr, t, ts_recv))

    # ------------------------------------------------------------------ queries
    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        self._session.spawn(self._query(client_order_id, instrument_id))

    async def _query(self, coid: str, iid: str) -> OrderStatusReport | None:
        """Ask the venue about one order; publish what its answer proves, then the report."""
        t = self.flow.query_started(coid)
        try:
            if t is not None and t.venue_order_id:
                order = await self._conn.rpc("private/get_order_state", {"order_id": t.venue_order_id})
                found = [order]
            else:
                inst = self._session.instruments.get(iid)
                ccy = self.params.currencies()[0] if inst is None else (
                    inst.settle if inst.settle in self.params.currencies() else inst.base)
                found = await self._conn.rpc("private/get_order_state_by_label",
                                        {"currency": ccy, "label": coid})
        except (Unknown, Refused) as exc:
            self.flow.query_failed(coid, exc)
            return None
        if not found:
            return self.flow.not_found(t, coid)
        info = pv.parse_order(found[-1])
        t = self.flow.tracked(coid, info.venue_order_id)
        trades: list[pv.TradeInfo] = []
        if t is not None and info.filled > t.filled + 1e-12:
            try:
                rows = await self._conn.rpc("private/get_user_trades_by_order",
                                       {"order_id": info.venue_order_id})
                trades = [pv.parse_trade(r) for r in rows]
            except (Unknown, Refused) as exc:
                _log.warning("deribit.trades_query_failed", venue=self._session.venue, error=str(exc))
        self.on_order(info, trades, self._session.clock.now_ns())
        report = pv.report(info, self._session.clock.now_ns())
        if t is not None and not report.client_order_id:
            report = msgspec.structs.replace(report, client_order_id=t.cmd.client_order_id)
        self._session.publish(report)
        return report

    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        """Open orders, our fills since ``since_ns`` and positions, per currency."""
        self.desk.withdraw_unsent()  # never listed, and never to be sent: rejected first
        opens: list[OrderStatusReport] = []
        fills: list[OrderFilled] = []
        positions = []
        for ccy in self.params.currencies():
            rows = await self._conn.rpc("private/get_open_orders_by_currency", {"currency": ccy})
            now = self._session.clock.now_ns()
            opens += [pv.report(pv.parse_order(r), now) for r in rows]
            res = await self._conn.rpc("private/get_user_trades_by_currency",
                                  {"currency": ccy, "start_timestamp": since_ns // _NS_PER_MS,
                                   "count": 1000, "sorting": "asc"})
            ledger = FillLedger({o.venue_order_id: o.quantity for o in opens})
            rows = res.get("trades", ()) if isinstance(res, dict) else res
            for tr in sorted((pv.parse_trade(r) for r in rows), key=lambda x: x.ts_event):
                # remaining after each fill, as it was then (the engine's order state machine
                # needs it); a fill that filled its order leaves nothing.
                t = self.flow.tracked(tr.client_order_id, tr.venue_order_id)
                left = ledger.remaining(t, tr.venue_order_id, tr.amount)
                ev = self._fill_event(tr, t, now)
                if left is not None and tr.order_state != "filled":
                    ev = msgspec.structs.replace(ev, remaining=left)
                fills.append(ev)
            for r in await self._conn.rpc("private/get_positions", {"currency": ccy}):
                positions.append(pv.parse_position(r, now))
        return VenueReconciliation(venue=self._session.venue, open_orders=tuple(opens), fills=tuple(fills),
                                   positions=tuple(positions), ts=self._session.clock.now_ns())

    def cancel_all_orders(self) -> None:
        """Kill switch level 2: ``private/cancel_all`` (the whole account)."""
        self._session.spawn(self.flow.cancel_all({}), order=True)

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        """Arm Deribit's cancel-on-disconnect (no timeout: it fires when the connection
        drops, and is re-armed on every authenticated connection)."""
        if not self.params.trading:
            return
        self._conn.arm_cancel_on_disconnect()
