"""A local fake Derive venue: JSON-RPC 2.0 over one websocket on 127.0.0.1, with faults.

Theory of operation. ``DeriveFake`` is a ``JsonRpcFake`` (``adapters.fakes``: the websocket
server with its transport faults, the market clock, the order faults, the JSON-RPC request
loop it shares with the Deribit fake) over the shared
tick-grid market (``FakeBook``/``FakeMatcher``). It speaks the subset of Derive's API the
session uses, in Derive's shapes:

* ``public/get_instruments`` (with each instrument's ``base_asset_address``/``sub_id``),
  ``public/get_time``, ``public/login`` (the EIP-191 signature is *verified*: it must recover
  to the wallet owner or a session key registered for the wallet, and the timestamp must be
  fresh), ``subscribe``/``unsubscribe``;
* ``orderbook.{i}.{group}.{depth}`` (the whole top of book every step, ``publish_id`` growing),
  ``trades.{i}``, ``ticker_slim.{i}.{interval}`` (options with ``option_pricing``);
* ``private/order``/``replace``: the EIP-712 signature is *verified* with the same library
  (``eth-account``): the action rebuilt from the request's fields (trade-module encoding,
  subaccount, nonce, expiry, owner, signer) must recover to ``signer``, which must be
  registered; expired signatures, reused nonces and a ``max_fee`` under the fee are refused
  as Derive does. ``private/cancel``/``cancel_all``/``get_order``/``get_orders`` (by label)/
  ``get_open_orders``/``get_trade_history``/``get_positions``/``get_subaccount``/
  ``set_cancel_on_disconnect``; ``{subaccount}.orders``/``.trades``/``.balances`` follow
  every change.

Faults: ``lose_acks(n)`` (executed, never answered), ``drop_orders(n)`` (neither executed nor
answered), ``rate_limit(n)`` (error -32000 to the next n matching requests), ``ack_delay_s``;
``gap()`` (skip a book message), ``stale()`` (resend an old ``publish_id``), ``malformed()``;
the websocket server's ``disconnect``/``stall``/``reject_connections``. Cancel-on-disconnect
cancels every open order when an armed connection drops.
Run standalone: ``python -m adapters.derive.fake --port 8767`` (public test key below).
"""

from __future__ import annotations

import calendar
import itertools
import math
import random
import time
from typing import Any

import orjson

from adapters.derive.instruments import DeriveAsset
from adapters.derive.params import NETWORKS
from adapters.derive.private import action_of
from adapters.derive.signing import recover_action_signer, recover_login_signer
from adapters.fakes import FakeConnection
from adapters.fakes.account import FakeLinearAccount
from adapters.fakes.market import BUY, SELL, FakeBook, FakeMatcher, FakeOrder
from adapters.fakes.jsonrpc import JsonRpcFake, RpcError
from adapters.fakes.venue import STANDALONE_LIFETIME_S, serve_standalone, standalone_parser
from adapters.fakes.venue import now_ms as _ms
from engine.pricing import black76_price_scalar

# A throwaway key pair for tests and the standalone fake (derive-py's public test session key):
# never a real account.
FAKE_SESSION_KEY = "0xf20701f7e29ce946e79a70cb53067f837950841f77edb3e685ce370db7ed7bdd"
FAKE_SIGNER = "0x0e94ecA48AC699d2237F3732210f8216A497ab16"
FAKE_WALLET = "0x5cb67F7829d01d9C75385A920De5E51060663374"
FAKE_SUBACCOUNT = 75723
_C = NETWORKS["testnet"]
DEFAULT_INSTRUMENTS = ("ETH-PERP",) + tuple(
    f"ETH-{e}-{k}-{c}" for e in ("20270625", "20270924") for k in (2400, 2700, 3000, 3300, 3600)
    for c in "CP")
"""What ``python -m adapters.derive.fake`` lists (``config/fake-derive.toml`` trades them)."""
_FEE_RATE = (0.0001, 0.0003)  # maker, taker: of notional (USDC)


SPOT = {"ETH": 3000.0, "BTC": 60_000.0}


def smile_vol(strike: float, forward: float) -> float:
    """The fake's implied-vol smile (a parabola in log-moneyness, 60 vol at the money)."""
    k = math.log(strike / forward)
    return 0.60 + 0.35 * k * k - 0.05 * k


def _spec(symbol: str) -> dict[str, Any]:
    """Instrument shape and a plausible mid for a fake symbol (options: Black-76 on the smile)."""
    parts = symbol.split("-")
    base = parts[0]
    spot = SPOT.get(base, 100.0)
    if parts[-1] == "PERP":
        return {"type": "perp", "base": base, "mid": spot, "tick": 0.1, "lot": 0.001}
    expiry = calendar.timegm(time.strptime(parts[1], "%Y%m%d")) + 8 * 3600
    strike, is_call = float(parts[2]), parts[3] == "C"
    years = max(expiry - time.time(), 86_400.0) / (365 * 86_400)
    vol = smile_vol(strike, spot)
    mid = black76_price_scalar(is_call, spot, strike, years, vol, 0.0)
    return {"type": "option", "base": base, "expiry": expiry, "strike": strike,
            "option_type": parts[3], "mid": max(round(mid, 1), 0.5), "tick": 0.1, "lot": 0.01,
            "vol": vol}


class DeriveFake(JsonRpcFake):
    """See the module docstring. ``async with DeriveFake(("ETH-PERP",)) as fake``."""

    MATCHING = frozenset({"private/order", "private/replace", "private/cancel",
                          "private/cancel_all"})
    NEW_ORDERS = LOSABLE = frozenset({"private/order", "private/replace"})
    RATE_LIMITED = (-32000, "Rate limit exceeded")
    UNAUTHORIZED = (14014, "Session key or wallet not authenticated")

    def __init__(self, symbols: tuple[str, ...] = ("ETH-PERP",), *, seed: int = 7,
                 step_s: float = 0.02, port: int = 0, wallet: str = FAKE_WALLET,
                 subaccount_id: int = FAKE_SUBACCOUNT, signers: tuple[str, ...] = (FAKE_SIGNER,),
                 max_lifetime_s: float = 120.0) -> None:
        super().__init__(step_s=step_s, ws_port=port, max_lifetime_s=max_lifetime_s)
        self.rng = random.Random(seed)
        self.specs = {s: _spec(s) for s in symbols}
        self.books = {s: FakeBook(s, self.rng, mid=sp["mid"], tick=sp["tick"], lot=sp["lot"])
                      for s, sp in self.specs.items()}
        self.matcher = FakeMatcher(self.books, fee_rate=_FEE_RATE[0], taker_fee_rate=_FEE_RATE[1])
        self.assets = {s: DeriveAsset("0x" + f"{i + 1:040x}", 1000 + i)
                       for i, s in enumerate(symbols)}
        self.wallet = wallet
        self.subaccount_id = subaccount_id
        self.signers = {a.lower() for a in signers}
        self.labels: dict[str, str] = {}  # order id -> label
        self.nonces: set[int] = set()
        self.cod_fired = 0
        self.publish_id = 0
        self.signatures_verified = 0
        self._skip = 0
        self._stale = 0
        self._last_books: dict[str, bytes] = {}
        self._oids = itertools.count(1)
        self.account = FakeLinearAccount(self.matcher, self.books, deposit=100_000.0, leverage=10.0,
                                         maintenance_rate=0.05)
        """The subaccount's USDC collateral and margin (``private/get_subaccount``)."""

    @property
    def url(self) -> str:
        return f"{self.ws_url}/ws"

    # ------------------------------------------------------------------ faults & helpers
    def gap(self, n: int = 1) -> None:
        """Never send the next ``n`` book messages (the book still changes)."""
        self._skip += n

    def stale(self, n: int = 1) -> None:
        """Resend the previous book message (an old ``publish_id``) ``n`` times."""
        self._stale += n

    def malformed(self) -> None:
        self.ws.inject('{"jsonrpc":"2.0","method":"subscription","params":{"channel":')

    def book_levels(self, symbol: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        return self.books[symbol].as_floats()

    def open_orders(self) -> list[FakeOrder]:
        return self.matcher.open_orders()

    def fill_resting(self, label: str) -> None:
        """A counterparty trades against our resting order (we are the maker)."""
        o = self.matcher.orders[label]
        if o.is_open and o.price_ticks is not None:
            before = len(o.fills)
            self.matcher._fill(o, float(self.books[o.symbol].px(o.price_ticks)), o.remaining,
                               True, _ms())
            self._notify(o, o.fills[before:])

    # ------------------------------------------------------------------ connections
    async def on_connect(self, conn: FakeConnection) -> None:
        self._conns[conn.id] = {"subs": set(), "auth": False, "cod": False}

    async def on_disconnect(self, conn: FakeConnection) -> None:
        st = self._conns.pop(conn.id, None)
        if st and st["cod"]:
            self.cod_fired += 1
            for o in self.open_orders():
                if self.matcher.cancel(o, _ms()):
                    o.status = "cancelled:cancel_on_disconnect"
                    self._notify(o, [])
                    o.status = "cancelled"

    # ------------------------------------------------------------------ API
    def dispatch(self, conn: FakeConnection, st: dict[str, Any], method: str,
                 p: dict[str, Any], quiet: bool) -> Any:
        if method == "public/get_time":
            return _ms()
        if method == "public/get_instruments":
            return [self._definition(s) for s, sp in self.specs.items()
                    if sp["base"] == p["currency"] and p.get("instrument_type") in (None, sp["type"])]
        if method == "public/login":
            return self._login(st, p)
        if method in ("subscribe", "unsubscribe"):
            chans = list(p["channels"])
            for ch in chans:
                if ch.split(".")[0].isdigit() and (not st["auth"] or
                                                   ch.split(".")[0] != str(self.subaccount_id)):
                    raise RpcError(14014, "not authorised for this subaccount")
            if method == "subscribe":
                st["subs"].update(chans)
            else:
                st["subs"].difference_update(chans)
            return {"status": {c: "ok" for c in chans}}
        self._check_subaccount(p, method)
        if method == "private/set_cancel_on_disconnect":
            st["cod"] = bool(p["enabled"])
            return "ok"
        if method == "private/order":
            return self._new(p)
        if method == "private/replace":
            old = self._by_id(p["order_id_to_cancel"])
            if not old.is_open:
                raise RpcError(11006, "Does not exist")
            self.matcher.cancel(old, _ms())
            self.matcher.orders.pop(old.client_id, None)
            self._notify(old, [])
            res = self._new(p)
            return {"cancelled_order": self._order_obj(old), **res}
        if method == "private/cancel":
            o = self._by_id(p["order_id"])
            if not self.matcher.cancel(o, _ms()):
                raise RpcError(11006, "Does not exist")
            self._notify(o, [])
            return self._order_obj(o)
        if method == "private/cancel_all":
            for o in self.open_orders():
                self.matcher.cancel(o, _ms())
                self._notify(o, [])
            return "ok"
        if method == "private/get_order":
            return self._order_obj(self._by_id(p["order_id"]))
        if method == "private/get_orders":
            return {"orders": [self._order_obj(o) for o in self._all_orders()
                               if not p.get("label") or self.labels[o.order_id] == p["label"]],
                    "subaccount_id": self.subaccount_id}
        if method == "private/get_open_orders":
            return {"orders": [self._order_obj(o) for o in self.open_orders()],
                    "subaccount_id": self.subaccount_id}
        if method == "private/get_trade_history":
            since = int(p.get("from_timestamp", 0))
            rows = [self._trade_obj(o, f) for o in self._all_orders() for f in o.fills
                    if (not p.get("order_id") or o.order_id == p["order_id"]) and f.ts_ms >= since]
            return {"trades": sorted(rows, key=lambda r: r["timestamp"])}
        if method == "private/get_positions":
            return {"positions": [{"instrument_name": s, "amount": str(q),
                                   "average_price": str(self.matcher.entry[s]),
                                   "instrument_type": self.specs[s]["type"]}
                                  for s, q in self.matcher.positions.items() if q],
                    "subaccount_id": self.subaccount_id}
        if method == "private/get_subaccount":
            return self.subaccount()
        raise RpcError(-32601, f"Method not found: {method}")

    def subaccount(self) -> dict[str, Any]:
        """``private/get_subaccount``: Derive reports margins as signed headroom (value minus
        the requirement; below zero = no new risk / liquidation), here from ``self.account``
        (collateral = deposit - fees, positions valued at the mid, IM 10 %, MM 5 %)."""
        f = self.account.figures()
        value = f.wallet + f.unrealized
        return {"subaccount_id": self.subaccount_id, "margin_type": "PM", "currency": "USDC",
                "subaccount_value": f"{value:.6f}", "collaterals_value": f"{f.wallet:.6f}",
                "positions_value": f"{f.unrealized:.6f}",
                "initial_margin": f"{value - f.initial_margin:.6f}",
                "maintenance_margin": f"{value - f.maintenance_margin:.6f}",
                "is_under_liquidation": False, "positions": [], "collaterals": [], "open_orders": []}

    def _check_subaccount(self, p: dict[str, Any], method: str) -> None:
        if "subaccount_id" in p and int(p["subaccount_id"]) != self.subaccount_id:
            raise RpcError(14001, f"{method}: subaccount not owned by the wallet")

    def _login(self, st: dict[str, Any], p: dict[str, Any]) -> list[int]:
        ts = int(p["timestamp"])
        if abs(_ms() - ts) > 30_000:
            raise RpcError(14033, "Login timestamp is out of range")
        signer = recover_login_signer(ts, str(p["signature"])).lower()
        if p["wallet"].lower() != self.wallet.lower() or (
                signer not in self.signers and signer != self.wallet.lower()):
            raise RpcError(14014, "Signature invalid for message or transaction")
        st["auth"] = True
        return [self.subaccount_id]

    def _verify(self, p: dict[str, Any]) -> None:
        """Derive's checks of a signed order: signer registered, signature over exactly these
        fields, not expired, nonce unused."""
        symbol = p["instrument_name"]
        if symbol not in self.specs:
            raise RpcError(11005, f"Instrument {symbol} not found")
        if str(p["signer"]).lower() not in self.signers:
            raise RpcError(14000, "Signer is not a registered session key of the wallet")
        if int(p["signature_expiry_sec"]) < time.time() + 60:
            raise RpcError(14010, "Signature expiry too soon")
        nonce = int(p["nonce"])
        if nonce in self.nonces:
            raise RpcError(14007, "Nonce already used")
        action = action_of(p, self.assets[symbol], self.wallet, _C.trade_module)
        got = recover_action_signer(action, str(p["signature"]),
                                    domain_separator=_C.domain_separator,
                                    action_typehash=_C.action_typehash)
        if got.lower() != str(p["signer"]).lower():
            raise RpcError(14014, "Signature invalid for message or transaction")
        self.nonces.add(nonce)
        self.signatures_verified += 1

    def _new(self, p: dict[str, Any]) -> dict[str, Any]:
        self._verify(p)
        book = self.books[p["instrument_name"]]
        price, qty = float(p["limit_price"]), float(p["amount"])
        if float(p["max_fee"]) < _FEE_RATE[1] * price:
            raise RpcError(11013, "Max fee order param is too low")
        label = str(p.get("label") or f"derive-{next(self._oids)}")
        tif = str(p.get("time_in_force", "gtc"))
        o = FakeOrder(label, f"{next(self._oids):08d}-fake", p["instrument_name"],
                      BUY if p["direction"] == "buy" else SELL, qty, book.ticks(price),
                      tif="IOC" if tif in ("ioc", "fok") or p.get("order_type") == "market"
                      else "GTC", post_only=tif == "post_only")
        self.labels[o.order_id] = label
        self.matcher.place(o, _ms())
        if o.status == "expired" and o.post_only and not o.fills:
            o.status = "rejected"
        self._notify(o, o.fills)
        return {"order": self._order_obj(o), "trades": [self._trade_obj(o, f) for f in o.fills]}

    def _all_orders(self) -> list[FakeOrder]:
        return list(self.matcher.by_id.values())

    def _by_id(self, order_id: str) -> FakeOrder:
        o = self.matcher.by_id.get(order_id)
        if o is None:
            raise RpcError(11006, "Does not exist")
        return o

    # ------------------------------------------------------------------ shapes
    def _definition(self, s: str) -> dict[str, Any]:
        sp, a = self.specs[s], self.assets[s]
        maker, taker = _FEE_RATE
        d: dict[str, Any] = {
            "instrument_name": s, "instrument_type": sp["type"], "is_active": True,
            "base_currency": sp["base"], "quote_currency": "USDC",
            "tick_size": str(sp["tick"]), "amount_step": str(sp["lot"]),
            "minimum_amount": str(sp["lot"]), "maximum_amount": "10000",
            "maker_fee_rate": str(maker), "taker_fee_rate": str(taker), "base_fee": "0",
            "base_asset_address": a.address, "base_asset_sub_id": str(a.sub_id),
            "option_details": None, "perp_details": None}
        if sp["type"] == "option":
            d["option_details"] = {"index": f"{sp['base']}-USD", "expiry": sp["expiry"],
                                   "strike": str(sp["strike"]), "option_type": sp["option_type"]}
        else:
            d["perp_details"] = {"index": f"{sp['base']}-USD", "funding_rate": "0.00001"}
        return d

    def _order_obj(self, o: FakeOrder) -> dict[str, Any]:
        status, _, reason = o.status.partition(":")
        status = {"new": "open", "partially_filled": "open"}.get(status, status)
        if status == "cancelled" and not reason:
            reason = "user_request"
        return {"order_id": o.order_id, "label": self.labels.get(o.order_id, o.client_id),
                "instrument_name": o.symbol, "direction": o.side, "order_status": status,
                "limit_price": self.books[o.symbol].px(o.price_ticks or 0), "amount": str(o.qty),
                "filled_amount": str(o.filled), "average_price": str(o.avg_price),
                "cancel_reason": reason if status == "cancelled" else "",
                "subaccount_id": self.subaccount_id, "last_update_timestamp": o.updated_ms,
                "creation_timestamp": o.created_ms}

    def _trade_obj(self, o: FakeOrder, f: Any) -> dict[str, Any]:
        return {"trade_id": f.trade_id, "order_id": o.order_id,
                "label": self.labels.get(o.order_id, o.client_id), "instrument_name": o.symbol,
                "direction": o.side, "trade_price": str(f.price), "trade_amount": str(f.qty),
                "trade_fee": str(f.fee), "liquidity_role": "maker" if f.maker else "taker",
                "timestamp": f.ts_ms, "subaccount_id": self.subaccount_id}

    # ------------------------------------------------------------------ publishing
    def _send_sub(self, channel: str, data: Any) -> None:
        frame = orjson.dumps({"jsonrpc": "2.0", "method": "subscription",
                              "params": {"channel": channel, "data": data}})
        for cid, st in list(self._conns.items()):
            conn = self.ws.connections.get(cid)
            if channel in st["subs"] and conn is not None:
                conn.send(frame)  # through the server's transport faults (drop, stall)

    def _notify(self, o: FakeOrder, fills: list[Any]) -> None:
        sub = self.subaccount_id
        if fills:
            self._send_sub(f"{sub}.trades", [self._trade_obj(o, f) for f in fills])
        self._send_sub(f"{sub}.orders", [self._order_obj(o)])
        self._send_sub(f"{sub}.balances", [{"name": "USDC", "amount": f"{self.account.figures().wallet:.6f}"}])

    def step(self) -> None:
        now = _ms()
        for book in self.books.values():
            book.step()
            book.flush()
        for o in self.matcher.on_step(now):
            self._notify(o, o.fills[-1:])
        self.publish_id += 1
        for s, book in self.books.items():
            bids, asks = book.levels_sorted(100)
            data = {"instrument_name": s, "publish_id": self.publish_id, "timestamp": now,
                    "bids": [[book.px(p), book.qty(q)] for p, q in bids],
                    "asks": [[book.px(p), book.qty(q)] for p, q in asks]}
            for depth in (1, 10, 20, 100):
                ch = f"orderbook.{s}.1.{depth}"
                d = dict(data, bids=data["bids"][:depth], asks=data["asks"][:depth])
                if self._skip > 0:
                    continue
                self._send_sub(ch, d)
            if self._stale > 0 and s in self._last_books:
                self._stale -= 1
                self.ws.broadcast(self._last_books[s])
            self._last_books[s] = orjson.dumps({"jsonrpc": "2.0", "method": "subscription",
                                                "params": {"channel": f"orderbook.{s}.1.20",
                                                           "data": dict(data, bids=data["bids"][:20],
                                                                        asks=data["asks"][:20])}})
            self._ticker(s, book, now)
        if self._skip > 0:
            self._skip -= 1

    def _ticker(self, s: str, book: FakeBook, now: int) -> None:
        bb, ba = book.best_bid(), book.best_ask()
        sp = self.specs[s]
        mid = (float(book.px(bb)) + float(book.px(ba))) / 2 if bb and ba else sp["mid"]
        t: dict[str, Any] = {"b": book.px(bb) if bb else "0", "B": str(book.bids.get(bb, 0)),
                             "a": book.px(ba) if ba else "0", "A": str(book.asks.get(ba, 0)),
                             "M": f"{mid:.2f}", "I": f"{SPOT.get(sp['base'], 100.0):.2f}",
                             "t": now, "minp": "0", "maxp": "1e9", "stats": {"oi": "12.5"}}
        if sp["type"] == "option":
            v = sp["vol"]
            t["option_pricing"] = {"i": f"{v:.4f}", "bi": f"{v - 0.02:.4f}",
                                   "ai": f"{v + 0.02:.4f}", "d": "0.52", "g": "0.0004",
                                   "v": "3.1", "t": "-2.4", "m": f"{mid:.2f}",
                                   "f": f"{SPOT.get(sp['base'], 100.0):.2f}", "r": "0", "df": "1"}
        for interval in (100, 1000):
            self._send_sub(f"ticker_slim.{s}.{interval}", {"instrument_ticker": t, "timestamp": now})


def main() -> int:
    ap = standalone_parser("derive", "A local fake Derive venue (JSON-RPC over websocket).",
                           port=8767, rest_port=None, names="instruments",
                           default_names=",".join(DEFAULT_INSTRUMENTS))
    a = ap.parse_args()
    return serve_standalone(
        lambda: DeriveFake(tuple(a.instruments.split(",")), seed=a.seed, step_s=a.step_ms / 1000,
                           port=a.port, max_lifetime_s=STANDALONE_LIFETIME_S),
        lambda f: f"fake Derive venue on {f.url} (wallet {f.wallet}, subaccount "
                  f"{f.subaccount_id}; signing key: the public test key in adapters/derive/fake.py)")


if __name__ == "__main__":
    raise SystemExit(main())
