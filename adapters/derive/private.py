"""Derive's private API: signed order requests out, order/trade/position objects in.

Theory of operation (https://docs.derive.xyz, ``private/order``, ``private/replace``, the
``{subaccount_id}.orders``/``.trades``/``.balances`` channels):

* ``order_params`` builds a ``private/order`` (or, with ``order_id_to_cancel``,
  ``private/replace``) request: the trade-module action (asset, sub id, limit price, amount,
  max fee, subaccount, direction) is signed (``signing``) with a fresh nonce
  (``Nonces``: milliseconds times 1000 plus a counter, Derive's nonce shape, strictly growing
  within the process) and ``signature_expiry_sec``. Our client order id travels as ``label``.
  Derive signs a limit price on every order, so a market order needs an explicit worst price
  (``SubmitOrder.price``) and is refused without one.
* ``OrderInfo``/``TradeInfo`` are the venue's order and trade objects, parsed once; their
  meaning for our orders is decided by ``adapters.derive.orders``.
* ``parse_position`` turns a position row into a ``PositionReport``; ``parse_subaccount``
  keeps collateral and margin exactly as Derive reports them (``margin_type`` ``SM``/``PM``).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

from adapters.derive.instruments import DeriveAsset
from adapters.derive.signing import ActionSigner, TradeAction, trade_module_data
from engine.model import (
    AccountReported,
    Liquidity,
    OrderType,
    PositionReport,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueProtocolError,
    instrument_id,
)

VENUE = "derive"
_NS_PER_MS = 1_000_000
RATE_LIMITED = -32000  # Derive's JSON-RPC "rate limit exceeded"
ORDER_NOT_FOUND = 11006  # "Order does not exist"


def fmt(x: float) -> str:
    """A float as the shortest decimal string that reads back as it (no binary noise)."""
    return repr(float(x)) if x != int(x) else str(int(x))


class Nonces:
    """Derive nonces: UTC milliseconds * 1000 + a 3-digit counter, strictly growing."""

    def __init__(self) -> None:
        self._last = 0
        self._n = itertools.count()

    def next(self) -> int:
        n = time.time_ns() // _NS_PER_MS * 1000 + next(self._n) % 1000
        self._last = n = max(n, self._last + 1)
        return n


@dataclass(frozen=True, slots=True)
class Account:
    """Who signs and for which subaccount."""

    wallet: str
    subaccount_id: int
    trade_module: str
    max_fee: float
    signature_expiry_s: int


def order_params(cmd: SubmitOrder, symbol: str, asset: DeriveAsset, signer: ActionSigner,
                 acct: Account, nonce: int, *, price: float | None = None,
                 amount: float | None = None, order_id_to_cancel: str = "") -> dict[str, Any]:
    """The signed parameters of ``private/order`` (or ``private/replace``). ``ValueError`` for
    an order Derive cannot take (no price, a value finer than 18 decimals)."""
    px = price if price is not None else cmd.price
    qty = amount if amount is not None else cmd.quantity
    if px is None or px <= 0:
        raise ValueError("Derive signs a limit price on every order: a market order needs "
                         "a worst price (price=...)")
    if qty <= 0:
        raise ValueError(f"amount must be positive, got {qty}")
    expiry = int(time.time()) + acct.signature_expiry_s
    is_bid = cmd.side is Side.BUY
    data = trade_module_data(asset_address=asset.address, sub_id=asset.sub_id,
                             limit_price=fmt(px), amount=fmt(qty), max_fee=fmt(acct.max_fee),
                             recipient_id=acct.subaccount_id, is_bid=is_bid)
    action = TradeAction(subaccount_id=acct.subaccount_id, nonce=nonce,
                         module_address=acct.trade_module, module_data=data,
                         signature_expiry_sec=expiry, owner=acct.wallet, signer=signer.address)
    tif = "post_only" if cmd.post_only else (
        "ioc" if cmd.time_in_force is TimeInForce.IOC else
        "fok" if cmd.time_in_force is TimeInForce.FOK else "gtc")
    out: dict[str, Any] = {
        "instrument_name": symbol, "direction": "buy" if is_bid else "sell",
        "order_type": "market" if cmd.order_type is OrderType.MARKET else "limit",
        "time_in_force": tif, "amount": fmt(qty), "limit_price": fmt(px),
        "max_fee": fmt(acct.max_fee), "subaccount_id": acct.subaccount_id, "nonce": nonce,
        "signer": signer.address, "signature_expiry_sec": expiry,
        "signature": signer.sign(action), "label": cmd.client_order_id, "mmp": False,
        "reduce_only": cmd.reduce_only}
    if order_id_to_cancel:
        out["order_id_to_cancel"] = order_id_to_cancel
    return out


def action_of(p: dict[str, Any], asset: DeriveAsset, owner: str, trade_module: str) -> TradeAction:
    """The action an order request's signature must cover (the venue's check, and the fake's)."""
    data = trade_module_data(asset_address=asset.address, sub_id=asset.sub_id,
                             limit_price=str(p["limit_price"]), amount=str(p["amount"]),
                             max_fee=str(p["max_fee"]), recipient_id=int(p["subaccount_id"]),
                             is_bid=p["direction"] == "buy")
    return TradeAction(subaccount_id=int(p["subaccount_id"]), nonce=int(p["nonce"]),
                       module_address=trade_module, module_data=data,
                       signature_expiry_sec=int(p["signature_expiry_sec"]), owner=owner,
                       signer=str(p["signer"]))


# ---------------------------------------------------------------------------- answers
@dataclass(frozen=True, slots=True)
class OrderInfo:
    order_id: str
    label: str
    symbol: str
    side: Side
    status: str  # open | filled | cancelled | expired | untriggered
    price: float
    amount: float
    filled: float
    avg_price: float
    cancel_reason: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class TradeInfo:
    trade_id: str
    order_id: str
    label: str
    symbol: str
    side: Side
    price: float
    amount: float
    fee: float
    liquidity: Liquidity
    ts_ms: int


def _num(d: dict[str, Any], k: str, default: Any = None) -> float:
    v = d.get(k, default)
    try:
        return float(v)
    except (TypeError, ValueError):
        raise VenueProtocolError(f"derive: {k} is not a number: {v!r}", venue=VENUE) from None


def parse_order(d: Any) -> OrderInfo:
    if not isinstance(d, dict):
        raise VenueProtocolError("derive: order is not an object", venue=VENUE)
    try:
        return OrderInfo(str(d["order_id"]), str(d.get("label") or ""), str(d["instrument_name"]),
                         Side.BUY if d["direction"] == "buy" else Side.SELL,
                         str(d["order_status"]), _num(d, "limit_price"), _num(d, "amount"),
                         _num(d, "filled_amount", 0), _num(d, "average_price", 0),
                         str(d.get("cancel_reason") or ""),
                         int(d.get("last_update_timestamp") or 0))
    except KeyError as exc:
        raise VenueProtocolError(f"derive: order without {exc}", venue=VENUE) from None


def parse_trade(d: Any) -> TradeInfo:
    if not isinstance(d, dict):
        raise VenueProtocolError("derive: trade is not an object", venue=VENUE)
    try:
        return TradeInfo(str(d["trade_id"]), str(d["order_id"]), str(d.get("label") or ""),
                         str(d["instrument_name"]),
                         Side.BUY if d["direction"] == "buy" else Side.SELL,
                         _num(d, "trade_price"), _num(d, "trade_amount"),
                         _num(d, "trade_fee", 0),
                         Liquidity.MAKER if d.get("liquidity_role") == "maker" else Liquidity.TAKER,
                         int(d["timestamp"]))
    except KeyError as exc:
        raise VenueProtocolError(f"derive: trade without {exc}", venue=VENUE) from None


def parse_position(d: Any, ts_recv: int) -> PositionReport:
    if not isinstance(d, dict) or "instrument_name" not in d:
        raise VenueProtocolError("derive: position without instrument_name", venue=VENUE)
    return PositionReport(instrument_id=instrument_id(VENUE, str(d["instrument_name"])),
                          quantity=_num(d, "amount"), avg_price=_num(d, "average_price", 0),
                          ts_event=ts_recv, ts_recv=ts_recv)


@dataclass(frozen=True, slots=True)
class Margin:
    """Collateral and margin of the subaccount, as Derive reports them (USDC)."""

    margin_type: str  # "SM" standard margin | "PM" portfolio margin
    subaccount_value: float
    initial_margin: float
    maintenance_margin: float
    collaterals_value: float
    is_under_liquidation: bool


def parse_subaccount(d: Any) -> Margin:
    if not isinstance(d, dict):
        raise VenueProtocolError("derive: subaccount is not an object", venue=VENUE)
    return Margin(str(d.get("margin_type", "")), _num(d, "subaccount_value", "nan"),
                  _num(d, "initial_margin", "nan"), _num(d, "maintenance_margin", "nan"),
                  _num(d, "collaterals_value", "nan"), bool(d.get("is_under_liquidation")))


def account_report(m: Margin, venue: str, source: str, ts_recv: int) -> AccountReported:
    """The subaccount as one USDC account. Derive reports ``initial_margin`` and
    ``maintenance_margin`` as signed headroom (``subaccount_value`` minus the requirement;
    below zero: no new risk, resp. liquidation), so the requirements are value - headroom;
    equity ``subaccount_value`` (collateral + positions at mark), balance
    ``collaterals_value``, unrealized PnL their difference (the positions' mark value)."""
    figures = (m.subaccount_value, m.initial_margin, m.maintenance_margin, m.collaterals_value)
    if not all(math.isfinite(x) for x in figures):
        raise VenueProtocolError(f"derive: subaccount figures missing or not finite: {figures}",
                                 venue=VENUE)
    value = m.subaccount_value
    return AccountReported(venue=venue, currency="USDC", balance=m.collaterals_value, equity=value,
                           initial_margin=value - m.initial_margin,
                           maintenance_margin=value - m.maintenance_margin,
                           unrealized_pnl=value - m.collaterals_value, source=source,
                           ts_event=ts_recv, ts_recv=ts_recv)
