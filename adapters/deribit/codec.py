"""Deribit JSON-RPC 2.0 websocket codec (sans-IO).

Theory of operation: every frame is one JSON-RPC object (https://docs.deribit.com/articles/
notifications.md). Three shapes exist and are told apart by their keys:

* notification ``{"method": "subscription", "params": {"channel", "data"}}``: market data.
  The channel string is classified once and cached (``channels.classify``), then ``data`` is
  turned into normalized events (``book`` -> ``BookSnapshot``/``BookDelta``, ``trades`` ->
  ``Trade``, ``ticker`` -> ``Quote`` + ``MarkPrice`` [+ ``FundingRate`` | ``OptionSummary``],
  ``deribit_price_index`` -> ``MarkPrice`` of the index);
* notification ``{"method": "heartbeat", "params": {"type": ...}}``: a ``test_request`` must
  be answered with ``public/test`` or the server drops the connection
  (https://docs.deribit.com/api-reference/session-management/public-set_heartbeat.md). The
  codec does no I/O, so it raises the flag ``pending_test_request``; the session sends
  ``encode_test()`` (which clears it) after any decode that set it;
* response ``{"id", "result" | "error"}`` to a request this codec encoded. Ids are remembered
  with what was asked (subscribe, instruments, order book), so an instrument list or book
  snapshot arriving over the websocket decodes like the REST body. An ``error`` response is a
  valid frame, not a protocol violation: decode returns ``[]`` and records it in
  ``last_error`` (a ``DeribitError``) and ``error_count``.

Private traffic shares the connection: a ``user.*`` notification, or a response whose id is
at least ``PRIVATE_ID_BASE`` (the id space of ``adapters.deribit.private``), is not decoded
here; the parsed object is left in ``foreign`` for the session's private layer (one JSON parse
per frame), and decode returns ``[]``.

Books: ``change_id``/``prev_change_id`` become ``seq``/``prev_seq`` (``first_seq = seq``),
levels ``[action, price, amount]`` with ``delete`` carrying size 0; amounts are absolute.
Prices and amounts are JSON numbers; anything else is a ``VenueProtocolError``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from adapters.deribit import channels as ch
from adapters.deribit.instruments import (
    TickSteps,
    looks_like_instruments,
    parse_instruments,
)
from engine.model import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    MarkPrice,
    OptionSummary,
    Quote,
    Side,
    Trade,
    VenueProtocolError,
    instrument_id,
)

VENUE = "deribit"
_NS_PER_MS = 1_000_000
_NAN = float("nan")
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_CAUGHT = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError)
_EMPTY: tuple = ()
PRIVATE_ID_BASE = 1 << 31
"""Request ids from here on belong to the private layer (orders, queries, auth)."""


class DeribitError(NamedTuple):
    """A JSON-RPC error response (``{"error": {"code", "message", "data"}}``)."""

    code: int
    message: str
    request_id: int | None
    method: str
    """The method of the request it answers, if this codec encoded it ("" otherwise)."""
    data: Any = None


def _bad(msg: str) -> VenueProtocolError:
    return VenueProtocolError(f"deribit: {msg}", venue=VENUE)


def _num(x: Any) -> float:
    # JSON numbers only: orjson gives int or float; bool (an int subclass) is ill-typed.
    if x.__class__ is float:
        return x
    if x.__class__ is int:
        return float(x)
    raise _bad(f"expected a number, got {x!r}")


def _opt_num(x: Any) -> float:
    """A number that Deribit sends as ``null`` when there is none (e.g. no bid)."""
    if x is None:
        return _NAN
    return _num(x)


def _ms_ns(x: Any) -> int:
    if x.__class__ is not int:
        raise _bad(f"expected integer milliseconds, got {x!r}")
    return x * _NS_PER_MS


def _iv(x: Any) -> float:
    # Deribit IVs are percent; 0 (or null) means "no quote on that side", not a zero vol.
    if x is None:
        return _NAN
    v = _num(x)
    return v / 100.0 if v > 0.0 else _NAN


def _change_levels(levels: Any) -> tuple[tuple[float, float], ...]:
    """``[[action, price, amount], ...]`` -> ``((price, size), ...)``; ``delete`` -> size 0."""
    if levels.__class__ is not list:
        raise _bad("levels are not a list")
    if not levels:
        return _EMPTY
    out = []
    for action, price, amount in levels:
        p = _num(price)
        if action == "delete":
            out.append((p, 0.0))
        elif action == "new" or action == "change":
            a = _num(amount)
            if a < 0.0:
                raise _bad(f"negative amount {a}")
            out.append((p, a))
        else:
            raise _bad(f"unknown level action {action!r}")
    return tuple(out)


def _plain_levels(levels: Any) -> tuple[tuple[float, float], ...]:
    """``[[price, amount], ...]`` (grouped books, ``get_order_book``) -> levels."""
    if levels.__class__ is not list:
        raise _bad("levels are not a list")
    out = []
    for price, amount in levels:
        a = _num(amount)
        if a < 0.0:
            raise _bad(f"negative amount {a}")
        out.append((_num(price), a))
    return tuple(out)


class DeribitCodec:
    """Sans-IO codec for Deribit's websocket API v2 (``wss://www.deribit.com/ws/api/v2``).

    Attributes the session reads after ``decode``: ``pending_test_request`` (answer with
    ``encode_test()``), ``last_error``/``error_count`` (JSON-RPC errors), ``subscribed``
    (channels the venue confirmed), ``tick_size_steps`` (per-option coarser ticks from the
    instrument lists) and ``last_channel`` (short name of the last decoded channel).
    """

    venue: str = VENUE

    def __init__(self) -> None:
        self.last_channel: str = ""
        self.pending_test_request: bool = False
        self.last_error: DeribitError | None = None
        self.error_count: int = 0
        self.subscribed: set[str] = set()
        self.tick_size_steps: dict[str, TickSteps] = {}
        self.foreign: dict | None = None
        self._next_id: int = 1
        self._pending: dict[int, str] = {}
        self._channels: dict[str, ch.ChannelInfo] = {}
        self._iids: dict[str, str] = {}

    # -- connection -------------------------------------------------------------------------
    def on_open(self, url: str) -> list[Any]:
        """New connection: outstanding requests, subscriptions and heartbeat state are void."""
        self._pending.clear()
        self.subscribed.clear()
        self.pending_test_request = False
        return []

    # -- decoding ---------------------------------------------------------------------------
    def decode(self, data: bytes | str, ts_recv: int, url: str = "") -> list[Any]:
        """Decode one websocket frame into normalized events (``[]`` for acks/heartbeats)."""
        try:
            msg = orjson.loads(data)
            if msg.__class__ is not dict:
                raise _bad("frame is not a JSON object")
            method = msg.get("method")
            if method == "subscription":
                params = msg["params"]
                channel = params["channel"]
                if channel.__class__ is str and channel.startswith("user."):
                    self.last_channel = "user"
                    self.foreign = msg
                    return []
                return self._notification(channel, params["data"], ts_recv)
            if method == "heartbeat":
                self.last_channel = "heartbeat"
                if msg["params"]["type"] == "test_request":
                    self.pending_test_request = True
                return []
            if "id" in msg:
                rid = msg["id"]
                if rid.__class__ is int and rid >= PRIVATE_ID_BASE:
                    self.last_channel = "rpc"
                    self.foreign = msg
                    return []
                return self._response(msg, ts_recv)
            self.last_channel = "other"
            return []
        except VenueProtocolError:
            raise
        except _CAUGHT as e:
            raise _bad(f"malformed frame ({type(e).__name__}: {e})") from e

    def decode_rest(self, url: str, body: bytes | str, ts_recv: int) -> list[Any]:
        """REST bodies (same JSON-RPC envelope): instrument lists and ``get_order_book``."""
        try:
            msg = orjson.loads(body)
            if msg.__class__ is not dict:
                raise _bad("body is not a JSON object")
            if "error" in msg:
                self._record_error(msg, "")
                return []
            return self._result(msg["result"], "", ts_recv, msg)
        except VenueProtocolError:
            raise
        except _CAUGHT as e:
            raise _bad(f"malformed REST body ({type(e).__name__}: {e})") from e

    def _iid(self, name: Any) -> str:
        iid = self._iids.get(name)
        if iid is None:
            if name.__class__ is not str:
                raise _bad(f"instrument_name is not a string: {name!r}")
            iid = instrument_id(VENUE, name)
            if len(self._iids) < 100_000:  # bound the cache against hostile input
                self._iids[name] = iid
        return iid

    def _notification(self, channel: Any, data: Any, ts_recv: int) -> list[Any]:
        info = self._channels.get(channel)
        if info is None:
            if channel.__class__ is not str:
                raise _bad("channel is not a string")
            info = ch.classify(channel)
            if len(self._channels) < 100_000:  # bound the cache against hostile input
                self._channels[channel] = info
        self.last_channel = info.name
        kind = info.kind
        if kind == ch.BOOK:
            return [self._book(info.instrument_id, data, ts_recv)]
        if kind == ch.TICKER:
            return self._ticker(info.instrument_id, data, ts_recv)
        if kind == ch.TRADES:
            return self._trades(data, ts_recv)
        if kind == ch.BOOK_GROUPED:
            return [BookSnapshot(instrument_id=info.instrument_id,
                                 bids=_plain_levels(data["bids"]), asks=_plain_levels(data["asks"]),
                                 seq=self._change_id(data["change_id"]),
                                 ts_event=_ms_ns(data["timestamp"]), ts_recv=ts_recv,
                                 depth=info.depth)]
        if kind == ch.INDEX:
            return [MarkPrice(instrument_id=info.instrument_id, mark_price=_NAN,
                              index_price=_num(data["price"]),
                              ts_event=_ms_ns(data["timestamp"]), ts_recv=ts_recv)]
        return []

    @staticmethod
    def _change_id(x: Any) -> int:
        if x.__class__ is not int:
            raise _bad(f"change_id is not an integer: {x!r}")
        return x

    def _book(self, iid: str, data: Any, ts_recv: int) -> BookSnapshot | BookDelta:
        """``book.{instrument}.{interval}`` (doc: subscriptions/orderbook/bookinstrument_nameinterval)."""
        change_id = data["change_id"]
        if change_id.__class__ is not int:
            raise _bad(f"change_id is not an integer: {change_id!r}")
        typ = data["type"]
        bids = _change_levels(data["bids"])
        asks = _change_levels(data["asks"])
        ts_event = _ms_ns(data["timestamp"])
        if typ == "change":
            prev = data["prev_change_id"]
            if prev.__class__ is not int:
                raise _bad(f"prev_change_id is not an integer: {prev!r}")
            return BookDelta(instrument_id=iid, bids=bids, asks=asks, seq=change_id,
                             prev_seq=prev, ts_event=ts_event, ts_recv=ts_recv,
                             first_seq=change_id)
        if typ == "snapshot":
            return BookSnapshot(instrument_id=iid, bids=bids, asks=asks, seq=change_id,
                                ts_event=ts_event, ts_recv=ts_recv)
        raise _bad(f"unknown book type {typ!r}")

    def _trades(self, data: Any, ts_recv: int) -> list[Any]:
        """``trades.*``: ``direction`` is the taker's side; ``trade_id`` a string."""
        if data.__class__ is not list:
            raise _bad("trades data is not a list")
        out: list[Any] = []
        for t in data:
            tid = t["trade_id"]
            if tid.__class__ is not str:
                if tid.__class__ is not int:
                    raise _bad(f"trade_id is not a string: {tid!r}")
                tid = str(tid)
            side = _SIDES.get(t["direction"])
            if side is None:
                raise _bad(f"unknown trade direction {t['direction']!r}")
            amount = _num(t["amount"])
            if amount < 0.0:
                raise _bad(f"negative trade amount {amount}")
            out.append(Trade(instrument_id=self._iid(t["instrument_name"]),
                             price=_num(t["price"]), size=amount, aggressor=side,
                             trade_id=tid, ts_event=_ms_ns(t["timestamp"]), ts_recv=ts_recv))
        return out

    def _ticker(self, iid: str, d: Any, ts_recv: int) -> list[Any]:
        """``ticker.{instrument}.{interval}`` -> Quote, MarkPrice [, FundingRate | OptionSummary].

        Perpetuals are recognised by ``current_funding``/``funding_8h`` and options by
        ``greeks``, so no instrument table is needed. The funding rate reported is
        ``funding_8h`` (comparable with 8-hourly venues); Deribit funds continuously, so
        ``next_funding_ns`` is 0. IVs arrive in percent and leave as fractions.
        """
        ts_event = _ms_ns(d["timestamp"])
        g = d.get
        # One pass over the numbers: floats (the norm) pass as they are, the rest are checked.
        bid, bid_size, ask, ask_size, index, mark = [
            v if v.__class__ is float else _opt_num(v)
            for v in (g("best_bid_price"), g("best_bid_amount"), g("best_ask_price"),
                      g("best_ask_amount"), g("index_price"), d["mark_price"])]
        if mark != mark:
            raise _bad("ticker without mark_price")
        if bid_size < 0.0 or ask_size < 0.0:  # NaN (no side) compares False: unknown stays
            raise _bad(f"ticker with a negative size: {bid_size} x {ask_size}")
        out: list[Any] = [
            Quote(instrument_id=iid, bid_price=bid, bid_size=bid_size, ask_price=ask,
                  ask_size=ask_size, ts_event=ts_event, ts_recv=ts_recv),
            MarkPrice(instrument_id=iid, mark_price=mark, index_price=index,
                      ts_event=ts_event, ts_recv=ts_recv),
        ]
        greeks = g("greeks")
        if greeks is not None:
            gg = greeks.get
            underlying, oi, delta, gamma, vega, theta = [
                v if v.__class__ is float else _opt_num(v)
                for v in (g("underlying_price"), g("open_interest"), gg("delta"), gg("gamma"),
                          gg("vega"), gg("theta"))]
            out.append(OptionSummary(
                instrument_id=iid, mark_price=mark, mark_iv=_iv(g("mark_iv")),
                bid_iv=_iv(g("bid_iv")), ask_iv=_iv(g("ask_iv")), underlying_price=underlying,
                delta=delta, gamma=gamma, vega=vega, theta=theta, open_interest=oi,
                ts_event=ts_event, ts_recv=ts_recv))
        elif "funding_8h" in d or "current_funding" in d:
            rate = g("funding_8h")
            out.append(FundingRate(instrument_id=iid,
                                   rate=_num(rate if rate is not None else d["current_funding"]),
                                   next_funding_ns=0, ts_event=ts_event, ts_recv=ts_recv))
        return out

    # -- responses --------------------------------------------------------------------------
    def _response(self, msg: dict, ts_recv: int) -> list[Any]:
        rid = msg["id"]
        asked = self._pending.pop(rid, "") if rid.__class__ is int else ""
        if "error" in msg:
            self._record_error(msg, asked)
            return []
        return self._result(msg["result"], asked, ts_recv, msg)

    def _result(self, result: Any, asked: str, ts_recv: int, msg: dict) -> list[Any]:
        self.last_channel = "rpc"
        if asked == "public/subscribe" or asked == "private/subscribe":
            self.subscribed.update(c for c in result if c.__class__ is str)
            return []
        if asked == "public/unsubscribe" or asked == "private/unsubscribe":
            self.subscribed.difference_update(c for c in result if c.__class__ is str)
            return []
        if asked == "public/get_instruments" or asked == "public/get_instrument" \
                or (not asked and looks_like_instruments(result)):
            self.last_channel = "instruments"
            instruments, steps = parse_instruments(result)
            self.tick_size_steps.update(steps)
            return instruments
        if asked == "public/get_order_book" or (
                not asked and result.__class__ is dict and "change_id" in result
                and "bids" in result and "instrument_name" in result):
            self.last_channel = "book"
            return [BookSnapshot(instrument_id=self._iid(result["instrument_name"]),
                                 bids=_plain_levels(result["bids"]),
                                 asks=_plain_levels(result["asks"]),
                                 seq=self._change_id(result["change_id"]),
                                 ts_event=_ms_ns(result["timestamp"]), ts_recv=ts_recv)]
        return []

    def _record_error(self, msg: dict, asked: str) -> None:
        err = msg["error"]
        code = err["code"]
        if code.__class__ is not int:
            raise _bad(f"error code is not an integer: {code!r}")
        rid = msg.get("id")
        self.last_channel = "error"
        self.error_count += 1
        self.last_error = DeribitError(code=code, message=str(err.get("message", "")),
                                       request_id=rid if rid.__class__ is int else None,
                                       method=asked, data=err.get("data"))

    # -- encoding ---------------------------------------------------------------------------
    def _request(self, method: str, params: dict[str, Any] | None = None) -> str:
        rid = self._next_id
        self._next_id += 1
        self._pending[rid] = method
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        return orjson.dumps(msg).decode()

    def encode_subscribe(self, channels: list[str], *, private: bool = False) -> list[str]:
        """``public/subscribe`` (``private/subscribe`` if asked or for ``user.*`` channels)."""
        if not channels:
            return []
        private = private or any(c.startswith("user.") for c in channels)
        method = "private/subscribe" if private else "public/subscribe"
        return [self._request(method, {"channels": list(channels)})]

    def encode_unsubscribe(self, channels: list[str], *, private: bool = False) -> list[str]:
        if not channels:
            return []
        private = private or any(c.startswith("user.") for c in channels)
        method = "private/unsubscribe" if private else "public/unsubscribe"
        return [self._request(method, {"channels": list(channels)})]

    def encode_set_heartbeat(self, interval: int = 30) -> str:
        """``public/set_heartbeat``: the server then sends heartbeats and test_requests (>= 10 s)."""
        if interval < 10:
            raise ValueError("Deribit heartbeat interval must be at least 10 s")
        return self._request("public/set_heartbeat", {"interval": interval})

    def encode_test(self) -> str:
        """``public/test``: the mandatory answer to a ``test_request``; clears the flag."""
        self.pending_test_request = False
        return self._request("public/test", {})

    def encode_heartbeat(self) -> str | None:
        """A client keep-alive: ``public/test`` (also answers a pending test_request)."""
        return self.encode_test()

    def encode_get_instruments(self, currency: str, kind: str | None = None,
                               expired: bool = False) -> str:
        params: dict[str, Any] = {"currency": currency, "expired": expired}
        if kind:
            params["kind"] = kind
        return self._request("public/get_instruments", params)

    def encode_get_order_book(self, instrument: str, depth: int | None = None) -> str:
        params: dict[str, Any] = {"instrument_name": instrument}
        if depth:
            params["depth"] = depth
        return self._request("public/get_order_book", params)

    # channel-name helpers (see ``adapters.deribit.channels``)
    book_channel = staticmethod(ch.book_channel)
    grouped_book_channel = staticmethod(ch.grouped_book_channel)
    trades_channel = staticmethod(ch.trades_channel)
    kind_trades_channel = staticmethod(ch.kind_trades_channel)
    ticker_channel = staticmethod(ch.ticker_channel)
    index_channel = staticmethod(ch.index_channel)
