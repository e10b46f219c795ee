"""A local fake Bybit v5 venue (one category): public and private websockets + REST, with faults.

Theory of operation: one ``FakeWsServer`` serves ``/v5/public/<category>`` (``subscribe`` /
``unsubscribe`` / ``ping``; an ``orderbook.N.<symbol>`` subscription is answered with a
snapshot, then one delta per market step with ``u`` +1 and a growing cross ``seq``) and
``/v5/private`` (``auth`` verified with the client's own algorithm, then ``order``,
``execution``, ``position``, ``wallet`` pushes). An ``aiohttp.web`` app serves REST: market
``time``, ``instruments-info``, ``orderbook``; signed (``X-BAPI-*`` checked, recv window
enforced) ``order/create|amend|cancel|cancel-all|realtime``, ``execution/list``,
``position/list``, ``account/wallet-balance`` (UNIFIED: ``self.account``), ``order/disconnected-cancel-all`` (DCP: when the last private connection has
been gone for ``timeWindow`` seconds, every open order is cancelled).

The market is ``adapters.fakes.market`` (authoritative: tests compare client books with ``book_levels``).
Faults: ``gap()``, ``malformed(replace=...)``, ``rate_limit(n)`` (retCode 10006 with
``X-Bapi-Limit-*`` headers), ``lose_acks(n)`` (executed, no answer), ``drop_orders(n)`` (not
executed, no answer), ``fail_acks(n)`` (executed, HTTP 503), ``ack_delay_s``, plus the transport
faults of ``self.ws`` (``disconnect``, ``stall``, ``reject_connections``). Standalone for
``volta run config/fake-bybit.toml``: ``python -m adapters.bybit.fake --port 8767 --rest-port 8768``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from adapters.bybit.private import rest_signature, verify_ws_auth
from adapters.fakes import FakeConnection
from adapters.fakes.account import FakeLinearAccount
from adapters.fakes.market import BUY, SELL, FakeOrder
from adapters.fakes.venue import (
    STANDALONE_LIFETIME_S,
    GridMarketFake,
    serve_standalone,
    standalone_parser,
)
from adapters.fakes.venue import now_ms as _ms

_STATUS = {"new": "New", "partially_filled": "PartiallyFilled", "filled": "Filled",
           "cancelled": "Cancelled", "expired": "Cancelled", "rejected": "Rejected"}


def _reply(result: Any = None, code: int = 0, msg: str = "OK", status: int = 200,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"retCode": code, "retMsg": msg, "result": result if result is not None else {},
                              "retExtInfo": {}, "time": _ms()}, status=status, headers=headers)


class BybitFake(GridMarketFake):
    """See the module docstring. ``async with BybitFake() as fake:`` starts both servers."""

    MALFORMED_FRAME = '{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":'

    def __init__(self, symbols: tuple[str, ...] = ("BTCUSDT",), *, category: str = "linear",
                 api_key: str = "fake-key", api_secret: str = "fake-secret", seed: int = 7,
                 step_s: float = 0.01, ws_port: int = 0, rest_port: int = 0,
                 max_lifetime_s: float = 120.0) -> None:
        super().__init__(symbols, seed=seed, step_s=step_s, ws_port=ws_port, rest_port=rest_port,
                         max_lifetime_s=max_lifetime_s)
        self.category = category
        self.api_key = api_key
        self.api_secret = api_secret
        self.u = dict.fromkeys(symbols, 1)
        self.seq = 5_000_000
        self.snapshot_delay_s = 0.0
        self.dcp_window_s = 0.0
        self._dcp_deadline: float | None = None
        self._public: dict[int, tuple[FakeConnection, set[str]]] = {}
        self._private: dict[int, FakeConnection] = {}
        self._authed: set[int] = set()
        self.account = FakeLinearAccount(self.matcher, self.books)
        """The unified (USD) wallet ``/v5/account/wallet-balance`` reports (``account.deposit``)."""

    def _publish_fill(self, o: FakeOrder) -> None:
        self._push_order(o, new_fills=1)

    # ------------------------------------------------------------------ websocket
    async def on_connect(self, conn: FakeConnection) -> None:
        if conn.path.startswith(f"/v5/public/{self.category}"):
            self._public[conn.id] = (conn, set())
        elif conn.path.startswith("/v5/private"):
            self._private[conn.id] = conn
        else:
            conn.abort()

    async def on_disconnect(self, conn: FakeConnection) -> None:
        self._public.pop(conn.id, None)
        if self._private.pop(conn.id, None) is not None and conn.id in self._authed:
            self._authed.discard(conn.id)
            if not self._authed and self.dcp_window_s:
                self._dcp_deadline = time.monotonic() + self.dcp_window_s

    async def on_message(self, conn: FakeConnection, data: str | bytes) -> None:
        try:
            msg = orjson.loads(data)
            op = msg.get("op")
        except (orjson.JSONDecodeError, AttributeError):
            return
        req_id = msg.get("req_id", "")
        if conn.id in self._private:
            self._private_message(conn, op, msg, req_id)
            return
        entry = self._public.get(conn.id)
        if entry is None:
            return
        if op == "ping":
            conn.send(orjson.dumps({"success": True, "ret_msg": "pong", "conn_id": str(conn.id),
                                    "req_id": req_id, "op": "ping"}).decode())
        elif op in ("subscribe", "unsubscribe"):
            topics = list(msg.get("args") or ())
            bad = [t for t in topics if t.rsplit(".", 1)[-1] not in self.books]
            conn.send(orjson.dumps({"success": not bad, "ret_msg": f"Invalid symbol :{bad}" if bad else "",
                                    "conn_id": str(conn.id), "req_id": req_id, "op": op}).decode())
            for t in topics:
                if t in bad:
                    continue
                if op == "unsubscribe":
                    entry[1].discard(t)
                    continue
                if t.startswith("orderbook.") and self.snapshot_delay_s:
                    conn.spawn(self._late_subscribe(conn, entry[1], t))
                    continue
                entry[1].add(t)
                if t.startswith("orderbook."):
                    conn.send(self._book_frame(t, "snapshot"))

    async def _late_subscribe(self, conn: FakeConnection, topics: set[str], topic: str) -> None:
        await asyncio.sleep(self.snapshot_delay_s)
        topics.add(topic)  # snapshot first, then deltas: atomically, as Bybit does
        conn.send(self._book_frame(topic, "snapshot"))

    def _private_message(self, conn: FakeConnection, op: Any, msg: dict[str, Any], req_id: str) -> None:
        if op == "auth":
            ok = verify_ws_auth(msg.get("args"), self.api_key, self.api_secret, _ms())
            if ok:
                self._authed.add(conn.id)
                self._dcp_deadline = None
            conn.send(orjson.dumps({"success": ok, "ret_msg": "" if ok else "Params Error",
                                    "op": "auth", "conn_id": str(conn.id)}).decode())
        elif op == "subscribe":
            ok = conn.id in self._authed
            conn.send(orjson.dumps({"success": ok, "ret_msg": "" if ok else "Request not authorized",
                                    "op": "subscribe", "req_id": req_id, "conn_id": str(conn.id)}).decode())
        elif op == "ping":
            conn.send(orjson.dumps({"req_id": req_id, "op": "pong", "args": [str(_ms())],
                                    "conn_id": str(conn.id)}).decode())

    def _book_frame(self, topic: str, kind: str, bids: Any = None, asks: Any = None) -> str:
        sym = topic.rsplit(".", 1)[-1]
        book = self.books[sym]
        if kind == "snapshot":
            depth = int(topic.split(".")[1])
            bids, asks = book.levels_sorted(depth)
        now = _ms()
        return orjson.dumps({"topic": topic, "type": kind, "ts": now, "cts": now, "data": {
            "s": sym, "b": [[book.px(p), book.qty(q)] for p, q in bids],
            "a": [[book.px(p), book.qty(q)] for p, q in asks], "u": self.u[sym], "seq": self.seq}}).decode()

    def _send_private(self, topic: str, rows: list[dict[str, Any]]) -> None:
        if self.quiet_private:
            return  # the fault: the private stream loses these pushes
        text = orjson.dumps({"id": f"{topic}-{_ms()}", "topic": topic, "creationTime": _ms(),
                             "data": rows}).decode()
        for cid in list(self._authed):
            conn = self._private.get(cid)
            if conn is not None:
                conn.send(text)

    # ------------------------------------------------------------------ market
    def step(self) -> None:
        now = _ms()
        for sym, book in self.books.items():
            book.step()
            bids, asks = book.flush()
            if not bids and not asks:
                continue
            self.u[sym] += 1
            self.seq += self.rng.randint(1, 5)
            if self._gap:
                self._gap -= 1
                continue
            for conn, topics in list(self._public.values()):
                for t in topics:
                    if t.startswith("orderbook.") and t.endswith("." + sym):
                        if self._malformed_replace:
                            self._malformed_replace -= 1
                            conn.send('{"topic":"' + t + '","type":"delta","data":{"s":"')
                        else:
                            conn.send(self._book_frame(t, "delta", bids, asks))
        for o in self.matcher.on_step(now):
            self._push_order(o, new_fills=1)
        if self._dcp_deadline is not None and time.monotonic() >= self._dcp_deadline:
            self._dcp_deadline = None
            for o in self.matcher.open_orders():
                self.matcher.cancel(o, now)  # nobody is connected: nothing to push

    # ------------------------------------------------------------------ private pushes
    def _order_row(self, o: FakeOrder) -> dict[str, Any]:
        book = self.books[o.symbol]
        return {"category": self.category, "symbol": o.symbol, "orderId": o.order_id,
                "orderLinkId": o.client_id, "side": "Buy" if o.side == BUY else "Sell",
                "orderType": "Limit" if o.price_ticks is not None else "Market",
                "price": book.px(o.price_ticks) if o.price_ticks is not None else "0",
                "qty": book.qty(o.qty), "timeInForce": "PostOnly" if o.post_only else o.tif,
                "orderStatus": _STATUS[o.status], "cancelType": "UNKNOWN", "rejectReason": "EC_NoError",
                "avgPrice": f"{o.avg_price:.{book.decimals}f}" if o.filled else "",
                "leavesQty": book.qty(o.remaining if o.is_open else 0.0), "cumExecQty": book.qty(o.filled),
                "cumExecValue": f"{o.notional:.4f}", "cumExecFee": f"{sum(f.fee for f in o.fills):.8f}",
                "reduceOnly": o.reduce_only, "positionIdx": 0, "feeCurrency": "USDT",
                "createdTime": str(o.created_ms), "updatedTime": str(o.updated_ms)}

    def _exec_rows(self, o: FakeOrder, fills: list[Any]) -> list[dict[str, Any]]:
        book = self.books[o.symbol]
        rows, cum = [], o.filled - sum(f.qty for f in fills)
        for f in fills:
            cum += f.qty
            rows.append({"category": self.category, "symbol": o.symbol, "execId": f.trade_id,
                         "execPrice": book.px(book.ticks(f.price)), "execQty": book.qty(f.qty),
                         "execFee": f"{f.fee:.8f}", "execType": "Trade", "isMaker": f.maker,
                         "feeRate": "0.0002" if f.maker else "0.0005", "orderId": o.order_id,
                         "orderLinkId": o.client_id, "side": "Buy" if o.side == BUY else "Sell",
                         "orderQty": book.qty(o.qty), "orderPrice": book.px(o.price_ticks or 0),
                         "leavesQty": book.qty(max(o.qty - cum, 0.0)),
                         "execTime": str(f.ts_ms), "seq": self.seq})
        return rows

    def _push_order(self, o: FakeOrder, new_fills: int = 0) -> None:
        self._send_private("order", [self._order_row(o)])
        if new_fills:
            self._send_private("execution", self._exec_rows(o, o.fills[-new_fills:]))
            self._send_private("wallet", [self._wallet_row()])
            pos = self.matcher.positions[o.symbol]
            self._send_private("position", [{
                "category": self.category, "symbol": o.symbol, "side": "Buy" if pos > 0 else ("Sell" if pos < 0 else ""),
                "size": self.books[o.symbol].qty(abs(pos)), "avgPrice": f"{self.matcher.entry[o.symbol]:.2f}",
                "positionIdx": 0, "updatedTime": str(_ms())}])

    # ------------------------------------------------------------------ REST
    @property
    def order_create(self) -> tuple[str, str]:
        return ("POST", "/v5/order/create")

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        self.requests.append((method, path))
        hdr = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9",
               "X-Bapi-Limit-Reset-Timestamp": str(_ms() + 1000)}
        q = {k: v[-1] for k, v in parse_qs(request.query_string).items()}
        try:
            if path == "/v5/market/time":
                return _reply({"timeSecond": str(_ms() // 1000), "timeNano": str(time.time_ns())})
            if path == "/v5/market/instruments-info":
                return _reply(self._instruments())
            if path == "/v5/market/orderbook":
                return self._rest_book(q)
            raw = await request.read()
            denied = self._check_signed(request, request.query_string if method == "GET" else raw.decode())
            if denied is not None:
                return denied
            if self._rate_limit:
                self._rate_limit -= 1
                return _reply(code=10006, msg="Too many visits!",
                              headers={**hdr, "X-Bapi-Limit-Status": "0",
                                       "X-Bapi-Limit-Reset-Timestamp": str(_ms() + 300)})
            body = orjson.loads(raw) if method == "POST" and raw else q
            handler = {"/v5/order/create": self._create, "/v5/order/cancel": self._cancel,
                       "/v5/order/amend": self._amend, "/v5/order/cancel-all": self._cancel_all,
                       "/v5/order/realtime": self._realtime, "/v5/execution/list": self._executions,
                       "/v5/position/list": self._positions,
                       "/v5/account/wallet-balance": self._wallet,
                       "/v5/order/disconnected-cancel-all": self._dcp}.get(path)
            if handler is None:
                return _reply(code=10001, msg=f"unknown endpoint {path}", status=404)
            out = handler(body)
            if asyncio.iscoroutine(out):
                out = await out
            return out if isinstance(out, web.StreamResponse) else _reply(out, headers=hdr)
        except (KeyError, ValueError, TypeError) as exc:
            return _reply(code=10001, msg=f"params error: {exc}")

    def _check_signed(self, request: web.Request, payload: str) -> web.Response | None:
        h = request.headers
        if h.get("X-BAPI-API-KEY") != self.api_key:
            return _reply(code=10003, msg="API key is invalid.", status=401)
        ts, window = int(h.get("X-BAPI-TIMESTAMP", "0")), int(h.get("X-BAPI-RECV-WINDOW", "5000"))
        if rest_signature(self.api_secret, ts, self.api_key, window, payload) != h.get("X-BAPI-SIGN"):
            return _reply(code=10004, msg="error sign! origin_string[...]")
        now = _ms()
        if not (ts < now + 1000 and now - ts <= window):
            return _reply(code=10002, msg="invalid request, please check your server timestamp or recv_window param")
        return None

    def _instruments(self) -> dict[str, Any]:
        rows = [{"symbol": s, "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": s[:-4],
                 "quoteCoin": "USDT", "settleCoin": "USDT", "deliveryTime": "0",
                 "priceFilter": {"tickSize": repr(b.tick)},
                 "lotSizeFilter": {"qtyStep": repr(b.lot), "minOrderQty": repr(b.lot), "basePrecision": repr(b.lot)}}
                for s, b in self.books.items()]
        return {"category": self.category, "list": rows, "nextPageCursor": ""}

    def _rest_book(self, q: dict[str, str]) -> web.Response:
        book = self.books.get(q.get("symbol", ""))
        if book is None:
            return _reply(code=10001, msg="Invalid symbol")
        bids, asks = book.levels_sorted(int(q.get("limit", "50")))
        return _reply({"s": book.symbol, "b": [[book.px(p), book.qty(x)] for p, x in bids],
                       "a": [[book.px(p), book.qty(x)] for p, x in asks], "ts": _ms(),
                       "u": self.u[book.symbol], "seq": self.seq, "cts": _ms()})

    async def _create(self, b: dict[str, Any]) -> Any:
        if self._drop:
            self._drop -= 1
            await self._hang()
        book = self.books.get(b["symbol"])
        if book is None:
            return _reply(code=10001, msg="params error: symbol invalid")
        coid = b.get("orderLinkId") or f"auto-{self.matcher.next_order_id()}"
        if coid in self.matcher.orders:
            return _reply(code=110072, msg="OrderLinkedID is duplicate")
        qty = float(b["qty"])
        if qty <= 0 or abs(qty / book.lot - round(qty / book.lot)) > 1e-6:
            return _reply(code=10001, msg="Qty invalid")
        ticks = None
        if b["orderType"] == "Limit":
            price = float(b["price"])
            ticks = book.ticks(price)
            if price <= 0 or abs(price / book.tick - ticks) > 1e-6:
                return _reply(code=10001, msg="Price invalid: not a multiple of tickSize")
        tif = b.get("timeInForce", "GTC")
        o = FakeOrder(coid, f"bb-{self.matcher.next_order_id()}", book.symbol, BUY if b["side"] == "Buy" else SELL,
                      qty, ticks, tif="GTC" if tif == "PostOnly" else tif, post_only=tif == "PostOnly",
                      reduce_only=bool(b.get("reduceOnly")))
        self.matcher.place(o, _ms())
        self._push_order(o, new_fills=len(o.fills))
        if self._lose:
            self._lose -= 1
            await self._hang()
        if self._fail:
            self._fail -= 1
            return web.Response(status=503, text="Service Unavailable")
        if self.ack_delay_s:
            await asyncio.sleep(self.ack_delay_s)
        return {"orderId": o.order_id, "orderLinkId": o.client_id}

    def _find(self, b: dict[str, Any]) -> FakeOrder | None:
        o = self.matcher.orders.get(b.get("orderLinkId", ""))
        if o is None and b.get("orderId"):
            o = self.matcher.by_id.get(b["orderId"])
        return o if o is not None and o.symbol == b.get("symbol") else None

    def _cancel(self, b: dict[str, Any]) -> Any:
        o = self._find(b)
        if o is None or not self.matcher.cancel(o, _ms()):
            return _reply(code=110001, msg="order not exists or too late to cancel")
        self._push_order(o)
        return {"orderId": o.order_id, "orderLinkId": o.client_id}

    def _amend(self, b: dict[str, Any]) -> Any:
        o = self._find(b)
        book = self.books[b["symbol"]]
        ticks = book.ticks(float(b["price"])) if "price" in b else None
        if o is None or not self.matcher.amend(o, ticks, float(b["qty"]) if "qty" in b else None, _ms()):
            return _reply(code=110001, msg="order not exists or too late to replace")
        self._push_order(o)
        return {"orderId": o.order_id, "orderLinkId": o.client_id}

    def _cancel_all(self, b: dict[str, Any]) -> Any:
        out = []
        for o in self.matcher.open_orders(b.get("symbol")):
            self.matcher.cancel(o, _ms())
            self._push_order(o)
            out.append({"orderId": o.order_id, "orderLinkId": o.client_id})
        return {"list": out, "success": "1"}

    def _realtime(self, q: dict[str, Any]) -> Any:
        if q.get("orderLinkId") or q.get("orderId"):
            o = self._find(q)
            return {"list": [self._order_row(o)] if o else [], "nextPageCursor": "", "category": self.category}
        rows = [self._order_row(o) for o in self.matcher.orders.values()
                if o.symbol == q.get("symbol", o.symbol) and o.is_open]  # openOnly=0: active orders
        return {"list": rows, "nextPageCursor": "", "category": self.category}

    def _executions(self, q: dict[str, Any]) -> Any:
        start = int(q.get("startTime", "0"))
        rows: list[dict[str, Any]] = []
        for o in self.matcher.orders.values():
            if o.symbol != q.get("symbol", o.symbol) or q.get("orderLinkId", o.client_id) != o.client_id:
                continue
            rows += [r for r in self._exec_rows(o, o.fills) if int(r["execTime"]) >= start]
        return {"list": rows, "nextPageCursor": "", "category": self.category}

    def _positions(self, q: dict[str, Any]) -> Any:
        rows = []
        for s, pos in self.matcher.positions.items():
            if q.get("symbol", s) == s:
                rows.append({"symbol": s, "side": "Buy" if pos > 0 else ("Sell" if pos < 0 else ""),
                             "size": self.books[s].qty(abs(pos)), "avgPrice": f"{self.matcher.entry[s]:.2f}",
                             "positionIdx": 0, "updatedTime": str(_ms())})
        return {"list": rows, "nextPageCursor": "", "category": self.category}

    def _wallet_row(self) -> dict[str, Any]:
        """A unified (cross-margin) account: the totals in USD, one USDT coin row."""
        f = self.account.figures()
        return {"accountType": "UNIFIED", "totalEquity": f"{f.equity:.8f}",
                "totalWalletBalance": f"{f.wallet:.8f}", "totalMarginBalance": f"{f.equity:.8f}",
                "totalAvailableBalance": f"{f.equity - f.initial_margin:.8f}",
                "totalPerpUPL": f"{f.unrealized:.8f}", "totalInitialMargin": f"{f.initial_margin:.8f}",
                "totalMaintenanceMargin": f"{f.maintenance_margin:.8f}",
                "accountIMRate": "", "accountMMRate": "", "accountLTV": "",
                "coin": [{"coin": "USDT", "equity": f"{f.equity:.8f}", "walletBalance": f"{f.wallet:.8f}",
                          "unrealisedPnl": f"{f.unrealized:.8f}", "usdValue": f"{f.equity:.8f}",
                          "totalPositionIM": f"{f.initial_margin:.8f}", "totalOrderIM": "0",
                          "totalPositionMM": f"{f.maintenance_margin:.8f}"}]}

    def _wallet(self, q: dict[str, Any]) -> Any:
        if q.get("accountType") != "UNIFIED":
            return web.json_response({"retCode": 10001, "retMsg": "accountType only support UNIFIED",
                                      "result": {}, "time": _ms()})
        return {"list": [self._wallet_row()]}

    def _dcp(self, b: dict[str, Any]) -> Any:
        self.dcp_window_s = float(b["timeWindow"])
        return {}


def main(argv: list[str] | None = None) -> int:
    args = standalone_parser("bybit", "A local fake Bybit v5 linear venue (127.0.0.1 only).",
                             port=8767, rest_port=8768, names="symbols",
                             default_names="BTCUSDT").parse_args(argv)
    return serve_standalone(
        lambda: BybitFake(tuple(args.symbols.split(",")), seed=args.seed, step_s=args.step_ms / 1000,
                          ws_port=args.port, rest_port=args.rest_port,
                          max_lifetime_s=STANDALONE_LIFETIME_S),
        lambda fake: f"fake bybit: ws {fake.ws_url}  rest {fake.rest_url}  key fake-key / fake-secret")


if __name__ == "__main__":
    raise SystemExit(main())
