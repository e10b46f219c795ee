"""A local fake Deribit venue: JSON-RPC 2.0 over one websocket on 127.0.0.1, with faults.

Theory of operation. ``DeribitFake`` is a ``JsonRpcFake`` (``adapters.fakes.jsonrpc``: the request
loop and order faults it shares with the Derive fake) on ``adapters.fakes.FakeWsServer``
(``self.ws``: transport faults ``disconnect``, ``stall``, ``reject_connections``,
``delay_replies``). It implements the subset of the API the session uses, with Deribit's
shapes (``adapters/deribit/fake_market.py`` keeps the books):

* ``public/get_instruments``, ``public/get_time``, ``public/test``, ``public/set_heartbeat``
  (answered with a ``test_request`` at once and every interval; an unanswered one closes the
  connection, as Deribit does), ``public/auth`` (``client_credentials`` and
  ``client_signature``, verified with the same HMAC), ``public|private/(un)subscribe``;
* ``book.{instrument}.{interval}``: a snapshot notification on subscribe, then changes with
  ``change_id``/``prev_change_id`` every ``step_s``; ``ticker`` and ``trades`` channels;
* ``private/buy|sell|edit|cancel|cancel_all|get_order_state|get_order_state_by_label|
  get_open_orders_by_currency|get_user_trades_by_currency|get_user_trades_by_order|
  get_positions|enable_cancel_on_disconnect``; orders match the fake's own book (taker) or
  rest; ``fill_resting()`` fills a resting order as a maker; ``user.orders``/``user.trades``/
  ``user.portfolio`` notifications follow every change;
* ``private/get_account_summary`` and ``user.portfolio.{currency}`` (sent on subscribe and
  after every fill): ``balance`` (``self.balance``, less fees), ``session_upl`` at the book's
  mid, ``margin_balance``/``equity`` = balance + upl, and margins by a simplified standard
  rule (futures: IM 2 %, MM 1 % of the position's coin value; short options: IM 15 %, MM
  7.5 % of the coins; longs none), ``available_funds`` = margin_balance - initial_margin;
* cancel-on-disconnect: when an armed connection drops, every open order is cancelled with
  ``cancel_reason = "cancel_on_disconnect"`` (not after ``private/logout``).

Venue faults: ``gap(symbol)`` (one change is applied but never sent), ``malformed()``,
``lose_acks(n)`` (the next n order requests are executed but neither answered nor notified:
only a query can tell), ``drop_orders(n)`` (the next n ``buy``/``sell`` requests are neither
executed nor answered), ``ack_delay_s``, ``rate_limit(n)`` (error 10028 to the next n
matching-engine requests). ``paused`` stops the book generator so a test can compare books.
Run standalone: ``python -m adapters.deribit.fake --port 8765``.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import random
import time
from typing import Any

import orjson

from adapters.deribit.fake_market import FakeBook, Spec, spec_for
from adapters.deribit.private import sign
from adapters.fakes import FakeConnection
from adapters.fakes.jsonrpc import JsonRpcFake, RpcError
from adapters.fakes.venue import STANDALONE_LIFETIME_S, serve_standalone, standalone_parser
from adapters.fakes.venue import now_ms as _ms

class DeribitFake(JsonRpcFake):
    """See the module docstring. ``async with DeribitFake(("BTC-PERPETUAL",)) as fake``."""

    MATCHING = frozenset({"private/buy", "private/sell", "private/edit", "private/cancel",
                          "private/cancel_all"})
    NEW_ORDERS = frozenset({"private/buy", "private/sell"})
    LOSABLE = frozenset({"private/buy", "private/sell", "private/edit"})
    RATE_LIMITED = (10028, "too_many_requests")
    UNAUTHORIZED = (13009, "unauthorized")
    PARSE_ERROR = {"jsonrpc": "2.0", "error": {"code": -32700, "message": "parse error"}}

    def __init__(self, symbols: tuple[str, ...] = ("BTC-PERPETUAL",), *, seed: int = 7,
                 step_s: float = 0.01, client_id: str = "fake-id",
                 client_secret: str = "fake-secret", port: int = 0,
                 min_heartbeat_s: float = 10.0, max_lifetime_s: float = 120.0) -> None:
        super().__init__(step_s=step_s, ws_port=port, max_lifetime_s=max_lifetime_s)
        self.rng = random.Random(seed)
        self.specs: dict[str, Spec] = {s: spec_for(s) for s in symbols}
        self.books: dict[str, FakeBook] = {}
        for s, spec in self.specs.items():
            book = FakeBook(spec, self.rng)
            book.seed()
            self.books[s] = book
        self.client_id = client_id
        self.client_secret = client_secret
        self.min_heartbeat_s = min_heartbeat_s
        self.orders: dict[str, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.positions: dict[str, list[float]] = {}  # symbol -> [signed size, avg price]
        self.balance: dict[str, float] = {s.currency: 10.0 for s in self.specs.values()}
        self.cod_fired = 0
        self._skip: set[str] = set()
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """The JSON-RPC websocket endpoint."""
        return f"{self.ws_url}/ws/api/v2"

    # ------------------------------------------------------------------ faults & helpers
    def gap(self, symbol: str = "") -> None:
        """The next book change of ``symbol`` is applied here but never sent."""
        self._skip.add(symbol or next(iter(self.specs)))

    def malformed(self) -> None:
        self.ws.inject('{"jsonrpc":"2.0","method":"subscription","params":{"channel":')

    def book_levels(self, symbol: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        return self.books[symbol].levels()

    def open_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["order_state"] == "open"]

    def by_label(self, label: str) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["label"] == label]

    def fill_resting(self, order_id: str, amount: float | None = None) -> None:
        """A counterparty trades against our resting order (we are the maker)."""
        o = self.orders[order_id]
        left = o["amount"] - o["filled_amount"]
        qty = left if amount is None else min(amount, left)
        trade = self._execute(o, o["price"], qty, "M")
        self._notify_order(o, [trade])

    # ------------------------------------------------------------------ connections
    async def on_connect(self, conn: FakeConnection) -> None:
        self._conns[conn.id] = {"subs": set(), "auth": False, "cod": False, "logout": False,
                                "test_due": None}

    async def on_disconnect(self, conn: FakeConnection) -> None:
        st = self._conns.pop(conn.id, None)
        if st and st["cod"] and not st["logout"]:
            self.cod_fired += 1
            for o in self.open_orders():
                self._cancel(o, "cancel_on_disconnect")

    def result_reply(self, rid: Any, result: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": rid, "result": result, "usIn": _ms() * 1000,
                "usOut": _ms() * 1000, "testnet": True}

    def answered(self, conn: FakeConnection, method: str, params: dict[str, Any],
                 ok: bool) -> None:
        if ok and method.endswith("subscribe") and not method.endswith("unsubscribe"):
            for ch in params["channels"]:
                self._on_subscribed(conn, ch)

    def dispatch(self, conn: FakeConnection, st: dict[str, Any], method: str,
                 p: dict[str, Any], quiet: bool) -> Any:
        if method == "public/test":
            st["test_due"] = None
            return {"version": "1.2.26"}
        if method == "public/get_time":
            return _ms()
        if method == "public/set_heartbeat":
            interval = float(p["interval"])
            if interval < self.min_heartbeat_s:
                raise RpcError(11029, "invalid_arguments")
            conn.spawn(self._heartbeat(conn, st, interval))
            return "ok"
        if method == "public/auth":
            return self._auth(st, p)
        if method == "private/logout":
            st["logout"] = True
            return "ok"
        if method == "public/get_instruments":
            return [s.definition() for s in self.specs.values() if s.currency == p["currency"]
                    and p.get("kind") in (None, s.kind)]
        if method == "public/get_order_book":
            bids, asks = self.book_levels(p["instrument_name"])
            return {"instrument_name": p["instrument_name"], "bids": bids, "asks": asks,
                    "change_id": self.books[p["instrument_name"]].change_id, "timestamp": _ms()}
        if method in ("public/subscribe", "private/subscribe"):
            for ch in p["channels"]:
                if ch.startswith("user.") and not st["auth"]:
                    raise RpcError(13009, "unauthorized")
            st["subs"].update(p["channels"])
            return list(p["channels"])
        if method in ("public/unsubscribe", "private/unsubscribe"):
            st["subs"].difference_update(p["channels"])
            return list(p["channels"])
        if method in ("private/buy", "private/sell"):
            return self._new_order(method == "private/buy", p, quiet)
        if method == "private/edit":
            return self._edit(p, quiet)
        if method == "private/cancel":
            o = self._order(p["order_id"])
            if o["order_state"] != "open":
                raise RpcError(11044, "not_open_order")
            self._cancel(o, "user_request")
            return o
        if method == "private/cancel_all":
            n = 0
            for o in self.open_orders():
                self._cancel(o, "user_request")
                n += 1
            return n
        if method == "private/get_order_state":
            return self._order(p["order_id"])
        if method == "private/get_order_state_by_label":
            return self.by_label(p["label"])
        if method == "private/get_open_orders_by_currency":
            return [o for o in self.open_orders() if self.specs[o["instrument_name"]].currency
                    == p["currency"]]
        if method == "private/get_user_trades_by_currency":
            since = int(p.get("start_timestamp", 0))
            return {"trades": [t for t in self.trades if t["timestamp"] >= since and
                               self.specs[t["instrument_name"]].currency == p["currency"]],
                    "has_more": False}
        if method == "private/get_user_trades_by_order":
            return [t for t in self.trades if t["order_id"] == p["order_id"]]
        if method == "private/get_positions":
            return [{"instrument_name": s, "size": v[0], "average_price": v[1],
                     "direction": "buy" if v[0] > 0 else "sell" if v[0] < 0 else "zero",
                     "kind": self.specs[s].kind} for s, v in self.positions.items()
                    if self.specs[s].currency == p["currency"]]
        if method == "private/get_account_summary":
            if p.get("currency") not in self.balance:
                raise RpcError(10004, "invalid currency")
            return self.account_summary(p["currency"])
        if method == "private/enable_cancel_on_disconnect":
            st["cod"] = True
            return "ok"
        if method == "private/disable_cancel_on_disconnect":
            st["cod"] = False
            return "ok"
        raise RpcError(-32601, "Method not found")

    def _auth(self, st: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        if p.get("client_id") != self.client_id:
            raise RpcError(13004, "invalid_credentials")
        grant = p.get("grant_type")
        if grant == "client_credentials":
            ok = hmac.compare_digest(str(p.get("client_secret", "")), self.client_secret)
        elif grant == "client_signature":
            ts = int(p["timestamp"])
            if abs(ts - _ms()) > 60_000:
                raise RpcError(13004, "invalid_credentials: stale timestamp")
            want = sign(self.client_secret, ts, str(p["nonce"]), str(p.get("data", "")))
            ok = hmac.compare_digest(want, str(p.get("signature", "")))
        else:
            raise RpcError(13004, "invalid_credentials: grant_type")
        if not ok:
            raise RpcError(13004, "invalid_credentials")
        st["auth"] = True
        return {"access_token": "fake-token", "expires_in": 900, "refresh_token": "fake-refresh",
                "scope": "connection mainaccount session:default trade:read_write",
                "token_type": "bearer"}

    async def _heartbeat(self, conn: FakeConnection, st: dict[str, Any], interval: float) -> None:
        while True:
            st["test_due"] = time.monotonic() + interval
            conn.send(orjson.dumps({"jsonrpc": "2.0", "method": "heartbeat",
                                    "params": {"type": "test_request"}}))
            await asyncio.sleep(interval)
            if st["test_due"] is not None:  # unanswered: Deribit closes the connection
                conn.abort()
                return

    # ------------------------------------------------------------------ market data
    def _on_subscribed(self, conn: FakeConnection, channel: str) -> None:
        parts = channel.split(".")
        if channel.startswith("user.portfolio.") and parts[2].upper() in self.balance:
            conn.send(self._note(channel, self.account_summary(parts[2].upper())))
            return
        if parts[0] == "book" and parts[1] in self.books:
            bids, asks = self.book_levels(parts[1])
            data = {"type": "snapshot", "timestamp": _ms(), "instrument_name": parts[1],
                    "change_id": self.books[parts[1]].change_id,
                    "bids": [["new", p, q] for p, q in bids],
                    "asks": [["new", p, q] for p, q in asks]}
            conn.send(self._note(channel, data))

    @staticmethod
    def _note(channel: str, data: Any) -> bytes:
        return orjson.dumps({"jsonrpc": "2.0", "method": "subscription",
                             "params": {"channel": channel, "data": data}})

    def _subscribers(self, match: Any) -> list[tuple[FakeConnection, str]]:
        out = []
        for cid, st in self._conns.items():
            conn = self.ws.connections.get(cid)
            if conn is None:
                continue
            for ch in st["subs"]:
                if match(ch):
                    out.append((conn, ch))
        return out

    def _broadcast_book(self, symbol: str, bids: list[list[Any]], asks: list[list[Any]]) -> None:
        prev, cid = self.books[symbol].next_ids()
        if symbol in self._skip:
            self._skip.discard(symbol)
            return
        data = {"type": "change", "timestamp": _ms(), "instrument_name": symbol,
                "prev_change_id": prev, "change_id": cid, "bids": bids, "asks": asks}
        for conn, ch in self._subscribers(lambda c: c.startswith(f"book.{symbol}.")):
            conn.send(self._note(ch, data))

    def step(self) -> None:
        """One market step: one random change per book, broadcast to its subscribers."""
        for symbol, book in self.books.items():
            bids, asks = book.step()
            self._broadcast_book(symbol, bids, asks)

    # ------------------------------------------------------------------ orders
    def _order(self, order_id: str) -> dict[str, Any]:
        o = self.orders.get(order_id)
        if o is None:
            raise RpcError(10004, "order_not_found")
        return o

    def _validate(self, spec: Spec, amount: float, price: float | None) -> None:
        if amount <= 0 or abs(amount / spec.min_amount - round(amount / spec.min_amount)) > 1e-9:
            raise RpcError(10002, "qty_too_low" if amount < spec.min_amount else
                           "must be a multiple of min_trade_amount")
        if price is not None and abs(price / spec.tick - round(price / spec.tick)) > 1e-6:
            raise RpcError(10011, "price_wrong_tick")

    def _new_order(self, is_buy: bool, p: dict[str, Any], quiet: bool) -> dict[str, Any]:
        symbol = p["instrument_name"]
        spec = self.specs.get(symbol)
        if spec is None:
            raise RpcError(13020, "not_found")
        amount = float(p["amount"])
        otype = p.get("type", "limit")
        price = None if otype == "market" else float(p["price"])
        self._validate(spec, amount, price)
        book = self.books[symbol]
        if p.get("post_only") and price is not None:
            best = book.best_ask() if is_buy else book.best_bid()
            if best is not None and (price >= best if is_buy else price <= best):
                if p.get("reject_post_only"):
                    raise RpcError(11054, "post_only_reject")
                price = round(best - spec.tick if is_buy else best + spec.tick, 8)
        now = _ms()
        o = {"order_id": f"{spec.currency}-{next(self._ids)}", "label": p.get("label", ""),
             "instrument_name": symbol, "direction": "buy" if is_buy else "sell",
             "price": price if price is not None else "market_price", "amount": amount,
             "filled_amount": 0.0, "average_price": 0.0, "order_state": "open",
             "order_type": otype, "time_in_force": p.get("time_in_force", "good_til_cancelled"),
             "post_only": bool(p.get("post_only")), "reduce_only": bool(p.get("reduce_only")),
             "replaced": False, "api": True, "web": False, "creation_timestamp": now,
             "last_update_timestamp": now, "contracts": amount / (10.0 if spec.kind == "future" else 1.0)}
        tif = o["time_in_force"]
        if tif == "fill_or_kill" and book.available(is_buy, price) < amount - 1e-12:
            o["order_state"] = "cancelled"
            o["cancel_reason"] = "fok"  # never traded
            self.orders[o["order_id"]] = o
            if not quiet:
                self._notify_order(o, [])
            return {"order": o, "trades": []}
        self.orders[o["order_id"]] = o
        trades = self._match(o, is_buy, price)
        if o["order_state"] == "open" and (otype == "market" or tif in ("immediate_or_cancel",
                                                                       "fill_or_kill")):
            o["order_state"] = "cancelled"
            o["cancel_reason"] = "immediate_or_cancel"
        if not quiet:
            self._notify_order(o, trades)
        return {"order": o, "trades": trades}

    def _match(self, o: dict[str, Any], is_buy: bool, limit: float | None) -> list[dict[str, Any]]:
        book = self.books[o["instrument_name"]]
        fills, changes = book.take(is_buy, o["amount"] - o["filled_amount"], limit)
        if changes:
            self._broadcast_book(o["instrument_name"], [] if is_buy else changes,
                                 changes if is_buy else [])
        return [self._execute(o, px, q, "T") for px, q in fills]

    def _execute(self, o: dict[str, Any], price: float, qty: float, liq: str) -> dict[str, Any]:
        spec = self.specs[o["instrument_name"]]
        filled = o["filled_amount"] + qty
        o["average_price"] = (o["average_price"] * o["filled_amount"] + price * qty) / filled
        o["filled_amount"] = round(filled, 8)
        o["last_update_timestamp"] = _ms()
        if o["filled_amount"] >= o["amount"] - 1e-12:
            o["order_state"] = "filled"
        rate = spec.fee_rate if liq == "T" else 0.0
        fee = round(qty / price * rate, 10) if spec.kind == "future" else round(qty * rate, 10)
        self.balance[spec.currency] -= fee
        sign_ = 1.0 if o["direction"] == "buy" else -1.0
        pos = self.positions.setdefault(o["instrument_name"], [0.0, 0.0])
        new = pos[0] + sign_ * qty
        if pos[0] == 0 or (pos[0] > 0) == (sign_ > 0):
            pos[1] = (abs(pos[0]) * pos[1] + qty * price) / abs(new) if new else 0.0
        elif new == 0:
            pos[1] = 0.0
        pos[0] = round(new, 8)
        t = {"trade_id": f"T-{next(self._trade_ids)}", "order_id": o["order_id"],
             "label": o["label"], "instrument_name": o["instrument_name"],
             "direction": o["direction"], "price": price, "amount": qty, "fee": fee,
             "fee_currency": spec.currency, "liquidity": liq, "state": o["order_state"],
             "timestamp": _ms(), "order_type": o["order_type"], "matching_id": None,
             "mark_price": price, "index_price": price, "trade_seq": len(self.trades) + 1}
        self.trades.append(t)
        return t

    def _edit(self, p: dict[str, Any], quiet: bool) -> dict[str, Any]:
        o = self._order(p["order_id"])
        if o["order_state"] != "open":
            raise RpcError(11044, "not_open_order")
        spec = self.specs[o["instrument_name"]]
        amount = float(p.get("amount", o["amount"]))
        price = float(p["price"]) if "price" in p else o["price"]
        self._validate(spec, amount, price)
        if amount < o["filled_amount"]:
            raise RpcError(10002, "amount below filled amount")
        o.update(amount=amount, price=price, replaced=True, last_update_timestamp=_ms())
        if amount <= o["filled_amount"] + 1e-12:
            o["order_state"] = "filled"
        trades = self._match(o, o["direction"] == "buy", price) if o["order_state"] == "open" else []
        if not quiet:
            self._notify_order(o, trades)
        return {"order": o, "trades": trades}

    def _cancel(self, o: dict[str, Any], reason: str) -> None:
        o.update(order_state="cancelled", cancel_reason=reason, last_update_timestamp=_ms())
        self._notify_order(o, [])

    def _notify_order(self, o: dict[str, Any], trades: list[dict[str, Any]]) -> None:
        spec = self.specs[o["instrument_name"]]

        def wants(prefix: str) -> Any:
            def match(ch: str) -> bool:
                parts = ch.split(".")
                return (ch.startswith(prefix) and len(parts) == 5 and parts[2] in ("any", spec.kind)
                        and parts[3] in ("any", spec.currency))
            return match
        for conn, ch in self._subscribers(wants("user.orders.")):
            conn.send(self._note(ch, o))
        if trades:
            for conn, ch in self._subscribers(wants("user.trades.")):
                conn.send(self._note(ch, trades))
            for conn, ch in self._subscribers(lambda c: c == f"user.portfolio.{spec.currency.lower()}"):
                conn.send(self._note(ch, self.account_summary(spec.currency)))

    def account_summary(self, ccy: str) -> dict[str, Any]:
        """The account of ``ccy`` as ``private/get_account_summary`` reports it (module docstring)."""
        upl = im = mm = 0.0
        for sym, (size, avg) in self.positions.items():
            spec = self.specs[sym]
            if spec.currency != ccy or size == 0:
                continue
            book = self.books[sym]
            bid, ask = book.best_bid(), book.best_ask()
            mark = (bid + ask) / 2 if bid is not None and ask is not None else spec.mid
            if spec.kind == "future":  # inverse: size in USD
                upl += size * (1.0 / avg - 1.0 / mark)
                im += abs(size) / mark * 0.02
                mm += abs(size) / mark * 0.01
            else:
                upl += size * (mark - avg)
                if size < 0:
                    im += -size * 0.15
                    mm += -size * 0.075
        bal = self.balance[ccy]
        mb = bal + upl
        return {"currency": ccy, "balance": bal, "equity": mb, "margin_balance": mb,
                "session_upl": upl, "initial_margin": im, "maintenance_margin": mm,
                "available_funds": mb - im, "margin_model": "segregated_sm"}


def main(argv: list[str] | None = None) -> int:
    args = standalone_parser("deribit", "A local fake Deribit venue (127.0.0.1 only).", port=8765,
                             rest_port=None, names="instruments",
                             default_names="BTC-PERPETUAL").parse_args(argv)
    return serve_standalone(
        lambda: DeribitFake(tuple(args.instruments.split(",")), seed=args.seed,
                            step_s=args.step_ms / 1000, port=args.port,
                            max_lifetime_s=STANDALONE_LIFETIME_S),
        lambda fake: f"fake deribit: {fake.url}  client fake-id / fake-secret")


if __name__ == "__main__":
    raise SystemExit(main())
