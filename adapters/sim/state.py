"""The simulated venue's account state, and its optional persistence across engine restarts.

Theory of operation: a real venue remembers your orders, fills and positions when your
process dies; the simulated one does too when given ``SimVenueParams.state_path``. Every
client order event the matching engine produces (and every settlement at expiry) passes
through ``SimAccount.record`` *before* it is published: the account updates its view (orders by client id, fills, positions, the
highest order and trade numbers used) and, when persistent, appends one JSON line to the
state file with a single ``os.write`` on an ``O_APPEND`` descriptor. A SIGKILL after that
write loses nothing (the bytes are in the kernel's page cache); a SIGKILL before it means
the event was never published either. ``load`` replays the file; a torn last line (a crash
in the middle of a write) is ignored. The market itself restarts from its seed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from engine.model import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    PositionReport,
    PositionSettled,
    Side,
    SubmitOrder,
)


class AccountOrder(msgspec.Struct, kw_only=True):
    """One client order as the venue remembers it."""

    client_order_id: str
    venue_order_id: str = ""
    instrument_id: str
    side: Side
    price: float | None
    quantity: float
    filled: float = 0.0
    avg_price: float = 0.0
    status: str = "accepted"
    post_only: bool = False
    tif: str = "gtc"
    ts: int = 0


_DEC = {c.__name__: c for c in (SubmitOrder, OrderAccepted, OrderAmended, OrderCancelled,
                                OrderExpired, OrderFilled, OrderRejected, PositionSettled)}
_OPEN = ("accepted", "partially_filled")


class SimAccount:
    """Orders, fills and positions of the one account on the simulated venue."""

    def __init__(self, path: str = "") -> None:
        self.orders: dict[str, AccountOrder] = {}
        self.fills: list[OrderFilled] = []
        self.positions: dict[str, list[float]] = {}  # iid -> [qty, avg_price]
        self.max_order_no = 0
        self.max_trade_no = 0
        self.cancel_on_disconnect = False
        self._pending: dict[str, SubmitOrder] = {}
        self._fd: int | None = None
        self._enc = msgspec.json.Encoder()
        self.path = path
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._load(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    # -- recording ---------------------------------------------------------------------------
    def _write(self, obj: Any) -> None:
        if self._fd is not None:
            line = self._enc.encode((type(obj).__name__, obj)) + b"\n"
            os.write(self._fd, line)

    def submitted(self, cmd: SubmitOrder) -> None:
        """A submit reached the venue (its acceptance, if any, follows)."""
        self._pending[cmd.client_order_id] = cmd
        self._write(cmd)

    def arm_cancel_on_disconnect(self, on: bool) -> None:
        self.cancel_on_disconnect = on
        self._write(_Cod(on=on))

    def record(self, ev: Any) -> None:
        """Apply and persist one client order event (call before publishing it)."""
        if isinstance(ev, (OrderAccepted, OrderAmended, OrderCancelled, OrderExpired, OrderFilled,
                           OrderRejected, PositionSettled)):
            self._apply(ev)
            self._write(ev)

    def _apply(self, ev: Any) -> None:
        if isinstance(ev, PositionSettled):  # the instrument expired: nothing of it is held
            self.positions.pop(ev.instrument_id, None)
            return
        coid = ev.client_order_id
        o = self.orders.get(coid)
        if isinstance(ev, SubmitOrder):
            self._pending[coid] = ev
        elif isinstance(ev, _Cod):
            self.cancel_on_disconnect = ev.on
        elif isinstance(ev, OrderAccepted):
            cmd = self._pending.pop(coid, None)
            if cmd is not None:
                self.orders[coid] = AccountOrder(
                    client_order_id=coid, venue_order_id=ev.venue_order_id,
                    instrument_id=ev.instrument_id, side=cmd.side, price=cmd.price,
                    quantity=cmd.quantity, post_only=cmd.post_only, tif=str(cmd.time_in_force),
                    ts=ev.ts_event)
            self.max_order_no = max(self.max_order_no, _number(ev.venue_order_id))
        elif isinstance(ev, OrderFilled):
            self.fills.append(ev)
            self.max_trade_no = max(self.max_trade_no, _number(ev.trade_id))
            pos = self.positions.setdefault(ev.instrument_id, [0.0, 0.0])
            _apply_position(pos, ev.side.sign * ev.quantity, ev.price)
            if o is not None:
                total = o.filled + ev.quantity
                o.avg_price = (o.avg_price * o.filled + ev.price * ev.quantity) / total
                o.filled = total
                o.status = "filled" if ev.remaining <= 1e-12 else "partially_filled"
        elif isinstance(ev, OrderAmended):
            if o is not None:
                o.price, o.quantity = ev.price, ev.quantity
        elif isinstance(ev, OrderCancelled):
            if o is not None:
                o.status = "cancelled"
        elif isinstance(ev, OrderExpired):
            if o is not None:
                o.status = "expired"
        elif isinstance(ev, OrderRejected):
            # A reject of a cancel/amend leaves a working order as it is.
            cmd = self._pending.pop(coid, None)
            if o is None and cmd is not None:
                self.orders[coid] = AccountOrder(client_order_id=coid, instrument_id=ev.instrument_id,
                                                 side=cmd.side, price=cmd.price, quantity=cmd.quantity,
                                                 status="rejected", ts=ev.ts_event)

    def _load(self, path: str) -> None:
        if not os.path.exists(path):
            return
        with open(path, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn last write
                try:
                    kind, payload = msgspec.json.decode(raw, type=tuple[str, msgspec.Raw])
                    cls = _DEC.get(kind) or (_Cod if kind == "_Cod" else None)
                    if cls is None:
                        continue
                    self._apply(msgspec.json.decode(payload, type=cls))
                except (msgspec.DecodeError, ValueError, TypeError):
                    continue

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- queries -----------------------------------------------------------------------------
    def open_orders(self) -> list[AccountOrder]:
        return [o for o in self.orders.values() if o.status in _OPEN]

    def report(self, o: AccountOrder, ts: int) -> OrderStatusReport:
        return OrderStatusReport(client_order_id=o.client_order_id, venue_order_id=o.venue_order_id,
                                 instrument_id=o.instrument_id, side=o.side, status=o.status,
                                 price=o.price, quantity=o.quantity, filled=o.filled,
                                 avg_fill_price=o.avg_price, ts_event=ts, ts_recv=ts)

    def position_reports(self, ts: int) -> list[PositionReport]:
        return [PositionReport(instrument_id=iid, quantity=q, avg_price=a, ts_event=ts, ts_recv=ts)
                for iid, (q, a) in sorted(self.positions.items()) if abs(q) > 1e-12]


class _Cod(msgspec.Struct):
    on: bool
    client_order_id: str = ""


def _number(venue_id: str) -> int:
    digits = ""
    for ch in reversed(venue_id):
        if not ch.isdigit():
            break
        digits = ch + digits
    return int(digits) if digits else 0


def _apply_position(pos: list[float], signed: float, price: float) -> None:
    qty, avg = pos
    if qty == 0.0 or (qty > 0) == (signed > 0):
        new = qty + signed
        pos[1] = (abs(qty) * avg + abs(signed) * price) / abs(new)
        pos[0] = new
        return
    new = qty + signed
    if abs(new) < 1e-12:
        pos[0], pos[1] = 0.0, 0.0
    elif (new > 0) != (qty > 0):
        pos[0], pos[1] = new, price
    else:
        pos[0] = new
