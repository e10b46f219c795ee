"""A local fake OKX v5 venue: public and private websockets and REST on 127.0.0.1, with faults.

Theory of operation. One ``adapters.fakes.FakeWsServer`` (``self.ws``: transport faults
``disconnect``, ``stall``, ``reject_connections``, ``delay_replies``) serves both websocket
paths, told apart by the request path: ``/ws/v5/public`` (``books`` snapshot + updates with
``seqId``/``prevSeqId`` and the CRC32 checksum, ``trades``) and ``/ws/v5/private`` (``login``
verified with the same HMAC as OKX; ``orders``/``positions`` channels; ``order``,
``batch-orders``, ``amend-order``, ``cancel-order`` operations matched against the fake's own
book). Text ``ping`` is answered ``pong``; a connection silent for ``idle_timeout_s`` is
closed, as OKX does after 30 s. An ``aiohttp.web`` app serves the REST the session uses
(signed where OKX signs): ``public/instruments``, ``public/time``, ``market/books``,
``trade/order`` (query), ``trade/orders-pending``, ``trade/fills``, ``trade/cancel-batch-orders``,
``trade/cancel-all-after`` (the dead-man switch: every order is cancelled when it expires),
``account/positions``, ``account/balance`` (and the ``account`` channel after fills:
``balance()``, single-currency margin).

Venue faults: ``gap()``, ``bad_checksum()``, ``malformed()``, ``lose_acks(n)`` (operations
executed, neither answered nor pushed), ``drop_orders(n)`` (the next n ``order``/``batch-orders``
operations neither executed nor answered), ``ack_delay_s``, ``rate_limit(n)`` (code 50011 to the
next n order operations). ``paused`` stops the book generator so a test can compare books.
Run standalone: ``python -m adapters.okx.fake --port 8766 --rest-port 8767``.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import random
import time
from collections.abc import Coroutine
from typing import Any

import orjson
from aiohttp import web

from adapters.fakes import FakeConnection
from adapters.fakes.venue import STANDALONE_LIFETIME_S, FakeVenue, serve_standalone, standalone_parser
from adapters.fakes.venue import now_ms as _ms
from adapters.okx.fake_market import FakeBook, Spec, snapshot_push, spec_for
from adapters.okx.private import hmac_b64, iso_ms

_ORDER_OPS = frozenset({"order", "batch-orders", "amend-order", "cancel-order"})


class OkxFake(FakeVenue):
    """See the module docstring. ``async with OkxFake(("BTC-USD-SWAP",)) as fake``."""

    def __init__(self, inst_ids: tuple[str, ...] = ("BTC-USD-SWAP",), *, seed: int = 7,
                 step_s: float = 0.01, api_key: str = "fake-key", secret: str = "fake-secret",
                 passphrase: str = "fake-pass", port: int = 0, rest_port: int = 0,
                 idle_timeout_s: float = 30.0, max_lifetime_s: float = 120.0) -> None:
        super().__init__(step_s=step_s, ws_port=port, rest_port=rest_port,
                         max_lifetime_s=max_lifetime_s)
        self.rng = random.Random(seed)
        self.specs: dict[str, Spec] = {i: spec_for(i) for i in inst_ids}
        self.books: dict[str, FakeBook] = {}
        for i, spec in self.specs.items():
            self.books[i] = FakeBook(spec, self.rng)
            self.books[i].seed()
        self.api_key, self.secret, self.passphrase = api_key, secret, passphrase
        self.idle_timeout_s = idle_timeout_s
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self.positions: dict[str, list[float]] = {}
        self.deposit: dict[str, float] = {}
        """Cash per settlement currency before fees (10 BTC/ETH, 1,000,000 USDT by default)."""
        for spec in self.specs.values():
            ccy = spec.row()["settleCcy"]
            self.deposit.setdefault(ccy, 1_000_000.0 if ccy == "USDT" else 10.0)
        self.ops: list[tuple[str, list[dict[str, Any]]]] = []  # every order operation received
        self.rest_calls: list[tuple[str, str]] = []
        self.dead_man_deadline: float | None = None
        self.dead_man_fired = 0
        self._skip: set[str] = set()
        self._bad_checksum: set[str] = set()
        self._ids = itertools.count(2_497_956_918_703_120_000)
        self._trade_ids = itertools.count(1_518_905_529)
        self._conns: dict[int, dict[str, Any]] = {}

    # ------------------------------------------------------------------ lifecycle
    @property
    def public_url(self) -> str:
        """The public websocket endpoint."""
        return f"{self.ws_url}/ws/v5/public"

    @property
    def private_url(self) -> str:
        """The private websocket endpoint (login first)."""
        return f"{self.ws_url}/ws/v5/private"

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        return [*super()._loops(), self._dead_man()]

    # ------------------------------------------------------------------ faults & helpers
    def gap(self, inst_id: str = "") -> None:
        self._skip.add(inst_id or next(iter(self.specs)))

    def bad_checksum(self, inst_id: str = "") -> None:
        self._bad_checksum.add(inst_id or next(iter(self.specs)))

    def malformed(self) -> None:
        for cid, st in self._conns.items():
            if not st["private"]:
                self.ws.inject('{"arg":{"channel":"books","instId":', cid)

    def book_levels(self, inst_id: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        return self.books[inst_id].float_levels()

    def by_cl_ord_id(self, cl: str) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["clOrdId"] == cl]

    def open_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["state"] in ("live", "partially_filled")]

    def place_elsewhere(self, inst_id: str, side: str, sz: int,
                        px: float | None = None) -> dict[str, Any]:
        """An order another client of the account placed (the web UI: no ``clOrdId``), at
        ``px`` or at the market; its pushes go to our private stream like any order's."""
        a = {"instId": inst_id, "side": side, "sz": str(sz),
             "ordType": "market" if px is None else "limit"}
        if px is not None:
            a["px"] = str(px)
        return self.orders[self._place(a, quiet=False)["ordId"]]

    def fill_resting(self, ord_id: str, size: int | None = None) -> None:
        o = self.orders[ord_id]
        left = int(float(o["sz"]) - float(o["accFillSz"]))
        self._execute(o, float(o["px"]), left if size is None else min(size, left), "M")

    # ------------------------------------------------------------------ websockets
    async def on_connect(self, conn: FakeConnection) -> None:
        st = {"private": conn.path.startswith("/ws/v5/private"), "login": False,
              "subs": set(), "last": time.monotonic()}
        self._conns[conn.id] = st
        conn.spawn(self._idle_watch(conn, st))

    async def on_disconnect(self, conn: FakeConnection) -> None:
        self._conns.pop(conn.id, None)

    async def _idle_watch(self, conn: FakeConnection, st: dict[str, Any]) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.idle_timeout_s / 4))
            if time.monotonic() - st["last"] > self.idle_timeout_s:
                conn.abort()  # OKX: no message for 30 s closes the connection
                return

    async def on_message(self, conn: FakeConnection, data: str | bytes) -> None:
        st = self._conns.get(conn.id)
        if st is None:
            return
        st["last"] = time.monotonic()
        if data in ("ping", b"ping"):
            conn.send("pong")
            return
        try:
            msg = orjson.loads(data)
            op = msg["op"]
        except Exception:
            conn.send(orjson.dumps({"event": "error", "code": "60012", "msg": "Invalid request"}))
            return
        if op == "login":
            conn.send(orjson.dumps(self._login(st, msg["args"][0])))
        elif op in ("subscribe", "unsubscribe"):
            for arg in msg["args"]:
                self._subscribe(conn, st, op, arg)
        elif op in _ORDER_OPS:
            await self._order_op(conn, st, msg)
        else:
            conn.send(orjson.dumps({"event": "error", "code": "60012", "msg": f"bad op {op}"}))

    def _login(self, st: dict[str, Any], a: dict[str, Any]) -> dict[str, Any]:
        ts = str(a.get("timestamp", ""))
        want = hmac_b64(self.secret, ts + "GET/users/self/verify")
        if not ts.isdigit() or abs(int(ts) - time.time()) > 30:
            return {"event": "error", "code": "60006", "msg": "Timestamp request expired"}
        if a.get("apiKey") != self.api_key or a.get("passphrase") != self.passphrase or \
                not hmac.compare_digest(want, str(a.get("sign", ""))):
            return {"event": "error", "code": "60009", "msg": "Login failed."}
        st["login"] = True
        return {"event": "login", "code": "0", "msg": "", "connId": "fake"}

    def _subscribe(self, conn: FakeConnection, st: dict[str, Any], op: str,
                   arg: dict[str, Any]) -> None:
        channel = arg.get("channel")
        if st["private"] and not st["login"]:
            conn.send(orjson.dumps({"event": "error", "code": "60011", "msg": "Please log in"}))
            return
        key = (channel, arg.get("instId") or arg.get("instType") or "")
        if op == "unsubscribe":
            st["subs"].discard(key)
            conn.send(orjson.dumps({"event": "unsubscribe", "arg": arg, "connId": "fake"}))
            return
        st["subs"].add(key)
        conn.send(orjson.dumps({"event": "subscribe", "arg": arg, "connId": "fake"}))
        if channel == "books" and key[1] in self.books:
            conn.send(orjson.dumps(snapshot_push(key[1], self.books[key[1]], _ms())))

    def _subscribers(self, channel: str, value: str) -> list[FakeConnection]:
        out = []
        for cid, st in self._conns.items():
            conn = self.ws.connections.get(cid)
            if conn is not None and ((channel, value) in st["subs"] or (channel, "ANY") in st["subs"]
                                     or (channel, "SWAP") in st["subs"]):
                out.append(conn)
        return out

    def _broadcast_book(self, inst_id: str, bids: list[list[str]], asks: list[list[str]]) -> None:
        book = self.books[inst_id]
        prev, seq = book.next_ids()
        if inst_id in self._skip:
            self._skip.discard(inst_id)
            return
        checksum = book.checksum()
        if inst_id in self._bad_checksum:
            self._bad_checksum.discard(inst_id)
            checksum ^= 0x5A5A
        frame = orjson.dumps({"arg": {"channel": "books", "instId": inst_id}, "action": "update",
                              "data": [{"asks": asks, "bids": bids, "ts": str(_ms()),
                                        "checksum": checksum, "prevSeqId": prev, "seqId": seq}]})
        for conn in self._subscribers("books", inst_id):
            conn.send(frame)

    def step(self) -> None:
        """One market step: one random change per book, broadcast to its subscribers."""
        for inst_id, book in self.books.items():
            self._broadcast_book(inst_id, *book.step())

    # ------------------------------------------------------------------ orders
    async def _order_op(self, conn: FakeConnection, st: dict[str, Any], msg: dict[str, Any]) -> None:
        op, rid, args = msg["op"], str(msg.get("id", "")), list(msg.get("args") or [])
        self.ops.append((op, args))
        if not st["login"]:
            conn.send(orjson.dumps({"id": rid, "op": op, "code": "60011", "msg": "Please log in",
                                    "data": []}))
            return
        if self._rate_limit > 0:
            self._rate_limit -= 1
            conn.send(orjson.dumps({"id": rid, "op": op, "code": "50011",
                                    "msg": "Too Many Requests", "data": []}))
            return
        if op in ("order", "batch-orders") and self._drop > 0:
            self._drop -= 1
            return  # lost on its way: never executed, never answered
        quiet = self._lose > 0
        if quiet:
            self._lose -= 1
        handler = {"order": self._place, "batch-orders": self._place, "amend-order": self._amend,
                   "cancel-order": self._cancel_op}[op]
        rows = [handler(a, quiet) for a in args]
        code = "0" if all(r["sCode"] == "0" for r in rows) else (
            "1" if all(r["sCode"] != "0" for r in rows) else "2")
        if quiet:
            return
        reply = orjson.dumps({"id": rid, "op": op, "code": code, "msg": "", "data": rows,
                              "inTime": str(_ms() * 1000), "outTime": str(_ms() * 1000)})
        if self.ack_delay_s:
            async def later() -> None:
                await asyncio.sleep(self.ack_delay_s)
                conn.send(reply)
            conn.spawn(later())
        else:
            conn.send(reply)

    @staticmethod
    def _row(o: dict[str, Any] | None, cl: str, code: str = "0", msg: str = "") -> dict[str, Any]:
        return {"ordId": o["ordId"] if o else "", "clOrdId": cl, "tag": "", "sCode": code,
                "sMsg": msg or ("Order placed" if code == "0" else "failed"), "ts": str(_ms())}

    def _place(self, a: dict[str, Any], quiet: bool) -> dict[str, Any]:
        cl = str(a.get("clOrdId", ""))
        inst = a.get("instId", "")
        book = self.books.get(inst)
        if book is None:
            return self._row(None, cl, "51001", "Instrument ID does not exist")
        if cl and any(o["state"] in ("live", "partially_filled") for o in self.by_cl_ord_id(cl)):
            return self._row(None, cl, "51016", "Duplicated clOrdId")
        try:
            sz = float(a["sz"])
            px = float(a["px"]) if a.get("ordType") != "market" else None
        except (KeyError, ValueError):
            return self._row(None, cl, "51000", "Parameter sz or px error")
        if sz <= 0 or sz != int(sz):
            return self._row(None, cl, "51121", "Order quantity must be a multiple of the lot size")
        if px is not None and not book.on_tick(px):
            return self._row(None, cl, "51000", "Parameter px error")
        is_buy = a.get("side") == "buy"
        ord_type = a.get("ordType", "limit")
        limit = book.ticks(px) if px is not None else None
        best = book.best_ask() if is_buy else book.best_bid()
        crosses = best is not None and limit is not None and (limit >= best if is_buy else limit <= best)
        now = str(_ms())
        o = {"ordId": str(next(self._ids)), "clOrdId": cl, "instId": inst, "instType": "SWAP",
             "side": a.get("side"), "posSide": "net", "tdMode": a.get("tdMode", "cross"),
             "ordType": ord_type, "px": a.get("px", ""), "sz": str(int(sz)), "accFillSz": "0",
             "avgPx": "", "state": "live", "fillSz": "", "fillPx": "", "tradeId": "", "fee": "0",
             "feeCcy": inst.split("-")[0], "execType": "", "cancelSource": "", "amendResult": "",
             "reduceOnly": str(bool(a.get("reduceOnly"))).lower(), "cTime": now, "uTime": now,
             "fillTime": "", "quiet": quiet}
        self.orders[o["ordId"]] = o
        if (ord_type == "post_only" and crosses) or (
                ord_type == "fok" and book.available(is_buy, limit) < sz):
            self._finish(o, "canceled", "31" if ord_type == "post_only" else "14")
            o["quiet"] = False
            return self._row(o, cl)
        self._push(o)
        self._match(o, is_buy, limit)
        if o["state"] in ("live", "partially_filled") and ord_type in ("market", "ioc", "fok"):
            self._finish(o, "canceled", "14")
        o["quiet"] = False  # only what this request caused goes unreported
        return self._row(o, cl)

    def _match(self, o: dict[str, Any], is_buy: bool, limit: int | None) -> None:
        book = self.books[o["instId"]]
        left = int(float(o["sz"]) - float(o["accFillSz"]))
        fills, changes = book.take(is_buy, left, limit)
        if changes:
            self._broadcast_book(o["instId"], [] if is_buy else changes, changes if is_buy else [])
        for t, q in fills:
            self._execute(o, book.price(t), q, "T")

    def _execute(self, o: dict[str, Any], price: float, qty: int, liq: str) -> None:
        filled = float(o["accFillSz"]) + qty
        avg = float(o["avgPx"] or 0.0)
        o["avgPx"] = str(round((avg * float(o["accFillSz"]) + price * qty) / filled, 8))
        o["accFillSz"] = str(int(filled))
        o["state"] = "filled" if filled >= float(o["sz"]) else "partially_filled"
        spec = self.specs[o["instId"]]
        notional = qty * float(spec.ct_val)
        fee = (notional / price if spec.row()["ctType"] == "inverse" else notional * price) * (
            0.0005 if liq == "T" else 0.0002)
        trade = {"tradeId": str(next(self._trade_ids)), "ordId": o["ordId"], "clOrdId": o["clOrdId"],
                 "instId": o["instId"], "side": o["side"], "fillPx": str(price),
                 "fillSz": str(qty), "fee": f"{-fee:.10f}", "feeCcy": o["feeCcy"], "execType": liq,
                 "ts": str(_ms()), "billId": str(len(self.fills) + 1)}
        self.fills.append(trade)
        o.update(fillSz=str(qty), fillPx=str(price), tradeId=trade["tradeId"], fee=trade["fee"],
                 execType=liq, fillTime=trade["ts"], uTime=trade["ts"])
        pos = self.positions.setdefault(o["instId"], [0.0, 0.0])
        sgn = 1.0 if o["side"] == "buy" else -1.0
        new = pos[0] + sgn * qty
        if pos[0] == 0 or (pos[0] > 0) == (sgn > 0):
            pos[1] = (abs(pos[0]) * pos[1] + qty * price) / abs(new)
        elif new == 0:
            pos[1] = 0.0
        pos[0] = new
        self._push(o)
        frame = orjson.dumps({"arg": {"channel": "account", "uid": "1"}, "data": [self.balance()]})
        for conn in self._subscribers("account", ""):
            conn.send(frame)
        o.update(fillSz="", fillPx="", tradeId="", fee="0", execType="")

    def balance(self) -> dict[str, Any]:
        """The account in single-currency margin mode (account-level ``imr``/``mmr`` empty):
        per currency ``cashBal`` = deposit - fees, ``upl`` at the book mid, ``eq`` = cash + upl,
        ``imr`` 2 % / ``mmr`` 1 % of the positions' value in that currency."""
        fees: dict[str, float] = {}
        for f in self.fills:
            fees[f["feeCcy"]] = fees.get(f["feeCcy"], 0.0) - float(f["fee"])
        details = []
        for ccy, dep in self.deposit.items():
            upl = value = 0.0
            for inst_id, (size, avg) in self.positions.items():
                spec = self.specs[inst_id]
                row = spec.row()
                if row["settleCcy"] != ccy or size == 0:
                    continue
                book = self.books[inst_id]
                bid, ask = book.best_bid(), book.best_ask()
                mid = ((bid + ask) / 2 if bid is not None and ask is not None else spec.mid_ticks) * spec.tick
                ct = float(spec.ct_val)
                if row["ctType"] == "inverse":
                    upl += size * ct * (1.0 / avg - 1.0 / mid)
                    value += abs(size) * ct / mid
                else:
                    upl += size * ct * (mid - avg)
                    value += abs(size) * ct * mid
            cash = dep - fees.get(ccy, 0.0)
            details.append({"ccy": ccy, "cashBal": f"{cash:.10f}", "eq": f"{cash + upl:.10f}",
                            "upl": f"{upl:.10f}", "imr": f"{value * 0.02:.10f}",
                            "mmr": f"{value * 0.01:.10f}", "availEq": f"{cash + upl - value * 0.02:.10f}",
                            "uTime": str(_ms())})
        return {"totalEq": "", "adjEq": "", "imr": "", "mmr": "", "upl": "", "uTime": str(_ms()),
                "details": details}

    def _finish(self, o: dict[str, Any], state: str, source: str = "") -> None:
        o.update(state=state, cancelSource=source, uTime=str(_ms()))
        self._push(o)

    def _push(self, o: dict[str, Any]) -> None:
        if o.get("quiet"):
            return
        data = {k: v for k, v in o.items() if k != "quiet"}
        frame = orjson.dumps({"arg": {"channel": "orders", "instType": "ANY", "uid": "1"},
                              "data": [data]})
        for conn in self._subscribers("orders", o["instId"]):
            conn.send(frame)

    def _find(self, a: dict[str, Any]) -> dict[str, Any] | None:
        if a.get("ordId"):
            return self.orders.get(str(a["ordId"]))
        found = self.by_cl_ord_id(str(a.get("clOrdId", "")))
        return found[-1] if found else None

    def _cancel_op(self, a: dict[str, Any], quiet: bool) -> dict[str, Any]:
        o = self._find(a)
        cl = str(a.get("clOrdId", ""))
        if o is None:
            return self._row(None, cl, "51400", "Cancellation failed as the order does not exist")
        if o["state"] not in ("live", "partially_filled"):
            return self._row(o, o["clOrdId"], "51400", "Order already completed")
        o["quiet"] = quiet
        self._finish(o, "canceled", "1")
        o["quiet"] = False
        return self._row(o, o["clOrdId"])

    def _amend(self, a: dict[str, Any], quiet: bool) -> dict[str, Any]:
        o = self._find(a)
        if o is None or o["state"] not in ("live", "partially_filled"):
            return self._row(o, str(a.get("clOrdId", "")), "51503", "Order does not exist")
        book = self.books[o["instId"]]
        if "newPx" in a:
            if not book.on_tick(float(a["newPx"])):
                return self._row(o, o["clOrdId"], "51000", "Parameter newPx error")
            o["px"] = a["newPx"]
        if "newSz" in a:
            if float(a["newSz"]) < float(o["accFillSz"]):
                return self._row(o, o["clOrdId"], "51000", "newSz below filled size")
            o["sz"] = str(int(float(a["newSz"])))
        o.update(amendResult="0", uTime=str(_ms()), quiet=quiet)
        self._push(o)
        self._match(o, o["side"] == "buy", book.ticks(float(o["px"])))
        o.update(amendResult="", quiet=False)
        return self._row(o, o["clOrdId"])

    async def _dead_man(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            if self.dead_man_deadline is not None and time.monotonic() > self.dead_man_deadline:
                self.dead_man_deadline = None
                self.dead_man_fired += 1
                for o in self.open_orders():
                    self._finish(o, "canceled", "6")

    # ------------------------------------------------------------------ REST
    def _verify(self, req: web.Request, body: str) -> bool:
        ts = req.headers.get("OK-ACCESS-TIMESTAMP", "")
        want = hmac_b64(self.secret, ts + req.method + req.path_qs + body)
        return (req.headers.get("OK-ACCESS-KEY") == self.api_key and
                req.headers.get("OK-ACCESS-PASSPHRASE") == self.passphrase and
                hmac.compare_digest(want, req.headers.get("OK-ACCESS-SIGN", "")))

    async def _rest(self, req: web.Request) -> web.Response:
        body = await req.text()
        path, q = req.path, req.query
        self.rest_calls.append((req.method, path))

        def ok(data: list[Any]) -> web.Response:
            return web.json_response({"code": "0", "msg": "", "data": data})

        def err(code: str, msg: str, status: int = 200) -> web.Response:
            return web.json_response({"code": code, "msg": msg, "data": []}, status=status)

        if path == "/api/v5/public/time":
            return ok([{"ts": str(_ms())}])
        if path == "/api/v5/public/instruments":
            return ok([s.row() for s in self.specs.values() if q.get("instType") == "SWAP"])
        if path == "/api/v5/market/books":
            bids, asks = self.books[q["instId"]].levels(int(q.get("sz", "400")))
            return ok([{"asks": asks, "bids": bids, "ts": str(_ms()),
                        "seqId": self.books[q["instId"]].seq_id}])
        if not self._verify(req, body):
            return err("50113", "Invalid Sign", 401)
        clean = [{k: v for k, v in o.items() if k != "quiet"} for o in self.orders.values()]
        if path == "/api/v5/trade/order":
            found = [o for o in clean if o["instId"] == q.get("instId") and (
                o["ordId"] == q.get("ordId") or (q.get("clOrdId") and o["clOrdId"] == q["clOrdId"]))]
            return ok(found[-1:]) if found else err("51603", "Order does not exist")
        if path == "/api/v5/trade/orders-pending":
            return ok([o for o in clean if o["state"] in ("live", "partially_filled")])
        if path in ("/api/v5/trade/fills", "/api/v5/trade/fills-history"):
            begin = int(q.get("begin", "0"))
            return ok([f for f in self.fills if int(f["ts"]) >= begin and
                       (not q.get("ordId") or f["ordId"] == q["ordId"])])
        if path == "/api/v5/account/positions":
            return ok([{"instId": i, "instType": "SWAP", "posSide": "net", "pos": str(int(v[0])),
                        "avgPx": str(v[1]) if v[0] else "", "uTime": str(_ms())}
                       for i, v in self.positions.items()])
        if path == "/api/v5/account/balance":
            return ok([self.balance()])
        if path == "/api/v5/trade/cancel-batch-orders":
            return ok([self._cancel_op(a, False) for a in orjson.loads(body)])
        if path == "/api/v5/trade/cancel-all-after":
            timeout = float(orjson.loads(body)["timeOut"])
            self.dead_man_deadline = None if timeout == 0 else time.monotonic() + timeout
            return ok([{"triggerTime": str(_ms() + int(timeout * 1000)), "ts": str(_ms())}])
        return err("50000", f"unknown endpoint {path}", 404)


def main(argv: list[str] | None = None) -> int:
    args = standalone_parser("okx", "A local fake OKX v5 venue (127.0.0.1 only).", port=8766,
                             rest_port=8767, names="instruments", default_names="BTC-USD-SWAP",
                             names_help="comma-separated swaps").parse_args(argv)
    return serve_standalone(
        lambda: OkxFake(tuple(args.instruments.split(",")), seed=args.seed,
                        step_s=args.step_ms / 1000, port=args.port, rest_port=args.rest_port,
                        max_lifetime_s=STANDALONE_LIFETIME_S),
        lambda fake: f"fake okx: {fake.public_url} {fake.private_url} {fake.rest_url}  "
                     f"key fake-key / fake-secret / fake-pass ({iso_ms(_ms())})")


if __name__ == "__main__":
    raise SystemExit(main())
