"""Order entry, status queries, reconciliation and the dead-man switch of ``BinanceVenue``.

Theory of operation: composed from the session core, its REST client and tracker. Orders go
out on REST (``POST/PUT/DELETE /fapi/v1/order``); ``submit`` never blocks (a task sends it). No
answer within ``ack_timeout_s`` leaves the order UNKNOWN: nothing is published and nothing is
resent. The venue's own word settles it: the user stream, or ``query_order`` (``GET
/fapi/v1/order``), whose answer is turned into the lifecycle events it proves (missing fills
recovered from ``/fapi/v1/userTrades`` with their trade ids) before the ``OrderStatusReport``
itself is published. "Not found" proves "never placed" only once the request ended and its
``recvWindow`` passed: Binance rejects a request older than that.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from adapters.binance import private as pv
from adapters.binance.codec import BinanceCodec
from adapters.binance.params import BinanceParams
from adapters.binance.rest import BinanceRest, NotSent, Reply, Unknown
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
    OrderExpired,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    SubmitOrder,
    VenueProtocolError,
    VenueReconciliation,
    split_instrument_id,
)

_log = structlog.get_logger("volta.binance")
_TERMINAL = {str(OrderStatus.CANCELLED): OrderCancelled, str(OrderStatus.EXPIRED): OrderExpired}
_WORKING = (str(OrderStatus.ACCEPTED), str(OrderStatus.PARTIALLY_FILLED))


class BinanceOrders:
    """Binance's order API over the session core, its REST client, codec and order tracker."""

    def __init__(self, session: LiveSession, rest: BinanceRest, codec: BinanceCodec,
                 tracker: OrderTracker, params: BinanceParams, api: str) -> None:
        self.params = params
        self.rest = rest
        self.codec = codec
        self.tracker = tracker
        self._session = session
        self._api = api
        """``/fapi/v1`` (USD-M) or ``/api/v3`` (spot)."""
        self.desk = OrderDesk(session, tracker, self._query, ack_timeout_s=params.ack_timeout_s,
                              recv_window_ms=params.recv_window_ms)
        self._dms_timeout_s = 0.0
        self._dms_task: asyncio.Task[None] | None = None

    def symbols(self) -> list[str]:
        """The venue symbols this session trades."""
        return [s.upper() for s in self.params.symbols]

    def unknown_orders(self) -> list[str]:
        return self.desk.unknown_orders()

    # ------------------------------------------------------------------ orders
    def submit(self, cmd: SubmitOrder) -> None:
        if not self.params.trading:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id,
                         "NOT_TRADING: no credentials or not a USD-M session")
            return
        inst = self._session.instruments.get(cmd.instrument_id)
        if inst is None:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, "UNKNOWN_INSTRUMENT")
            return
        self.tracker.add(cmd, inst.symbol)
        self._session.spawn(self._send_new(cmd, inst.symbol), order=True)

    async def _send_new(self, cmd: SubmitOrder, symbol: str) -> None:
        try:
            reply = await self.rest.request("POST", f"{self._api}/order",
                                            pv.new_order_params(cmd, symbol), signed=True,
                                            timeout_s=self.params.ack_timeout_s,
                                            on_send=lambda: self.desk.admit_to_wire(cmd.client_order_id))
            # an acceptance that does not name the order: placed or not, nobody can tell yet
            vid = answer_field(reply.body, "orderId", self._session.venue, "new order") \
                if reply.ok else ""
        except NotSent as exc:
            self.desk.not_sent(cmd.client_order_id, cmd.instrument_id, exc)
            return
        except (Unknown, VenueProtocolError) as exc:
            self.desk.ack_lost(cmd.client_order_id, str(exc))
            return
        now = time.time_ns()
        if reply.ok:
            self.desk.emit(OrderAccepted(client_order_id=cmd.client_order_id,
                                     venue_order_id=vid, instrument_id=cmd.instrument_id,
                                     ts_event=int(reply.body.get("updateTime") or 0) * 1_000_000,
                                     ts_recv=now))
            return
        self._refused(reply)
        self.desk.reject(cmd.client_order_id, cmd.instrument_id, f"{reply.code}: {reply.message}")

    def _refused(self, reply: Reply) -> None:
        if reply.rate_limited:
            self._session.stats["rate_limited"] += 1
            self._session.status("rate_limited", f"HTTP {reply.status} {reply.code}")

    def cancel(self, cmd: CancelOrder) -> None:
        t = self.tracker.get(cmd.client_order_id)
        symbol = t.symbol if t is not None else split_instrument_id(cmd.instrument_id)[1]
        self._session.spawn(self._send_cancel(cmd, symbol), order=True)

    async def _send_cancel(self, cmd: CancelOrder, symbol: str, retry: bool = True) -> None:
        try:
            reply = await self.rest.request("DELETE", f"{self._api}/order",
                                            pv.order_ref_params(cmd.client_order_id, symbol),
                                            signed=True, timeout_s=self.params.ack_timeout_s)
        except NotSent as exc:
            self.desk.request_not_sent(cmd.client_order_id, cmd.instrument_id, "cancel", exc)
            return
        except (Unknown, VenueProtocolError) as exc:
            _log.warning("binance.cancel_fate_unknown", venue=self._session.venue,
                         client_order_id=cmd.client_order_id, error=str(exc))
            return
        now = time.time_ns()
        if reply.ok:
            self.desk.emit(OrderCancelled(client_order_id=cmd.client_order_id,
                                      instrument_id=cmd.instrument_id, reason="cancelled",
                                      ts_event=now, ts_recv=now))
            return
        self._refused(reply)
        ev = OrderRejected(client_order_id=cmd.client_order_id, instrument_id=cmd.instrument_id,
                           reason=f"cancel refused {reply.code}: {reply.message}",
                           ts_event=now, ts_recv=now)
        if reply.code not in pv.ORDER_NOT_FOUND and self.tracker.admit_request_reject(ev):
            self._session.publish(ev)
            return
        # "Unknown order" may mean not arrived yet, or already finished: ask the venue, and
        # cancel once more if it is still working there (a repeated cancel is harmless).
        report = await self._query(cmd.client_order_id, symbol)
        if retry and report is not None and report.status in _WORKING:
            await self._send_cancel(cmd, symbol, retry=False)

    def amend(self, cmd: AmendOrder) -> None:
        t = self.tracker.get(cmd.client_order_id)
        if t is None:
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, NOT_OURS)
            return
        self._session.spawn(self._send_amend(cmd, t), order=True)

    async def _send_amend(self, cmd: AmendOrder, t: Tracked) -> None:
        price = cmd.price if cmd.price is not None else t.price
        qty = cmd.quantity if cmd.quantity is not None else t.quantity
        try:
            reply = await self.rest.request(
                "PUT", f"{self._api}/order",
                pv.amend_params(cmd, t.symbol, t.cmd.side, price or 0.0, qty), signed=True,
                timeout_s=self.params.ack_timeout_s)
            if reply.ok:
                venue = self._session.venue
                price = answer_field(reply.body, "price", venue, "amend", float)
                qty = answer_field(reply.body, "origQty", venue, "amend", float)
        except NotSent as exc:
            self.desk.request_not_sent(cmd.client_order_id, cmd.instrument_id, "amend", exc)
            return
        except (Unknown, VenueProtocolError) as exc:
            _log.warning("binance.amend_fate_unknown", venue=self._session.venue,
                         client_order_id=cmd.client_order_id, error=str(exc))
            return
        now = time.time_ns()
        if reply.ok:
            self.desk.emit(OrderAmended(client_order_id=cmd.client_order_id,
                                    instrument_id=cmd.instrument_id, price=price,
                                    quantity=qty, ts_event=now, ts_recv=now))
            return
        self._refused(reply)
        ev = OrderRejected(client_order_id=cmd.client_order_id, instrument_id=cmd.instrument_id,
                           reason=f"amend refused {reply.code}: {reply.message}",
                           ts_event=now, ts_recv=now)
        if self.tracker.admit_request_reject(ev):
            self._session.publish(ev)
        else:
            await self._query(cmd.client_order_id, t.symbol)

    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        self._session.spawn(self._query(client_order_id, split_instrument_id(instrument_id)[1]), order=True)

    async def _query(self, client_order_id: str, symbol: str) -> OrderStatusReport | None:
        """Publish the venue's ``OrderStatusReport`` and the lifecycle events it proves."""
        self._session.stats["queries"] += 1
        t = self.tracker.get(client_order_id)
        try:
            reply = await self.rest.request("GET", f"{self._api}/order",
                                            pv.order_ref_params(client_order_id, symbol),
                                            signed=True)
        except (Unknown, NotSent, VenueProtocolError) as exc:
            _log.warning("binance.query_failed", venue=self._session.venue,
                         client_order_id=client_order_id, error=str(exc))
            return None
        now = time.time_ns()
        if not reply.ok:
            self._refused(reply)
            window_ns = self.desk.receive_window_ns()
            if reply.code in pv.ORDER_NOT_FOUND and t is not None \
                    and self.tracker.never_placed(client_order_id, time.time_ns(), window_ns):
                # The venue has no such order well after our deadline: it was never placed.
                return self.desk.never_placed(
                    t, f"not found at the venue: never placed ({reply.code})")
            return None
        report = pv.order_report(reply.body, self.codec.instrument_id, now, self._session.venue)
        if t is not None:
            # The events the report proves go first, so the report itself only confirms them.
            await self._settle(t, report)
        self._session.publish(report)
        return report

    async def _settle(self, t: Tracked, report: OrderStatusReport) -> None:
        status = report.status
        if status == str(OrderStatus.REJECTED):
            self.desk.reject(t.cmd.client_order_id, t.cmd.instrument_id, "rejected (status query)")
            return
        self.desk.emit(OrderAccepted(client_order_id=t.cmd.client_order_id,
                                 venue_order_id=report.venue_order_id,
                                 instrument_id=t.cmd.instrument_id, ts_event=report.ts_event,
                                 ts_recv=report.ts_recv))
        if report.filled > t.filled + 1e-12:
            await self._recover_fills(t, report)
        cls = _TERMINAL.get(status)
        if cls is not None and t.state != DONE:
            kw = {"reason": "cancelled"} if cls is OrderCancelled else {}
            self.desk.emit(cls(client_order_id=t.cmd.client_order_id,
                           instrument_id=t.cmd.instrument_id, ts_event=report.ts_event,
                           ts_recv=report.ts_recv, **kw))

    async def _recover_fills(self, t: Tracked, report: OrderStatusReport) -> None:
        reply = await self._session.quiet(self.rest.request(
            "GET", f"{self._api}/userTrades",
            {"symbol": t.symbol, "orderId": report.venue_order_id}, signed=True))
        if reply is None or not reply.ok:
            return
        done = 0.0
        now = time.time_ns()
        for row in sorted(reply.body, key=lambda r: (r["time"], r["id"])):
            done += float(row["qty"])
            self.desk.emit(pv.user_trade(row, t.cmd.client_order_id, self.codec.instrument_id,
                                     max(report.quantity - done, 0.0), now, self._session.venue))

    # ------------------------------------------------------------------ account
    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        """Open orders, this account's trades since ``since_ns`` and positions, as Binance sees them."""
        await self.desk.settle_in_flight()
        now = time.time_ns()
        iid = self.codec.instrument_id
        opened = await self.rest.request("GET", f"{self._api}/openOrders", signed=True)
        if not opened.ok:
            raise RuntimeError(f"{self._session.venue}: openOrders refused: {opened.code} {opened.message}")
        orders = tuple(pv.order_report(r, iid, now, self._session.venue) for r in opened.body)
        open_by_vid = {o.venue_order_id: o for o in orders}
        fills = []
        for sym in self.symbols():
            reply = await self.rest.request("GET", f"{self._api}/userTrades",
                                            {"symbol": sym, "startTime": since_ns // 1_000_000},
                                            signed=True)
            if not reply.ok:
                raise RuntimeError(f"{self._session.venue}: userTrades refused: {reply.code} {reply.message}")
            cum: dict[str, float] = {}
            for row in sorted(reply.body, key=lambda r: (r["time"], r["id"])):
                vid = str(row["orderId"])
                cum[vid] = cum.get(vid, 0.0) + float(row["qty"])
                t = self.tracker.by_venue_id(vid)
                o = open_by_vid.get(vid)
                coid = t.cmd.client_order_id if t else (o.client_order_id if o else "")
                qty = t.quantity if t else (o.quantity if o else cum[vid])
                fills.append(pv.user_trade(row, coid, iid, max(qty - cum[vid], 0.0), now,
                                           self._session.venue))
        pos_reply = await self.rest.request("GET", "/fapi/v2/positionRisk", signed=True)
        if not pos_reply.ok:
            raise RuntimeError(f"{self._session.venue}: positionRisk refused: {pos_reply.code}")
        mine = set(self.symbols())
        positions = tuple(pv.positions([r for r in pos_reply.body if r["symbol"] in mine],
                                       iid, now, self._session.venue))
        return VenueReconciliation(venue=self._session.venue, open_orders=orders, fills=tuple(fills),
                                   positions=positions, ts=now)

    def cancel_all_orders(self) -> None:
        for sym in self.symbols():
            self._session.spawn(self._session.quiet(self.rest.request("DELETE", f"{self._api}/allOpenOrders",
                                                      {"symbol": sym}, signed=True)), order=True)

    def disarm_dead_man(self) -> bool:
        """Stop re-arming ``countdownCancelAll``; True if it was armed (then disarm it there)."""
        armed = self._dms_timeout_s > 0
        self._dms_timeout_s = 0.0
        return armed

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        """Arm ``countdownCancelAll`` per symbol and re-arm it at a third of the timeout."""
        if not self.params.trading:
            return
        self._dms_timeout_s = timeout_s
        if self._dms_task is None or self._dms_task.done():
            self._dms_task = self._session.spawn(self._dms_loop())

    async def _dms_loop(self) -> None:
        while self._dms_timeout_s > 0:
            ms = int(self._dms_timeout_s * 1000)
            for sym in self.symbols():
                await self._session.quiet(self.rest.request("POST", f"{self._api}/countdownCancelAll",
                                                    {"symbol": sym, "countdownTime": ms},
                                                    signed=True))
            await asyncio.sleep(max(self._dms_timeout_s / 3.0, 0.05))

