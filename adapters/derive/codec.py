"""Derive market-data codec (sans-IO): JSON-RPC 2.0 frames in, normalized events out.

Theory of operation (https://docs.derive.xyz, "Subscriptions"). Every notification is
``{"method": "subscription", "params": {"channel": ..., "data": ...}}``:

* ``orderbook.{instrument}.{group}.{depth}``: every message is the *whole* top ``depth`` of the
  book (``bids``/``asks`` as ``[price, amount]`` decimal strings) with ``publish_id``, a counter
  that only grows. So each message becomes a ``BookSnapshot`` (``seq = publish_id``, ``depth``):
  a missed message loses nothing, and the continuity rule is that an older or repeated
  ``publish_id`` is stale (a reordered or duplicated message) and is dropped, counted in
  ``stale``; the integrity layer checks the snapshot itself (crossed, silent stream).
* ``trades.{instrument}``: a list of public trades -> ``Trade`` (``direction`` is the taker's).
* ``ticker_slim.{instrument}.{interval}``: ``b``/``B``/``a``/``A`` (best bid/ask price and
  amount) -> ``Quote``; ``M``/``I`` (mark, index) -> ``MarkPrice``; options add
  ``option_pricing`` (``i`` mark IV, ``bi``/``ai`` bid/ask IV, ``d``/``g``/``v``/``t``
  delta/gamma/vega/theta, ``f`` forward) -> ``OptionSummary`` (IVs as fractions, as Derive
  sends them; NaN where Derive left a field out). A missing best price is an empty side (size 0), never a price of 0.

Frames with an ``id`` (RPC answers) and private channels (``{subaccount}.orders`` ...) are not
market data: the parsed object is left in ``rpc``/``private`` for the session, so a frame is
parsed once. A JSON-RPC ``error`` answer is kept in ``last_error``/``error_count``.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from engine.model import (
    BookSnapshot,
    MarkPrice,
    OptionSummary,
    Quote,
    Side,
    Trade,
    VenueProtocolError,
    instrument_id,
)

__all__ = ["DeriveCodec"]

VENUE = "derive"
_NS_PER_MS = 1_000_000
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}


def _f(x: Any, what: str) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        raise VenueProtocolError(f"derive: {what} is not a number: {x!r}", venue=VENUE) from None


def _opt(x: Any, what: str) -> float:
    """A field the venue may leave out: NaN when absent (unknown, never 0)."""
    return math.nan if x is None or x == "" else _f(x, what)


def _levels(rows: Any, what: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(rows, list):
        raise VenueProtocolError(f"derive: {what} is not a list", venue=VENUE)
    out = []
    for r in rows:
        if not isinstance(r, list) or len(r) < 2:
            raise VenueProtocolError(f"derive: bad {what} level {r!r}", venue=VENUE)
        out.append((_f(r[0], what), _f(r[1], what)))
    return tuple(out)


class DeriveCodec:
    """Decodes Derive websocket frames; see the module docstring."""

    venue = VENUE

    def __init__(self, venue: str = VENUE) -> None:
        self.venue_name = venue
        self.rpc: dict[str, Any] | None = None
        """The last RPC answer (a frame with an ``id``), for the session to take."""
        self.private: tuple[str, Any] | None = None
        """The last private-channel notification ``(channel, data)``, for the session."""
        self.last_error: dict[str, Any] | None = None
        self.error_count = 0
        self.stale = 0
        self._publish_id: dict[str, int] = {}

    def on_open(self, url: str) -> list[Any]:
        """A new connection: every book restarts from its next message."""
        self._publish_id.clear()
        return []

    def forget(self, symbol: str) -> None:
        """A resubscribed book accepts the venue's next message whatever its ``publish_id``."""
        self._publish_id.pop(symbol, None)

    def decode_rest(self, url: str, body: bytes | str, ts_recv: int) -> list[Any]:
        return []  # Derive's market data all comes over the websocket

    # ------------------------------------------------------------------ frames
    def decode(self, data: bytes | str, ts_recv: int, url: str = "") -> list[Any]:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise VenueProtocolError("derive: frame is not JSON", venue=VENUE) from None
        if not isinstance(msg, dict):
            raise VenueProtocolError("derive: frame is not an object", venue=VENUE)
        if "id" in msg and msg.get("method") != "subscription":
            if "error" in msg and isinstance(msg["error"], dict):
                self.error_count += 1
                self.last_error = msg["error"]
            self.rpc = msg
            return []
        if msg.get("method") != "subscription":
            return []  # heartbeats and other notices carry no market data
        try:
            channel: str = msg["params"]["channel"]
            payload = msg["params"]["data"]
        except (KeyError, TypeError):
            raise VenueProtocolError("derive: subscription without channel/data", venue=VENUE) from None
        kind, _, rest = channel.partition(".")
        if kind == "orderbook":
            return self._book(payload, rest, ts_recv)
        if kind == "trades":
            return self._trades(payload, ts_recv)
        if kind in ("ticker_slim", "ticker"):
            return self._ticker(rest.rpartition(".")[0], payload, ts_recv)
        if kind.isdigit():  # {subaccount_id}.orders | .trades | .balances
            self.private = (channel, payload)
            return []
        return []

    def _iid(self, symbol: str) -> str:
        return instrument_id(self.venue_name, symbol)

    def _book(self, d: Any, rest: str, ts_recv: int) -> list[Any]:
        if not isinstance(d, dict):
            raise VenueProtocolError("derive: orderbook data is not an object", venue=VENUE)
        symbol = d.get("instrument_name") or rest.split(".")[0]
        pid = d.get("publish_id")
        if not isinstance(pid, int):
            raise VenueProtocolError("derive: orderbook without publish_id", venue=VENUE)
        if pid <= self._publish_id.get(symbol, -1):
            self.stale += 1  # reordered or duplicated: a newer whole book was already applied
            return []
        bids, asks = _levels(d.get("bids"), "bids"), _levels(d.get("asks"), "asks")
        self._publish_id[symbol] = pid
        depth = rest.rpartition(".")[2]
        return [BookSnapshot(self._iid(symbol), bids, asks, pid,
                             int(d.get("timestamp", 0)) * _NS_PER_MS, ts_recv,
                             depth=int(depth) if depth.isdigit() else 0)]

    def _trades(self, rows: Any, ts_recv: int) -> list[Any]:
        if not isinstance(rows, list):
            raise VenueProtocolError("derive: trades data is not a list", venue=VENUE)
        out = []
        for r in rows:
            try:
                out.append(Trade(self._iid(r["instrument_name"]), _f(r["trade_price"], "price"),
                                 _f(r["trade_amount"], "amount"), _SIDES.get(r.get("direction")),
                                 str(r["trade_id"]), int(r["timestamp"]) * _NS_PER_MS, ts_recv))
            except (KeyError, TypeError):
                raise VenueProtocolError("derive: malformed trade", venue=VENUE) from None
        return out

    def _ticker(self, symbol: str, d: Any, ts_recv: int) -> list[Any]:
        if not isinstance(d, dict):
            raise VenueProtocolError("derive: ticker data is not an object", venue=VENUE)
        t = d.get("instrument_ticker", d)
        if not isinstance(t, dict):
            raise VenueProtocolError("derive: ticker is not an object", venue=VENUE)
        iid = self._iid(symbol)
        ts = int(t.get("t") or d.get("timestamp") or 0) * _NS_PER_MS
        bid, ask = _f(t.get("b", 0), "bid"), _f(t.get("a", 0), "ask")
        out: list[Any] = [Quote(iid, bid, _f(t.get("B", 0), "bid amount") if bid > 0 else 0.0,
                                ask, _f(t.get("A", 0), "ask amount") if ask > 0 else 0.0,
                                ts, ts_recv)]
        mark, index = _opt(t.get("M"), "mark"), _opt(t.get("I"), "index")
        if mark == mark:
            out.append(MarkPrice(iid, mark, index, ts, ts_recv))
        op = t.get("option_pricing")
        if isinstance(op, dict):
            stats = t.get("stats")
            oi = stats.get("oi") if isinstance(stats, dict) else None
            out.append(OptionSummary(
                iid, _opt(op.get("m", t.get("M")), "mark"), _opt(op.get("i"), "iv"),
                _opt(op.get("bi"), "bid iv"), _opt(op.get("ai"), "ask iv"),
                _opt(op.get("f", t.get("I")), "forward"), _opt(op.get("d"), "delta"),
                _opt(op.get("g"), "gamma"), _opt(op.get("v"), "vega"), _opt(op.get("t"), "theta"),
                _opt(oi, "open interest"), ts, ts_recv))
        return out

    # ------------------------------------------------------------------ requests
    @staticmethod
    def book_channel(symbol: str, group: str = "1", depth: int = 20) -> str:
        return f"orderbook.{symbol}.{group}.{depth}"

    @staticmethod
    def trades_channel(symbol: str) -> str:
        return f"trades.{symbol}"

    @staticmethod
    def ticker_channel(symbol: str, interval_ms: int = 1000) -> str:
        return f"ticker_slim.{symbol}.{interval_ms}"
