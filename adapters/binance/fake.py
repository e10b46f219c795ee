"""A local fake Binance USD-M (or spot market-data) venue: websocket streams + REST, with faults.

Theory of operation: one ``FakeWsServer`` (``adapters.fakes``) serves both websocket kinds,
routed by path like Binance does: ``/stream?streams=a/b`` (combined market streams) and
``/ws/<listenKey>`` (user data). An ``aiohttp.web`` app on another loopback port serves REST:
``/fapi/v1/time|exchangeInfo|depth|listenKey|order|openOrders|allOpenOrders|userTrades|
countdownCancelAll`` and ``/fapi/v2/positionRisk|account`` (spot: ``/api/v3/...`` market data). Signed
requests are verified with the client's own algorithm (``private.verify_query``), the key
header, and the ``timestamp``/``recvWindow`` rule.

The market is ``adapters.fakes.market``: a generated book per symbol (authoritative: tests compare client
books with ``book_levels``) stepped every ``step_s``; each step goes out as one ``depthUpdate``
with ``U``/``u``/``pu`` numbered like the real stream, and ``depth`` snapshots carry the matching
``lastUpdateId``. Orders match against the book; the account's events go out as
``ORDER_TRADE_UPDATE``/``ACCOUNT_UPDATE``.

Faults (besides the transport ones of ``self.ws``: ``disconnect``, ``stall``, ``reject_connections``):
``gap()`` (the next depth event is never sent), ``malformed()`` (a garbage frame, optionally in
place of the next depth event), ``rate_limit(n)`` (429 + Retry-After), ``lose_acks(n)`` (the
order is executed, the reply never comes), ``drop_orders(n)`` (never executed, no reply),
``ack_delay_s`` (slow replies), ``fail_acks(n)`` (executed, then HTTP 503).

Run it standalone for ``volta run config/fake-binance.toml``:
``python -m adapters.binance.fake --port 8765 --rest-port 8766``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from aiohttp import web

from adapters.binance.private import verify_query
from adapters.fakes import FakeConnection
from adapters.fakes.account import FakeLinearAccount
from adapters.fakes.market import BUY, SELL, FakeBook, FakeOrder
from adapters.fakes.venue import (
    STANDALONE_LIFETIME_S,
    GridMarketFake,
    serve_standalone,
    standalone_parser,
)
from adapters.fakes.venue import now_ms as _ms

_STATUS = {"new": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED",
           "cancelled": "CANCELED", "expired": "EXPIRED", "rejected": "REJECTED"}


def _err(code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


class BinanceFake(GridMarketFake):
    """See the module docstring. ``async with BinanceFake() as fake:`` starts both servers."""

    MALFORMED_FRAME = '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","U":'

    def __init__(self, symbols: tuple[str, ...] = ("BTCUSDT",), *, market: str = "usdm",
                 api_key: str = "fake-key", api_secret: str = "fake-secret", seed: int = 7,
                 step_s: float = 0.01, ws_port: int = 0, rest_port: int = 0,
                 max_lifetime_s: float = 120.0) -> None:
        super().__init__(symbols, seed=seed, step_s=step_s, ws_port=ws_port, rest_port=rest_port,
                         max_lifetime_s=max_lifetime_s)
        self.market = market
        self.api = "/api/v3" if market == "spot" else "/fapi/v1"
        self.api_key = api_key
        self.api_secret = api_secret
        self.last_u = dict.fromkeys(symbols, 1_000_000)
        self.listen_keys: set[str] = set()
        self.countdowns: dict[str, float] = {}
        self.depth_delay_s = 0.0
        self._weight: list[float] = []
        self._market_conns: dict[int, tuple[FakeConnection, set[str]]] = {}
        self._user_conns: dict[int, FakeConnection] = {}
        self._keys = iter(range(1, 1 << 30))
        self.account = FakeLinearAccount(self.matcher, self.books)
        self._backend_timeout = 0
        """The USDT account ``GET /fapi/v2/account`` reports (``account.deposit`` sets it)."""

    def backend_timeouts(self, n: int = 1) -> None:
        """The next ``n`` new orders are placed, but answered 408 ``-1007`` (Binance: "execution
        status unknown")."""
        self._backend_timeout += n

    @property
    def order_create(self) -> tuple[str, str]:
        return ("POST", f"{self.api}/order")

    def _publish_fill(self, o: FakeOrder) -> None:
        self._order_update(o, "TRADE", _ms())

    # ------------------------------------------------------------------ websocket
    async def on_connect(self, conn: FakeConnection) -> None:
        parts = urlsplit(conn.path)
        if parts.path.startswith("/ws/"):
            if parts.path[4:] not in self.listen_keys:
                conn.abort()
                return
            self._user_conns[conn.id] = conn
        elif parts.path == "/stream":
            streams = set(parse_qs(parts.query).get("streams", [""])[0].split("/"))
            self._market_conns[conn.id] = (conn, streams)

    async def on_message(self, conn: FakeConnection, data: str | bytes) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        entry = self._market_conns.get(conn.id)
        if entry is not None and isinstance(msg, dict) and msg.get("method") in ("SUBSCRIBE", "UNSUBSCRIBE"):
            names = set(msg.get("params") or ())
            if msg["method"] == "SUBSCRIBE":
                entry[1].update(names)
            else:
                entry[1].difference_update(names)
            conn.send(orjson.dumps({"result": None, "id": msg.get("id")}).decode())

    async def on_disconnect(self, conn: FakeConnection) -> None:
        self._market_conns.pop(conn.id, None)
        self._user_conns.pop(conn.id, None)

    def _send_market(self, stream_prefix: str, payload: dict[str, Any]) -> None:
        for conn, streams in list(self._market_conns.values()):
            for name in streams:
                if name.startswith(stream_prefix):
                    conn.send(orjson.dumps({"stream": name, "data": payload}).decode())
                    break

    def _send_user(self, payload: dict[str, Any]) -> None:
        if self.quiet_private:
            return  # the fault: the user stream loses these events
        text = orjson.dumps(payload).decode()
        for conn in list(self._user_conns.values()):
            conn.send(text)

    # ------------------------------------------------------------------ market
    def step(self) -> None:
        """One market step: move every book, fill resting orders, publish, run countdowns."""
        now = _ms()
        for sym, book in self.books.items():
            book.step()
            self._publish_depth(sym, book, now)
        for o in self.matcher.on_step(now):
            self._order_update(o, "TRADE", now)
        for sym, deadline in list(self.countdowns.items()):
            if time.monotonic() >= deadline:
                del self.countdowns[sym]
                for o in self.matcher.open_orders(sym):
                    self.matcher.cancel(o, now)
                    self._order_update(o, "CANCELED", now)

    def _publish_depth(self, sym: str, book: FakeBook, now: int) -> None:
        bids, asks = book.flush()
        if not bids and not asks:
            return
        prev = self.last_u[sym]
        last = prev + self.rng.randint(1, 3)
        self.last_u[sym] = last
        if self._gap:
            self._gap -= 1
            return
        if self._malformed_replace:
            self._malformed_replace -= 1
            self.ws.inject('{"stream":"' + sym.lower() + '@depth@100ms","data":{"e":"depthUpd')
            return
        d: dict[str, Any] = {"e": "depthUpdate", "E": now, "T": now, "s": sym, "U": prev + 1,
                             "u": last, "pu": prev,
                             "b": [[book.px(p), book.qty(q)] for p, q in bids],
                             "a": [[book.px(p), book.qty(q)] for p, q in asks]}
        if self.market == "spot":
            del d["T"], d["pu"]
        self._send_market(f"{sym.lower()}@depth", d)
        bb, ba = book.best_bid(), book.best_ask()
        if bb is not None and ba is not None:
            self._send_market(f"{sym.lower()}@bookTicker", {
                "e": "bookTicker", "u": last, "s": sym, "b": book.px(bb), "B": book.qty(book.bids[bb]),
                "a": book.px(ba), "A": book.qty(book.asks[ba]), "T": now, "E": now})

    # ------------------------------------------------------------------ REST
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        self.requests.append((method, path))
        self._weight = [t for t in self._weight if t > time.monotonic() - 60] + [time.monotonic()]
        hdr = {"X-MBX-USED-WEIGHT-1M": str(len(self._weight))}
        if self._rate_limit:
            self._rate_limit -= 1
            return _err(-1003, "Too many requests; please use the websocket for live updates.",
                        429, {**hdr, "Retry-After": str(self._retry_after_s)})
        q = {k: v[-1] for k, v in parse_qs(request.query_string, keep_blank_values=True).items()}
        name = path.removeprefix(self.api).removeprefix("/fapi/v2")
        try:
            if name == "/time":
                return web.json_response({"serverTime": _ms()}, headers=hdr)
            if name == "/exchangeInfo":
                return web.json_response(self._exchange_info(), headers=hdr)
            if name == "/depth":
                if self.depth_delay_s:
                    await asyncio.sleep(self.depth_delay_s)
                return self._depth(q, hdr)
            if name == "/listenKey":
                return self._listen_key(request, method, hdr)
            denied = self._check_signed(request, q)
            if denied is not None:
                return denied
            handler = {("POST", "/order"): self._new_order, ("DELETE", "/order"): self._cancel,
                       ("PUT", "/order"): self._amend, ("GET", "/order"): self._query,
                       ("GET", "/openOrders"): self._open_orders,
                       ("DELETE", "/allOpenOrders"): self._cancel_all,
                       ("GET", "/userTrades"): self._user_trades,
                       ("GET", "/positionRisk"): self._position_risk,
                       ("GET", "/account"): self._account,
                       ("POST", "/countdownCancelAll"): self._countdown}.get((method, name))
            if handler is None:
                return _err(-1100, f"unknown endpoint {method} {path}", 404)
            out = handler(q)
            if asyncio.iscoroutine(out):
                out = await out
            return web.json_response(out, headers=hdr) if not isinstance(out, web.StreamResponse) else out
        except (KeyError, ValueError) as exc:
            return _err(-1102, f"Mandatory parameter missing or malformed: {exc}")

    def _exchange_info(self) -> dict[str, Any]:
        syms = []
        for s, b in self.books.items():
            row = {"symbol": s, "status": "TRADING", "baseAsset": s[:-4], "quoteAsset": "USDT",
                   "filters": [{"filterType": "PRICE_FILTER", "tickSize": repr(b.tick)},
                               {"filterType": "LOT_SIZE", "stepSize": repr(b.lot), "minQty": repr(b.lot)}]}
            if self.market != "spot":
                row.update(contractType="PERPETUAL", marginAsset="USDT", pair=s, deliveryDate=4133404800000)
            syms.append(row)
        return {"timezone": "UTC", "serverTime": _ms(), "symbols": syms}

    def _depth(self, q: dict[str, str], hdr: dict[str, str]) -> web.Response:
        book = self.books.get(q.get("symbol", ""))
        if book is None:
            return _err(-1121, "Invalid symbol.")
        bids, asks = book.levels_sorted(int(q.get("limit", "1000")))
        now = _ms()
        return web.json_response({
            "lastUpdateId": self.last_u[book.symbol], "E": now, "T": now,
            "bids": [[book.px(p), book.qty(s)] for p, s in bids],
            "asks": [[book.px(p), book.qty(s)] for p, s in asks]}, headers=hdr)

    def _listen_key(self, request: web.Request, method: str, hdr: dict[str, str]) -> web.Response:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            return _err(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if method == "POST":
            key = self.listen_keys and next(iter(self.listen_keys)) or f"lk{next(self._keys):040d}"
            self.listen_keys.add(key)
            return web.json_response({"listenKey": key}, headers=hdr)
        if method == "DELETE":
            self.listen_keys.clear()
        return web.json_response({}, headers=hdr)

    def _check_signed(self, request: web.Request, q: dict[str, str]) -> web.Response | None:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            return _err(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if not verify_query(request.query_string, self.api_secret):
            return _err(-1022, "Signature for this request is not valid.")
        ts, window = int(q["timestamp"]), int(q.get("recvWindow", "5000"))
        now = _ms()
        if not (ts < now + 1000 and now - ts <= window):
            return _err(-1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    def _row(self, o: FakeOrder) -> dict[str, Any]:
        book = self.books[o.symbol]
        return {"orderId": int(o.order_id), "symbol": o.symbol, "status": _STATUS[o.status],
                "clientOrderId": o.client_id,
                "price": book.px(o.price_ticks) if o.price_ticks is not None else "0",
                "avgPrice": f"{o.avg_price:.{book.decimals}f}", "origQty": book.qty(o.qty),
                "executedQty": book.qty(o.filled), "timeInForce": o.tif,
                "type": "LIMIT" if o.price_ticks is not None else "MARKET",
                "reduceOnly": o.reduce_only, "side": o.side.upper(), "time": o.created_ms,
                "updateTime": o.updated_ms}

    async def _new_order(self, q: dict[str, str]) -> Any:
        if self._drop:
            self._drop -= 1
            await self._hang()  # never executed, never answered: the client times out
        book = self.books.get(q["symbol"])
        if book is None:
            return _err(-1121, "Invalid symbol.")
        coid = q.get("newClientOrderId") or f"auto-{self.matcher.next_order_id()}"
        if coid in self.matcher.orders:
            return _err(-4116, "ClientOrderId is duplicated.")
        qty = float(q["quantity"])
        lots = qty / book.lot
        if qty <= 0 or abs(lots - round(lots)) > 1e-6:
            return _err(-4003, "Quantity less than or equal to zero or not a multiple of step size.")
        ticks = None
        if q["type"] == "LIMIT":
            price = float(q["price"])
            ticks = book.ticks(price)
            if abs(price / book.tick - ticks) > 1e-6 or price <= 0:
                return _err(-4014, "Price not increased by tick size.")
        tif = q.get("timeInForce", "GTC")
        o = FakeOrder(coid, self.matcher.next_order_id(), book.symbol, BUY if q["side"] == "BUY" else SELL,
                      qty, ticks, tif="GTC" if tif == "GTX" else tif, post_only=tif == "GTX",
                      reduce_only=q.get("reduceOnly") == "true")
        now = _ms()
        self.matcher.place(o, now)
        self._order_update(o, "NEW", now, all_fills=True)
        if self._lose:
            self._lose -= 1
            await self._hang()  # executed, but the answer is lost
        if self._backend_timeout:
            self._backend_timeout -= 1  # placed, but the gateway gave up waiting for it
            return _err(-1007, "Timeout waiting for response from backend server. Send status "
                        "unknown; execution status unknown.", 408)
        if self._fail:
            self._fail -= 1
            return _err(-1000, "An unknown error occured while processing the request.", 503)
        if self.ack_delay_s:
            await asyncio.sleep(self.ack_delay_s)
        return self._row(o)

    def _find(self, q: dict[str, str]) -> FakeOrder | None:
        o = self.matcher.orders.get(q.get("origClientOrderId", ""))
        if o is None and "orderId" in q:
            o = self.matcher.by_id.get(q["orderId"])
        return o if o is not None and o.symbol == q.get("symbol") else None

    def _cancel(self, q: dict[str, str]) -> Any:
        o = self._find(q)
        if o is None or not self.matcher.cancel(o, _ms()):
            return _err(-2011, "Unknown order sent.")
        self._order_update(o, "CANCELED", o.updated_ms)
        return self._row(o)

    def _amend(self, q: dict[str, str]) -> Any:
        o = self._find(q)
        book = self.books[q["symbol"]]
        if o is None or not self.matcher.amend(o, book.ticks(float(q["price"])), float(q["quantity"]), _ms()):
            return _err(-2013, "Order does not exist.")
        self._order_update(o, "AMENDMENT", o.updated_ms)
        return self._row(o)

    def _query(self, q: dict[str, str]) -> Any:
        o = self._find(q)
        return _err(-2013, "Order does not exist.") if o is None else self._row(o)

    def _open_orders(self, q: dict[str, str]) -> Any:
        return [self._row(o) for o in self.matcher.open_orders(q.get("symbol"))]

    def _cancel_all(self, q: dict[str, str]) -> Any:
        now = _ms()
        for o in self.matcher.open_orders(q["symbol"]):
            self.matcher.cancel(o, now)
            self._order_update(o, "CANCELED", now)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _user_trades(self, q: dict[str, str]) -> Any:
        start = int(q.get("startTime", "0"))
        rows = []
        for o in self.matcher.orders.values():
            if o.symbol != q["symbol"] or ("orderId" in q and o.order_id != q["orderId"]):
                continue
            book = self.books[o.symbol]
            rows += [{"symbol": o.symbol, "id": int(f.trade_id), "orderId": int(o.order_id),
                      "side": o.side.upper(), "price": book.px(book.ticks(f.price)),
                      "qty": book.qty(f.qty), "commission": f"{f.fee:.8f}", "commissionAsset": "USDT",
                      "time": f.ts_ms, "maker": f.maker} for f in o.fills if f.ts_ms >= start]
        return rows

    def _position_risk(self, q: dict[str, str]) -> Any:
        return [{"symbol": s, "positionAmt": self.books[s].qty(p), "entryPrice": f"{self.matcher.entry[s]:.2f}",
                 "positionSide": "BOTH", "updateTime": _ms()} for s, p in self.matcher.positions.items()]

    def _account(self, q: dict[str, str]) -> Any:
        """Account Information V2 in single-asset mode: the USDT asset (and the totals)."""
        f = self.account.figures()
        usdt = {"asset": "USDT", "walletBalance": f"{f.wallet:.8f}",
                "unrealizedProfit": f"{f.unrealized:.8f}", "marginBalance": f"{f.equity:.8f}",
                "maintMargin": f"{f.maintenance_margin:.8f}",
                "initialMargin": f"{f.initial_margin:.8f}",
                "availableBalance": f"{f.equity - f.initial_margin:.8f}", "updateTime": _ms()}
        zero = {k: "0.00000000" for k in usdt if k not in ("asset", "updateTime")}
        return {"totalInitialMargin": usdt["initialMargin"], "totalMaintMargin": usdt["maintMargin"],
                "totalWalletBalance": usdt["walletBalance"], "totalMarginBalance": usdt["marginBalance"],
                "totalUnrealizedProfit": usdt["unrealizedProfit"], "multiAssetsMargin": False,
                "availableBalance": usdt["availableBalance"], "updateTime": 0,
                "assets": [usdt, {"asset": "BNB", **zero, "updateTime": 0}], "positions": []}

    def _countdown(self, q: dict[str, str]) -> Any:
        ms = int(q["countdownTime"])
        if ms <= 0:
            self.countdowns.pop(q["symbol"], None)
        else:
            self.countdowns[q["symbol"]] = time.monotonic() + ms / 1000
        return {"symbol": q["symbol"], "countdownTime": str(ms)}

    # ------------------------------------------------------------------ user stream
    def _order_update(self, o: FakeOrder, x: str, now: int, all_fills: bool = False) -> None:
        book = self.books[o.symbol]
        base = {"s": o.symbol, "c": o.client_id, "S": o.side.upper(),
                "o": "LIMIT" if o.price_ticks is not None else "MARKET", "f": o.tif,
                "q": book.qty(o.qty), "p": book.px(o.price_ticks) if o.price_ticks is not None else "0",
                "ap": f"{o.avg_price:.2f}", "i": int(o.order_id), "T": now, "m": False, "R": o.reduce_only,
                "ps": "BOTH", "N": None, "n": None, "l": "0", "L": "0", "t": 0}
        frames = []
        if x == "NEW":
            frames.append({**base, "x": "NEW", "X": "NEW", "z": "0"})
            x = "TRADE" if o.fills else ("EXPIRED" if o.status == "expired" else "")
        if x == "TRADE":
            fills = o.fills if all_fills else o.fills[-1:]
            cum = o.filled - sum(f.qty for f in fills)
            for f in fills:
                cum += f.qty
                status = "FILLED" if abs(cum - o.qty) < 1e-12 else "PARTIALLY_FILLED"
                frames.append({**base, "x": "TRADE", "X": status, "l": book.qty(f.qty),
                               "z": book.qty(cum), "L": book.px(book.ticks(f.price)), "t": int(f.trade_id),
                               "n": f"{f.fee:.8f}", "N": "USDT", "m": f.maker})
            if o.status == "expired":
                frames.append({**base, "x": "EXPIRED", "X": "EXPIRED", "z": book.qty(o.filled)})
        elif x in ("CANCELED", "EXPIRED", "AMENDMENT"):
            frames.append({**base, "x": x, "X": _STATUS[o.status], "z": book.qty(o.filled)})
        for fr in frames:
            self._send_user({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": fr})
        if o.fills and x == "TRADE":
            wallet = f"{self.account.figures().wallet:.8f}"
            self._send_user({"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {"m": "ORDER", "B": [
                {"a": "USDT", "wb": wallet, "cw": wallet, "bc": "0"}], "P": [
                {"s": o.symbol, "pa": book.qty(self.matcher.positions[o.symbol]),
                 "ep": f"{self.matcher.entry[o.symbol]:.2f}", "ps": "BOTH"}]}})


def main(argv: list[str] | None = None) -> int:
    args = standalone_parser("binance", "A local fake Binance USD-M venue (127.0.0.1 only).",
                             port=8765, rest_port=8766, names="symbols",
                             default_names="BTCUSDT").parse_args(argv)
    return serve_standalone(
        lambda: BinanceFake(tuple(args.symbols.split(",")), seed=args.seed, step_s=args.step_ms / 1000,
                            ws_port=args.port, rest_port=args.rest_port,
                            max_lifetime_s=STANDALONE_LIFETIME_S),
        lambda fake: f"fake binance: ws {fake.ws_url}  rest {fake.rest_url}  key fake-key / fake-secret")


if __name__ == "__main__":
    raise SystemExit(main())
