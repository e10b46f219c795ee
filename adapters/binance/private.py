"""Binance USD-M private API, sans-IO: signatures, order requests, user-stream and REST bodies.

Theory of operation: nothing here does I/O or reads a clock; the session passes the time in.

* Signing (https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info,
  "SIGNED endpoint security"): the request's query string including ``timestamp`` (ms, server
  time) and ``recvWindow`` is signed with HMAC-SHA256 under the API secret, hex-encoded, and
  appended as ``signature``; the key goes in the ``X-MBX-APIKEY`` header. ``sign_query`` is
  also what the fake venue uses to verify requests, so both sides share one algorithm.
* Order requests: ``POST /fapi/v1/order`` (``newClientOrderId`` = the engine's client order
  id, so the venue itself rejects a duplicate), ``PUT`` to amend (price and quantity are both
  required), ``DELETE`` to cancel, ``GET`` to query (``origClientOrderId``).
* User data stream ``ORDER_TRADE_UPDATE`` (``o.x`` execution type): ``NEW`` -> accepted,
  ``TRADE`` -> a fill (``t`` trade id, ``l`` last qty, ``L`` last price, ``n``/``N`` fee,
  ``m`` maker), ``CANCELED`` -> cancelled, ``EXPIRED`` (IOC remainder, GTX post-only that would
  cross) -> expired, ``AMENDMENT`` -> amended, ``REJECTED`` -> rejected.
  ``ACCOUNT_UPDATE`` (``a.P``) -> ``PositionReport`` per symbol, ``a.B`` -> balances.
* REST rows (order query, open orders, user trades, position risk) -> ``OrderStatusReport``,
  ``OrderFilled``, ``PositionReport``; ``GET /fapi/v2/account`` -> one ``AccountReported`` per
  margin asset (``account_reports``). ``ACCOUNT_UPDATE`` carries wallet balances but no
  margins, so it only sets ``account_changed`` (the session then re-reads the account).

Every malformed body or frame raises ``VenueProtocolError``; nothing else escapes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import orjson

from adapters.live.decimals import amount, decimal_or_zero, fill_number

from engine.model import (
    AccountReported,
    AmendOrder,
    Liquidity,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
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
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_SIDE_OUT = {Side.BUY: "BUY", Side.SELL: "SELL"}
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}

STATUS: dict[str, OrderStatus] = {
    "NEW": OrderStatus.ACCEPTED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "NEW_INSURANCE": OrderStatus.ACCEPTED,
    "NEW_ADL": OrderStatus.ACCEPTED,
}
"""Binance order status -> engine order status."""

ORDER_NOT_FOUND = (-2011, -2013)
"""``Unknown order sent.`` (cancel/amend) and ``Order does not exist.`` (query)."""
TIMESTAMP_OUTSIDE_RECV_WINDOW = -1021
EXECUTION_UNKNOWN = frozenset({-1006, -1007})
"""``UNEXPECTED_RESP`` and ``TIMEOUT``: an answer, but Binance says "execution status unknown"
(HTTP 408 is the same: its gateway timed out waiting for the matching engine)."""


def bad(message: str, venue: str) -> VenueProtocolError:
    return VenueProtocolError(f"binance: {message}", venue=venue)


# ---------------------------------------------------------------------------- signing

def sign_query(query: str, secret: str) -> str:
    """HMAC-SHA256 of ``query`` under ``secret``, hex (Binance SIGNED endpoints)."""
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def signed_query(params: Mapping[str, Any], secret: str, timestamp_ms: int,
                 recv_window_ms: int) -> str:
    """``params`` + ``timestamp`` + ``recvWindow``, url-encoded, with ``signature`` appended."""
    query = urlencode({**params, "timestamp": timestamp_ms, "recvWindow": recv_window_ms})
    return f"{query}&signature={sign_query(query, secret)}"


def verify_query(raw_query: str, secret: str) -> bool:
    """True if ``raw_query`` ends in a valid ``signature`` over everything before it."""
    head, sep, sig = raw_query.rpartition("&signature=")
    return bool(sep) and hmac.compare_digest(sign_query(head, secret), sig)


def fmt(value: float) -> str:
    """A decimal string without float noise (``0.30000000000000004`` -> ``"0.3"``)."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


# ---------------------------------------------------------------------------- requests

def new_order_params(cmd: SubmitOrder, symbol: str) -> dict[str, str]:
    """``POST /fapi/v1/order`` parameters for ``cmd`` (post-only limit -> ``GTX``)."""
    p: dict[str, str] = {"symbol": symbol, "side": _SIDE_OUT[cmd.side],
                         "newClientOrderId": cmd.client_order_id, "quantity": fmt(cmd.quantity),
                         "newOrderRespType": "RESULT"}
    if cmd.order_type is OrderType.LIMIT:
        if cmd.price is None:
            raise ValueError(f"limit order {cmd.client_order_id} without a price")
        p["type"] = "LIMIT"
        p["price"] = fmt(cmd.price)
        p["timeInForce"] = "GTX" if cmd.post_only else _TIF[cmd.time_in_force]
    else:
        p["type"] = "MARKET"
    if cmd.reduce_only:
        p["reduceOnly"] = "true"
    return p


def amend_params(cmd: AmendOrder, symbol: str, side: Side, price: float,
                 quantity: float) -> dict[str, str]:
    """``PUT /fapi/v1/order``: Binance needs side, price and quantity even if one is unchanged."""
    return {"symbol": symbol, "origClientOrderId": cmd.client_order_id, "side": _SIDE_OUT[side],
            "price": fmt(price), "quantity": fmt(quantity)}


def order_ref_params(client_order_id: str, symbol: str) -> dict[str, str]:
    """``DELETE``/``GET /fapi/v1/order`` by client order id."""
    return {"symbol": symbol, "origClientOrderId": client_order_id}


# ---------------------------------------------------------------------------- bodies

def loads(body: bytes | str, venue: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad(f"invalid JSON: {exc}", venue) from exc


def error_of(msg: Any) -> tuple[int, str] | None:
    """``(code, msg)`` of a Binance error body ``{"code":-2011,"msg":"..."}``, else None."""
    if isinstance(msg, dict) and "code" in msg and "msg" in msg and "orderId" not in msg:
        code = msg["code"]
        if isinstance(code, int) and code != 200:
            return code, str(msg["msg"])
    return None


def order_report(row: Mapping[str, Any], iid_of: Callable[[str], str], ts_recv: int,
                 venue: str) -> OrderStatusReport:
    """A REST order row (``GET /fapi/v1/order``, ``openOrders``, order responses)."""
    try:
        status = STATUS.get(row["status"])
        if status is None:
            raise ValueError(f"unknown order status {row['status']!r}")
        side = _SIDES[row["side"]]
        price = decimal_or_zero(row.get("price"))
        ms = row.get("updateTime") or row.get("time") or 0
        return OrderStatusReport(
            client_order_id=str(row.get("clientOrderId") or ""),
            venue_order_id=str(row["orderId"]), instrument_id=iid_of(row["symbol"]), side=side,
            status=str(status), price=price if price > 0 else None,
            quantity=decimal_or_zero(row["origQty"]), filled=decimal_or_zero(row.get("executedQty")),
            avg_fill_price=decimal_or_zero(row.get("avgPrice")), ts_event=int(ms) * _NS_PER_MS,
            ts_recv=ts_recv)
    except _ERRORS as exc:
        raise bad(f"malformed order row: {exc!r}", venue) from exc


def user_trade(row: Mapping[str, Any], client_order_id: str, iid_of: Callable[[str], str],
               remaining: float, ts_recv: int, venue: str) -> OrderFilled:
    """A ``GET /fapi/v1/userTrades`` row as a fill of ``client_order_id``."""
    try:
        return OrderFilled(
            client_order_id=client_order_id, venue_order_id=str(row["orderId"]),
            instrument_id=iid_of(row["symbol"]), trade_id=str(row["id"]),
            side=_SIDES[row["side"]], price=float(row["price"]), quantity=float(row["qty"]),
            remaining=remaining, liquidity=Liquidity.MAKER if row.get("maker") else Liquidity.TAKER,
            fee=decimal_or_zero(row.get("commission")),
            fee_currency=str(row.get("commissionAsset") or ""),
            ts_event=int(row["time"]) * _NS_PER_MS, ts_recv=ts_recv)
    except _ERRORS as exc:
        raise bad(f"malformed userTrades row: {exc!r}", venue) from exc


def positions(rows: Any, iid_of: Callable[[str], str], ts_recv: int,
              venue: str) -> list[PositionReport]:
    """``GET /fapi/v2/positionRisk`` -> one report per symbol (one-way mode: ``BOTH``)."""
    try:
        out = []
        for row in rows:
            ms = int(row.get("updateTime") or 0)
            out.append(PositionReport(instrument_id=iid_of(row["symbol"]),
                                      quantity=float(row["positionAmt"]),
                                      avg_price=decimal_or_zero(row.get("entryPrice")),
                                      ts_event=ms * _NS_PER_MS, ts_recv=ts_recv))
        return out
    except _ERRORS as exc:
        raise bad(f"malformed positionRisk: {exc!r}", venue) from exc


_ACCOUNT_FIELDS = ("walletBalance", "marginBalance", "initialMargin", "maintMargin", "unrealizedProfit")


def account_reports(body: Any, venue: str, ts_recv: int,
                    source: str = "/fapi/v2/account") -> list[AccountReported]:
    """``GET /fapi/v2/account`` (https://developers.binance.com/docs/derivatives/
    usds-margined-futures/account/rest-api/Account-Information-V2) -> one report per asset of
    ``assets``: balance ``walletBalance``, equity ``marginBalance`` (wallet + unrealized PnL),
    ``initialMargin`` (positions and open orders), ``maintMargin``, ``unrealizedProfit``. Assets
    that hold nothing (every figure 0) are left out, except USDT, the USD-M settlement asset."""
    try:
        if not isinstance(body, dict):
            raise ValueError("account body is not an object")
        ts = int(body.get("updateTime") or 0) * _NS_PER_MS or ts_recv
        out = []
        for row in body["assets"]:
            asset = row["asset"]
            if not isinstance(asset, str) or not asset:
                raise ValueError(f"asset is not a name: {asset!r}")
            wb, mb, im, mm, up = (amount(row, f) for f in _ACCOUNT_FIELDS)
            if asset != "USDT" and wb == mb == im == mm == up == 0.0:
                continue
            out.append(AccountReported(venue=venue, currency=asset, balance=wb, equity=mb,
                                       initial_margin=im, maintenance_margin=mm, unrealized_pnl=up,
                                       source=source, ts_event=ts, ts_recv=ts_recv))
        return out
    except _ERRORS as exc:
        raise bad(f"malformed account: {exc!r}", venue) from exc


# ---------------------------------------------------------------------------- user stream

class UserStreamDecoder:
    """USD-M user data stream frames -> order events, positions and balances.

    ``iid_of`` maps a Binance symbol to the engine's instrument id. ``balances`` keeps the
    latest wallet balance per asset from ``ACCOUNT_UPDATE``; ``listen_key_expired`` is set by a
    ``listenKeyExpired`` event (the session then fetches a new key and reconnects).
    """

    def __init__(self, venue: str, iid_of: Callable[[str], str]) -> None:
        self.venue = venue
        self.iid_of = iid_of
        self.balances: dict[str, float] = {}
        self.listen_key_expired = False
        self.account_changed = False

    def decode(self, data: bytes | str, ts_recv: int) -> list[Any]:
        msg = loads(data, self.venue)
        try:
            if isinstance(msg, dict) and "data" in msg and "stream" in msg:
                msg = msg["data"]  # combined-stream envelope (the captured samples use one)
            if not isinstance(msg, dict):
                raise ValueError("frame is not an object")
            e = msg.get("e")
            if e == "ORDER_TRADE_UPDATE":
                return self._order(msg["o"], ts_recv)
            if e == "ACCOUNT_UPDATE":
                return self._account(msg, ts_recv)
            if e == "listenKeyExpired":
                self.listen_key_expired = True
            return []  # MARGIN_CALL, ACCOUNT_CONFIG_UPDATE, TRADE_LITE ...: not modelled
        except VenueProtocolError:
            raise
        except _ERRORS as exc:
            raise bad(f"malformed user-stream frame: {exc!r}", self.venue) from exc

    def _order(self, o: dict[str, Any], ts_recv: int) -> list[Any]:
        x = o["x"]
        coid = str(o["c"])
        iid = self.iid_of(o["s"])
        ts = int(o["T"]) * _NS_PER_MS
        if x == "NEW":
            return [OrderAccepted(client_order_id=coid, venue_order_id=str(o["i"]),
                                  instrument_id=iid, ts_event=ts, ts_recv=ts_recv)]
        if x == "TRADE":
            qty = float(o["q"])
            fee = decimal_or_zero(o.get("n"))
            fill = OrderFilled(
                client_order_id=coid, venue_order_id=str(o["i"]), instrument_id=iid,
                trade_id=str(o["t"]), side=_SIDES[o["S"]], price=fill_number(o["L"], "L"),
                quantity=fill_number(o["l"], "l"), remaining=max(qty - float(o["z"]), 0.0),
                liquidity=Liquidity.MAKER if o.get("m") else Liquidity.TAKER, fee=fee,
                fee_currency=str(o.get("N") or ""), ts_event=ts, ts_recv=ts_recv)
            return [fill]
        if x == "CANCELED":
            return [OrderCancelled(client_order_id=coid, instrument_id=iid, reason="cancelled",
                                   ts_event=ts, ts_recv=ts_recv)]
        if x == "EXPIRED":
            return [OrderExpired(client_order_id=coid, instrument_id=iid, ts_event=ts,
                                 ts_recv=ts_recv)]
        if x == "AMENDMENT":
            return [OrderAmended(client_order_id=coid, instrument_id=iid, price=float(o["p"]),
                                 quantity=float(o["q"]), ts_event=ts, ts_recv=ts_recv)]
        if x == "REJECTED":
            return [OrderRejected(client_order_id=coid, instrument_id=iid,
                                  reason=str(o.get("r") or "rejected"), ts_event=ts,
                                  ts_recv=ts_recv)]
        return []  # CALCULATED (liquidation), ...

    def _account(self, msg: dict[str, Any], ts_recv: int) -> list[Any]:
        a = msg["a"]
        ts = int(msg.get("T") or msg["E"]) * _NS_PER_MS
        self.account_changed = True
        for b in a.get("B", ()):
            self.balances[str(b["a"])] = float(b["wb"])
        return [PositionReport(instrument_id=self.iid_of(p["s"]), quantity=float(p["pa"]),
                               avg_price=decimal_or_zero(p.get("ep")), ts_event=ts, ts_recv=ts_recv)
                for p in a.get("P", ()) if p.get("ps", "BOTH") == "BOTH"]
