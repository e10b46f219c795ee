"""``RpcOrderFlow``: the order-answer handling shared by the JSON-RPC venues (Deribit, Derive).

Theory of operation. Both venues send an order request on one authenticated websocket
(``JsonRpcChannel.call``) and read the same three outcomes from it; what differs is the
venue's request (method, params, Derive's EIP-712 signature) and how its order and trade
objects look. Each venue's order API (``adapters.<venue>.orders``) composes one
``RpcOrderFlow`` and hands it venue-neutral facts; the flow turns them into order events:

* ``send_new``: an error answer (``Refused``) rejects the order; no answer in time or a lost
  connection (``Unknown``) marks its fate UNKNOWN (nothing published, nothing resent: a
  status query settles it), and an answer that still arrives later on the same connection is
  read then (``late``); ``Withdrawn`` means the engine's question already rejected it.
* ``request`` (cancel, amend): ``Unknown`` is left to the engine's ack timeout; ``Refused``
  restores a working order (``OrderDesk.refuse_request``) or asks the venue about it.
* ``acknowledged``/``amendable``: a cancel or amend needs the venue's order id; before it is
  known the venue is asked (cancel) or the amend is refused.
* ``order_seen``/``trade_seen``/``foreign_order``: an order object or a trade from an answer
  or the private stream, ours (through the tracker: duplicates dropped, an end held until its
  fills arrived) or another process's (published under its label).
* ``not_found``: the venue has no such order, which proves "never placed" only once the
  connection that carried the request is gone.
* ``FillLedger``: a reconciliation's remaining quantity after each listed fill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from adapters.live.jsonrpc import Refused, Unknown, Withdrawn
from adapters.live.orders import NOT_OURS, OrderDesk, StatusQuery
from adapters.live.session import LiveSession, Logger
from adapters.live.tracker import DONE, OrderTracker, Tracked
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    SubmitOrder,
)

__all__ = ["FillLedger", "RpcConnection", "RpcOrderFlow"]

Trade = TypeVar("Trade")

NOT_FOUND = "NOT_FOUND: the request never reached the venue"


class RpcConnection(Protocol):
    """What an order API needs of its venue's JSON-RPC connection (the venue's streams)."""

    @property
    def authenticated(self) -> bool:
        """Logged in on the current connection."""

    @property
    def connection_number(self) -> int:
        """Counts connections: a request cannot be answered on a later one."""

    async def rpc(self, method: str, params: dict[str, Any], timeout: float | None = None,
                  on_wire: Callable[[], None] | None = None,
                  late: Callable[[dict[str, Any]], None] | None = None,
                  admit: Callable[[], bool] | None = None) -> Any:
        """One request: its ``result``; ``Refused``/``Unknown``/``Withdrawn`` otherwise."""

    def arm_cancel_on_disconnect(self) -> None:
        """Arm cancel-on-disconnect now (if logged in) and on every new connection."""


class FillLedger:
    """Remaining quantity after each fill of a reconciliation's fill list (oldest first):
    cumulative per venue order id against the order's size, where the size is known."""

    def __init__(self, sizes: dict[str, float]) -> None:
        self.sizes = sizes
        """Venue order id -> size of the orders the venue lists as open."""
        self._cum: dict[str, float] = {}

    def remaining(self, t: Tracked | None, venue_order_id: str, amount: float) -> float | None:
        """After this fill of ``amount``: the order's remaining quantity, None if unknown."""
        cum = self._cum.get(venue_order_id, 0.0) + amount
        self._cum[venue_order_id] = cum
        size = t.quantity if t is not None else self.sizes.get(venue_order_id)
        return None if size is None else max(round(size - cum, 12), 0.0)


class RpcOrderFlow:
    """Outcomes of order requests and order/trade objects of a JSON-RPC venue (module doc)."""

    def __init__(self, session: LiveSession, conn: RpcConnection, tracker: OrderTracker,
                 query: StatusQuery, *, ack_timeout_s: float, log: Logger, log_name: str) -> None:
        self.session = session
        self.conn = conn
        self.tracker = tracker
        self.query = query
        self.ack_timeout_s = ack_timeout_s
        self.log = log
        self.log_name = log_name
        self.desk = OrderDesk(session, tracker, query, ack_timeout_s=ack_timeout_s,
                              by_instrument=True)

    # ------------------------------------------------------------------ requests
    async def send_new(self, cmd: SubmitOrder, method: str, params: dict[str, Any], *,
                       not_connected: str, on_result: Callable[[Any], None]) -> None:
        """Send a new order; ``on_result(result)`` reads the venue's answer (now or late)."""
        coid = cmd.client_order_id
        desk, conn = self.desk, self.conn
        if not conn.authenticated:
            desk.reject(coid, cmd.instrument_id, not_connected)
            return
        try:
            result = await conn.rpc(method, params, timeout=self.ack_timeout_s,
                                    on_wire=lambda: desk.on_wire(coid, conn.connection_number),
                                    late=lambda msg: self._late_answer(cmd, msg, on_result),
                                    admit=lambda: desk.still_wanted(coid))
        except Unknown as exc:
            if self.tracker.mark_lost(coid):
                self.session.stats["acks_unknown"] += 1
                self.log.warning(f"{self.log_name}.order_fate_unknown", venue=self.session.venue,
                                 client_order_id=coid, error=str(exc))
            return
        except Withdrawn:
            return  # already rejected when the engine asked about it
        except Refused as exc:
            why = "NOT_CONNECTED (never sent)" if not exc.sent else f"{exc.code}: {exc.message}"
            desk.reject(coid, cmd.instrument_id, why)
            return
        on_result(result)

    def _late_answer(self, cmd: SubmitOrder, msg: dict[str, Any],
                     on_result: Callable[[Any], None]) -> None:
        """The answer to an order request whose fate was already declared unknown."""
        err = msg.get("error")
        if err is None:
            on_result(msg.get("result"))
            return
        e = err if isinstance(err, dict) else {}
        self.desk.reject(cmd.client_order_id, cmd.instrument_id,
                         f"{e.get('code')}: {e.get('message')}")

    async def request(self, cmd: CancelOrder | AmendOrder, what: str, method: str,
                      params: dict[str, Any], on_result: Callable[[Any], None],
                      on_refused: Callable[[], None] | None = None) -> None:
        """Send a cancel or amend (``what``) of a working order and read its answer."""
        try:
            result = await self.conn.rpc(method, params, timeout=self.ack_timeout_s)
        except Unknown:
            return  # the engine's ack timeout asks the venue
        except Refused as exc:
            if on_refused is not None:
                on_refused()
            self.request_refused(cmd.client_order_id, cmd.instrument_id, what, exc)
            return
        on_result(result)

    def request_refused(self, coid: str, iid: str, what: str, exc: Refused) -> None:
        self.desk.refuse_request(coid, iid, f"{what} refused {exc.code}: {exc.message}",
                                 lambda: self.query(coid, iid))

    async def acknowledged(self, cmd: CancelOrder) -> Tracked | None:
        """The tracked order a cancel names by its venue id; if that id never reached us, the
        venue is asked first. None: nothing (more) to cancel."""
        t = self.tracker.get(cmd.client_order_id)
        if t is None or not t.venue_order_id:
            await self.query(cmd.client_order_id, cmd.instrument_id)  # cannot name it yet
            t = self.tracker.get(cmd.client_order_id)
            if t is None or not t.venue_order_id or t.state == DONE:
                return None
        return t

    def amendable(self, cmd: AmendOrder) -> Tracked | None:
        """The tracked order an amend names; None (and the amend refused) before the venue
        acknowledged it, or when this session has no record of it."""
        t = self.tracker.get(cmd.client_order_id)
        if t is None:  # (e.g. working since before a restart): refused, the engine restores it
            self.desk.reject(cmd.client_order_id, cmd.instrument_id, NOT_OURS)
            return None
        if not t.venue_order_id:
            self.desk.refuse_request(cmd.client_order_id, cmd.instrument_id,
                                     "amend: order not acknowledged by the venue yet")
            return None
        return t

    async def cancel_all(self, params: dict[str, Any]) -> None:
        """Kill switch level 2: ``private/cancel_all`` (a failure is logged: the operator sees
        the orders still working)."""
        try:
            await self.conn.rpc("private/cancel_all", params, timeout=self.ack_timeout_s)
        except (Unknown, Refused) as exc:
            self.log.error(f"{self.log_name}.cancel_all_failed", venue=self.session.venue,
                           error=str(exc))

    # ------------------------------------------------------------------ venue objects
    def tracked(self, label: str, venue_order_id: str) -> Tracked | None:
        """Our order by its label (client order id), else by the venue's order id."""
        t = self.tracker.get(label) if label else None
        return t if t is not None else self.tracker.by_venue_id(venue_order_id)

    def order_seen(self, t: Tracked, venue_order_id: str, status: str, amended: bool,
                   price: float | None, amount: float, ts_event: int, ts_recv: int) -> None:
        """An order object of ours: accepted unless rejected, amended when ``amended`` and it is
        open (the venue's new price and size). The caller passes its trades on next, then
        ``settle``s the order."""
        coid, iid = t.cmd.client_order_id, t.cmd.instrument_id
        self.tracker.set_venue_id(t, venue_order_id)
        if status != "rejected":
            self.desk.emit(OrderAccepted(client_order_id=coid, venue_order_id=venue_order_id,
                                         instrument_id=iid, ts_event=ts_event, ts_recv=ts_recv))
        if amended and status == "open" and price is not None:
            self.desk.emit(OrderAmended(client_order_id=coid, instrument_id=iid, price=price,
                                        quantity=amount, ts_event=ts_event, ts_recv=ts_recv))

    def settle(self, t: Tracked, status: str, reason: str, venue_filled: float, ts_event: int,
               ts_recv: int) -> None:
        """The order's state after its fills: ended (cancelled, expired, rejected; held until
        every fill the venue counted has arrived) or working."""
        coid, iid = t.cmd.client_order_id, t.cmd.instrument_id
        ev: OrderCancelled | OrderExpired | OrderRejected
        if status == "cancelled":
            ev = OrderCancelled(client_order_id=coid, instrument_id=iid,
                                reason=reason or "cancelled", ts_event=ts_event, ts_recv=ts_recv)
        elif status == "expired":
            ev = OrderExpired(client_order_id=coid, instrument_id=iid, ts_event=ts_event,
                              ts_recv=ts_recv)
        elif status == "rejected":
            ev = OrderRejected(client_order_id=coid, instrument_id=iid,
                               reason=reason or "rejected by venue", ts_event=ts_event,
                               ts_recv=ts_recv)
        else:
            self.desk.working(t)
            return
        self.desk.end(t, ev, venue_filled)

    def foreign_order(self, label: str, iid: str, venue_order_id: str, status: str, reason: str,
                      ts_event: int, ts_recv: int, trades: Iterable[Trade],
                      on_trade: Callable[[Trade, int], None]) -> None:
        """An order this process did not send (an earlier run of it, the venue's web UI): what
        it proves passes through under its label; the engine knows the order or counts it.
        Without a label (the web UI) there is no life cycle to tell, but its trades still go
        on: a fill is a fact (the engine counts it and the portfolio applies it once)."""
        self.session.stats["foreign_orders"] += 1
        publish = self.session.publish
        if label and status != "rejected":
            publish(OrderAccepted(client_order_id=label, venue_order_id=venue_order_id,
                                  instrument_id=iid, ts_event=ts_event, ts_recv=ts_recv))
        for tr in trades:
            on_trade(tr, ts_recv)
        if label and status in ("cancelled", "expired"):
            publish(OrderCancelled(client_order_id=label, instrument_id=iid,
                                   reason=reason or status, ts_event=ts_event, ts_recv=ts_recv))

    def trade_seen(self, label: str, venue_order_id: str, trade_id: str, ts_event: int,
                   ts_recv: int, fill: Callable[[Tracked | None], OrderFilled]) -> None:
        """A trade (answer or stream): ``fill(t)`` builds its ``OrderFilled`` for our order
        ``t`` (None: another process's order, published with or without a label: a fill is
        a fact). Ours once per trade id, after an ``OrderAccepted`` unless the order ended."""
        t = self.tracked(label, venue_order_id)
        if t is None:
            self.session.stats["foreign_orders"] += 1
            self.session.publish(fill(None))
            return
        if trade_id in t.trade_ids:
            return
        if t.state != DONE:
            self.desk.emit(OrderAccepted(client_order_id=t.cmd.client_order_id,
                                         venue_order_id=venue_order_id,
                                         instrument_id=t.cmd.instrument_id,
                                         ts_event=ts_event, ts_recv=ts_recv))
        self.desk.emit(fill(t))
        self.desk.fill_seen(t)

    def query_started(self, coid: str) -> Tracked | None:
        """A status query of ``coid`` begins: counted, and a new order still held by our rate
        limiter is withdrawn first (the venue cannot know it); the tracked order, if any."""
        self.session.stats["queries"] += 1
        self.desk.withdraw_unsent(coid)
        return self.tracker.get(coid)

    def not_found(self, t: Tracked | None, coid: str) -> OrderStatusReport | None:
        """The venue lists no such order: if the connection that carried its request is gone,
        it was never placed and can no longer be (REJECTED); otherwise nothing is proven."""
        if t is not None and self.desk.lost_with_connection(coid, self.conn.connection_number):
            return self.desk.never_placed(t, NOT_FOUND)
        return None

    def query_failed(self, coid: str, exc: Exception) -> None:
        # (a query the session's own stop cut off is expected: not a warning)
        log = self.log.info if self.session.stopping else self.log.warning
        log(f"{self.log_name}.query_failed", venue=self.session.venue, client_order_id=coid,
            error=str(exc))
