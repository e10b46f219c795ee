"""Deribit private API, sans-IO: request encoders (auth, orders, queries) and parsers of the
order, trade and position objects Deribit sends (RPC results and ``user.*`` notifications).

Theory of operation. Everything private travels over the same JSON-RPC websocket as market
data. Request ids from ``PRIVATE_ID_BASE`` up belong to this layer (the market-data codec
hands such responses over untouched, ``DeribitCodec.foreign``), so the session can match each
answer to its request without a second JSON parse. Deribit has no client order id: the
``label`` field (<= 64 chars) carries ours and comes back on every order and trade object
(https://docs.deribit.com/api-reference/trading/private-buy). Parsers turn venue objects into
``OrderInfo``/``TradeInfo`` records; the session decides which of them are news (its order
tracker) and publishes the normalized events. Nothing here does I/O, reads a clock or logs.

Authentication (https://docs.deribit.com/api-reference/authentication/public-auth):
``client_credentials`` sends the secret itself (TLS protects it); ``client_signature`` sends
``HMAC-SHA256(secret, f"{timestamp}\\n{nonce}\\n{data}")`` in hex, with the timestamp in ms
(the venue refuses stale timestamps, hence the server-time offset the session keeps).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any, NamedTuple


from adapters.deribit.codec import PRIVATE_ID_BASE
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

__all__ = ["OrderInfo", "parse_account", "PRIVATE_ID_BASE", "TradeInfo", "auth_params",
           "order_request", "parse_order", "parse_position", "parse_trade", "report",
           "sign"]

VENUE = "deribit"
_NS_PER_MS = 1_000_000
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_TIF = {TimeInForce.GTC: "good_til_cancelled", TimeInForce.IOC: "immediate_or_cancel",
        TimeInForce.FOK: "fill_or_kill"}
# Deribit order_state -> OrderStatus (a partially filled order stays "open" at Deribit).
_STATES = {"open": OrderStatus.ACCEPTED, "untriggered": OrderStatus.ACCEPTED,
           "triggered": OrderStatus.ACCEPTED, "filled": OrderStatus.FILLED,
           "cancelled": OrderStatus.CANCELLED, "rejected": OrderStatus.REJECTED}
_CAUGHT = (KeyError, ValueError, TypeError, AttributeError)

RATE_LIMITED = 10028
"""``too_many_requests``: the request was refused, nothing was done."""


def _bad(msg: str) -> VenueProtocolError:
    return VenueProtocolError(f"deribit private: {msg}", venue=VENUE)


def _num(x: Any, field: str) -> float:
    if x.__class__ is float or (x.__class__ is int):
        return float(x)
    raise _bad(f"{field} is not a number: {x!r}")


def sign(secret: str, timestamp_ms: int, nonce: str, data: str = "") -> str:
    """``client_signature``: hex HMAC-SHA256 of ``timestamp\\nnonce\\ndata``."""
    payload = f"{timestamp_ms}\n{nonce}\n{data}".encode()
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def auth_params(client_id: str, client_secret: str, mode: str, timestamp_ms: int = 0,
                nonce: str = "") -> dict[str, Any]:
    """``public/auth`` parameters for ``client_credentials`` or ``client_signature``."""
    if mode == "client_credentials":
        return {"grant_type": "client_credentials", "client_id": client_id,
                "client_secret": client_secret}
    if mode == "client_signature":
        return {"grant_type": "client_signature", "client_id": client_id,
                "timestamp": timestamp_ms, "nonce": nonce, "data": "",
                "signature": sign(client_secret, timestamp_ms, nonce)}
    raise ValueError(f"unknown Deribit auth mode {mode!r}")


def order_request(cmd: SubmitOrder, symbol: str) -> tuple[str, dict[str, Any]]:
    """``private/buy`` or ``private/sell`` (method, params); ``label`` = client order id."""
    if len(cmd.client_order_id) > 64:
        raise ValueError("Deribit labels are at most 64 characters")
    params: dict[str, Any] = {"instrument_name": symbol, "amount": cmd.quantity,
                              "label": cmd.client_order_id,
                              "time_in_force": _TIF[cmd.time_in_force]}
    if cmd.order_type is OrderType.MARKET:
        params["type"] = "market"
    else:
        if cmd.price is None:
            raise ValueError("a limit order needs a price")
        params["type"] = "limit"
        params["price"] = cmd.price
        if cmd.post_only:
            # Refuse rather than let the venue silently move our price inside the spread.
            params["post_only"] = True
            params["reject_post_only"] = True
    if cmd.reduce_only:
        params["reduce_only"] = True
    return ("private/buy" if cmd.side is Side.BUY else "private/sell"), params


class OrderInfo(NamedTuple):
    """One Deribit order object, normalized."""

    client_order_id: str
    venue_order_id: str
    instrument_id: str
    side: Side
    state: str
    """Deribit ``order_state``."""
    price: float | None
    amount: float
    filled: float
    average_price: float
    replaced: bool
    cancel_reason: str
    ts_event: int


class TradeInfo(NamedTuple):
    """One of our executions (``user.trades`` or an order response's ``trades``)."""

    client_order_id: str
    venue_order_id: str
    instrument_id: str
    trade_id: str
    side: Side
    price: float
    amount: float
    fee: float
    fee_currency: str
    liquidity: Liquidity
    order_state: str
    ts_event: int


def parse_order(d: Any) -> OrderInfo:
    try:
        side = _SIDES.get(d["direction"])
        if side is None:
            raise _bad(f"unknown direction {d['direction']!r}")
        state = d["order_state"]
        if state not in _STATES:
            raise _bad(f"unknown order_state {state!r}")
        price = d.get("price")
        # Market orders report price "market_price" (a string) or null.
        px = float(price) if price.__class__ in (int, float) else None
        return OrderInfo(
            client_order_id=str(d.get("label") or ""), venue_order_id=str(d["order_id"]),
            instrument_id=instrument_id(VENUE, d["instrument_name"]), side=side, state=state,
            price=px, amount=_num(d["amount"], "amount"),
            filled=_num(d.get("filled_amount", 0.0), "filled_amount"),
            average_price=_num(d.get("average_price") or 0.0, "average_price"),
            replaced=bool(d.get("replaced", False)),
            cancel_reason=str(d.get("cancel_reason") or ""),
            ts_event=int(d.get("last_update_timestamp") or d.get("creation_timestamp") or 0)
            * _NS_PER_MS)
    except VenueProtocolError:
        raise
    except _CAUGHT as e:
        raise _bad(f"malformed order ({type(e).__name__}: {e})") from e


def parse_trade(d: Any) -> TradeInfo:
    try:
        side = _SIDES.get(d["direction"])
        if side is None:
            raise _bad(f"unknown direction {d['direction']!r}")
        amount = _num(d["amount"], "amount")
        if not amount > 0.0:
            raise _bad(f"non-positive trade amount {amount}")
        return TradeInfo(
            client_order_id=str(d.get("label") or ""), venue_order_id=str(d["order_id"]),
            instrument_id=instrument_id(VENUE, d["instrument_name"]),
            trade_id=str(d["trade_id"]), side=side, price=_num(d["price"], "price"),
            amount=amount, fee=_num(d.get("fee", 0.0), "fee"),
            fee_currency=str(d.get("fee_currency") or ""),
            liquidity=Liquidity.MAKER if d.get("liquidity") == "M" else Liquidity.TAKER,
            order_state=str(d.get("state") or ""),
            ts_event=int(d["timestamp"]) * _NS_PER_MS)
    except VenueProtocolError:
        raise
    except _CAUGHT as e:
        raise _bad(f"malformed trade ({type(e).__name__}: {e})") from e


def parse_position(d: Any, ts_recv: int) -> PositionReport:
    """``private/get_positions`` entry: ``size`` is signed (USD for inverse futures, coin for
    options and linear products: the same unit as order amounts)."""
    try:
        size = _num(d["size"], "size")
        avg = d.get("average_price")
        return PositionReport(instrument_id=instrument_id(VENUE, d["instrument_name"]),
                              quantity=size,
                              avg_price=_num(avg, "average_price") if avg is not None else math.nan,
                              ts_event=ts_recv, ts_recv=ts_recv)
    except VenueProtocolError:
        raise
    except _CAUGHT as e:
        raise _bad(f"malformed position ({type(e).__name__}: {e})") from e


def status_of(info: OrderInfo) -> OrderStatus:
    status = _STATES[info.state]
    if status is OrderStatus.ACCEPTED and info.filled > 0.0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def report(info: OrderInfo, ts_recv: int) -> OrderStatusReport:
    return OrderStatusReport(client_order_id=info.client_order_id,
                             venue_order_id=info.venue_order_id,
                             instrument_id=info.instrument_id, side=info.side,
                             status=str(status_of(info)), price=info.price, quantity=info.amount,
                             filled=info.filled, avg_fill_price=info.average_price,
                             ts_event=info.ts_event, ts_recv=ts_recv)


def _opt_num(d: dict[str, Any], key: str) -> float:
    x = d.get(key)
    return math.nan if x is None else _num(x, key)


def parse_account(d: Any, source: str, ts_recv: int) -> AccountReported:
    """An account summary (``private/get_account_summary`` result or ``user.portfolio.*``
    data, https://docs.deribit.com/api-reference/account-management/private-get_account_summary):
    amounts in ``currency``. Equity is ``margin_balance`` (what Deribit's own
    ``available_funds`` = margin_balance - initial_margin is measured against; ``equity``
    when it is absent), unrealized PnL ``session_upl`` (since the last settlement)."""
    try:
        ccy = d["currency"]
        if not isinstance(ccy, str) or not ccy:
            raise _bad(f"account currency is not a name: {ccy!r}")
        eq = d["margin_balance"] if "margin_balance" in d else d["equity"]
        out = AccountReported(
            venue=VENUE, currency=ccy.upper(), balance=_num(d["balance"], "balance"),
            equity=_num(eq, "margin_balance"), initial_margin=_num(d["initial_margin"], "initial_margin"),
            maintenance_margin=_num(d["maintenance_margin"], "maintenance_margin"),
            unrealized_pnl=_opt_num(d, "session_upl"), source=source, ts_event=ts_recv,
            ts_recv=ts_recv)
    except _CAUGHT as exc:
        raise _bad(f"account summary: {type(exc).__name__} {exc}") from None
    for name in ("balance", "equity", "initial_margin", "maintenance_margin"):
        if not math.isfinite(getattr(out, name)):
            raise _bad(f"account {name} is not finite")
    return out
