"""Order entry, status queries, reconciliation and the dead-man switch of ``OkxVenue``.

Theory of operation: composed from the session core, the private link (``OkxPrivateLink``),
the REST client and the order tracker. Orders go out as websocket operations (``order``/``amend-order``/
``cancel-order``, each with an ``id``), paced per instrument by the place/amend/cancel limits
(60 per 2 s). ``pending`` maps an operation id to what it was for; it lives until the answer
or the end of the connection, so a late answer is still applied.

* A successful ``order`` row is the venue's acceptance (``OrderAccepted``); a failed row is a
  rejection. A refused cancel/amend of a working order is an ``OrderRejected`` (the engine
  restores the order), otherwise the venue is asked.
* No answer within ``ack_timeout_s``, or the connection lost with the operation pending:
  UNKNOWN. Nothing is published and nothing is resent; ``query_order`` (``GET
  /api/v5/trade/order`` by ``clOrdId``) settles it. "Order does not exist" proves the order
  was never placed only once the connection that carried it is gone.
* ``orders`` pushes carry the order and its last fill: fills become ``OrderFilled`` (venue
  ``tradeId``, fee with OKX's sign flipped), de-duplicated by trade id; a terminal state whose
  fills we have not seen yet is held back until they arrive (or a query recovers them).
* ``enable_cancel_on_disconnect`` arms ``POST /api/v5/trade/cancel-all-after`` and refreshes
  it; ``stop`` disarms it.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Protocol

import structlog

from adapters.live.orders import NOT_OURS, OrderDesk
from adapters.live.session import LiveSession
from adapters.live.tracker import DONE, OrderTracker, Tracked
from adapters.okx import private as pv
from adapters.okx.params import OkxParams
from adapters.okx.rest import OkxRest, Unknown, Unreachable
from adapters.ratelimit import RateLimiter
from adapters.ws import NotConnected, ReconnectingWebSocket
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

_log = structlog.get_logger("volta.okx")
_NS_PER_MS = 1_000_000
_OP_ENDPOINT = {"order": "POST /api/v5/trade/order", "amend-order": "POST /api/v5/trade/amend-order",
                "cancel-order": "POST /api/v5/trade/cancel-order"}


class OkxPrivateLink(Protocol):
    """What the order API needs of OKX's private websocket (``OkxStreams``)."""

    @property
    def connection_number(self) -> int:
        """Counts private connections: an op cannot be answered on a later one."""

    def logged_in_socket(self) -> ReconnectingWebSocket | None:
        """The private websocket, if it is open and logged in."""

    def rate_limited(self, what: str) -> None:
        """Count and publish a ``rate_limited`` status."""


class OkxOrders:
    """OKX's order API: websocket order ops over the private link, REST queries and account."""

    def __init__(self, session: LiveSession, link: OkxPrivateLink, rest: OkxRest,
                 limiter: RateLimiter, tracker: OrderTracker, params: OkxParams) -> None:
        self.params = params
        self.rest = rest
        self.limiter = limiter
        self.tracker = tracker
        self._session = session
        self._link = link
        self.desk = OrderDesk(session, tracker, self._query, ack_timeout_s=params.ack_timeout_s,
                              by_instrument=True)
        self.pending: dict[str, tuple[str, str, str]] = {}  # op id -> (op, coid, iid)
        self._op_ids = itertools.count(1)
        self._cl: dict[str, str] = {}  # clOrdId -> client order id
        self._dead_man_task: asyncio.Task[None] | None = None

    def unknown_orders(self) -> list[str]:
        return self.desk.unknown_orders()

    # ------------------------------------------------------------------ commands
    def submit(self, cmd: SubmitOrder) -> None:
        coid, iid = cmd.client_order_id, cmd.instrument_id
        if not self.params.trading:
            self.desk.reject(coid, iid, "NOT_TRADING: no credentials")
            return
        inst = self._session.instruments.get(iid)
        if inst is None:
            self.desk.reject(coid, iid, "UNKNOWN_INSTRUMENT")
            return
        try:
            args = pv.order_args(cmd, inst.symbol, self.params.td_mode)
        except ValueError as exc:
            self.desk.reject(coid, iid, f"INVALID_ORDER: {exc}")
            return
        self.tracker.add(cmd, inst.symbol)
        self._cl[args["clOrdId"]] = coid
        self._session.spawn(self._send_op("order", args, coid, iid), order=True)

    def cancel(self, cmd: CancelOrder) -> None:
        t = self.tracker.get(cmd.client_order_id)
        inst = t.symbol if t is not None else cmd.instrument_id.partition(":")[2]
        args = {"instId": inst, "clOrdId": pv.cl_ord_id(cmd.client_order_id)}
        self._session.spawn(self._send_op("cancel-order", args, cmd.client_order_id, cmd.instrument_id),
                    order=True)

    def amend(self, cmd: AmendOrder) -> None:
        t = self.tracker.get(cmd.client_order_id)
        if t is None:  # (e.g. working since before a restart): refused, the engine restores it
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, NOT_OURS)
            return
        args: dict[str, Any] = {"instId": t.symbol, "clOrdId": pv.cl_ord_id(cmd.client_order_id)}
        if cmd.price is not None:
            args["newPx"] = pv.fmt(cmd.price)
        if cmd.quantity is not None:
            args["newSz"] = pv.fmt(cmd.quantity)
        self._session.spawn(self._send_op("amend-order", args, cmd.client_order_id, cmd.instrument_id),
                    order=True)

    async def _send_op(self, op: str, args: dict[str, Any], coid: str, iid: str) -> None:
        await self.limiter.acquire(_OP_ENDPOINT[op], args["instId"])
        if op == "order" and not self.desk.still_wanted(coid):
            return  # withdrawn (rejected) while the limiter held it: never sent
        priv = self._link.logged_in_socket()
        op_id = f"{op[0]}{next(self._op_ids)}"
        try:
            if priv is None:
                raise NotConnected("private stream down")
            priv.send_nowait(pv.op_frame(op_id, op, [args]))
        except NotConnected:
            self._never_sent(op, coid, iid, "NOT_CONNECTED: private stream down (never sent)")
            return
        self.pending[op_id] = (op, coid, iid)
        if op == "order":
            self.desk.on_wire(coid, self._link.connection_number)
            await asyncio.sleep(self.params.ack_timeout_s)
            if op_id in self.pending and self.tracker.mark_lost(coid):
                self._session.stats["acks_unknown"] += 1
                _log.warning("okx.order_fate_unknown", venue=self._session.venue, client_order_id=coid)

    def _never_sent(self, op: str, coid: str, iid: str, reason: str) -> None:
        """An operation that could not be sent: a new order is rejected, a cancel or amend
        refused (the order stays as it was), at once: the strategy can act."""
        if op == "order":
            self.desk.reject(coid, iid, reason)
        else:
            self.desk.refuse_request(coid, iid, f"{op.partition('-')[0]} not sent: {reason}",
                                     lambda: self._query(coid, iid))

    def connection_lost(self) -> None:
        for op, coid, _ in self.pending.values():
            if op == "order" and self.tracker.mark_lost(coid):
                self._session.stats["acks_unknown"] += 1
        self.pending.clear()

    def on_op_reply(self, rows: list[pv.OpReply], ts_recv: int) -> None:
        for row in rows:
            entry = self.pending.pop(row.req_id, None)
            if entry is None:
                continue
            op, coid, iid = entry
            if row.code == pv.RATE_LIMITED:
                self._link.rate_limited(op)
                for name in self.limiter.costs(_OP_ENDPOINT[op]):
                    self.limiter.limiter(name, iid.partition(":")[2]).block_for(1.0)
            if op == "order":
                if row.code == "0":
                    t = self.tracker.get(coid)
                    if t is not None:
                        self.tracker.set_venue_id(t, row.venue_order_id)
                    self.desk.emit(OrderAccepted(client_order_id=coid, venue_order_id=row.venue_order_id,
                                             instrument_id=iid, ts_event=ts_recv, ts_recv=ts_recv))
                else:
                    self.desk.reject(coid, iid, f"{row.code}: {row.message}")
            elif row.code != "0":
                now = self._session.clock.now_ns()
                ev = OrderRejected(client_order_id=coid, instrument_id=iid,
                                   reason=f"{op} refused {row.code}: {row.message}",
                                   ts_event=now, ts_recv=now)
                if self.tracker.admit_request_reject(ev):
                    self._session.publish(ev)
                else:
                    self._session.spawn(self._query(coid, iid))

    # ------------------------------------------------------------------ venue events
    def _tracked(self, cl: str, venue_order_id: str) -> Tracked | None:
        coid = self._cl.get(cl) if cl else None
        t = self.tracker.get(coid) if coid else None
        return t if t is not None else self.tracker.by_venue_id(venue_order_id)

    def on_order(self, o: pv.OkxOrder, ts_recv: int) -> None:
        t = self._tracked(o.cl_ord_id, o.venue_order_id)
        if t is None:
            self._untracked_order(o, ts_recv)
            return
        coid, iid = t.cmd.client_order_id, t.cmd.instrument_id
        self.tracker.set_venue_id(t, o.venue_order_id)
        self.desk.emit(OrderAccepted(client_order_id=coid, venue_order_id=o.venue_order_id,
                                 instrument_id=iid, ts_event=o.ts_event, ts_recv=ts_recv))
        if o.state in ("live", "partially_filled") and o.price is not None and (
                o.price != t.price or o.size != t.quantity) and t.state != DONE:
            self.desk.emit(OrderAmended(client_order_id=coid, instrument_id=iid, price=o.price,
                                    quantity=o.size, ts_event=o.ts_event, ts_recv=ts_recv))
        if o.trade_id and o.fill_size > 0:
            self._fill(t, o.trade_id, o.fill_price, o.fill_size, o.size - o.filled, o.fee,
                       o.fee_currency, o.liquidity, o.venue_order_id, o.ts_event, ts_recv)
        self._terminal(t, o, ts_recv)

    def _untracked_order(self, o: pv.OkxOrder, ts_recv: int) -> None:
        """An order this process did not send (an earlier run, the web UI): what it proves
        passes through under its ``clOrdId`` (the engine knows the order or counts it). A
        hashed ``clOrdId`` of an earlier run cannot be mapped back: reconciliation settles it.
        Without a ``clOrdId`` (the web UI) only its fills go on: a fill is a fact (the engine
        counts it and the portfolio applies it once)."""
        self._session.stats["foreign_orders"] += 1
        coid, iid = o.cl_ord_id, o.instrument_id
        if coid:
            self._session.publish(OrderAccepted(
                client_order_id=coid, venue_order_id=o.venue_order_id, instrument_id=iid,
                ts_event=o.ts_event, ts_recv=ts_recv))
        if o.trade_id and o.fill_size > 0:
            self._session.publish(OrderFilled(
                client_order_id=coid, venue_order_id=o.venue_order_id, instrument_id=iid,
                trade_id=o.trade_id, side=o.side, price=o.fill_price, quantity=o.fill_size,
                remaining=max(o.size - o.filled, 0.0), liquidity=o.liquidity, fee=o.fee,
                fee_currency=o.fee_currency, ts_event=o.ts_event, ts_recv=ts_recv))
        if coid and o.state in pv.TERMINAL_STATES:
            self._session.publish(OrderCancelled(client_order_id=coid, instrument_id=iid,
                                        reason=f"cancelSource {o.cancel_source}",
                                        ts_event=o.ts_event, ts_recv=ts_recv))

    def _fill(self, t: Tracked, trade_id: str, price: float, size: float, remaining: float,
              fee: float, fee_ccy: str, liq: Any, venue_order_id: str, ts_event: int,
              ts_recv: int) -> None:
        self.desk.emit(OrderFilled(client_order_id=t.cmd.client_order_id, venue_order_id=venue_order_id,
                               instrument_id=t.cmd.instrument_id, trade_id=trade_id,
                               side=t.cmd.side, price=price, quantity=size,
                               remaining=max(round(remaining, 12), 0.0), liquidity=liq, fee=fee,
                               fee_currency=fee_ccy, ts_event=ts_event, ts_recv=ts_recv))
        self.desk.fill_seen(t)

    def _terminal(self, t: Tracked, o: pv.OkxOrder, ts_recv: int) -> None:
        if o.state not in pv.TERMINAL_STATES:
            self.desk.working(t)
            return
        self.desk.end(t, OrderCancelled(
            client_order_id=t.cmd.client_order_id, instrument_id=t.cmd.instrument_id,
            reason=f"cancelSource {o.cancel_source}" if o.cancel_source else "canceled",
            ts_event=o.ts_event, ts_recv=ts_recv), o.filled)

    # ------------------------------------------------------------------ queries
    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        self._session.spawn(self._query(client_order_id, instrument_id))

    async def _query(self, coid: str, iid: str) -> OrderStatusReport | None:
        self._session.stats["queries"] += 1
        self.desk.withdraw_unsent(coid)
        inst = iid.partition(":")[2]
        try:
            body = await self.rest.request("GET", "/api/v5/trade/order",
                                           {"instId": inst, "clOrdId": pv.cl_ord_id(coid)},
                                           signed=True)
        except (Unknown, Unreachable) as exc:
            _log.warning("okx.query_failed", venue=self._session.venue, client_order_id=coid, error=str(exc))
            return None
        now = self._session.clock.now_ns()
        t = self.tracker.get(coid)
        if body.get("code") == pv.ORDER_NOT_FOUND:
            if t is not None and self.desk.lost_with_connection(coid, self._link.connection_number):
                return self.desk.never_placed(t, "NOT_FOUND: the request never reached the venue")
            return None
        if body.get("code") != "0" or not body.get("data"):
            _log.warning("okx.query_refused", venue=self._session.venue, code=body.get("code"))
            return None
        try:
            o = pv.parse_order(body["data"][0])
        except VenueProtocolError as exc:
            _log.error("okx.query_malformed", venue=self._session.venue, error=str(exc))
            return None
        if t is not None and o.filled > t.filled + 1e-12:
            await self._recover_fills(t, o.venue_order_id)
        # The row's last-fill fields are already covered by the fills just recovered.
        self.on_order(o._replace(trade_id=""), now)
        report = pv.report(o, coid, now)
        self._session.publish(report)
        return report

    async def _recover_fills(self, t: Tracked, venue_order_id: str) -> None:
        body = await self._session.quiet(self.rest.request(
            "GET", "/api/v5/trade/fills", {"instType": "SWAP", "ordId": venue_order_id},
            signed=True))
        if body is None or body.get("code") != "0":
            return
        now = self._session.clock.now_ns()
        for row in sorted(body["data"], key=lambda r: int(r.get("ts") or 0)):
            f = pv.parse_fill(row)
            if f.trade_id in t.trade_ids:
                continue
            self._fill(t, f.trade_id, f.price, f.size, t.quantity - t.filled - f.size, f.fee,
                       f.fee_currency, f.liquidity, f.venue_order_id, f.ts_event, now)

    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        """Pending orders, our fills since ``since_ns`` and positions (REST)."""
        self.desk.withdraw_unsent()  # never listed, and never to be sent: rejected first
        now = self._session.clock.now_ns()
        pend = await self.rest.request("GET", "/api/v5/trade/orders-pending", signed=True)
        opens = []
        for row in pend.get("data", ()):
            o = pv.parse_order(row)
            opens.append(pv.report(o, self._cl.get(o.cl_ord_id, o.cl_ord_id), now))
        fills_body = await self.rest.request("GET", "/api/v5/trade/fills",
                                             {"begin": str(since_ns // _NS_PER_MS)}, signed=True)
        fills = []
        sizes = {r.venue_order_id: r.quantity for r in opens}
        cum: dict[str, float] = {}
        rows = sorted((pv.parse_fill(r) for r in fills_body.get("data", ())),
                      key=lambda f: f.ts_event)
        for f in rows:
            # remaining after each fill, as it was then: cumulative against the order's size
            t = self._tracked(f.cl_ord_id, f.venue_order_id)
            cum[f.venue_order_id] = cum.get(f.venue_order_id, 0.0) + f.size
            size = t.quantity if t is not None else sizes.get(f.venue_order_id, cum[f.venue_order_id])
            fills.append(OrderFilled(
                client_order_id=t.cmd.client_order_id if t else self._cl.get(f.cl_ord_id, f.cl_ord_id),
                venue_order_id=f.venue_order_id, instrument_id=f.instrument_id,
                trade_id=f.trade_id, side=f.side, price=f.price, quantity=f.size,
                remaining=max(round(size - cum[f.venue_order_id], 12), 0.0),
                liquidity=f.liquidity, fee=f.fee, fee_currency=f.fee_currency,
                ts_event=f.ts_event, ts_recv=now))
        pos_body = await self.rest.request("GET", "/api/v5/account/positions", signed=True)
        positions = [pv.parse_position(r, now) for r in pos_body.get("data", ())]
        return VenueReconciliation(venue=self._session.venue, open_orders=tuple(opens), fills=tuple(fills),
                                   positions=tuple(positions), ts=now)

    def cancel_all_orders(self) -> None:
        """Kill switch level 2: every pending order of the account, in batches of 20."""
        self._session.spawn(self._cancel_all(), order=True)

    async def _cancel_all(self) -> None:
        body = await self._session.quiet(self.rest.request("GET", "/api/v5/trade/orders-pending",
                                                   signed=True))
        if body is None:
            return
        rows = [{"instId": r["instId"], "ordId": r["ordId"]} for r in body.get("data", ())]
        for i in range(0, len(rows), 20):
            await self._session.quiet(self.rest.request("POST", "/api/v5/trade/cancel-batch-orders",
                                                body=rows[i:i + 20], signed=True))

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        """Arm ``cancel-all-after`` (OKX accepts 0 or 10..120 s) and keep refreshing it."""
        if not self.params.trading:
            return
        if self._dead_man_task is not None:
            self._dead_man_task.cancel()
        self._dead_man_task = self._session.spawn(self._dead_man(timeout_s))

    async def _dead_man(self, timeout_s: float) -> None:
        while True:
            body = await self._session.quiet(self.rest.request(
                "POST", "/api/v5/trade/cancel-all-after",
                body={"timeOut": pv.fmt(timeout_s)}, signed=True))
            if body is not None and body.get("code") != "0":
                _log.error("okx.dead_man_refused", venue=self._session.venue, code=body.get("code"),
                           message=body.get("msg"))
            else:
                self._session.stats["dead_man_refreshes"] += 1
            await asyncio.sleep(timeout_s * self.params.dead_man_refresh_ratio)


    async def disarm_dead_man(self) -> None:
        """Stop refreshing ``cancel-all-after`` and disarm it at the venue (a graceful stop)."""
        if self._dead_man_task is not None:
            self._dead_man_task.cancel()
            await self._session.quiet(self.rest.request("POST", "/api/v5/trade/cancel-all-after",
                                                        body={"timeOut": "0"}, signed=True))
