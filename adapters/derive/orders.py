"""Order entry, replace, cancel, queries and reconciliation of ``DeriveVenue``.

Theory of operation: composed from the session core, the JSON-RPC connection (``RpcLink``),
the order tracker, the signer and ``RpcOrderFlow`` (``adapters.live.rpc_orders``: the outcomes
and order events Derive shares with Deribit). ``submit``/``cancel``/``amend`` never block: each signs (an
order is an EIP-712 action, ``private.order_params``) and spawns a task that sends
``private/order``/``replace``/``cancel`` (paced by the matching-engine bucket).

* An error answer means the venue did nothing: a refused order becomes ``OrderRejected``; a
  refused cancel/replace of a working order becomes ``OrderRejected`` (the engine restores the
  order), otherwise the venue is asked about the order.
* No answer within ``ack_timeout_s`` (or the connection lost after sending): the order's fate
  is UNKNOWN. Nothing is published and nothing is resent; ``query_order`` settles it from the
  venue's word (``private/get_order``, or ``private/get_orders`` by ``label`` when the venue's
  order id never reached us). An order the venue does not know is reported REJECTED only once
  the connection that carried its request is gone.
* An amend is Derive's ``private/replace``: the old order is cancelled and a new signed one
  placed under the same label (our client order id). The old order's id is remembered in
  ``_replaced``, so its cancellation (on the answer or the stream) is not read as ours.
* Order and trade objects (answers and the ``{subaccount}.orders``/``.trades`` channels) pass
  the tracker, which drops duplicates (fills by trade id). A terminal state whose fills we have
  not seen yet is held back until they arrive: the engine never sees a fill after the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import structlog

from adapters.derive import private as pv
from adapters.derive.instruments import DeriveAsset
from adapters.derive.params import DeriveParams
from adapters.derive.signing import ActionSigner
from adapters.live.jsonrpc import Refused, Unknown, Withdrawn
from adapters.live.rpc_orders import FillLedger, RpcConnection, RpcOrderFlow
from adapters.live.session import LiveSession
from adapters.live.tracker import OrderTracker, Tracked
from engine.model import (
    AmendOrder,
    CancelOrder,
    OrderFilled,
    OrderStatus,
    OrderStatusReport,
    SubmitOrder,
    VenueProtocolError,
    VenueReconciliation,
    instrument_id,
)

__all__ = ["DeriveOrders", "Refused", "Unknown", "Withdrawn"]

_log = structlog.get_logger("volta.derive")
_NS_PER_MS = 1_000_000
_STATUS = {"open": str(OrderStatus.ACCEPTED), "filled": str(OrderStatus.FILLED),
           "cancelled": str(OrderStatus.CANCELLED), "expired": str(OrderStatus.EXPIRED),
           "rejected": str(OrderStatus.REJECTED), "untriggered": str(OrderStatus.ACCEPTED)}


class DeriveOrders:
    """Derive's order API over the session core, its JSON-RPC connection and order tracker."""

    def __init__(self, session: LiveSession, rpc: RpcConnection, tracker: OrderTracker,
                 params: DeriveParams, signer: ActionSigner | None,
                 assets: dict[str, DeriveAsset]) -> None:
        self.params = params
        self.tracker = tracker
        self._session = session
        self._conn = rpc
        self._signer = signer
        self._assets = assets
        """Symbol -> on-chain asset (filled by the streams with the instruments)."""
        c = params.constants
        self._acct = pv.Account(params.wallet, params.subaccount_id, c.trade_module,
                                params.max_fee, params.signature_expiry_s)
        self._nonces = pv.Nonces()
        self.flow = RpcOrderFlow(session, rpc, tracker, self._query,
                                 ack_timeout_s=params.ack_timeout_s, log=_log, log_name="derive")
        self.desk = self.flow.desk
        self._replaced: set[str] = set()

    def unknown_orders(self) -> list[str]:
        return self.desk.unknown_orders()

    # ------------------------------------------------------------------ commands
    def _signed(self, cmd: SubmitOrder, symbol: str, **kw: Any) -> dict[str, Any]:
        asset = self._assets.get(symbol)
        if asset is None or self._signer is None:
            raise ValueError(f"no on-chain asset known for {symbol}")
        return pv.order_params(cmd, symbol, asset, self._signer, self._acct,
                               self._nonces.next(), **kw)

    def submit(self, cmd: SubmitOrder) -> None:
        coid, iid = cmd.client_order_id, cmd.instrument_id
        if not self.params.trading or self._signer is None:
            self.desk.reject(coid, iid, "NOT_TRADING: no wallet configured")
            return
        inst = self._session.instruments.get(iid)
        if inst is None:
            self.desk.reject(coid, iid, "UNKNOWN_INSTRUMENT")
            return
        try:
            params = self._signed(cmd, inst.symbol)
        except ValueError as exc:
            self.desk.reject(coid, iid, f"INVALID_ORDER: {exc}")
            return
        self.tracker.add(cmd, inst.symbol)
        self._session.spawn(self.flow.send_new(
            cmd, "private/order", params, not_connected="NOT_CONNECTED: not logged in (never sent)",
            on_result=self._on_result), order=True)

    def _on_result(self, result: Any) -> None:
        now = self._session.clock.now_ns()
        try:
            if isinstance(result, dict) and "order" in result:
                trades = [pv.parse_trade(t) for t in result.get("trades") or ()]
                self.on_order(pv.parse_order(result["order"]), trades, now)
            else:
                self.on_order(pv.parse_order(result), (), now)
        except (VenueProtocolError, KeyError, TypeError) as exc:
            self._session.stats["private_malformed"] += 1
            _log.error("derive.order_answer_malformed", venue=self.params.venue, error=str(exc))

    def cancel(self, cmd: CancelOrder) -> None:
        self._session.spawn(self._send_cancel(cmd), order=True)

    async def _send_cancel(self, cmd: CancelOrder) -> None:
        t = await self.flow.acknowledged(cmd)
        if t is not None:
            await self.flow.request(
                cmd, "cancel", "private/cancel",
                {"subaccount_id": self.params.subaccount_id, "instrument_name": t.symbol,
                 "order_id": t.venue_order_id}, self._on_result)

    def amend(self, cmd: AmendOrder) -> None:
        t = self.flow.amendable(cmd)
        if t is None:
            return
        price = cmd.price if cmd.price is not None else t.price
        qty = cmd.quantity if cmd.quantity is not None else t.quantity
        try:
            params = self._signed(t.cmd, t.symbol, price=price, amount=qty,
                                  order_id_to_cancel=t.venue_order_id)
        except ValueError as exc:
            self.desk.refuse_request(cmd.client_order_id, cmd.instrument_id, f"amend: {exc}")
            return
        old = t.venue_order_id
        self._replaced.add(old)
        self._session.spawn(self.flow.request(
            cmd, "amend", "private/replace", params,
            lambda result: self._replace_answer(cmd, result),
            on_refused=lambda: self._replaced.discard(old)), order=True)

    def _replace_answer(self, cmd: AmendOrder, result: Any) -> None:
        if isinstance(result, dict) and result.get("order") is None:
            err = result.get("create_order_error") or {}
            # The old order is gone, the new one refused: the order has ended.
            self._on_result(result.get("cancelled_order"))
            _log.warning("derive.replace_not_placed", venue=self.params.venue,
                         client_order_id=cmd.client_order_id, error=str(err))
            return
        self._on_result(result)

    # ------------------------------------------------------------------ venue events
    def on_order(self, info: pv.OrderInfo, trades: Iterable[pv.TradeInfo], ts_recv: int) -> None:
        t = self.flow.tracked(info.label, info.order_id)
        ts = info.ts_ms * _NS_PER_MS
        if t is None:
            self.flow.foreign_order(info.label, instrument_id(self.params.venue, info.symbol),
                                    info.order_id, info.status, info.cancel_reason, ts, ts_recv,
                                    trades, self.on_trade)
            return
        if info.order_id in self._replaced:
            for tr in trades:  # fills of the replaced order are still ours
                self.on_trade(tr, ts_recv)
            return  # its cancellation is the replace, not the end of our order
        replaced = bool(t.venue_order_id) and t.venue_order_id != info.order_id
        self.flow.order_seen(t, info.order_id, info.status, replaced, info.price, info.amount,
                             ts, ts_recv)
        for tr in trades:
            self.on_trade(tr, ts_recv)
        self.flow.settle(t, info.status, info.cancel_reason, info.filled, ts, ts_recv)

    def _fill(self, tr: pv.TradeInfo, t: Tracked | None, ts_recv: int,
              remaining: float | None = None) -> OrderFilled:
        if remaining is None:
            remaining = max(t.quantity - t.filled - tr.amount, 0.0) if t is not None else math.nan
        return OrderFilled(
            client_order_id=t.cmd.client_order_id if t is not None else tr.label,
            venue_order_id=tr.order_id,
            instrument_id=t.cmd.instrument_id if t is not None
            else instrument_id(self.params.venue, tr.symbol),
            trade_id=tr.trade_id, side=tr.side, price=tr.price, quantity=tr.amount,
            remaining=round(remaining, 12), liquidity=tr.liquidity, fee=tr.fee,
            fee_currency="USDC", ts_event=tr.ts_ms * _NS_PER_MS, ts_recv=ts_recv)

    def on_trade(self, tr: pv.TradeInfo, ts_recv: int) -> None:
        self.flow.trade_seen(tr.label, tr.order_id, tr.trade_id, tr.ts_ms * _NS_PER_MS, ts_recv,
                             lambda t: self._fill(tr, t, ts_recv))

    # ------------------------------------------------------------------ queries
    def query_order(self, client_order_id: str, instrument_id: str) -> None:
        self._session.spawn(self._query(client_order_id, instrument_id))

    async def _query(self, coid: str, iid: str) -> OrderStatusReport | None:
        """Ask the venue about one order; publish what its answer proves, then the report."""
        t = self.flow.query_started(coid)
        sub = self.params.subaccount_id
        try:
            if t is not None and t.venue_order_id:
                found = [await self._conn.rpc("private/get_order",
                                              {"subaccount_id": sub, "order_id": t.venue_order_id})]
            else:
                res = await self._conn.rpc("private/get_orders", {"subaccount_id": sub,
                                                                  "label": coid})
                found = list(res.get("orders", ())) if isinstance(res, dict) else []
        except (Unknown, Refused) as exc:
            self.flow.query_failed(coid, exc)
            return None
        now = self._session.clock.now_ns()
        if not found:
            return self.flow.not_found(t, coid)
        try:
            infos = [pv.parse_order(o) for o in found]
            live = [i for i in infos if i.order_id not in self._replaced] or infos
            info = live[-1]
            trades: list[pv.TradeInfo] = []
            t = self.flow.tracked(coid, info.order_id)
            if t is not None and info.filled > t.filled + 1e-12:
                res = await self._conn.rpc("private/get_trade_history",
                                           {"subaccount_id": sub, "order_id": info.order_id})
                trades = [pv.parse_trade(r) for r in (res.get("trades", ()) if isinstance(res, dict)
                                                      else res or ())]
        except (Unknown, Refused, VenueProtocolError) as exc:
            self.flow.query_failed(coid, exc)
            return None
        self.on_order(info, trades, now)
        status = _STATUS.get(info.status, str(OrderStatus.ACCEPTED))
        if info.status == "open" and info.filled > 0:
            status = str(OrderStatus.PARTIALLY_FILLED)
        report = OrderStatusReport(
            client_order_id=coid, venue_order_id=info.order_id, instrument_id=iid,
            side=info.side, status=status, price=info.price, quantity=info.amount,
            filled=info.filled, avg_fill_price=info.avg_price, ts_event=info.ts_ms * _NS_PER_MS,
            ts_recv=now)
        self._session.publish(report)
        return report

    async def reconcile(self, since_ns: int) -> VenueReconciliation:
        """Open orders, our fills since ``since_ns`` and positions of the subaccount."""
        self.desk.withdraw_unsent()  # never listed, and never to be sent: rejected first
        sub, venue = self.params.subaccount_id, self.params.venue
        now = self._session.clock.now_ns()
        res = await self._conn.rpc("private/get_open_orders", {"subaccount_id": sub})
        opens = []
        for o in res.get("orders", ()):
            i = pv.parse_order(o)
            opens.append(OrderStatusReport(
                client_order_id=i.label, venue_order_id=i.order_id,
                instrument_id=instrument_id(venue, i.symbol), side=i.side,
                status=str(OrderStatus.PARTIALLY_FILLED if i.filled > 0 else OrderStatus.ACCEPTED),
                price=i.price, quantity=i.amount, filled=i.filled, avg_fill_price=i.avg_price,
                ts_event=i.ts_ms * _NS_PER_MS, ts_recv=now))
        ledger = FillLedger({o.venue_order_id: o.quantity for o in opens})
        res = await self._conn.rpc("private/get_trade_history",
                                   {"subaccount_id": sub, "from_timestamp": since_ns // _NS_PER_MS})
        fills = []
        rows = res.get("trades", ()) if isinstance(res, dict) else res or ()
        for tr in sorted((pv.parse_trade(r) for r in rows), key=lambda x: x.ts_ms):
            t = self.flow.tracked(tr.label, tr.order_id)
            left = ledger.remaining(t, tr.order_id, tr.amount)
            fills.append(self._fill(tr, t, now, math.nan if left is None else left))
        res = await self._conn.rpc("private/get_positions", {"subaccount_id": sub})
        positions = tuple(pv.parse_position(p, now) for p in res.get("positions", ()))
        return VenueReconciliation(venue=venue, open_orders=tuple(opens), fills=tuple(fills),
                                   positions=positions, ts=now)

    def cancel_all_orders(self) -> None:
        """Kill switch level 2: ``private/cancel_all`` (the whole subaccount)."""
        self._session.spawn(self.flow.cancel_all({"subaccount_id": self.params.subaccount_id}),
                            order=True)

    def enable_cancel_on_disconnect(self, timeout_s: float) -> None:
        """Derive's cancel-on-disconnect (no timeout: it fires when the connection drops, and is
        re-armed on every login)."""
        if self.params.trading:
            self._conn.arm_cancel_on_disconnect()
