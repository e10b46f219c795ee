"""Sans-IO codec for Bybit v5 public market data (``wss://stream.bybit.com/v5/public/{category}``).

Theory of operation: ``BybitCodec.decode`` parses each frame once with orjson and dispatches on
the topic prefix (the text before the first ``.``):

* ``orderbook.{N}.{symbol}`` -> ``BookSnapshot`` (``type: "snapshot"``, ``depth=N``) or
  ``BookDelta``. Bybit's ``u`` is a per-symbol update id that grows by one per push, so the
  normalized sequence is ``seq = first_seq = u``, ``prev_seq = u - 1`` and the engine's one
  continuity rule (``delta.prev_seq == book.seq``) checks Bybit books too. A push with
  ``u == 1`` is a full book after a Bybit service restart, whatever its ``type`` says, and
  becomes a snapshot. ``seq`` in the payload is the cross sequence (monotone across
  symbols, not contiguous): it is not used for continuity. No checksum exists on Bybit.
  ``ts_event`` is ``cts`` (matching-engine time, comparable with trade ``T``) when present,
  else ``ts``. Levels are absolute sizes; ``"0"`` deletes.
* ``publicTrade.{symbol}`` -> ``Trade`` per element (``S`` = taker side, ``T`` ms, ``i`` id).
* ``tickers.{symbol}`` -> merged ``Quote``/``MarkPrice``/``FundingRate``/``OptionSummary``
  (``tickers.TickerMerger`` documents the delta merge).
* control frames: subscribe/unsubscribe/auth acks ``{"success":true,"op":...}`` -> ``[]``;
  ``success:false`` -> one ``events.VenueError``; pongs (public ``op:"ping"``/``ret_msg:"pong"``,
  private ``op:"pong"``) -> ``[]``; private topics (``order``, ``execution``, ``position``,
  ``wallet``...) and other public topics (``kline``, ``liquidation``...) -> ``[]`` for now.

Every malformed frame raises ``VenueProtocolError``; ``decode`` wraps the parsing in one
``try`` so no ``KeyError``/``TypeError``/... escapes. The only per-connection state is the
ticker merge record, which ``on_open`` clears; per-symbol instrument ids are cached.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.model import BookDelta, BookSnapshot, Side, Trade, VenueProtocolError, instrument_id

from adapters.bybit import channels
from adapters.bybit.events import VenueError
from adapters.bybit.fields import VENUE, bad, levels, ms_to_ns, num, string, uint
from adapters.bybit.instruments import parse_instruments
from adapters.bybit.tickers import TickerMerger, emit

_loads = orjson.loads
_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError,
           orjson.JSONDecodeError)
_SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
_TRADE_PREFIXES = ("publicTrade", "trade")  # "trade.{cat}.{sym}" appears in the nautilus sample
_PRIVATE = frozenset(("order", "execution", "position", "wallet", "greeks", "dcp"))


class BybitCodec:
    """Bybit v5 public websocket and REST market data -> normalized ``engine.model`` events.

    ``category`` (``spot``, ``linear``, ``inverse``, ``option``) is taken from the websocket
    path ``/v5/public/{category}`` given to ``on_open``/``decode`` or from a REST URL's
    ``category=`` query; the constructor argument is the default when no URL says otherwise.
    """

    venue: str = VENUE

    def __init__(self, category: str = "linear", venue: str = VENUE) -> None:
        if category not in channels.CATEGORIES:
            raise ValueError(f"unknown Bybit category {category!r}")
        self.category = category
        self.venue = venue  # a deployment names the venue (its config table key)
        self.last_channel = ""
        self._url = ""
        self._iids: dict[str, str] = {}
        self._depths: dict[str, int] = {}
        self._tickers = TickerMerger()
        self._req = 0

    # -- connection -------------------------------------------------------------------------
    def on_open(self, url: str) -> list[Any]:
        """A new connection: ticker records are per connection; books restart from snapshots."""
        self._tickers.clear()
        self._use_url(url)
        return []

    def _use_url(self, url: str) -> None:
        self._url = url
        cat = channels.category_from_url(url)
        if cat is not None and cat != self.category:
            self.category = cat
            self._iids.clear()

    def _iid(self, symbol: str) -> str:
        iid = self._iids.get(symbol)
        if iid is None:
            iid = instrument_id(self.venue, channels.volta_symbol(symbol, self.category))
            self._iids[symbol] = iid
        return iid

    # -- websocket --------------------------------------------------------------------------
    def decode(self, data: bytes | str, ts_recv: int, url: str = "") -> list[Any]:
        """Decode one websocket frame (see the module docstring for what each topic yields)."""
        if url and url != self._url:
            self._use_url(url)
        try:
            msg = _loads(data)
            topic = msg.get("topic")
            if topic is None:
                return self._control(msg, ts_recv)
            if topic.__class__ is not str:
                raise bad("topic is not a string")
            if topic.startswith("orderbook."):  # the hot path first
                return self._book(msg, topic, ts_recv)
            head = topic.partition(".")[0]
            if head == "tickers":
                self.last_channel = "ticker"
                return self._tickers.on_message(msg, ts_recv, self.category, self._iid)
            if head in _TRADE_PREFIXES:
                return self._trades(msg, ts_recv)
            self.last_channel = head
            return []
        except VenueProtocolError:
            raise
        except _ERRORS as exc:
            raise bad(f"malformed frame: {exc!r}") from exc

    def _book(self, msg: dict[str, Any], topic: str, ts_recv: int) -> list[Any]:
        self.last_channel = "book"
        depth = self._depths.get(topic)
        if depth is None:
            depth_text = topic.split(".", 2)[1]
            if not depth_text.isdigit():
                # orderbook.rpi.* (three-column RPI levels) is not modelled.
                self.last_channel = "book-rpi"
                return []
            depth = self._depths[topic] = int(depth_text)
        data = msg["data"]
        sym = data["s"]
        iid = self._iids.get(sym)
        if iid is None:
            iid = self._iid(string(sym, "s"))
        u = data["u"]
        if u.__class__ is not int or u < 0:
            raise bad(f"u: expected a non-negative integer, got {u!r}")
        cts = msg.get("cts")
        if cts is None:
            cts = msg["ts"]
        ts_event = cts * 1_000_000 if cts.__class__ is int else ms_to_ns(cts, "cts")
        bids = levels(data["b"])
        asks = levels(data["a"])
        kind = msg["type"]
        if kind == "snapshot" or u == 1:
            return [BookSnapshot(iid, bids, asks, u, ts_event, ts_recv, depth=depth)]
        if kind == "delta":
            return [BookDelta(iid, bids, asks, u, u - 1, ts_event, ts_recv, u)]
        raise bad(f"orderbook type {kind!r}")

    def _trades(self, msg: dict[str, Any], ts_recv: int) -> list[Any]:
        self.last_channel = "trades"
        data = msg["data"]
        if data.__class__ is not list:
            raise bad("trade data is not a list")
        out: list[Any] = []
        for t in data:
            side = _SIDES.get(t["S"])
            if side is None:
                raise bad(f"trade side {t['S']!r}")
            price = num(t["p"], "p")
            size = num(t["v"], "v")
            if price <= 0.0 or size <= 0.0:
                raise bad(f"trade price/size {t['p']!r}/{t['v']!r}")
            out.append(Trade(self._iid(string(t["s"], "s")), price, size, side,
                             string(t["i"], "i"), ms_to_ns(t["T"], "T"), ts_recv))
        return out

    def _control(self, msg: dict[str, Any], ts_recv: int) -> list[Any]:
        op = msg.get("op")
        if op == "ping" or op == "pong" or msg.get("ret_msg") == "pong":
            self.last_channel = "pong"
            return []
        if "success" in msg:
            ok = msg["success"]
            if ok.__class__ is not bool:
                raise bad("success is not a boolean")
            if ok:
                self.last_channel = "ack"
                return []
            self.last_channel = "error"
            return [VenueError(VENUE, str(op or ""), 0, str(msg.get("ret_msg", "")),
                               str(msg.get("req_id", "")), ts_recv)]
        if "retCode" in msg:  # websocket trade API responses (op "order.create", ...)
            code = msg["retCode"]
            if code.__class__ is not int:
                raise bad("retCode is not an integer")
            self.last_channel = "response"
            if code == 0:
                return []
            return [VenueError(VENUE, str(op or ""), code, str(msg.get("retMsg", "")),
                               str(msg.get("reqId", "")), ts_recv)]
        self.last_channel = str(op) if op is not None else "unknown"
        return []

    # -- REST -------------------------------------------------------------------------------
    def decode_rest(self, url: str, body: bytes | str, ts_recv: int) -> list[Any]:
        """``/v5/market/orderbook`` -> ``BookSnapshot``; ``/v5/market/instruments-info`` ->
        ``Instrument`` list; ``/v5/market/tickers`` -> ticker events. ``retCode != 0`` -> a
        ``VenueError``. Source: https://bybit-exchange.github.io/docs/v5/market/orderbook."""
        cat = channels.category_from_url(url) or self.category
        path = url.partition("?")[0].rstrip("/")
        try:
            msg = _loads(body)
            code = msg["retCode"]
            if code.__class__ is not int:
                raise bad("retCode is not an integer")
            if code != 0:
                self.last_channel = "error"
                return [VenueError(VENUE, "rest", code, str(msg.get("retMsg", "")), "", ts_recv)]
            result = msg["result"]
            if path.endswith("/market/orderbook"):
                self.last_channel = "book"
                return [self._rest_book(result, url, cat, ts_recv)]
            if path.endswith("/market/instruments-info"):
                self.last_channel = "instruments"
                return list(parse_instruments(result, cat))
            if path.endswith("/market/tickers"):
                self.last_channel = "ticker"
                return self._rest_tickers(result, msg, cat, ts_recv)
            self.last_channel = "rest"
            return []
        except VenueProtocolError:
            raise
        except _ERRORS as exc:
            raise bad(f"malformed REST body: {exc!r}") from exc

    def _rest_book(self, result: dict[str, Any], url: str, cat: str, ts_recv: int) -> BookSnapshot:
        symbol = string(result["s"], "s")
        iid = instrument_id(self.venue, channels.volta_symbol(symbol, cat))
        u = uint(result["u"], "u")
        cts = result.get("cts")
        ts_event = ms_to_ns(result["ts"] if cts is None else cts, "cts")
        limit = 0
        for part in url.partition("?")[2].split("&"):
            if part.startswith("limit=") and part[6:].isdigit():
                limit = int(part[6:])
        return BookSnapshot(iid, levels(result["b"]), levels(result["a"]), u, ts_event, ts_recv,
                            depth=limit)

    def _rest_tickers(self, result: dict[str, Any], msg: dict[str, Any], cat: str,
                      ts_recv: int) -> list[Any]:
        rows = result["list"]
        if rows.__class__ is not list:
            raise bad("tickers list is not a list")
        cat = result.get("category") or cat
        ts_event = ms_to_ns(msg["time"], "time")
        out: list[Any] = []
        for row in rows:
            if row.__class__ is not dict:
                raise bad("ticker row is not an object")
            iid = instrument_id(self.venue, channels.volta_symbol(string(row["symbol"], "symbol"), cat))
            emit(row, row, iid, cat, ts_event, ts_recv, 0, out)
        return out

    # -- encoders ---------------------------------------------------------------------------
    def _next_id(self) -> str:
        self._req += 1
        return str(self._req)

    def encode_subscribe(self, channels_: list[str]) -> list[str]:
        """``{"op":"subscribe","args":[...],"req_id":"n"}`` frames, chunked to Bybit's limits."""
        return [channels.encode_op("subscribe", chunk, self._next_id())
                for chunk in channels.chunk_topics(list(channels_), self.category)]

    def encode_unsubscribe(self, channels_: list[str]) -> list[str]:
        """``{"op":"unsubscribe",...}`` frames, chunked like ``encode_subscribe``."""
        return [channels.encode_op("unsubscribe", chunk, self._next_id())
                for chunk in channels.chunk_topics(list(channels_), self.category)]

    def encode_heartbeat(self) -> str | None:
        """``{"op":"ping","req_id":"n"}``: Bybit drops connections idle for ~20 s without one."""
        return channels.encode_op("ping", None, self._next_id())

    def book_channel(self, symbol: str, depth: int = 50) -> str:
        return channels.book_channel(symbol, depth, self.category)

    def trades_channel(self, symbol: str) -> str:
        return channels.trades_channel(symbol, self.category)

    def ticker_channel(self, symbol: str) -> str:
        return channels.ticker_channel(symbol)
