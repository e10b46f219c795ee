"""Order entry, status queries, reconciliation and cancel-on-disconnect of ``DeribitVenue``.

Theory of operation: composed from the session core, the JSON-RPC connection (``DeribitRpc``:
one request, its answer or an exception) and the order tracker. ``submit``/``cancel``/``amend`` never block: each spawns a
task that sends ``private/buy|sell|edit|cancel`` (paced by the matching-engine bucket).

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
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import msgspec
import structlog

from adapters.deribit import private as pv
from adapters.deribit.params import DeribitParams
from adapters.live.jsonrpc import Refused, Unknown, Withdrawn
from adapters.live.orders import OrderDesk
from adapters.live.session import LiveSession
from adapters.live.tracker import DONE, OrderTracker, Tracked
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    SubmitOrder,
    VenueProtocolError,
    VenueReconciliation,
)

__all__ = ["DeribitOrders", "DeribitRpc", "Refused", "Unknown", "Withdrawn"]

_log = structlog.get_logger("volta.deribit")
_NS_PER_MS = 1_000_000


class DeribitRpc(Protocol):
    """What the order API needs of Deribit's JSON-RPC connection (``DeribitStreams``)."""

    @property
    def authenticated(self) -> bool:
        """``public/auth`` succeeded on the current connection."""

    @property
    def connection_number(self) -> int:
        """Counts connections: a request cannot be answered on a later one."""

    async def rpc(self, method: str, params: dict[str, Any], timeout: float | None = None,
                  on_wire: Callable[[], None] | None = None,
                  late: Callable[[dict[str, Any]], None] | None = None,
                  admit: Callable[[], bool] | None = None) -> Any:
        """One request: its ``result``; ``Refused``/``Unknown``/``Withdrawn`` otherwise."""

    def arm_cancel_on_disconnect(self) -> None:
        """Arm cancel-on-disconnect now (if authenticated) and on every new connection."""


class DeribitOrders:
    """Deribit's order API over the session core, its JSON-RPC connection and order tracker."""

    def __init__(self, session: LiveSession, rpc: DeribitRpc, tracker: OrderTracker,
                 params: DeribitParams) -> None:
        self.params = params
        self.tracker = tracker
        self._session = session
        self._conn = rpc
        self.desk = OrderDesk(session, tracker, self._query, ack_timeout_s=params.ack_timeout_s,
                              by_instrument=True)

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
        self._session.spawn(self._send_new(cmd, method, params), order=True)

    async def _send_new(self, cmd: SubmitOrder, method: str, params: dict[str, Any]) -> None:
        coid = cmd.client_order_id
        if not self._conn.authenticated:
            self.desk.reject(coid, cmd.instrument_id, "NOT_CONNECTED: not authenticated (never sent)")
            return
        try:
            result = await self._conn.rpc(method, params, timeout=self.params.ack_timeout_s,
                                     on_wire=lambda: self.desk.on_wire(
                                         coid, self._conn.connection_number),
                                     late=lambda msg: self._late_answer(cmd, msg),
                                     admit=lambda: self.desk.still_wanted(coid))
        except Unknown as exc:
            self._ack_lost(coid, str(exc))
            return
        except Withdrawn:
            return  # already rejected when the engine asked about it
        except Refused as exc:
            why = "NOT_CONNECTED (never sent)" if not exc.sent else f"{exc.code}: {exc.message}"
            self.desk.reject(coid, cmd.instrument_id, why)
            return
        self._on_result(result, self._session.clock.now_ns())

    def _late_answer(self, cmd: SubmitOrder, msg: dict[str, Any]) -> None:
        """The answer to an order request whose fate was already declared unknown."""
        err = msg.get("error")
        if err is None:
            self._on_result(msg.get("result"), self._session.clock.now_ns())
        else:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id,
                         f"{err.get('code')}: {err.get('message')}")

    def _ack_lost(self, coid: str, why: str) -> None:
        if self.tracker.mark_lost(coid):
            self._session.stats["acks_unknown"] += 1
            _log.warning("deribit.order_fate_unknown", venue=self._session.venue, client_order_id=coid,
                         error=why)

    def _on_result(self, result: Any, ts_recv: int) -> None:
        try:
            order = result["order"] if "order" in result else result
            trades = [pv.parse_trade(t) for t in result.get("trades", ())]
            self.on_order(pv.parse_order(order), trades, ts_recv)
        except (VenueProtocolError, KeyError, TypeError) as exc:
            self._session.stats["private_malformed"] += 1
            _log.error("deribit.order_answer_malformed", venue=self._session.venue, error=str(exc))

    def cancel(self, cmd: CancelOrder) -> None:
        self._session.spawn(self._send_cancel(cmd), order=True)

    async def _send_cancel(self, cmd: CancelOrder) -> None:
        t = self.tracker.get(cmd.client_order_id)
        if t is None or not t.venue_order_id:
            # Not acknowledged yet: we cannot name it to the venue. Ask what became of it.
            await self._query(cmd.client_order_id, cmd.instrument_id)
            t = self.tracker.get(cmd.client_order_id)
            if t is None or not t.venue_order_id or t.state == DONE:
                return
        try:
            result = await self._conn.rpc("private/cancel", {"order_id": t.venue_order_id},
                                     timeout=self.params.ack_timeout_s)
        except Unknown:
            return  # the engine's ack timeout asks the venue
        except Refused as exc:
            self._request_refused(cmd.client_order_id, cmd.instrument_id, "cancel", exc)
            return
        self._on_result(result, self._session.clock.now_ns())

    def amend(self, cmd: AmendOrder) -> None:
        t = self.tracker.get(cmd.client_order_id)
        if t is None or not t.venue_order_id:
            self.desk.refuse_request(cmd.client_order_id, cmd.instrument_id,
                                     "amend: order not acknowledged by the venue yet")
            return
        params: dict[str, Any] = {"order_id": t.venue_order_id,
                                  "amount": cmd.quantity if cmd.quantity is not None else t.quantity}
        price = cmd.price if cmd.price is not None else t.price
        if price is not None:
            params["price"] = price
        self._session.spawn(self._send_amend(cmd, params), order=True)

    async def _send_amend(self, cmd: AmendOrder, params: dict[str, Any]) -> None:
        try:
            result = await self._conn.rpc("private/edit", params, timeout=self.params.ack_timeout_s)
        except Unknown:
            return
        except Refused as exc:
            self._request_refused(cmd.client_order_id, cmd.instrument_id, "amend", exc)
            return
        self._on_result(result, self._session.clock.now_ns())

    def _request_refused(self, coid: str, iid: str, what: str, exc: Refused) -> None:
        self.desk.refuse_request(coid, iid, f"{what} refused {exc.code}: {exc.message}",
                                 lambda: self._query(coid, iid))

    # ------------------------------------------------------------------ venue events
    def _tracked(self, coid: str, venue_order_id: str) -> Tracked | None:
        t = self.tracker.get(coid) if coid else None
        return t if t is not None else self.tracker.by_venue_id(venue_order_id)

    def on_order(self, info: pv.OrderInfo, trades: Iterable[pv.TradeInfo], ts_recv: int) -> None:
        t = self._tracked(info.client_order_id, info.venue_order_id)
        if t is None:
            self._untracked_order(info, trades, ts_recv)
            return
        coid, iid = t.cmd.client_order_id, t.cmd.instrument_id
        self.tracker.set_venue_id(t, info.venue_order_id)
        if info.state != "rejected":
            self.desk.emit(OrderAccepted(client_order_id=coid, venue_order_id=info.venue_order_id,
                                     instrument_id=iid, ts_event=info.ts_event, ts_recv=ts_recv))
        if info.state == "open" and info.replaced and (
                info.price != t.price or info.amount != t.quantity) and info.price is not None:
            self.desk.emit(OrderAmended(client_order_id=coid, instrument_id=iid, price=info.price,
                                    quantity=info.amount, ts_event=info.ts_event, ts_recv=ts_recv))
        for tr in trades:
            self.on_trade(tr, ts_recv)
        self._terminal(t, info, ts_recv)

    def _untracked_order(self, info: pv.OrderInfo, trades: Iterable[pv.TradeInfo],
                         ts_recv: int) -> None:
        """An order this process did not send (an earlier run of it, the web UI): what it
        proves passes through under its label; the engine knows the order or counts it."""
        self._session.stats["foreign_orders"] += 1
        coid, iid = info.client_order_id, info.instrument_id
        if not coid:
            return
        if info.state != "rejected":
            self._session.publish(OrderAccepted(client_order_id=coid, venue_order_id=info.venue_order_id,
                                       instrument_id=iid, ts_event=info.ts_event, ts_recv=ts_recv))
        for tr in trades:
            self.on_trade(tr, ts_recv)
        if info.state == "cancelled":
            self._session.publish(OrderCancelled(client_order_id=coid, instrument_id=iid,
                                        reason=info.cancel_reason or "cancelled",
                                        ts_event=info.ts_event, ts_recv=ts_recv))

    def _terminal(self, t: Tracked, info: pv.OrderInfo, ts_recv: int) -> None:
        coid, iid = t.cmd.client_order_id, t.cmd.instrument_id
        if info.state == "cancelled":
            self.desk.end(t, OrderCancelled(client_order_id=coid, instrument_id=iid,
                                            reason=info.cancel_reason or "cancelled",
                                            ts_event=info.ts_event, ts_recv=ts_recv), info.filled)
        elif info.state == "rejected":
            self.desk.end(t, OrderRejected(client_order_id=coid, instrument_id=iid,
                                           reason=info.cancel_reason or "rejected by venue",
                                           ts_event=info.ts_event, ts_recv=ts_recv), info.filled)
        else:
            self.desk.working(t)

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
        t = self._tracked(tr.client_order_id, tr.venue_order_id)
        if t is None:
            self._session.stats["foreign_orders"] += 1
            if tr.client_order_id:  # a fill is a fact: the engine may know the order
                self._session.publish(self._fill_event(tr, None, ts_recv))
            return
        if tr.trade_id in t.trade_ids:
            return
        if t.state != DONE:
            self.desk.emit(OrderAccepted(client_order_id=t.cmd.client_order_id,
                                     venue_order_id=tr.venue_order_id,
                                     instrument_id=t.cmd.instrument_id,
                                     ts_event=tr.ts_event, ts_recv=ts_recv))
        self.desk.emit(self._fill_event(tr, t, ts_recv))
        self.desk.fill_seen(t)

    # ------------------------------------------------------------------ queries
    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        self._session.spawn(self._query(client_order_id, instrument_id))

    async def _query(self, coid: str, iid: str) -> OrderStatusReport | None:
        """Ask the venue about one order; publish what its answer proves, then the report."""
        self._session.stats["queries"] += 1
        self.desk.withdraw_unsent(coid)
        t = self.tracker.get(coid)
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
            _log.warning("deribit.query_failed", venue=self._session.venue, client_order_id=coid,
                         error=str(exc))
            return None
        if not found:
            if t is not None and self.desk.lost_with_connection(coid, self._conn.connection_number):
                # The connection that carried the request is gone and the venue has no such
                # order: it was never placed and can no longer be.
                return self.desk.never_placed(t, "NOT_FOUND: the request never reached the venue")
            return None
        info = pv.parse_order(found[-1])
        t = self._tracked(coid, info.venue_order_id)
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
            sizes = {o.venue_order_id: o.quantity for o in opens}
            cum: dict[str, float] = {}
            rows = res.get("trades", ()) if isinstance(res, dict) else res
            for tr in sorted((pv.parse_trade(r) for r in rows), key=lambda x: x.ts_event):
                # remaining after each fill, as it was then (the engine's order state machine
                # needs it): cumulative per order against the order's size, where known.
                t = self._tracked(tr.client_order_id, tr.venue_order_id)
                cum[tr.venue_order_id] = cum.get(tr.venue_order_id, 0.0) + tr.amount
                size = t.quantity if t is not None else sizes.get(tr.venue_order_id)
                ev = self._fill_event(tr, t, now)
                if size is not None and tr.order_state != "filled":
                    ev = msgspec.structs.replace(
                        ev, remaining=max(round(size - cum[tr.venue_order_id], 12), 0.0))
                fills.append(ev)
            for r in await self._conn.rpc("private/get_positions", {"currency": ccy}):
                positions.append(pv.parse_position(r, now))
        return VenueReconciliation(venue=self._session.venue, open_orders=tuple(opens), fills=tuple(fills),
                                   positions=tuple(positions), ts=self._session.clock.now_ns())

    def cancel_all_orders(self) -> None:
        """Kill switch level 2: ``private/cancel_all`` (the whole account)."""
        self._session.spawn(self._cancel_all(), order=True)

    async def _cancel_all(self) -> None:
        try:
            await self._conn.rpc("private/cancel_all", {}, timeout=self.params.ack_timeout_s)
        except (Unknown, Refused) as exc:
            _log.error("deribit.cancel_all_failed", venue=self._session.venue, error=str(exc))

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        """Arm Deribit's cancel-on-disconnect (no timeout: it fires when the connection
        drops, and is re-armed on every authenticated connection)."""
        if not self.params.trading:
            return
        self._conn.arm_cancel_on_disconnect()
