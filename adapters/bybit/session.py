"""``BybitVenue``: a live Bybit v5 session (one category: linear, inverse, spot or option).

Theory of operation. Two self-healing websockets (``adapters.ws``) and one REST client:

* public ``/v5/public/<category>``: every (re)connect writes the subscriptions (chunked to
  Bybit's per-request limits) before the connection counts as open, and Bybit answers each
  ``orderbook.N.<symbol>`` subscription with a fresh snapshot, so a reconnect re-snapshots every
  book by itself. ``request_resync`` (gap, crossed, silent stream) unsubscribes and resubscribes
  that one topic: Bybit then sends a new snapshot, which replaces the book (the integrity layer
  buffers deltas until it arrives). ``{"op":"ping"}`` goes out every ``heartbeat_interval_s``; the
  watchdog drops a connection that stays silent (no pong either) for ``stale_after_s``.
* private ``/v5/private``: ``auth`` (HMAC of ``"GET/realtime"+expires``) then ``order``,
  ``execution``, ``position``, ``wallet`` subscriptions on every (re)connect; after a reconnect
  every order not known to be final is queried (``orders.BybitOrders``).
* accounts: ``GET /v5/account/wallet-balance`` at start and every ``account_poll_s``
  (``adapters.live.accounts.AccountPoller``), the ``wallet`` topic in between ->
  ``AccountReported``.
* REST (signed ``X-BAPI-*``) for instruments, orders, queries, reconciliation, DCP.

``VenueStatusChanged`` is published when a stream drops, comes back, or is rate limited.
Nothing here logs a frame, a signature or a key.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
import orjson
import structlog

from adapters.bybit import channels as ch
from adapters.bybit import private as pv
from adapters.bybit.codec import BybitCodec
from adapters.bybit.events import VenueError
from adapters.bybit.orders import BybitOrders
from adapters.bybit.params import BybitParams
from adapters.bybit.rest import BybitRest
from adapters.live.accounts import AccountPoller, AccountReadFailed
from adapters.live.session import LiveSession
from adapters.live.venue import LiveVenue
from adapters.live.tracker import OrderTracker
from adapters.ratelimit import VENUE_LIMITS, RateLimiter
from adapters.ws import CloseReason, ReconnectingWebSocket, WsConfig
from engine.model import (
    AccountReported,
    BookSnapshot,
    Instrument,
    OrderFilled,
    OrderStatusReport,
    PositionReport,
    VenueProtocolError,
)

__all__ = ["BybitParams", "BybitVenue"]

_log = structlog.get_logger("volta.bybit")
_PING = '{"op":"ping"}'
_PRIVATE_TOPICS = ["order", "execution", "position", "wallet"]


class BybitVenue(LiveVenue):
    """A Bybit session: ``BybitStreams`` and ``BybitOrders`` over one ``LiveSession``."""

    Params = BybitParams

    def __init__(self, params: BybitParams | None = None) -> None:
        p = params if params is not None else BybitParams()
        self.params = p
        codec = BybitCodec(p.category, venue=p.venue)
        ws_base, rest_base = p.endpoints()
        rest = BybitRest(rest_base, RateLimiter(VENUE_LIMITS["bybit"]), venue=p.venue,
                         api_key=p.api_key.reveal() if p.api_key else "",
                         api_secret=p.api_secret.reveal() if p.api_secret else "",
                         recv_window_ms=p.recv_window_ms, timeout_s=p.rest_timeout_s)
        stats: dict[str, int] = dict.fromkeys(
            ("malformed", "snapshots", "resync_requests", "resubscribes", "md_connects",
             "private_connects", "acks_unknown", "queries", "rate_limited", "private_malformed",
             "venue_errors"), 0)
        session = LiveSession(venue=p.venue, params=p, stats=stats, log=_log, log_name="bybit",
                              rest=rest, resubscribe_timeout_s=p.resubscribe_timeout_s)
        tracker = OrderTracker()
        orders = BybitOrders(session, rest, codec, tracker, p)
        streams = BybitStreams(session, rest, codec, orders, p, ws_base)
        super().__init__(session=session, streams=streams, orders=orders, tracker=tracker)
        self.rest = rest
        self.codec = codec
        self.positions = streams.positions
        """The latest position per instrument from the private stream (owned by the streams)."""


class BybitStreams:
    """Bybit's connection protocol: public and private streams, instruments, resubscription."""

    def __init__(self, session: LiveSession, rest: BybitRest, codec: BybitCodec,
                 orders: BybitOrders, params: BybitParams, ws_base: str) -> None:
        self.params = params
        self.rest = rest
        self.codec = codec
        self.ws_base = ws_base
        self.private = pv.PrivateDecoder(params.venue, orders.iid, orders.fee_ccy)
        self.positions: dict[str, PositionReport] = {}
        self._session = session
        self._orders = orders
        self._md: ReconnectingWebSocket | None = None
        self._private_ws: ReconnectingWebSocket | None = None
        self.accounts = AccountPoller(session, self._read_accounts, params.account_poll_s)
        """The venue's wallet (``/v5/account/wallet-balance``), published as ``AccountReported``."""

    def _ws_config(self) -> WsConfig:
        p = self.params
        return WsConfig(ping_interval_s=p.ping_interval_s, ping_timeout_s=p.ping_timeout_s,
                        stale_after_s=p.stale_after_s, max_lifetime_s=p.max_lifetime_s,
                        heartbeat_interval_s=p.heartbeat_interval_s,
                        backoff_base_s=p.backoff_base_s, backoff_cap_s=p.backoff_cap_s,
                        open_timeout_s=min(10.0, p.start_timeout_s))

    async def connect(self) -> None:
        """Instruments, public stream (snapshots on subscribe), then the private stream."""
        p = self.params
        await self.rest.open()
        if p.trading:
            await self.rest.sync_time()
        await self._load_instruments()
        if "orderbook" in p.channels:
            self._session.expect_snapshots(self._orders.symbols())
        self._md = ReconnectingWebSocket(
            f"{self.ws_base}/v5/public/{p.category}", on_frame=self._on_md_frame,
            on_open=self._on_md_open, on_close=self._on_md_close,
            make_heartbeat=lambda: _PING, config=self._ws_config(), name=f"{self._session.venue}:public")
        self._md.start()
        async with asyncio.timeout(p.start_timeout_s):
            await self._md.wait_open()
            await asyncio.gather(*self._session.first_snapshots.values())
            if p.trading:
                self._private_ws = ReconnectingWebSocket(
                    f"{self.ws_base}/v5/private", on_frame=self._on_private_frame,
                    on_open=self._on_private_open, on_close=self._on_private_close,
                    make_heartbeat=lambda: _PING, config=self._ws_config(),
                    name=f"{self._session.venue}:private")
                self._private_ws.start()
                await self._private_ws.wait_open()
                while self.private.auth_ok is None:
                    await asyncio.sleep(0.005)
                if not self.private.auth_ok:
                    raise RuntimeError(f"{self._session.venue}: private stream auth refused: "
                                       f"{self.private.auth_error}")
                await self.accounts.start()
        _log.info("bybit.started", venue=self._session.venue, category=p.category, network=p.network,
                  instruments=len(self._session.instruments), trading=p.trading)

    async def before_stop(self) -> None:
        """Nothing to disarm: Bybit's DCP fires only when the private stream is lost."""

    def websockets(self) -> list[ReconnectingWebSocket | None]:
        return [self._md, self._private_ws]

    async def after_streams_closed(self) -> None:
        """Nothing to release (no listen key)."""

    async def _load_instruments(self) -> None:
        cat = self.params.category
        url = f"/v5/market/instruments-info?category={cat}"
        reply = await self.rest.request("GET", "/v5/market/instruments-info", {"category": cat})
        if not reply.ok:
            raise RuntimeError(f"{self._session.venue}: instruments-info refused: {reply.code} {reply.message}")
        listed = {}
        for inst in self.codec.decode_rest(url, reply.raw, time.time_ns()):
            if isinstance(inst, Instrument):
                inst = msgspec.structs.replace(inst, venue=self._session.venue)
                listed[ch.venue_symbol(inst.symbol)] = inst
        missing = [s for s in self._orders.symbols() if s not in listed]
        if missing:
            raise RuntimeError(f"{self._session.venue}: symbols not listed in {cat} on {self.params.network}: {missing}")
        self._session.instruments = {listed[s].id: listed[s] for s in self._orders.symbols()}

    # ------------------------------------------------------------------ public stream
    def _topics(self) -> list[str]:
        p, out = self.params, []
        for sym in self._orders.symbols():
            if "orderbook" in p.channels:
                out.append(ch.book_channel(sym, p.book_depth, p.category))
            if "publicTrade" in p.channels:
                out.append(ch.trades_channel(sym, p.category))
            if "tickers" in p.channels:
                out.append(ch.ticker_channel(sym))
        return list(dict.fromkeys(out))

    def _on_md_open(self, url: str) -> list[str]:
        self.codec.on_open(url)
        self._session.resub_forget_all()
        self._session.stream_opened("md_connects", "public stream", "market_data")
        return [ch.encode_op("subscribe", chunk, f"sub-{i}")
                for i, chunk in enumerate(ch.chunk_topics(self._topics(), self.params.category))]

    def _on_md_close(self, reason: CloseReason) -> None:
        self._session.stream_closed(reason, "public stream", "market_data")

    def _on_md_frame(self, data: str | bytes, ts_recv: int) -> None:
        try:
            events = self.codec.decode(data, ts_recv)
        except VenueProtocolError:
            self._session.stats["malformed"] += 1  # a lost delta shows up as a gap on the next one
            return
        publish = self._session.publish
        for ev in events:
            if type(ev) is BookSnapshot:
                self._on_snapshot(ev)
            elif type(ev) is VenueError:
                self._session.stats["venue_errors"] += 1
                _log.warning("bybit.venue_error", venue=self._session.venue, op=ev.op, code=ev.code,
                             message=ev.message)
                continue
            publish(ev)

    def _on_snapshot(self, snap: BookSnapshot) -> None:
        self._session.snapshot_arrived(ch.venue_symbol(snap.instrument_id.partition(":")[2]))

    def request_resync(self, instrument_id: str) -> None:
        """Resubscribe the book's topic: Bybit answers with a fresh snapshot."""
        self._session.stats["resync_requests"] += 1
        symbol = self._orders.symbol_of(instrument_id)
        md = self._md
        if symbol is None or md is None or not md.is_open:
            return  # the next connection subscribes afresh and gets snapshots anyway
        if self._session.resub_pending(symbol):
            return  # a resubscription is already waiting for its snapshot
        self._session.resub_started(symbol)
        topic = ch.book_channel(symbol, self.params.book_depth, self.params.category)
        md.send_nowait(ch.encode_op("unsubscribe", [topic], f"unsub-{symbol}"))
        md.send_nowait(ch.encode_op("subscribe", [topic], f"resub-{symbol}"))

    async def _read_accounts(self) -> list[AccountReported]:
        reply = await self.rest.request("GET", "/v5/account/wallet-balance",
                                        {"accountType": self.params.account_type}, signed=True)
        if not reply.ok:
            raise AccountReadFailed(f"/v5/account/wallet-balance refused: {reply.code} {reply.message}")
        result = reply.result
        if not isinstance(result, dict):
            raise AccountReadFailed("/v5/account/wallet-balance: no result")
        return pv.wallet_reports(result.get("list"), self.params.venue, time.time_ns())

    # ------------------------------------------------------------------ private stream
    def _on_private_open(self, url: str) -> list[str]:
        self.private.auth_ok = None
        p = self.params
        assert p.api_key is not None and p.api_secret is not None
        expires = self.rest.now_ms() + 10_000
        frames = [pv.ws_auth_frame(p.api_key.reveal(), p.api_secret.reveal(), expires),
                  orjson.dumps({"op": "subscribe", "args": _PRIVATE_TOPICS, "req_id": "private"}).decode()]
        if self._session.stream_opened("private_connects", "private stream", "private"):
            self._session.spawn(self._resync_after_auth())
        return frames

    async def _resync_after_auth(self) -> None:
        while self.private.auth_ok is None:
            await asyncio.sleep(0.01)
        await self._orders.desk.resync_orders()

    def _on_private_close(self, reason: CloseReason) -> None:
        self._session.stream_closed(reason, "private stream", "private")

    def _on_private_frame(self, data: str | bytes, ts_recv: int) -> None:
        try:
            events = self.private.decode(data, ts_recv)
        except VenueProtocolError:
            self._session.stats["private_malformed"] += 1
            _log.error("bybit.private_frame_malformed", venue=self._session.venue)
            return
        if self.private.last_op == "auth" and self.private.auth_ok is False:
            _log.error("bybit.auth_refused", venue=self._session.venue, message=self.private.auth_error)
        for ev in events:
            if isinstance(ev, OrderStatusReport):
                self._orders.settle(ev, from_query=False)
            elif isinstance(ev, OrderFilled):
                self._orders.desk.emit(ev)
            elif isinstance(ev, PositionReport):
                self.positions[ev.instrument_id] = ev
                self._session.publish(ev)
            elif isinstance(ev, AccountReported):
                self._session.publish(ev)

