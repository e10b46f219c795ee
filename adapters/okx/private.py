"""OKX v5 private API, sans-IO: signatures, login and order-operation frames, and parsers of
the ``orders``/``positions`` pushes, operation replies and REST order rows.

Theory of operation (https://www.okx.com/docs-v5/en/#overview-websocket-login,
#order-book-trading-trade-ws-place-order, #order-book-trading-trade-ws-order-channel):

* login: ``sign = Base64(HMAC_SHA256(secret, timestamp + "GET" + "/users/self/verify"))``
  with the timestamp in Unix *seconds*; REST: ``Base64(HMAC_SHA256(secret, timestamp + METHOD
  + requestPath(+query) + body))`` with an ISO-8601 millisecond timestamp. The venue refuses
  timestamps more than 30 s off, hence the server-time offset the session keeps.
* order operations ``{"id", "op": "order"|"amend-order"|"cancel-order"|"batch-orders",
  "args": [...]}`` are answered by ``{"id", "op", "code", "msg", "data": [{"ordId",
  "clOrdId", "sCode", "sMsg"}]}``: ``code`` "0" all succeeded, "1" all failed, "2" partly;
  each row's ``sCode`` says which.
* ``clOrdId`` is 1-32 letters and digits: an engine client order id that is not is mapped to
  ``"v" + sha1(id)[:31]``, deterministically, so it can be found again after a restart.
* ``orders`` pushes carry the whole order plus the last fill (``tradeId``, ``fillSz``,
  ``fillPx``, ``fee`` negative = charged, ``execType`` T/M); sizes are contracts (strings).
* accounts: ``GET /api/v5/account/balance`` and the ``account`` channel carry the same object
  (``balance_reports``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from datetime import datetime, timezone
from typing import Any, NamedTuple

import orjson

from adapters.live.decimals import amount
from engine.model import (
    AccountReported,
    Liquidity,
    OrderStatus,
    OrderStatusReport,
    OrderType,
    PositionReport,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueProtocolError,
    instrument_id,
)

VENUE = "okx"
_NS_PER_MS = 1_000_000
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_STATES = {"live": OrderStatus.ACCEPTED, "partially_filled": OrderStatus.PARTIALLY_FILLED,
           "filled": OrderStatus.FILLED, "canceled": OrderStatus.CANCELLED,
           "mmp_canceled": OrderStatus.CANCELLED}
_CAUGHT = (KeyError, ValueError, TypeError, AttributeError, IndexError)
TERMINAL_STATES = frozenset({"canceled", "mmp_canceled"})
RATE_LIMITED = "50011"
ORDER_NOT_FOUND = "51603"


def _bad(msg: str) -> VenueProtocolError:
    return VenueProtocolError(f"okx private: {msg}", venue=VENUE)


def _f(v: Any) -> float:
    if v is None or v == "":
        return 0.0
    if v.__class__ is not str:
        raise _bad(f"expected a decimal string, got {v!r}")
    x = float(v)
    if not math.isfinite(x):  # "NaN", "inf", "1e400": never a venue's decimal
        raise _bad(f"expected a finite decimal, got {v!r}")
    return x


def _ms(v: Any) -> int:
    return int(v) * _NS_PER_MS if v not in (None, "") else 0


def fmt(x: float) -> str:
    """A decimal string without float noise (``0.1 + 0.2`` -> ``"0.3"``)."""
    text = f"{x:.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


# ---------------------------------------------------------------------------- signing
def hmac_b64(secret: str, payload: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(),
                                     hashlib.sha256).digest()).decode()


def login_frame(api_key: str, secret: str, passphrase: str, ts_s: int) -> str:
    ts = str(ts_s)
    return orjson.dumps({"op": "login", "args": [{
        "apiKey": api_key, "passphrase": passphrase, "timestamp": ts,
        "sign": hmac_b64(secret, ts + "GET/users/self/verify")}]}).decode()


def iso_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def rest_headers(api_key: str, secret: str, passphrase: str, epoch_ms: int, method: str,
                 path: str, body: str = "", simulated: bool = False) -> dict[str, str]:
    """Signed REST headers; ``path`` includes the query string."""
    ts = iso_ms(epoch_ms)
    h = {"OK-ACCESS-KEY": api_key, "OK-ACCESS-PASSPHRASE": passphrase,
         "OK-ACCESS-TIMESTAMP": ts,
         "OK-ACCESS-SIGN": hmac_b64(secret, ts + method.upper() + path + body),
         "Content-Type": "application/json"}
    if simulated:
        h["x-simulated-trading"] = "1"
    return h


# ---------------------------------------------------------------------------- orders
def cl_ord_id(client_order_id: str) -> str:
    if client_order_id.isascii() and client_order_id.isalnum() and len(client_order_id) <= 32:
        return client_order_id
    return "v" + hashlib.sha1(client_order_id.encode()).hexdigest()[:31]


def order_args(cmd: SubmitOrder, inst_id: str, td_mode: str) -> dict[str, Any]:
    if cmd.order_type is OrderType.MARKET:
        ord_type = "market"
    elif cmd.post_only:
        ord_type = "post_only"
    elif cmd.time_in_force is TimeInForce.IOC:
        ord_type = "ioc"
    elif cmd.time_in_force is TimeInForce.FOK:
        ord_type = "fok"
    else:
        ord_type = "limit"
    args: dict[str, Any] = {"instId": inst_id, "tdMode": td_mode, "side": str(cmd.side),
                            "ordType": ord_type, "sz": fmt(cmd.quantity),
                            "clOrdId": cl_ord_id(cmd.client_order_id)}
    if ord_type != "market":
        if cmd.price is None:
            raise ValueError("a limit order needs a price")
        args["px"] = fmt(cmd.price)
    if cmd.reduce_only:
        args["reduceOnly"] = True
    return args


def op_frame(req_id: str, op: str, args: list[dict[str, Any]]) -> str:
    return orjson.dumps({"id": req_id, "op": op, "args": args}).decode()


class OpReply(NamedTuple):
    """One row of an operation reply."""

    req_id: str
    op: str
    code: str
    """The row's ``sCode`` (the top-level ``code`` when there are no rows)."""
    message: str
    venue_order_id: str
    cl_ord_id: str


def parse_op_reply(msg: dict[str, Any]) -> list[OpReply]:
    try:
        rid, op, code = str(msg["id"]), str(msg["op"]), str(msg["code"])
        rows = msg.get("data") or []
        if not rows:
            return [OpReply(rid, op, code, str(msg.get("msg", "")), "", "")]
        return [OpReply(rid, op, str(r.get("sCode", code)), str(r.get("sMsg") or msg.get("msg", "")),
                        str(r.get("ordId", "")), str(r.get("clOrdId", ""))) for r in rows]
    except _CAUGHT as e:
        raise _bad(f"malformed operation reply ({type(e).__name__}: {e})") from e


class OkxOrder(NamedTuple):
    """One order object (``orders`` push or REST row), with its last fill if any."""

    cl_ord_id: str
    venue_order_id: str
    instrument_id: str
    side: Side
    state: str
    price: float | None
    size: float
    filled: float
    avg_price: float
    trade_id: str
    fill_size: float
    fill_price: float
    fee: float
    """Positive = paid (OKX's sign flipped)."""
    fee_currency: str
    liquidity: Liquidity
    cancel_source: str
    ts_event: int


def parse_order(d: Any) -> OkxOrder:
    try:
        side = _SIDES.get(d["side"])
        if side is None:
            raise _bad(f"unknown side {d['side']!r}")
        state = d["state"]
        if state not in _STATES:
            raise _bad(f"unknown order state {state!r}")
        px = d.get("px")
        return OkxOrder(
            cl_ord_id=str(d.get("clOrdId") or ""), venue_order_id=str(d["ordId"]),
            instrument_id=instrument_id(VENUE, d["instId"]), side=side, state=state,
            price=_f(px) if px else None, size=_f(d["sz"]), filled=_f(d.get("accFillSz")),
            avg_price=_f(d.get("avgPx")), trade_id=str(d.get("tradeId") or ""),
            fill_size=_f(d.get("fillSz")), fill_price=_f(d.get("fillPx")),
            fee=-_f(d.get("fillFee", d.get("fee"))) if d.get("tradeId") else 0.0,
            fee_currency=str(d.get("fillFeeCcy") or d.get("feeCcy") or ""),
            liquidity=Liquidity.MAKER if d.get("execType") == "M" else Liquidity.TAKER,
            cancel_source=str(d.get("cancelSource") or ""),
            ts_event=_ms(d.get("fillTime") or d.get("uTime") or d.get("cTime")))
    except VenueProtocolError:
        raise
    except _CAUGHT as e:
        raise _bad(f"malformed order ({type(e).__name__}: {e})") from e


class OkxFill(NamedTuple):
    """A row of ``GET /api/v5/trade/fills``."""

    cl_ord_id: str
    venue_order_id: str
    instrument_id: str
    trade_id: str
    side: Side
    price: float
    size: float
    fee: float
    fee_currency: str
    liquidity: Liquidity
    ts_event: int


def parse_fill(d: Any) -> OkxFill:
    try:
        side = _SIDES.get(d["side"])
        if side is None:
            raise _bad(f"unknown side {d['side']!r}")
        return OkxFill(cl_ord_id=str(d.get("clOrdId") or ""), venue_order_id=str(d["ordId"]),
                       instrument_id=instrument_id(VENUE, d["instId"]), trade_id=str(d["tradeId"]),
                       side=side, price=_f(d["fillPx"]), size=_f(d["fillSz"]),
                       fee=-_f(d.get("fee")), fee_currency=str(d.get("feeCcy") or ""),
                       liquidity=Liquidity.MAKER if d.get("execType") == "M" else Liquidity.TAKER,
                       ts_event=_ms(d.get("ts") or d.get("fillTime")))
    except VenueProtocolError:
        raise
    except _CAUGHT as e:
        raise _bad(f"malformed fill ({type(e).__name__}: {e})") from e


def parse_position(d: Any, ts_recv: int) -> PositionReport:
    """``positions`` push or REST row; net mode: ``pos`` is signed; long/short mode: the
    ``posSide`` gives the sign."""
    try:
        pos = _f(d["pos"])
        if d.get("posSide") == "short":
            pos = -abs(pos)
        avg = d.get("avgPx")
        return PositionReport(instrument_id=instrument_id(VENUE, d["instId"]), quantity=pos,
                              avg_price=_f(avg) if avg else float("nan"),
                              ts_event=_ms(d.get("uTime")) or ts_recv, ts_recv=ts_recv)
    except VenueProtocolError:
        raise
    except _CAUGHT as e:
        raise _bad(f"malformed position ({type(e).__name__}: {e})") from e


def status_of(o: OkxOrder) -> OrderStatus:
    return _STATES[o.state]


def report(o: OkxOrder, client_order_id: str, ts_recv: int) -> OrderStatusReport:
    return OrderStatusReport(client_order_id=client_order_id, venue_order_id=o.venue_order_id,
                             instrument_id=o.instrument_id, side=o.side,
                             status=str(status_of(o)), price=o.price, quantity=o.size,
                             filled=o.filled, avg_fill_price=o.avg_price, ts_event=o.ts_event,
                             ts_recv=ts_recv)


_DETAIL = ("cashBal", "eq", "upl", "imr", "mmr")


def balance_reports(rows: Any, ts_recv: int, source: str = "/api/v5/account/balance",
                    venue: str = VENUE) -> list[AccountReported]:
    """``GET /api/v5/account/balance`` ``data`` or an ``account`` push's ``data``
    (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-balance) -> reports.

    Multi-currency and portfolio margin (account-level ``imr`` set): one USD pool, equity
    ``adjEq`` (the effective equity OKX margins against), IM ``imr``, MM ``mmr``, unrealized
    ``upl``, balance ``totalEq`` - ``upl``. Single-currency margin (account-level ``imr``
    empty): each ``details`` row is its own account in its currency: balance ``cashBal``, equity
    ``eq``, unrealized ``upl``, IM ``imr``, MM ``mmr``."""
    try:
        if not isinstance(rows, list):
            raise ValueError("balance data is not a list")
        out = []
        for acct in rows:
            ts = _ms(acct.get("uTime")) or ts_recv
            if acct.get("imr") not in (None, ""):
                upl = amount(acct, "upl")
                out.append(AccountReported(
                    venue=venue, currency="USD", balance=amount(acct, "totalEq") - upl,
                    equity=amount(acct, "adjEq"), initial_margin=amount(acct, "imr"),
                    maintenance_margin=amount(acct, "mmr"), unrealized_pnl=upl, source=source,
                    ts_event=ts, ts_recv=ts_recv))
                continue
            for d in acct["details"]:
                ccy = d["ccy"]
                if not isinstance(ccy, str) or not ccy:
                    raise ValueError(f"ccy is not a name: {ccy!r}")
                cash, eq, upl, imr, mmr = (amount(d, f) for f in _DETAIL)
                out.append(AccountReported(
                    venue=venue, currency=ccy, balance=cash, equity=eq, initial_margin=imr,
                    maintenance_margin=mmr, unrealized_pnl=upl, source=source,
                    ts_event=_ms(d.get("uTime")) or ts, ts_recv=ts_recv))
        return out
    except VenueProtocolError:
        raise
    except _CAUGHT_ACCOUNT as exc:
        raise _bad(f"malformed balance: {exc!r}") from None


_CAUGHT_ACCOUNT = (KeyError, ValueError, TypeError, AttributeError, OverflowError)
