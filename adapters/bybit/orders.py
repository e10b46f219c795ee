"""Order entry, status queries, reconciliation and the dead-man switch of ``BybitVenue``.

Theory of operation: composed from the session core, its REST client and tracker. Orders go out
on ``POST /v5/order/create|amend|cancel`` (REST rather than the ``/v5/trade`` websocket: one
signed path shared with queries and reconciliation). ``submit`` never blocks; no answer within
``ack_timeout_s`` leaves the order UNKNOWN (nothing published, nothing resent). The venue's own
word settles everything: an ``order`` row from the private stream and a ``/v5/order/realtime``
row both become an ``OrderStatusReport`` and go through ``settle``, which publishes only the
lifecycle events the report proves (tracker de-duplication), and for a status query recovers
missing fills from ``/v5/execution/list``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from adapters.bybit import private as pv
from adapters.bybit import channels as ch
from adapters.bybit.codec import BybitCodec
from adapters.bybit.params import BybitParams
from adapters.bybit.rest import BybitReply, BybitRest, NotSent, Unknown
from adapters.live.orders import NOT_OURS, OrderDesk
from adapters.live.rest import answer_field
from adapters.live.session import LiveSession
from adapters.live.tracker import DONE, OrderTracker, Tracked
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    SubmitOrder,
    VenueProtocolError,
    VenueReconciliation,
)

_log = structlog.get_logger("volta.bybit")
_OPEN = (str(OrderStatus.ACCEPTED), str(OrderStatus.PARTIALLY_FILLED))


class BybitOrders:
    """Bybit's order API over the session core, its REST client, codec and order tracker."""

    def __init__(self, session: LiveSession, rest: BybitRest, codec: BybitCodec,
                 tracker: OrderTracker, params: BybitParams) -> None:
        self.params = params
        self.rest = rest
        self.codec = codec
        self.tracker = tracker
        self._session = session
        self.desk = OrderDesk(session, tracker, self._query, ack_timeout_s=params.ack_timeout_s,
                              recv_window_ms=params.recv_window_ms)
        self.dcp_window_s = 0
        """The armed DCP window (s); 0 while cancel-on-disconnect is off."""

    def unknown_orders(self) -> list[str]:
        return self.desk.unknown_orders()

    # -- symbols ------------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """The venue symbols this session trades."""
        return [ch.venue_symbol(s) for s in self.params.symbols]

    def iid(self, symbol: str) -> str:
        """The instrument id of a venue symbol."""
        return self.codec._iid(symbol)  # the codec owns the symbol -> id mapping

    def symbol_of(self, instrument_id: str) -> str | None:
        """The venue symbol of one of this session's instruments (None if not one)."""
        inst = self._session.instruments.get(instrument_id)
        return ch.venue_symbol(inst.symbol) if inst is not None else None

    def fee_ccy(self, symbol: str) -> str:
        """The currency fees of ``symbol`` are charged in (its settlement currency)."""
        inst = self._session.instruments.get(self.iid(symbol))
        return inst.settle if inst is not None else ""

    # -- helpers ------------------------------------------------------------------------------
    def _request_refused(self, client_order_id: str, instrument_id: str, what: str,
                         reply: BybitReply) -> bool:
        """Publish a refused cancel/amend if the order is known to be working; False when
        only a status query can tell what the refusal means."""
        self._refused(reply)
        now = time.time_ns()
        ev = OrderRejected(client_order_id=client_order_id, instrument_id=instrument_id,
                           reason=f"{what} refused {reply.code}: {reply.message}",
                           ts_event=now, ts_recv=now)
        if reply.code in pv.ORDER_NOT_FOUND or not self.tracker.admit_request_reject(ev):
            return False
        self._session.publish(ev)
        return True

    def _refused(self, reply: BybitReply) -> None:
        if reply.rate_limited:
            self._session.stats["rate_limited"] += 1
            self._session.status("rate_limited", f"retCode {reply.code}")

    async def _call(self, method: str, path: str, body: dict[str, Any], what: str,
                    client_order_id: str, timeout_s: float | None = None,
                    on_send: Any = None,
                    not_sent: Callable[[NotSent], None] | None = None) -> BybitReply | None:
        """The venue's reply, or None: no answer (logged), or never sent (``not_sent`` is
        told why: an order entry settles its order with it; else it is logged)."""
        try:
            return await self.rest.request(method, path, body, signed=True, timeout_s=timeout_s,
                                           on_send=on_send)
        except NotSent as exc:
            if not_sent is not None:
                not_sent(exc)
            else:
                _log.warning("bybit.request_not_sent", venue=self._session.venue, what=what,
                             client_order_id=client_order_id, error=str(exc))
            return None
        except (Unknown, VenueProtocolError) as exc:
            _log.warning("bybit.request_fate_unknown", venue=self._session.venue, what=what,
                         client_order_id=client_order_id, error=str(exc))
            return None

    # -- order entry --------------------------------------------------------------------------
    def submit(self, cmd: SubmitOrder) -> None:
        if not self.params.trading:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, "NOT_TRADING: no credentials")
            return
        symbol = self.symbol_of(cmd.instrument_id)
        if symbol is None:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, "UNKNOWN_INSTRUMENT")
            return
        self.tracker.add(cmd, symbol)
        self._session.spawn(self._send_new(cmd, symbol), order=True)

    async def _send_new(self, cmd: SubmitOrder, symbol: str) -> None:
        body = pv.create_body(cmd, self.params.category, symbol)
        coid, iid = cmd.client_order_id, cmd.instrument_id
        reply = await self._call("POST", "/v5/order/create", body, "create", coid,
                                 self.params.ack_timeout_s, lambda: self.desk.admit_to_wire(coid),
                                 lambda exc: self.desk.not_sent(coid, iid, exc))
        if reply is None:
            self.desk.ack_lost(coid)  # logged by _call; none if rejected as never sent
            return
        if reply.ok:
            try:  # an acceptance that does not name the order: placed or not, nobody can tell
                vid = answer_field(reply.result, "orderId", self._session.venue, "new order")
            except VenueProtocolError as exc:
                self.desk.ack_lost(coid, str(exc))
                return
            now = time.time_ns()
            self.desk.emit(OrderAccepted(client_order_id=coid, venue_order_id=vid,
                                     instrument_id=iid, ts_event=now, ts_recv=now))
            return
        self._refused(reply)
        self.desk.reject(cmd.client_order_id, cmd.instrument_id, f"{reply.code}: {reply.message}")

    def cancel(self, cmd: CancelOrder) -> None:
        t = self.tracker.get(cmd.client_order_id)
        symbol = t.symbol if t is not None else self.symbol_of(cmd.instrument_id)
        self._session.spawn(self._send_cancel(cmd, symbol or ""), order=True)

    async def _send_cancel(self, cmd: CancelOrder, symbol: str, retry: bool = True) -> None:
        reply = await self._call("POST", "/v5/order/cancel",
                                 pv.cancel_body(cmd, self.params.category, symbol), "cancel",
                                 cmd.client_order_id, self.params.ack_timeout_s,
                                 not_sent=lambda exc: self.desk.request_not_sent(
                                     cmd.client_order_id, cmd.instrument_id, "cancel", exc))
        if reply is None:
            return
        if reply.ok:
            now = time.time_ns()
            self.desk.emit(OrderCancelled(client_order_id=cmd.client_order_id,
                                      instrument_id=cmd.instrument_id, reason="cancelled",
                                      ts_event=now, ts_recv=now))
            return
        if not self._request_refused(cmd.client_order_id, cmd.instrument_id, "cancel", reply):
            # "Not exists" may mean not arrived yet, or already finished: ask the venue, and
            # cancel once more if it is still working there (a repeated cancel is harmless).
            report = await self._query(cmd.client_order_id, symbol)
            if retry and report is not None and report.status in _OPEN:
                await self._send_cancel(cmd, symbol, retry=False)

    def amend(self, cmd: AmendOrder) -> None:
        t = self.tracker.get(cmd.client_order_id)
        if t is None:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, NOT_OURS)
            return
        self._session.spawn(self._send_amend(cmd, t), order=True)

    async def _send_amend(self, cmd: AmendOrder, t: Tracked) -> None:
        reply = await self._call("POST", "/v5/order/amend",
                                 pv.amend_body(cmd, self.params.category, t.symbol), "amend",
                                 cmd.client_order_id, self.params.ack_timeout_s,
                                 not_sent=lambda exc: self.desk.request_not_sent(
                                     cmd.client_order_id, cmd.instrument_id, "amend", exc))
        if reply is None:
            return
        if reply.ok:
            now = time.time_ns()
            price = cmd.price if cmd.price is not None else t.price
            self.desk.emit(OrderAmended(client_order_id=cmd.client_order_id,
                                    instrument_id=cmd.instrument_id, price=price or 0.0,
                                    quantity=cmd.quantity if cmd.quantity is not None else t.quantity,
                                    ts_event=now, ts_recv=now))
            return
        if not self._request_refused(cmd.client_order_id, cmd.instrument_id, "amend", reply):
            await self._query(cmd.client_order_id, t.symbol)

    # -- the venue's word ----------------------------------------------------------------------
    def settle(self, report: OrderStatusReport, from_query: bool) -> None:
        """Publish the lifecycle events ``report`` proves (stream rows: fills come separately)."""
        t = self.tracker.get(report.client_order_id)
        if t is None:
            return
        status = report.status
        if status == str(OrderStatus.SUBMITTED):
            return
        if status == str(OrderStatus.REJECTED):
            if report.filled <= 0:
                self.desk.reject(t.cmd.client_order_id, t.cmd.instrument_id, "rejected by the venue")
            return
        self.desk.emit(OrderAccepted(client_order_id=t.cmd.client_order_id,
                                 venue_order_id=report.venue_order_id,
                                 instrument_id=t.cmd.instrument_id, ts_event=report.ts_event,
                                 ts_recv=report.ts_recv))
        if status in _OPEN and report.price is not None and (
                report.price != t.price or report.quantity != t.quantity):
            self.desk.emit(OrderAmended(client_order_id=t.cmd.client_order_id,
                                    instrument_id=t.cmd.instrument_id, price=report.price,
                                    quantity=report.quantity, ts_event=report.ts_event,
                                    ts_recv=report.ts_recv))
        if from_query and report.filled > t.filled + 1e-12:
            self._session.spawn(self._recover_then_close(t, report))
            return
        self._close(t, report)

    async def _settle_query(self, report: OrderStatusReport) -> None:
        """A status query's answer: recover the fills it shows first, then settle the rest."""
        t = self.tracker.get(report.client_order_id)
        if t is not None and report.filled > t.filled + 1e-12 and report.status not in (
                str(OrderStatus.REJECTED), str(OrderStatus.SUBMITTED)):
            self.desk.emit(OrderAccepted(client_order_id=t.cmd.client_order_id,
                                     venue_order_id=report.venue_order_id,
                                     instrument_id=t.cmd.instrument_id, ts_event=report.ts_event,
                                     ts_recv=report.ts_recv))
            await self._recover_fills(t)
        self.settle(report, from_query=False)

    def _close(self, t: Tracked, report: OrderStatusReport) -> None:
        if report.status == str(OrderStatus.CANCELLED) and t.state != DONE:
            self.desk.emit(OrderCancelled(client_order_id=t.cmd.client_order_id,
                                      instrument_id=t.cmd.instrument_id, reason="cancelled",
                                      ts_event=report.ts_event, ts_recv=report.ts_recv))

    async def _recover_then_close(self, t: Tracked, report: OrderStatusReport) -> None:
        await self._recover_fills(t)
        self._close(t, report)

    async def _recover_fills(self, t: Tracked) -> None:
        reply = await self._call("GET", "/v5/execution/list",
                                 {"category": self.params.category, "symbol": t.symbol,
                                  "orderLinkId": t.cmd.client_order_id}, "executions",
                                 t.cmd.client_order_id)
        if reply is None or not reply.ok:
            return
        now = time.time_ns()
        rows = sorted(reply.result["list"], key=lambda r: (int(r["execTime"]), r["execId"]))
        for row in rows:
            fill = pv.execution(row, self.iid, self.fee_ccy(row["symbol"]), now, self._session.venue)
            if fill is not None:
                self.desk.emit(fill)

    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        symbol = self.symbol_of(instrument_id) or ""
        self._session.spawn(self._query(client_order_id, symbol), order=True)

    async def _query(self, client_order_id: str, symbol: str) -> OrderStatusReport | None:
        self._session.stats["queries"] += 1
        reply = await self._call("GET", "/v5/order/realtime",
                                 {"category": self.params.category, "symbol": symbol,
                                  "orderLinkId": client_order_id}, "query", client_order_id)
        if reply is None:
            return None
        if not reply.ok:
            self._refused(reply)
            return None
        now = time.time_ns()
        rows = reply.result["list"]
        t = self.tracker.get(client_order_id)
        if not rows:
            window_ns = self.desk.receive_window_ns()
            if t is not None and self.tracker.never_placed(client_order_id, time.time_ns(), window_ns):
                return self.desk.never_placed(t, "not found at the venue: never placed")
            return None
        report = pv.order_report(rows[0], self.iid, now, self._session.venue)
        # The events the report proves go first, so the report itself only confirms them.
        await self._settle_query(report)
        self._session.publish(report)
        return report

    # -- account --------------------------------------------------------------------------------
    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        """Open orders, executions since ``since_ns`` and positions, as Bybit sees them."""
        await self.desk.settle_in_flight()
        now = time.time_ns()
        cat = self.params.category
        orders: list[OrderStatusReport] = []
        fills = []
        positions = []
        for sym in self.symbols():
            r = await self._must("GET", "/v5/order/realtime", {"category": cat, "symbol": sym, "openOnly": 0})
            orders += [o for o in (pv.order_report(x, self.iid, now, self._session.venue)
                                   for x in r.result["list"]) if o.status in _OPEN]
            r = await self._must("GET", "/v5/execution/list",
                                 {"category": cat, "symbol": sym, "startTime": since_ns // 1_000_000})
            for x in sorted(r.result["list"], key=lambda x: (int(x["execTime"]), x["execId"])):
                fill = pv.execution(x, self.iid, self.fee_ccy(sym), now, self._session.venue)
                if fill is not None:
                    fills.append(fill)
            r = await self._must("GET", "/v5/position/list", {"category": cat, "symbol": sym})
            positions += [pv.position(x, self.iid, now, self._session.venue) for x in r.result["list"]]
        return VenueReconciliation(venue=self._session.venue, open_orders=tuple(orders), fills=tuple(fills),
                                   positions=tuple(positions), ts=now)

    async def _must(self, method: str, path: str, params: dict[str, Any]) -> BybitReply:
        reply = await self.rest.request(method, path, params, signed=True)
        if not reply.ok:
            raise RuntimeError(f"{self._session.venue}: {path} refused: {reply.code} {reply.message}")
        return reply

    def cancel_all_orders(self) -> None:
        for sym in self.symbols():
            self._session.spawn(self._call("POST", "/v5/order/cancel-all",
                                   {"category": self.params.category, "symbol": sym},
                                   "cancel-all", ""), order=True)

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        """Bybit DCP: the venue cancels every order once the private stream has been gone for
        ``timeWindow`` seconds (Bybit accepts 3-300 s; the value is clamped)."""
        if not self.params.trading:
            return
        window = int(min(max(round(timeout_s), 3), 300))
        self._session.spawn(self._call("POST", "/v5/order/disconnected-cancel-all",
                               {"timeWindow": window}, "dcp", ""))
        self.dcp_window_s = window

