"""Bybit v5 private API, sans-IO: signatures, order requests, private-stream and REST bodies.

Theory of operation (https://bybit-exchange.github.io/docs/v5/guide, /v5/ws/connect): nothing
here does I/O or reads a clock; times are passed in.

* REST signing: ``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp + api_key + recv_window +
  payload), payload = the query string (GET) or the JSON body (POST), with ``X-BAPI-API-KEY``,
  ``X-BAPI-TIMESTAMP`` (ms) and ``X-BAPI-RECV-WINDOW`` headers. Websocket auth:
  ``{"op":"auth","args":[api_key, expires_ms, HMAC-SHA256(secret, "GET/realtime" + expires)]}``.
  The fake venue verifies with the same functions.
* Orders: ``/v5/order/create|amend|cancel`` bodies with ``orderLinkId`` = the engine's client
  order id (Bybit rejects a duplicate ``orderLinkId``), ``timeInForce`` ``PostOnly`` for post-only.
* Private topics: ``order`` rows -> ``OrderStatusReport`` (the session turns reports into
  lifecycle events, exactly as for a status query); ``execution`` rows (``execType`` Trade) ->
  ``OrderFilled`` (``execId``, ``execQty``, ``execPrice``, ``execFee``, ``isMaker``,
  ``leavesQty``); ``position`` -> ``PositionReport``; ``wallet`` -> balances.

Every malformed frame or body raises ``VenueProtocolError``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from adapters.live.decimals import amount, decimal_or_zero, fill_number
from engine.model import (
    AccountReported,
    AmendOrder,
    CancelOrder,
    Liquidity,
    OrderFilled,
    OrderStatus,
    OrderStatusReport,
    OrderType,
    PositionReport,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueProtocolError,
)

_NS_PER_MS = 1_000_000
_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError)
_SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
_SIDE_OUT = {Side.BUY: "Buy", Side.SELL: "Sell"}
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}

STATUS: dict[str, OrderStatus] = {
    "Created": OrderStatus.SUBMITTED,
    "New": OrderStatus.ACCEPTED,
    "Untriggered": OrderStatus.ACCEPTED,
    "Triggered": OrderStatus.ACCEPTED,
    "Active": OrderStatus.ACCEPTED,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "PartiallyFilledCanceled": OrderStatus.CANCELLED,
    "Deactivated": OrderStatus.CANCELLED,
    "Rejected": OrderStatus.REJECTED,
}
"""Bybit ``orderStatus`` -> engine order status."""

ORDER_NOT_FOUND = (110001, 170213)  # "order not exists or too late to cancel" (derivs / spot)
RATE_LIMITED = (10006, 10018)       # "Too many visits", IP rate limit
TIMESTAMP_ERROR = 10002             # request time outside recv_window


def bad(message: str, venue: str) -> VenueProtocolError:
    return VenueProtocolError(f"bybit: {message}", venue=venue)


# ---------------------------------------------------------------------------- signing

def hmac_hex(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def rest_signature(secret: str, timestamp_ms: int, api_key: str, recv_window_ms: int,
                   payload: str) -> str:
    """``X-BAPI-SIGN`` for a request whose query string (GET) or JSON body (POST) is ``payload``."""
    return hmac_hex(secret, f"{timestamp_ms}{api_key}{recv_window_ms}{payload}")


def rest_headers(api_key: str, secret: str, timestamp_ms: int, recv_window_ms: int,
                 payload: str) -> dict[str, str]:
    return {"X-BAPI-API-KEY": api_key, "X-BAPI-TIMESTAMP": str(timestamp_ms),
            "X-BAPI-RECV-WINDOW": str(recv_window_ms), "X-BAPI-SIGN-TYPE": "2",
            "X-BAPI-SIGN": rest_signature(secret, timestamp_ms, api_key, recv_window_ms, payload)}


def ws_auth_frame(api_key: str, secret: str, expires_ms: int) -> str:
    """The private-stream ``auth`` request (signature over ``"GET/realtime" + expires``)."""
    sig = hmac_hex(secret, f"GET/realtime{expires_ms}")
    return orjson.dumps({"op": "auth", "args": [api_key, expires_ms, sig]}).decode()


def verify_ws_auth(args: Any, api_key: str, secret: str, now_ms: int) -> bool:
    """The fake venue's check of an ``auth`` request: key, unexpired, signature."""
    try:
        key, expires, sig = args
        return (key == api_key and int(expires) > now_ms
                and hmac.compare_digest(hmac_hex(secret, f"GET/realtime{int(expires)}"), sig))
    except (TypeError, ValueError):
        return False


def fmt(value: float) -> str:
    """A decimal string without float noise."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


# ---------------------------------------------------------------------------- requests

def create_body(cmd: SubmitOrder, category: str, symbol: str) -> dict[str, Any]:
    b: dict[str, Any] = {"category": category, "symbol": symbol, "side": _SIDE_OUT[cmd.side],
                         "qty": fmt(cmd.quantity), "orderLinkId": cmd.client_order_id}
    if cmd.order_type is OrderType.LIMIT:
        if cmd.price is None:
            raise ValueError(f"limit order {cmd.client_order_id} without a price")
        b["orderType"] = "Limit"
        b["price"] = fmt(cmd.price)
        b["timeInForce"] = "PostOnly" if cmd.post_only else _TIF[cmd.time_in_force]
    else:
        b["orderType"] = "Market"
    if cmd.reduce_only:
        b["reduceOnly"] = True
    return b


def amend_body(cmd: AmendOrder, category: str, symbol: str) -> dict[str, Any]:
    b: dict[str, Any] = {"category": category, "symbol": symbol, "orderLinkId": cmd.client_order_id}
    if cmd.price is not None:
        b["price"] = fmt(cmd.price)
    if cmd.quantity is not None:
        b["qty"] = fmt(cmd.quantity)
    return b


def cancel_body(cmd: CancelOrder, category: str, symbol: str) -> dict[str, Any]:
    return {"category": category, "symbol": symbol, "orderLinkId": cmd.client_order_id}


# ---------------------------------------------------------------------------- bodies

def loads(body: bytes | str, venue: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad(f"invalid JSON: {exc}", venue) from exc


def order_report(row: Mapping[str, Any], iid_of: Callable[[str], str], ts_recv: int,
                 venue: str) -> OrderStatusReport:
    """An ``order`` topic row or a ``/v5/order/realtime`` row."""
    try:
        status = STATUS.get(row["orderStatus"])
        if status is None:
            raise ValueError(f"unknown orderStatus {row['orderStatus']!r}")
        price = decimal_or_zero(row.get("price"))
        return OrderStatusReport(
            client_order_id=str(row.get("orderLinkId") or ""), venue_order_id=str(row["orderId"]),
            instrument_id=iid_of(row["symbol"]), side=_SIDES[row["side"]], status=str(status),
            price=price if price > 0 else None, quantity=amount(row, "qty"),
            filled=decimal_or_zero(row.get("cumExecQty")),
            avg_fill_price=decimal_or_zero(row.get("avgPrice")),
            ts_event=int(row.get("updatedTime") or row.get("createdTime") or 0) * _NS_PER_MS,
            ts_recv=ts_recv)
    except _ERRORS as exc:
        raise bad(f"malformed order row: {exc!r}", venue) from exc


def execution(row: Mapping[str, Any], iid_of: Callable[[str], str], fee_ccy: str,
              ts_recv: int, venue: str) -> OrderFilled | None:
    """An ``execution`` row or a ``/v5/execution/list`` row; None for non-trade executions."""
    try:
        if row.get("execType", "Trade") != "Trade":
            return None  # Funding, AdlTrade, BustTrade: not fills of our orders
        return OrderFilled(
            client_order_id=str(row.get("orderLinkId") or ""), venue_order_id=str(row["orderId"]),
            instrument_id=iid_of(row["symbol"]), trade_id=str(row["execId"]),
            side=_SIDES[row["side"]], price=fill_number(row["execPrice"], "execPrice"),
            quantity=fill_number(row["execQty"], "execQty"),
            remaining=decimal_or_zero(row.get("leavesQty")),
            liquidity=Liquidity.MAKER if row.get("isMaker") else Liquidity.TAKER,
            fee=decimal_or_zero(row.get("execFee")), fee_currency=str(row.get("feeCurrency") or fee_ccy),
            ts_event=int(row["execTime"]) * _NS_PER_MS, ts_recv=ts_recv)
    except _ERRORS as exc:
        raise bad(f"malformed execution row: {exc!r}", venue) from exc


def position(row: Mapping[str, Any], iid_of: Callable[[str], str], ts_recv: int,
             venue: str) -> PositionReport:
    """A ``position`` row or a ``/v5/position/list`` row (one-way mode: side sets the sign)."""
    try:
        size = decimal_or_zero(row.get("size"))
        sign = -1.0 if row.get("side") == "Sell" else 1.0
        return PositionReport(instrument_id=iid_of(row["symbol"]), quantity=sign * size,
                              avg_price=decimal_or_zero(row.get("avgPrice") or row.get("entryPrice")),
                              ts_event=int(row.get("updatedTime") or 0) * _NS_PER_MS,
                              ts_recv=ts_recv)
    except _ERRORS as exc:
        raise bad(f"malformed position row: {exc!r}", venue) from exc


def wallet_reports(rows: Any, venue: str, ts_recv: int,
                   source: str = "/v5/account/wallet-balance") -> list[AccountReported]:
    """``GET /v5/account/wallet-balance`` ``result.list`` or ``wallet`` topic ``data``
    (https://bybit-exchange.github.io/docs/v5/account/wallet-balance) -> reports. A unified
    account (UTA, cross margin) is one USD pool: balance ``totalWalletBalance``, equity
    ``totalMarginBalance`` (wallet + perpetual/futures unrealized PnL), IM
    ``totalInitialMargin``, MM ``totalMaintenanceMargin``, unrealized ``totalPerpUPL``, all in
    USD. Where those totals are empty (isolated margin, classic accounts) each coin is its own
    account: ``walletBalance``, ``equity``, IM ``totalPositionIM`` + ``totalOrderIM``, MM
    ``totalPositionMM``, ``unrealisedPnl``, in the coin."""
    try:
        if not isinstance(rows, list):
            raise ValueError("wallet list is not a list")
        out = []
        for acct in rows:
            ts = int(acct.get("updateTime") or 0) * _NS_PER_MS or ts_recv
            if acct.get("totalMarginBalance") not in (None, ""):
                out.append(AccountReported(
                    venue=venue, currency="USD", balance=amount(acct, "totalWalletBalance"),
                    equity=amount(acct, "totalMarginBalance"),
                    initial_margin=amount(acct, "totalInitialMargin"),
                    maintenance_margin=amount(acct, "totalMaintenanceMargin"),
                    unrealized_pnl=amount(acct, "totalPerpUPL"), source=source, ts_event=ts,
                    ts_recv=ts_recv))
                continue
            for c in acct["coin"]:
                coin = c["coin"]
                if not isinstance(coin, str) or not coin:
                    raise ValueError(f"coin is not a name: {coin!r}")
                out.append(AccountReported(
                    venue=venue, currency=coin, balance=amount(c, "walletBalance"),
                    equity=amount(c, "equity"),
                    initial_margin=amount(c, "totalPositionIM") + amount(c, "totalOrderIM"),
                    maintenance_margin=amount(c, "totalPositionMM"),
                    unrealized_pnl=amount(c, "unrealisedPnl"), source=source, ts_event=ts,
                    ts_recv=ts_recv))
        return out
    except _ERRORS as exc:
        raise bad(f"malformed wallet: {exc!r}", venue) from exc


class PrivateDecoder:
    """Private-stream frames -> reports and fills; control frames answered in ``last_op``.

    Returns ``OrderStatusReport``, ``OrderFilled``, ``PositionReport`` and (``wallet``)
    ``AccountReported`` events. ``auth_ok`` is
    None until the auth answer, then True/False; ``balances`` holds ``wallet`` coin equity.
    """

    def __init__(self, venue: str, iid_of: Callable[[str], str], fee_ccy_of: Callable[[str], str]) -> None:
        self.venue = venue
        self.iid_of = iid_of
        self.fee_ccy_of = fee_ccy_of
        self.auth_ok: bool | None = None
        self.auth_error = ""
        self.balances: dict[str, float] = {}
        self.last_op = ""

    def decode(self, data: bytes | str, ts_recv: int) -> list[Any]:
        msg = loads(data, self.venue)
        try:
            if not isinstance(msg, dict):
                raise ValueError("frame is not an object")
            topic = msg.get("topic")
            if topic is None:
                op = self.last_op = str(msg.get("op", ""))
                if op == "auth":
                    self.auth_ok = bool(msg.get("success"))
                    self.auth_error = str(msg.get("ret_msg", ""))
                return []
            head = str(topic).partition(".")[0]
            rows = msg["data"]
            if head == "order":
                return [order_report(r, self.iid_of, ts_recv, self.venue) for r in rows]
            if head == "execution":
                out = []
                for r in rows:
                    fill = execution(r, self.iid_of, self.fee_ccy_of(r["symbol"]), ts_recv, self.venue)
                    if fill is not None:
                        out.append(fill)
                return out
            if head == "position":
                return [position(r, self.iid_of, ts_recv, self.venue) for r in rows]
            if head == "wallet":
                for acct in rows:
                    for c in acct.get("coin", ()):
                        self.balances[str(c["coin"])] = decimal_or_zero(c.get("walletBalance"))
                return wallet_reports(rows, self.venue, ts_recv, "wallet")
            return []
        except VenueProtocolError:
            raise
        except _ERRORS as exc:
            raise bad(f"malformed private frame: {exc!r}", self.venue) from exc
