"""``BinanceVenue``: a live Binance USD-M (trading) or spot (market data) session.

Theory of operation. Two self-healing websockets (``adapters.ws``) and one REST client:

* market data: one combined-stream connection ``/stream?streams=a/b/c`` (subscribed by the URL,
  so a reconnect resubscribes by itself). Frames go through ``BinanceCodec`` straight onto the
  bus. Books follow Binance's procedure: the stream opens first, then a REST ``depth`` snapshot
  is fetched and published as a ``BookSnapshot``; the integrity layer buffers deltas until it and
  bridges (``engine.integrity``). Every (re)connect re-snapshots every book, and every
  ``request_resync`` (gap, crossed, silent stream) fetches one; concurrent requests for one
  symbol collapse into one fetch plus at most one follow-up.
* user data: ``/ws/<listenKey>`` (key from ``POST /fapi/v1/listenKey``, kept alive by ``PUT``);
  ``ORDER_TRADE_UPDATE``/``ACCOUNT_UPDATE`` through ``private.UserStreamDecoder``. After a
  reconnect every order not known to be final is queried, so fills and cancels that happened
  while the stream was down are recovered (fills de-duplicated by trade id).
* accounts: ``GET /fapi/v2/account`` at start, on every ``ACCOUNT_UPDATE`` and every
  ``account_poll_s`` (``adapters.live.accounts.AccountPoller``) -> ``AccountReported``.
* REST orders (``POST/PUT/DELETE /fapi/v1/order``, chosen over the websocket API for one signed
  path shared with queries and reconciliation). ``submit`` never blocks: a task sends it. No
  answer within ``ack_timeout_s`` leaves the order UNKNOWN: nothing is published and nothing is
  resent; ``query_order`` settles it from the venue's own answer.

``VenueStatusChanged`` is published when a stream drops (``disconnected``), comes back
(``connected``) or the venue rate limits us (``rate_limited``). Nothing here logs a frame, a
query string or a key.
"""

from __future__ import annotations

import asyncio
import random
import time

import structlog

from adapters.binance import channels as ch
from adapters.binance import private as pv
from adapters.binance.codec import BinanceCodec
from adapters.binance.orders import BinanceOrders
from adapters.binance.params import BinanceParams
from adapters.binance.rest import BinanceRest, NotSent, Unknown
from adapters.live.accounts import AccountPoller, AccountReadFailed
from adapters.live.session import LiveSession
from adapters.live.venue import LiveVenue
from adapters.live.tracker import OrderTracker
from adapters.ratelimit import VENUE_LIMITS, RateLimiter
from adapters.ws import CloseReason, ReconnectingWebSocket, WsConfig
from engine.model import (
    AccountReported,
    PositionReport,
    VenueProtocolError,
    split_instrument_id,
)

__all__ = ["BinanceParams", "BinanceVenue"]

_log = structlog.get_logger("volta.binance")


class BinanceVenue(LiveVenue):
    """A Binance session: ``BinanceStreams`` and ``BinanceOrders`` over one ``LiveSession``."""

    Params = BinanceParams

    def __init__(self, params: BinanceParams | None = None) -> None:
        p = params if params is not None else BinanceParams()
        self.params = p
        codec = BinanceCodec(p.market, venue=p.venue)
        ws_base, rest_base = p.endpoints()
        spot = p.market == "spot"
        api = "/api/v3" if spot else "/fapi/v1"
        rest = BinanceRest(
            rest_base, RateLimiter(VENUE_LIMITS["binance_spot" if spot else "binance_usdm"]),
            venue=p.venue, api_key=p.api_key.reveal() if p.api_key else "",
            api_secret=p.api_secret.reveal() if p.api_secret else "",
            recv_window_ms=p.recv_window_ms, timeout_s=p.rest_timeout_s, time_path=f"{api}/time")
        stats: dict[str, int] = dict.fromkeys(
            ("malformed", "snapshots", "snapshot_failures", "resync_requests", "md_connects",
             "user_connects", "acks_unknown", "queries", "rate_limited", "user_malformed"), 0)
        session = LiveSession(venue=p.venue, params=p, stats=stats, log=_log, log_name="binance",
                              quiet_errors=(Unknown, NotSent, VenueProtocolError), rest=rest)
        tracker = OrderTracker()
        orders = BinanceOrders(session, rest, codec, tracker, p, api)
        streams = BinanceStreams(session, rest, codec, orders, p, ws_base, api)
        super().__init__(session=session, streams=streams, orders=orders, tracker=tracker)
        self.rest = rest
        self.codec = codec
        self.positions = streams.positions
        """The latest position per instrument from the user stream (owned by the streams)."""


class BinanceStreams:
    """Binance's connection protocol: market-data and user streams, snapshots, listen key."""

    def __init__(self, session: LiveSession, rest: BinanceRest, codec: BinanceCodec,
                 orders: BinanceOrders, params: BinanceParams, ws_base: str, api: str) -> None:
        self.params = params
        self.rest = rest
        self.codec = codec
        self.user = pv.UserStreamDecoder(params.venue, codec.instrument_id)
        self.ws_base = ws_base
        self.positions: dict[str, PositionReport] = {}
        self._session = session
        self._orders = orders
        self._api = api
        self._snap_busy: set[str] = set()
        self._snap_again: set[str] = set()
        self._md: ReconnectingWebSocket | None = None
        self._user_ws: ReconnectingWebSocket | None = None
        self._listen_key = ""
        self._rng = random.Random()
        self.accounts = AccountPoller(session, self._read_accounts, params.account_poll_s)
        """The venue's margin accounts (``/fapi/v2/account``), published as ``AccountReported``."""

    # ------------------------------------------------------------------ lifecycle
    def _ws_config(self, user: bool = False) -> WsConfig:
        p = self.params
        # The user stream is silent while nothing happens to the account: a data watchdog would
        # drop it every few seconds. Its liveness is the websocket ping/pong instead.
        return WsConfig(ping_interval_s=p.ping_interval_s, ping_timeout_s=p.ping_timeout_s,
                        stale_after_s=None if user else p.stale_after_s,
                        max_lifetime_s=p.max_lifetime_s,
                        backoff_base_s=p.backoff_base_s, backoff_cap_s=p.backoff_cap_s,
                        open_timeout_s=min(10.0, p.start_timeout_s))

    async def connect(self) -> None:
        """Instruments, market stream + snapshots, then (with credentials) the user stream."""
        p = self.params
        await self.rest.open()
        if p.trading:
            await self.rest.sync_time()
        await self._load_instruments()
        self._session.expect_snapshots(self._orders.symbols())
        self._md = ReconnectingWebSocket(
            ch.stream_url(p.market, self._streams()).replace(ch.WS_BASE[p.market], self.ws_base),
            on_frame=self._on_md_frame, on_open=self._on_md_open, on_close=self._on_md_close,
            config=self._ws_config(), name=f"{self._session.venue}:md")
        self._md.start()
        async with asyncio.timeout(p.start_timeout_s):
            await self._md.wait_open()
            await asyncio.gather(*self._session.first_snapshots.values())
            if p.trading:
                self._listen_key = await self._new_listen_key()
                self._user_ws = ReconnectingWebSocket(
                    self._user_url(), on_frame=self._on_user_frame, on_open=self._on_user_open,
                    on_close=self._on_user_close, config=self._ws_config(user=True),
                    name=f"{self._session.venue}:user")
                self._user_ws.start()
                await self._user_ws.wait_open()
                self._session.spawn(self._keepalive_loop())
                await self.accounts.start()
        _log.info("binance.started", venue=self._session.venue, market=p.market, network=p.network,
                  instruments=len(self._session.instruments), trading=p.trading)

    async def before_stop(self) -> None:
        """Disarm the dead-man switch (then the streams close and the listen key is released)."""
        if self._orders.disarm_dead_man() and self.params.trading:
            for sym in self._orders.symbols():
                await self._session.quiet(self.rest.request("POST", f"{self._api}/countdownCancelAll",
                                                    {"symbol": sym, "countdownTime": 0}, signed=True))

    def websockets(self) -> list[ReconnectingWebSocket | None]:
        return [self._md, self._user_ws]

    async def after_streams_closed(self) -> None:
        if self._listen_key:
            await self._session.quiet(self.rest.request("DELETE", f"{self._api}/listenKey", key_only=True))

    # ------------------------------------------------------------------ instruments
    async def _load_instruments(self) -> None:
        path = f"{self._api}/exchangeInfo"
        reply = await self.rest.request("GET", path)
        if not reply.ok:
            raise RuntimeError(f"{self._session.venue}: exchangeInfo refused: {reply.code} {reply.message}")
        listed = {i.symbol: i for i in self.codec.decode_rest(path, reply.raw, time.time_ns())}
        missing = [s for s in self._orders.symbols() if s not in listed]
        if missing:
            raise RuntimeError(f"{self._session.venue}: symbols not listed on {self.params.network}: {missing}")
        self._session.instruments = {listed[s].id: listed[s] for s in self._orders.symbols()}

    def _streams(self) -> list[str]:
        p, out = self.params, []
        for sym in self._orders.symbols():
            for c in p.channels:
                if c == "depth":
                    out.append(ch.depth_channel(sym, p.depth_speed))
                elif c == "trade":
                    out.append(ch.trade_channel(sym))
                elif c == "aggTrade":
                    out.append(ch.agg_trade_channel(sym))
                elif c == "bookTicker":
                    out.append(ch.book_ticker_channel(sym))
                elif c == "markPrice" and p.market != "spot":
                    out.append(ch.mark_price_channel(sym))
        return out

    # ------------------------------------------------------------------ market data
    def _on_md_open(self, url: str) -> list[str]:
        self.codec.on_open(url)
        self._session.stream_opened("md_connects", "market data", "market_data")
        if "depth" in self.params.channels:
            for sym in self._orders.symbols():
                self._session.spawn(self._snapshot(sym))  # the stream is open: buffer, then snapshot
        else:
            for fut in self._session.first_snapshots.values():
                if not fut.done():
                    fut.set_result(None)
        return []

    def _on_md_close(self, reason: CloseReason) -> None:
        self._session.stream_closed(reason, "market data", "market_data")

    def _on_md_frame(self, data: str | bytes, ts_recv: int) -> None:
        self._session.publish_frame(self.codec.decode, data, ts_recv)  # depth: diffs only

    def request_resync(self, instrument_id: str) -> None:
        """Fetch a fresh REST snapshot (collapsed with one already in flight)."""
        self._session.stats["resync_requests"] += 1
        _, symbol = split_instrument_id(instrument_id)
        if self._md is not None and self._session.running:
            self._session.spawn(self._snapshot(symbol))

    async def _snapshot(self, symbol: str) -> None:
        if symbol in self._snap_busy:
            self._snap_again.add(symbol)
            return
        self._snap_busy.add(symbol)
        try:
            delay = 0.2
            while True:
                self._snap_again.discard(symbol)
                if await self._fetch_snapshot(symbol) and symbol not in self._snap_again:
                    return
                if symbol not in self._snap_again:
                    await asyncio.sleep(delay * (0.5 + self._rng.random()))
                    delay = min(delay * 2, 10.0)
        finally:
            self._snap_busy.discard(symbol)

    async def _fetch_snapshot(self, symbol: str) -> bool:
        path = f"{self._api}/depth"
        params = {"symbol": symbol, "limit": self.params.snapshot_limit}
        try:
            reply = await self.rest.request("GET", path, params)
            if not reply.ok:
                raise Unknown(f"depth refused: {reply.code} {reply.message}")
            events = self.codec.decode_rest(f"{path}?symbol={symbol}", reply.raw, time.time_ns())
        except (Unknown, NotSent, VenueProtocolError) as exc:
            self._session.stats["snapshot_failures"] += 1
            _log.warning("binance.snapshot_failed", venue=self._session.venue, symbol=symbol, error=str(exc))
            return False
        for ev in events:
            self._session.publish(ev)
        self._session.snapshot_arrived(symbol)
        return True

    # ------------------------------------------------------------------ user stream
    async def _read_accounts(self) -> list[AccountReported]:
        reply = await self.rest.request("GET", "/fapi/v2/account", signed=True)
        if not reply.ok:
            raise AccountReadFailed(f"/fapi/v2/account refused: {reply.code} {reply.message}")
        return pv.account_reports(reply.body, self.params.venue, time.time_ns())

    def _user_url(self) -> str:
        return f"{self.ws_base}/ws/{self._listen_key}"

    async def _new_listen_key(self) -> str:
        reply = await self.rest.request("POST", f"{self._api}/listenKey", key_only=True)
        if not reply.ok:
            raise RuntimeError(f"{self._session.venue}: listenKey refused: {reply.code} {reply.message}")
        return str(reply.body["listenKey"])

    async def _keepalive_loop(self) -> None:
        while True:
            await asyncio.sleep(self.params.listen_key_keepalive_s)
            reply = await self._session.quiet(self.rest.request("PUT", f"{self._api}/listenKey",
                                                        key_only=True))
            if reply is not None and not reply.ok:
                await self._refresh_listen_key()

    async def _refresh_listen_key(self) -> None:
        key = await self._session.quiet(self._new_listen_key())
        if key and self._user_ws is not None:
            self._listen_key = key
            self._user_ws.url = self._user_url()  # used by the next (re)connect

    def _on_user_open(self, url: str) -> list[str]:
        if self._session.stream_opened("user_connects", "user stream", "private"):
            self._session.spawn(self._orders.desk.resync_orders())
        return []

    def _on_user_close(self, reason: CloseReason) -> None:
        if self._session.stream_closed(reason, "user stream", "private"):
            self._session.spawn(self._refresh_listen_key())

    def _on_user_frame(self, data: str | bytes, ts_recv: int) -> None:
        try:
            events = self.user.decode(data, ts_recv)
        except VenueProtocolError:
            self._session.stats["user_malformed"] += 1
            _log.error("binance.user_frame_malformed", venue=self._session.venue)
            return
        for ev in events:
            if isinstance(ev, PositionReport):
                self.positions[ev.instrument_id] = ev
                self._session.publish(ev)
            else:
                self._orders.desk.emit(ev)
        if self.user.account_changed:
            self.user.account_changed = False
            self.accounts.poke()
        if self.user.listen_key_expired:
            self.user.listen_key_expired = False
            self._session.spawn(self._refresh_listen_key())

