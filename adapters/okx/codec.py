"""OKX v5 public websocket codec (sans-IO).

Theory of operation: frames on ``wss://ws.okx.com:8443/ws/v5/public`` are of three kinds
(https://www.okx.com/docs-v5/en/#overview-websocket):

* the text reply ``pong`` to our text ``ping`` (``encode_heartbeat``): decodes to ``[]``;
* events ``{"event": "subscribe" | "unsubscribe" | "error" | "login" | "notice", ...}``:
  acknowledgements update ``subscribed``; an ``error`` is a valid frame, not a protocol
  violation, so decode returns ``[]`` and records it in ``last_error`` (an ``OkxError``) and
  ``error_count``;
* pushes ``{"arg": {"channel", "instId"}, ["action"], "data": [...]}``, dispatched on the
  channel name to the normalized events below.

Books (``books``, ``books-l2-tbt``, ``books50-l2-tbt``: ``action`` snapshot/update;
``books5``, ``bbo-tbt``: every push a full snapshot): levels ``[px, sz, "0", numOrders]`` are
strings; size ``"0"`` deletes. Sequence (2022+ data): ``seq = seqId``, ``prev_seq =
prevSeqId`` (-1 on snapshots), ``first_seq = seqId``; without ``seqId`` both are -1, "no
continuity information", and the checksum alone guards the book. ``checksum`` is passed on
(0, which a third-party recorder reports on every 2025+ frame, is read as "absent", see
venues.md), and ``raw_bids``/``raw_asks`` carry the exact strings, in the order sent, for
``okx_checksum`` (``adapters.okx.checksum``).

Other channels: ``trades`` -> ``Trade`` (``side`` is the taker's); ``tickers`` -> ``Quote``;
``mark-price`` -> ``MarkPrice``; ``index-tickers`` -> ``MarkPrice`` of the index (id
``okx:{index}``, mark NaN); ``funding-rate`` -> ``FundingRate``; ``opt-summary`` ->
``OptionSummary`` with the Black-Scholes Greeks (``deltaBS``, ``gammaBS``, ``vegaBS``,
``thetaBS``: the convention Deribit and Bybit publish; OKX's plain ``delta``/``gamma``/...
are "price adjusted", in coin units) and ``fwdPx`` as the underlying price; ``instruments``
-> ``Instrument``.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import orjson

from adapters.okx import channels as ch
from adapters.okx.checksum import okx_checksum, okx_checksum_from_levels
from adapters.okx.instruments import parse_instruments
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

__all__ = ["OkxCodec", "OkxError", "okx_checksum", "okx_checksum_from_levels"]

VENUE = "okx"
_NS_PER_MS = 1_000_000
_NAN = float("nan")
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_CAUGHT = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError)
_EMPTY: tuple = ()


class OkxError(NamedTuple):
    """An ``{"event": "error", "code", "msg"}`` frame or a REST body with ``code != "0"``."""

    code: str
    message: str


def _bad(msg: str) -> VenueProtocolError:
    return VenueProtocolError(f"okx: {msg}", venue=VENUE)


def _levels(levels: Any) -> tuple[tuple, tuple]:
    """``[[px, sz, ...], ...]`` -> (((price, size), ...), ((px_str, sz_str), ...))."""
    if levels.__class__ is not list:
        raise _bad("book levels are not a list")
    if not levels:
        return _EMPTY, _EMPTY
    out = []
    raw = []
    for lv in levels:
        p = lv[0]
        s = lv[1]
        if p.__class__ is not str or s.__class__ is not str:
            raise _bad(f"level price/size are not strings: {lv!r}")
        fp = float(p)
        fs = float(s)
        # x - x is NaN (truthy) for NaN and infinities, 0.0 for finite numbers.
        if fp - fp or fs - fs or fs < 0.0:
            raise _bad(f"bad level {lv!r}")
        out.append((fp, fs))
        raw.append((p, s))
    return tuple(out), tuple(raw)


def _px(v: Any) -> float:
    """A required decimal string."""
    if v.__class__ is not str:
        raise _bad(f"expected a decimal string, got {v!r}")
    x = float(v)
    if x - x:
        raise _bad(f"not a finite number: {v!r}")
    return x


def _opt(v: Any) -> float:
    """An optional decimal string: ``""`` (OKX's "none", e.g. no bid) -> NaN."""
    if v is None or v == "":
        return _NAN
    return _px(v)


def _opt_size(v: Any) -> float:
    """An optional size: NaN when absent, never below zero."""
    x = _opt(v)
    if x < 0.0:
        raise _bad(f"negative size {v!r}")
    return x


def _vol(v: Any) -> float:
    """An IV fraction; ``""`` or ``"0"`` (no quote on that side) -> NaN."""
    x = _opt(v)
    return x if x > 0.0 else _NAN


def _ms(v: Any) -> int:
    """Millisecond timestamp string -> ns."""
    if v.__class__ is not str or not v.isdigit():
        raise _bad(f"expected a millisecond timestamp string, got {v!r}")
    return int(v) * _NS_PER_MS


def _int(v: Any, field: str) -> int:
    if v.__class__ is not int:
        raise _bad(f"{field} is not an integer: {v!r}")
    return v


class OkxCodec:
    """Sans-IO codec for OKX v5 public market data.

    Attributes the session reads after ``decode``: ``last_error``/``error_count`` (error
    events), ``subscribed`` (channel strings the venue acknowledged, in this module's
    ``"{channel}:{instId}"`` form) and ``last_channel`` (the OKX channel name of the last push).
    """

    venue: str = VENUE

    def __init__(self) -> None:
        self.last_channel: str = ""
        self.last_error: OkxError | None = None
        self.error_count: int = 0
        self.subscribed: set[str] = set()
        self._iids: dict[str, str] = {}
        self._handlers = {
            "books": self._books, "books-l2-tbt": self._books, "books50-l2-tbt": self._books,
            "books5": self._books, "bbo-tbt": self._books,
            "trades": self._trades, "tickers": self._tickers, "mark-price": self._mark_price,
            "index-tickers": self._index_tickers, "funding-rate": self._funding_rate,
            "opt-summary": self._opt_summary, "instruments": self._instruments,
        }

    # -- connection -------------------------------------------------------------------------
    def on_open(self, url: str) -> list[Any]:
        """New connection: subscriptions are void; books restart from their snapshots."""
        self.subscribed.clear()
        return []

    # -- decoding ---------------------------------------------------------------------------
    def decode(self, data: bytes | str, ts_recv: int, url: str = "") -> list[Any]:
        """Decode one websocket frame into normalized events (``[]`` for acks and ``pong``)."""
        if data == b"pong" or data == "pong":
            self.last_channel = "pong"
            return []
        try:
            msg = orjson.loads(data)
            if msg.__class__ is not dict:
                raise _bad("frame is not a JSON object")
            arg = msg.get("arg")
            if "data" in msg and arg is not None:
                channel = arg["channel"]
                handler = self._handlers.get(channel)
                if handler is None:
                    if channel.__class__ is not str:
                        raise _bad("arg.channel is not a string")
                    self.last_channel = "other"
                    return []
                self.last_channel = channel
                payload = msg["data"]
                if payload.__class__ is not list:
                    raise _bad("data is not a list")
                return handler(msg, arg, payload, ts_recv)
            event = msg.get("event")
            if event is not None:
                return self._event(msg, event)
            self.last_channel = "other"
            return []
        except VenueProtocolError:
            raise
        except _CAUGHT as e:
            raise _bad(f"malformed frame ({type(e).__name__}: {e})") from e

    def decode_rest(self, url: str, body: bytes | str, ts_recv: int) -> list[Any]:
        """``/api/v5/public/instruments`` -> Instruments; ``/api/v5/market/books`` -> snapshot."""
        try:
            msg = orjson.loads(body)
            if msg.__class__ is not dict:
                raise _bad("REST body is not a JSON object")
            code = msg["code"]
            if code != "0":
                self._record_error(code, msg.get("msg", ""))
                return []
            data = msg["data"]
            path = urlsplit(url).path
            if path.endswith("/market/books") or path.endswith("/market/books-full"):
                return self._rest_book(url, data, ts_recv)
            if path.endswith("/public/instruments") or (
                    data.__class__ is list and data and data[0].__class__ is dict
                    and "instType" in data[0] and "tickSz" in data[0]):
                self.last_channel = "instruments"
                return parse_instruments(data)
            return []
        except VenueProtocolError:
            raise
        except _CAUGHT as e:
            raise _bad(f"malformed REST body ({type(e).__name__}: {e})") from e

    def _iid(self, inst_id: Any) -> str:
        iid = self._iids.get(inst_id)
        if iid is None:
            if inst_id.__class__ is not str:
                raise _bad(f"instId is not a string: {inst_id!r}")
            iid = instrument_id(VENUE, inst_id)
            if len(self._iids) < 100_000:  # bound the cache against hostile input
                self._iids[inst_id] = iid
        return iid

    def _event(self, msg: dict, event: Any) -> list[Any]:
        self.last_channel = "event"
        if event == "subscribe" or event == "unsubscribe":
            arg = msg["arg"]
            name = arg["channel"]
            value = arg.get("instId") or arg.get("instFamily") or arg.get("instType") or ""
            key = f"{name}:{value}"
            if event == "subscribe":
                self.subscribed.add(key)
            else:
                self.subscribed.discard(key)
        elif event == "error":
            self.last_channel = "error"
            self._record_error(msg.get("code", ""), msg.get("msg", ""))
        return []

    def _record_error(self, code: Any, message: Any) -> None:
        self.error_count += 1
        self.last_error = OkxError(code=str(code), message=str(message))

    # -- pushes -----------------------------------------------------------------------------
    def _books(self, msg: dict, arg: dict, data: list, ts_recv: int) -> list[Any]:
        """Book channels (doc: order-book-trading-market-data-ws-order-book-channel)."""
        channel = arg["channel"]
        iid = self._iid(arg["instId"])
        action = msg.get("action")
        if action is None and channel not in ch.FULL_SNAPSHOT_BOOKS:
            raise _bad(f"{channel} push without action")
        is_update = action == "update"
        if not is_update and action is not None and action != "snapshot":
            raise _bad(f"unknown book action {action!r}")
        out: list[Any] = []
        for d in data:
            bids, raw_bids = _levels(d["bids"])
            asks, raw_asks = _levels(d["asks"])
            ts_event = _ms(d["ts"])
            checksum = d.get("checksum")
            if checksum is not None:
                _int(checksum, "checksum")
                if checksum == 0:
                    checksum = None
            seq_id = d.get("seqId")
            if seq_id is None:
                seq = prev = -1
            else:
                seq = _int(seq_id, "seqId")
                prev_id = d.get("prevSeqId")
                prev = -1 if prev_id is None else _int(prev_id, "prevSeqId")
            if is_update:
                out.append(BookDelta(instrument_id=iid, bids=bids, asks=asks, seq=seq,
                                     prev_seq=prev, ts_event=ts_event, ts_recv=ts_recv,
                                     first_seq=seq, checksum=checksum, raw_bids=raw_bids,
                                     raw_asks=raw_asks))
            else:
                out.append(BookSnapshot(instrument_id=iid, bids=bids, asks=asks, seq=seq,
                                        ts_event=ts_event, ts_recv=ts_recv, checksum=checksum,
                                        raw_bids=raw_bids, raw_asks=raw_asks,
                                        depth=ch.BOOK_DEPTHS[channel]))
        return out

    def _rest_book(self, url: str, data: Any, ts_recv: int) -> list[Any]:
        query = parse_qs(urlsplit(url).query)
        inst = query.get("instId")
        if not inst:
            raise _bad("market/books URL without instId")
        iid = self._iid(inst[0])
        sz = query.get("sz", ["0"])[0]
        depth = int(sz) if sz.isdigit() else 0
        self.last_channel = "books"
        out: list[Any] = []
        for d in data:
            bids, raw_bids = _levels(d["bids"])
            asks, raw_asks = _levels(d["asks"])
            seq_id = d.get("seqId")
            out.append(BookSnapshot(instrument_id=iid, bids=bids, asks=asks,
                                    seq=-1 if seq_id is None else _int(seq_id, "seqId"),
                                    ts_event=_ms(d["ts"]), ts_recv=ts_recv,
                                    raw_bids=raw_bids, raw_asks=raw_asks, depth=depth))
        return out

    def _trades(self, msg: dict, arg: dict, data: list, ts_recv: int) -> list[Any]:
        out: list[Any] = []
        for d in data:
            side = _SIDES.get(d["side"])
            if side is None:
                raise _bad(f"unknown trade side {d['side']!r}")
            tid = d["tradeId"]
            if tid.__class__ is not str:
                raise _bad(f"tradeId is not a string: {tid!r}")
            size = _px(d["sz"])
            if size < 0.0:
                raise _bad(f"negative trade size {size}")
            out.append(Trade(instrument_id=self._iid(d.get("instId") or arg["instId"]),
                             price=_px(d["px"]), size=size, aggressor=side, trade_id=tid,
                             ts_event=_ms(d["ts"]), ts_recv=ts_recv))
        return out

    def _tickers(self, msg: dict, arg: dict, data: list, ts_recv: int) -> list[Any]:
        return [Quote(instrument_id=self._iid(d.get("instId") or arg["instId"]),
                      bid_price=_opt(d["bidPx"]), bid_size=_opt_size(d["bidSz"]),
                      ask_price=_opt(d["askPx"]), ask_size=_opt_size(d["askSz"]),
                      ts_event=_ms(d["ts"]), ts_recv=ts_recv)
                for d in data]

    def _mark_price(self, msg: dict, arg: dict, data: list, ts_recv: int) -> list[Any]:
        return [MarkPrice(instrument_id=self._iid(d.get("instId") or arg["instId"]),
                          mark_price=_px(d["markPx"]), index_price=_NAN,
                          ts_event=_ms(d["ts"]), ts_recv=ts_recv)
                for d in data]

    def _index_tickers(self, msg: dict, arg: dict, data: list, ts_recv: int) -> list[Any]:
        return [MarkPrice(instrument_id=self._iid(d.get("instId") or arg["instId"]),
                          mark_price=_NAN, index_price=_px(d["idxPx"]),
                          ts_event=_ms(d["ts"]), ts_recv=ts_recv)
                for d in data]

    def _funding_rate(self, msg: dict, arg: dict, data: list, ts_recv: int) -> list[Any]:
        """``fundingRate`` applies at ``fundingTime``; pushes without ``ts`` use ``ts_recv``."""
        out: list[Any] = []
        for d in data:
            ts = d.get("ts")
            out.append(FundingRate(instrument_id=self._iid(d.get("instId") or arg["instId"]),
                                   rate=_px(d["fundingRate"]),
                                   next_funding_ns=_ms(d["fundingTime"]),
                                   ts_event=ts_recv if ts is None else _ms(ts),
                                   ts_recv=ts_recv))
        return out

    def _opt_summary(self, msg: dict, arg: dict, data: list, ts_recv: int) -> list[Any]:
        """IVs are already fractions (``markVol`` 0.65 = 65 %; 0 or "" -> NaN); no mark price
        or open interest in this channel (NaN)."""
        return [OptionSummary(instrument_id=self._iid(d["instId"]), mark_price=_NAN,
                              mark_iv=_vol(d.get("markVol")), bid_iv=_vol(d.get("bidVol")),
                              ask_iv=_vol(d.get("askVol")),
                              underlying_price=_opt(d.get("fwdPx")),
                              delta=_opt(d.get("deltaBS")), gamma=_opt(d.get("gammaBS")),
                              vega=_opt(d.get("vegaBS")), theta=_opt(d.get("thetaBS")),
                              open_interest=_NAN, ts_event=_ms(d["ts"]), ts_recv=ts_recv)
                for d in data]

    def _instruments(self, msg: dict, arg: dict, data: list, ts_recv: int) -> list[Any]:
        return list(parse_instruments(data))

    # -- encoding ---------------------------------------------------------------------------
    def encode_subscribe(self, channels: list[str]) -> list[str]:
        """``{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}, ...]}``.

        ``channels`` are ``"{channel}:{instId}"`` strings (``adapters.okx.channels``)."""
        if not channels:
            return []
        return [orjson.dumps({"op": "subscribe",
                              "args": [ch.channel_arg(c) for c in channels]}).decode()]

    def encode_unsubscribe(self, channels: list[str]) -> list[str]:
        if not channels:
            return []
        return [orjson.dumps({"op": "unsubscribe",
                              "args": [ch.channel_arg(c) for c in channels]}).decode()]

    def encode_heartbeat(self) -> str | None:
        """The text frame ``ping`` (the server answers ``pong``); send when idle < 30 s."""
        return "ping"

    # channel-name helpers (see ``adapters.okx.channels``)
    book_channel = staticmethod(ch.book_channel)
    trades_channel = staticmethod(ch.trades_channel)
    tickers_channel = staticmethod(ch.tickers_channel)
    mark_price_channel = staticmethod(ch.mark_price_channel)
    index_tickers_channel = staticmethod(ch.index_tickers_channel)
    funding_rate_channel = staticmethod(ch.funding_rate_channel)
    opt_summary_channel = staticmethod(ch.opt_summary_channel)
    instruments_channel = staticmethod(ch.instruments_channel)
