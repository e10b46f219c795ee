"""Binance spot, USD-M and COIN-M market-data codec (sans-IO).

Theory of operation: ``decode`` turns one websocket frame into normalized events. A frame is
either a combined-stream envelope ``{"stream": name, "data": payload}`` or a raw payload
(``/ws/<stream>``); payloads are dispatched on their ``e`` field (spot ``@bookTicker`` has
none and is recognised by its ``u``/``b``/``a`` keys). Levels become ``(float, float)`` tuples
directly. Sequence normalization
(``engine.model.market``): spot diffs ``first_seq=U, seq=u, prev_seq=U-1``; futures
``first_seq=U, seq=u, prev_seq=pu``; REST snapshots ``seq=lastUpdateId``; ``bookTicker`` quotes
``seq=u``, so a rebuilt book can be compared with the venue's own top of book.

Sources: spot https://developers.binance.com/en/docs/products/spot/web-socket-streams ;
USD-M https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams ;
COIN-M is identical to USD-M (adds ``ps``); the local book procedure is the integrity layer's
(``engine.integrity``). Any malformed input raises ``VenueProtocolError``, nothing else.

Fast path: the hot payloads (``depthUpdate``, ``bookTicker``, ``trade``, ``aggTrade``: nearly
every frame of a book stream) are first decoded by msgspec into typed structs (``_Fast*``, a
union tagged on ``e``; spot ``bookTicker``, which has no ``e``, where the stream name says so),
which turns the price/size strings into floats in C while it parses (lax mode, ``strict=False``,
matters for the float fields only: every other field is ``Any`` and type-checked here exactly
as the generic path checks it). The fast path only ever *accepts* a frame the generic path
(``orjson.loads`` + dict access + ``float()``) accepts with an equal result; on anything else
(another event, a missing or ill-typed field, a number msgspec will not read, a non-finite
value, an integer orjson would not keep as an integer) it steps aside and the generic path
decides, errors included. msgspec reads a decimal string to the same correctly rounded double
as ``float()``; the one difference is the sign of a zero (``"-0.0"`` -> ``0.0``, equal as a
number and as a dict key).
"""

from __future__ import annotations

from typing import Annotated, Any, Union
from urllib.parse import parse_qs, urlsplit

import msgspec
import orjson

from adapters.binance import channels as _ch
from adapters.binance.instruments import parse_exchange_info
from engine.model import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    MarkPrice,
    Quote,
    Side,
    Trade,
    VenueProtocolError,
    instrument_id,
)

_loads = orjson.loads
_JSONError = orjson.JSONDecodeError
_NS_PER_MS = 1_000_000
_NAN = float("nan")
_SELL = Side.SELL
_BUY = Side.BUY
_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError)

# -- fast path: typed msgspec decoding of the hot payloads --------------------------------------
_MAX_FLOAT = 1.7976931348623157e308
# A finite float: a JSON number or (lax mode) a decimal string; NaN/inf fail the bounds.
_Fin = Annotated[float, msgspec.Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]
# A size: finite and not negative (a negative one is malformed, not a delete).
_Qty = Annotated[float, msgspec.Meta(ge=0.0, le=_MAX_FLOAT)]
_Levels = tuple[tuple[_Fin, _Qty], ...]
# orjson keeps integers in [-2**63, 2**64 - 1] as int (others become float, which the generic
# path rejects); msgspec's ``Any`` keeps every integer: the fast path checks this range.
_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1


class _FastDepth(msgspec.Struct, tag_field="e", tag="depthUpdate", gc=False):
    s: Any
    U: Any
    u: Any
    b: _Levels
    a: _Levels
    T: Any = None
    E: Any = None
    pu: Any = None
    data: Any = None   # set: a raw frame the generic path may read as an envelope: step aside


class _FastBookTicker(msgspec.Struct, tag_field="e", tag="bookTicker", gc=False):
    s: Any
    u: Any
    b: _Fin
    B: _Qty
    a: _Fin
    A: _Qty
    T: Any = None
    E: Any = None
    data: Any = None


class _FastSpotBookTicker(msgspec.Struct, gc=False):
    """Spot ``@bookTicker``: no ``e`` (nor any time); decoded only where the stream says so."""

    s: Any
    u: Any
    b: _Fin
    B: _Qty
    a: _Fin
    A: _Qty
    e: Any = None
    T: Any = None
    E: Any = None
    data: Any = None


class _FastTrade(msgspec.Struct, tag_field="e", tag="trade", gc=False):
    s: Any
    t: Any
    T: Any
    m: Any
    p: _Fin
    q: _Qty
    data: Any = None


class _FastAggTrade(msgspec.Struct, tag_field="e", tag="aggTrade", gc=False):
    s: Any
    a: Any
    T: Any
    m: Any
    p: _Fin
    q: _Qty
    data: Any = None


# Other market-stream events: recognised (a cheap skip of their fields, no exception raised),
# then left to the generic path.
_OTHER_EVENTS = ("markPriceUpdate", "kline", "continuous_kline", "24hrTicker", "24hrMiniTicker",
                 "forceOrder", "indexPriceUpdate", "markPriceKline", "indexPriceKline",
                 "compositeIndex", "contractInfo", "assetIndexUpdate")
_FastOther = tuple(msgspec.defstruct(f"_FastOther_{e}", [("data", Any, None)], tag_field="e",
                                     tag=e, gc=False) for e in _OTHER_EVENTS)
_FastPayload = Union[(_FastDepth, _FastBookTicker, _FastTrade, _FastAggTrade) + _FastOther]


class _FastEnvelope(msgspec.Struct, gc=False):
    stream: Any
    data: _FastPayload


class _FastSpotTickerEnvelope(msgspec.Struct, gc=False):
    stream: Any
    data: _FastSpotBookTicker


_decode_envelope = msgspec.json.Decoder(_FastEnvelope, strict=False).decode
_decode_payload = msgspec.json.Decoder(_FastPayload, strict=False).decode
_decode_spot_ticker_envelope = msgspec.json.Decoder(_FastSpotTickerEnvelope, strict=False).decode
_decode_spot_ticker = msgspec.json.Decoder(_FastSpotBookTicker, strict=False).decode
_FAST_ERRORS = (msgspec.DecodeError, ValueError)


class BinanceCodec:
    """Codec for one Binance market: ``market`` is ``"spot"``, ``"usdm"`` or ``"coinm"``;
    ``venue`` names the instrument ids' venue (default ``binance-<market>``)."""

    def __init__(self, market: str = "usdm", venue: str | None = None) -> None:
        if market not in _ch.MARKETS:
            raise ValueError(f"unknown Binance market {market!r}: expected one of {_ch.MARKETS}")
        self.market = market
        # A deployment names the venue (its config table key); captures use the default.
        self.venue: str = venue or _ch.VENUES[market]
        self.futures = market != "spot"
        self.last_channel: str = ""
        self.last_error: Any = None
        self._ids: dict[str, str] = {}
        self._request_id = 0
        self._handlers = {
            "depthUpdate": self._depth,
            "bookTicker": self._book_ticker,
            "trade": self._trade,
            "aggTrade": self._agg_trade,
            "markPriceUpdate": self._mark_price,
        }

    # -- connection ---------------------------------------------------------------------------
    def on_open(self, url: str) -> list[Any]:
        """A new connection: Binance keeps no per-connection codec state; books restart from a
        REST snapshot (the integrity layer resets them)."""
        self.last_channel = "open"
        return []

    def encode_subscribe(self, channels: list[str]) -> list[str]:
        """``{"method":"SUBSCRIBE","params":[...],"id":N}`` (Binance "Live subscribing")."""
        self._request_id += 1
        return [_ch.encode_method("SUBSCRIBE", channels, self._request_id)]

    def encode_unsubscribe(self, channels: list[str]) -> list[str]:
        self._request_id += 1
        return [_ch.encode_method("UNSUBSCRIBE", channels, self._request_id)]

    def encode_heartbeat(self) -> str | None:
        """None: Binance keeps connections alive with websocket ping/pong frames, not text."""
        return None

    def book_channel(self, symbol: str, speed: str = "100ms") -> str:
        return _ch.book_channel(symbol, speed)

    def book_ticker_channel(self, symbol: str) -> str:
        return _ch.book_ticker_channel(symbol)

    def trade_channel(self, symbol: str) -> str:
        return _ch.trade_channel(symbol)

    def agg_trade_channel(self, symbol: str) -> str:
        return _ch.agg_trade_channel(symbol)

    def mark_price_channel(self, symbol: str) -> str:
        return _ch.mark_price_channel(symbol)

    def depth_snapshot_url(self, symbol: str, limit: int = 1000) -> str:
        return _ch.depth_snapshot_url(self.market, symbol, limit)

    def instrument_id(self, symbol: str) -> str:
        iid = self._ids.get(symbol)
        if iid is None:
            if type(symbol) is not str:
                raise VenueProtocolError(f"symbol is not a string: {symbol!r}", venue=self.venue)
            iid = self._ids[symbol] = instrument_id(self.venue, symbol)
        return iid

    # -- websocket frames ---------------------------------------------------------------------
    def decode(self, data: bytes | str, ts_recv: int, url: str = "") -> list[Any]:
        """Decode one frame (envelope or raw stream payload) into normalized events."""
        if type(data) is str:
            try:
                if data.startswith('{"stream":'):
                    if self.futures or data.find('@bookTicker"', 11, 80) < 0:
                        env = _decode_envelope(data)
                    else:
                        env = _decode_spot_ticker_envelope(data)
                    fast = self._fast(env.data, env.stream, ts_recv, url)
                else:
                    if self.futures or not data.startswith('{"u":'):
                        d = _decode_payload(data)
                    else:
                        d = _decode_spot_ticker(data)
                    # A raw frame with "data" may be an envelope to the generic path.
                    fast = self._fast(d, None, ts_recv, url) if d.data is None else None
            except _FAST_ERRORS:
                fast = None
            if fast is not None:
                return fast
        try:
            msg = _loads(data)
        except _JSONError as exc:
            self.last_channel = "invalid"
            raise VenueProtocolError(f"invalid JSON: {exc}", venue=self.venue) from exc
        try:
            if type(msg) is dict:
                payload = msg.get("data")
                if payload is not None and "stream" in msg:
                    stream = msg["stream"]
                    if type(payload) is dict:
                        # Inlined hot path: book tickers and trades are ~90% of all frames.
                        e = payload.get("e")
                        if e == "bookTicker" or (e is None and "B" in payload):
                            seq = payload["u"]
                            ms = payload.get("T") or payload.get("E")
                            if type(seq) is int and type(ms) is int:
                                sym = payload["s"]
                                iid = self._ids.get(sym) or self.instrument_id(sym)
                                self.last_channel = "bookTicker"
                                return [Quote(iid, _num(payload["b"]), _qty(payload["B"]),
                                              _num(payload["a"]), _qty(payload["A"]),
                                              ms * _NS_PER_MS, ts_recv, seq)]
                        elif e == "trade":
                            self.last_channel = "trade"
                            return [self._make_trade(payload, payload["t"], ts_recv)]
                        return self._payload(payload, stream, ts_recv)
                    if type(payload) is list:  # array streams (!markPrice@arr, ...)
                        return self._array(payload, stream, ts_recv)
                    raise VenueProtocolError("envelope data is not an object", venue=self.venue)
                return self._payload(msg, None, ts_recv, url)
            if type(msg) is list:
                return self._array(msg, None, ts_recv)
            self.last_channel = "invalid"
            raise VenueProtocolError(f"frame is not an object: {type(msg).__name__}",
                                     venue=self.venue)
        except _ERRORS as exc:
            raise VenueProtocolError(f"malformed {self.last_channel} frame: {exc!r}",
                                     venue=self.venue) from exc

    def _fast(self, d: Any, stream: Any, ts_recv: int, url: str) -> list[Any] | None:
        """Events from a fast-path struct, or None: the generic path decides (errors too)."""
        cls = type(d)
        if cls is _FastBookTicker or (cls is _FastSpotBookTicker and d.e is None):
            seq = d.u
            ms = d.T or d.E
            sym = d.s
            if type(seq) is not int or type(sym) is not str or not _INT_MIN <= seq <= _INT_MAX:
                return None
            if ms is None:
                ts_event = ts_recv   # spot bookTicker carries no venue time
            elif type(ms) is int and _INT_MIN <= ms <= _INT_MAX:
                ts_event = ms * _NS_PER_MS
            else:
                return None
            iid = self._ids.get(sym) or self.instrument_id(sym)
            self.last_channel = "bookTicker"
            return [Quote(iid, d.b, d.B, d.a, d.A, ts_event, ts_recv, seq)]
        if cls is _FastTrade or cls is _FastAggTrade:
            ms = d.T
            maker = d.m
            tid = d.t if cls is _FastTrade else d.a
            sym = d.s
            if (type(ms) is not int or type(maker) is not bool or type(sym) is not str
                    or not _INT_MIN <= ms <= _INT_MAX):
                return None
            if type(tid) is int:
                if not _INT_MIN <= tid <= _INT_MAX:
                    return None
                tid = str(tid)
            elif type(tid) is not str:
                return None
            iid = self._ids.get(sym) or self.instrument_id(sym)
            self.last_channel = "trade" if cls is _FastTrade else "aggTrade"
            return [Trade(iid, d.p, d.q, _SELL if maker else _BUY, tid, ms * _NS_PER_MS,
                          ts_recv)]
        if cls is not _FastDepth:
            return None
        first = d.U
        last = d.u
        ms = d.T or d.E
        sym = d.s
        if (type(first) is not int or type(last) is not int or type(ms) is not int
                or type(sym) is not str or not _INT_MIN <= first <= _INT_MAX
                or not _INT_MIN <= last <= _INT_MAX or not _INT_MIN <= ms <= _INT_MAX):
            return None
        if self.futures:
            prev = d.pu
            if type(prev) is not int or not _INT_MIN <= prev <= _INT_MAX:
                return None
        else:
            prev = first - 1
        iid = self._ids.get(sym) or self.instrument_id(sym)
        return self._depth_event(iid, stream, url, d.b, d.a, first, last, prev, ms, ts_recv)

    def _array(self, items: list[Any], stream: Any, ts_recv: int) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if type(item) is not dict:
                raise VenueProtocolError("array stream item is not an object", venue=self.venue)
            out.extend(self._payload(item, stream, ts_recv))
        return out

    def _payload(self, d: dict[str, Any], stream: Any, ts_recv: int, url: str = "") -> list[Any]:
        e = d.get("e")
        handler = self._handlers.get(e) if type(e) is str else None
        if handler is not None:
            return handler(d, stream, ts_recv, url)
        if e is None:
            if "u" in d and "b" in d and "a" in d and "B" in d:
                return self._book_ticker(d, stream, ts_recv, url)   # spot bookTicker: no "e"
            if "lastUpdateId" in d:
                return self._partial_spot(d, stream, ts_recv, url)
            if "id" in d and ("result" in d or "error" in d):
                self.last_channel = "ack" if "result" in d else "error"
                self.last_error = d.get("error")
                return []
            self.last_channel = "unknown"
            return []
        if type(e) is not str:
            self.last_channel = "invalid"
            raise VenueProtocolError(f"event type is not a string: {e!r}", venue=self.venue)
        # kline, 24hrTicker, forceOrder, ...: valid, not normalized here.
        self.last_channel = "kline" if e == "kline" else e
        return []

    def _depth(self, d: dict[str, Any], stream: Any, ts_recv: int, url: str) -> list[Any]:
        self.last_channel = "depth"
        bids = _levels(d["b"])
        asks = _levels(d["a"])
        first = d["U"]
        last = d["u"]
        ms = d.get("T") or d["E"]
        if type(first) is not int or type(last) is not int or type(ms) is not int:
            raise VenueProtocolError("depthUpdate ids/time are not integers", venue=self.venue)
        if self.futures:
            prev = d["pu"]
            if type(prev) is not int:
                raise VenueProtocolError("depthUpdate pu is not an integer", venue=self.venue)
        else:
            prev = first - 1
        iid = self._ids.get(d["s"]) or self.instrument_id(d["s"])
        return self._depth_event(iid, stream, url, bids, asks, first, last, prev, ms, ts_recv)

    def _depth_event(self, iid: str, stream: Any, url: str,
                     bids: tuple[tuple[float, float], ...],
                     asks: tuple[tuple[float, float], ...],
                     first: int, last: int, prev: int, ms: int, ts_recv: int) -> list[Any]:
        self.last_channel = "depth"
        name = stream if type(stream) is str else url
        if name and "@depth" in name:
            at = name.find("@depth") + 6
            if at < len(name) and name[at].isdigit():
                # Futures partial book depth (@depth5/10/20) reuses depthUpdate: a snapshot.
                return [BookSnapshot(iid, bids, asks, last, ms * _NS_PER_MS, ts_recv,
                                     depth=_partial_levels(name, at))]
        return [BookDelta(iid, bids, asks, last, prev, ms * _NS_PER_MS, ts_recv, first)]

    def _partial_spot(self, d: dict[str, Any], stream: Any, ts_recv: int, url: str) -> list[Any]:
        # Spot @depth<N>: {"lastUpdateId","bids","asks"}, the symbol is only in the stream name.
        self.last_channel = "depthPartial"
        name = stream if type(stream) is str else url.rsplit("/", 1)[-1]
        at = name.find("@depth")
        seq = d["lastUpdateId"]
        if at <= 0 or type(seq) is not int:
            raise VenueProtocolError("partial depth without a stream name", venue=self.venue)
        iid = self.instrument_id(name[:at].upper())
        bids = _levels(d["bids"])
        asks = _levels(d["asks"])
        return [BookSnapshot(iid, bids, asks, seq, ts_recv, ts_recv,
                             depth=_partial_levels(name, at + 6))]

    def _book_ticker(self, d: dict[str, Any], stream: Any, ts_recv: int, url: str) -> list[Any]:
        self.last_channel = "bookTicker"
        seq = d["u"]
        ms = d.get("T") or d.get("E")
        if type(seq) is not int:
            raise VenueProtocolError("bookTicker u is not an integer", venue=self.venue)
        if ms is None:
            ts_event = ts_recv  # spot bookTicker carries no venue time
        elif type(ms) is int:
            ts_event = ms * _NS_PER_MS
        else:
            raise VenueProtocolError("bookTicker time is not an integer", venue=self.venue)
        iid = self._ids.get(d["s"]) or self.instrument_id(d["s"])
        return [Quote(iid, _num(d["b"]), _qty(d["B"]), _num(d["a"]), _qty(d["A"]),
                      ts_event, ts_recv, seq)]

    def _trade(self, d: dict[str, Any], stream: Any, ts_recv: int, url: str) -> list[Any]:
        self.last_channel = "trade"
        return [self._make_trade(d, d["t"], ts_recv)]

    def _agg_trade(self, d: dict[str, Any], stream: Any, ts_recv: int, url: str) -> list[Any]:
        self.last_channel = "aggTrade"
        return [self._make_trade(d, d["a"], ts_recv)]

    def _make_trade(self, d: dict[str, Any], trade_id: Any, ts_recv: int) -> Trade:
        ms = d["T"]
        maker = d["m"]
        if type(ms) is not int or type(maker) is not bool or type(trade_id) not in (int, str):
            raise VenueProtocolError("trade fields are ill-typed", venue=self.venue)
        iid = self._ids.get(d["s"]) or self.instrument_id(d["s"])
        # "m": the buyer is the maker, so the seller took liquidity.
        return Trade(iid, _num(d["p"]), _qty(d["q"]), _SELL if maker else _BUY, str(trade_id),
                     ms * _NS_PER_MS, ts_recv)

    def _mark_price(self, d: dict[str, Any], stream: Any, ts_recv: int, url: str) -> list[Any]:
        self.last_channel = "markPrice"
        ms = d["E"]
        if type(ms) is not int:
            raise VenueProtocolError("markPriceUpdate E is not an integer", venue=self.venue)
        iid = self.instrument_id(d["s"])
        index = d.get("i")
        out: list[Any] = [MarkPrice(iid, _num(d["p"]), _num(index) if index else _NAN,
                                    ms * _NS_PER_MS, ts_recv)]
        rate = d.get("r")
        if rate:  # "" on delivery contracts (COIN-M): no funding
            next_ms = d["T"]
            if type(next_ms) is not int:
                raise VenueProtocolError("markPriceUpdate T is not an integer", venue=self.venue)
            out.append(FundingRate(iid, _num(rate), next_ms * _NS_PER_MS, ms * _NS_PER_MS,
                                   ts_recv))
        return out

    # -- REST -----------------------------------------------------------------------------------
    def decode_rest(self, url: str, body: bytes | str, ts_recv: int) -> list[Any]:
        """``/api/v3/depth``, ``/fapi/v1/depth``, ``/dapi/v1/depth`` -> ``BookSnapshot`` (symbol
        from the ``symbol=`` query); ``exchangeInfo`` -> ``Instrument`` list."""
        try:
            msg = _loads(body)
        except _JSONError as exc:
            raise VenueProtocolError(f"invalid JSON body: {exc}", venue=self.venue) from exc
        try:
            parts = urlsplit(url)
            path = parts.path
            if isinstance(msg, dict) and "code" in msg and "msg" in msg and len(msg) == 2:
                self.last_channel = "error"
                raise VenueProtocolError(f"REST error {msg['code']}: {msg['msg']}",
                                         venue=self.venue)
            if path.endswith("/depth"):
                self.last_channel = "depthSnapshot"
                symbol = parse_qs(parts.query).get("symbol", [""])[0]
                if not symbol:
                    raise VenueProtocolError(f"depth URL without symbol: {url}", venue=self.venue)
                seq = msg["lastUpdateId"]
                ms = msg.get("T") or msg.get("E")
                if type(seq) is not int or (ms is not None and type(ms) is not int):
                    raise VenueProtocolError("depth snapshot ids are not integers",
                                             venue=self.venue)
                bids = _levels(msg["bids"])
                asks = _levels(msg["asks"])
                ts_event = ms * _NS_PER_MS if ms else ts_recv
                return [BookSnapshot(self.instrument_id(symbol.upper()), bids, asks, seq,
                                     ts_event, ts_recv)]
            if path.endswith("/exchangeInfo"):
                self.last_channel = "exchangeInfo"
                return list(parse_exchange_info(msg, self.market, self.venue))
            self.last_channel = "unknown"
            return []
        except _ERRORS as exc:
            raise VenueProtocolError(f"malformed REST body from {url}: {exc!r}",
                                     venue=self.venue) from exc


def _levels(raw: Any) -> tuple[tuple[float, float], ...]:
    """``[["px","qty"],...]`` -> ``((px, qty), ...)`` (the generic path).

    ``float()`` accepts "nan" and "inf", which would break the book's ordering, and a JSON
    ``true`` (as 1.0); a negative size would reach the book as a delete: all rejected."""
    return tuple([(_num(p), _qty(q)) for p, q in raw])


def _num(v: Any) -> float:
    """A finite number from a decimal string or a JSON number (never a bool)."""
    if v.__class__ is bool:
        raise TypeError(f"a boolean where a number belongs: {v!r}")
    f = float(v)
    if f - f:  # NaN for NaN and the infinities, 0.0 for every finite number
        raise ValueError(f"non-finite number {v!r}")
    return f


def _qty(v: Any) -> float:
    """A size: a finite number, not negative."""
    f = _num(v)
    if f < 0.0:
        raise ValueError(f"negative size {v!r}")
    return f


def _partial_levels(name: str, at: int) -> int:
    end = at
    while end < len(name) and name[end].isdigit():
        end += 1
    return int(name[at:end]) if end > at else 0
