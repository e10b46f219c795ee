"""``DeribitVenue``: a live Deribit session (market data and orders on one JSON-RPC websocket).

Theory of operation. One ``ReconnectingWebSocket`` (``adapters.ws``) carries everything. On
every (re)connect ``on_open`` writes, in order: ``public/set_heartbeat``, ``public/auth`` (with
credentials; ``client_signature`` signs timestamp+nonce with the server-time offset learnt from
``public/get_time``) and the public subscriptions. Deribit answers a book subscription with a
snapshot notification, so resubscribing *is* the resync: after a reconnect each book is
replaced by a fresh snapshot before deltas apply again (the integrity layer buffers until
then), and ``request_resync`` (gap, crossed, silent book) unsubscribes and resubscribes that
one book channel. When ``public/auth`` succeeds the private channels are subscribed
(``user.orders``/``user.trades`` ``.any.{currency}.raw``, ``user.portfolio.{currency}``),
cancel-on-disconnect is re-armed (it is bound to the connection), and after a reconnect every
order not known to be final is queried, so fills and cancels missed while down are recovered.

Heartbeats: the codec flags a ``test_request``; the session answers ``public/test`` from the
frame callback, at once; the session also sends ``public/test`` every third of
``stale_after_s``, so the watchdog (no frame for ``stale_after_s``) trips on a silent link and
never on a quiet market. ``VenueStatusChanged`` is published on every drop
(``disconnected``), recovery (``connected``) and ``too_many_requests`` (``rate_limited``).
Login, cancel-on-disconnect, the clock offset and the reconnect bookkeeping that Deribit shares
with Derive are ``RpcLink`` (``adapters.live.rpc_link``). Orders, queries and reconciliation live
in ``adapters.deribit.orders``. Nothing here logs a
frame, a token or a secret.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import structlog

from adapters.deribit import private as pv
from adapters.deribit.codec import DeribitCodec
from adapters.deribit.instruments import parse_instruments
from adapters.deribit.orders import DeribitOrders
from adapters.deribit.params import DeribitParams
from adapters.live.jsonrpc import JsonRpcChannel, Refused, Unknown
from adapters.live.rpc_link import RpcLink
from adapters.live.session import LiveSession
from adapters.live.venue import LiveVenue
from adapters.live.tracker import OrderTracker
from adapters.ratelimit import VENUE_LIMITS, RateLimiter
from adapters.ws import CloseReason, ReconnectingWebSocket, WsConfig
from engine.model import (
    Instrument,
    VenueProtocolError,
)

__all__ = ["DeribitParams", "DeribitVenue"]

_log = structlog.get_logger("volta.deribit")


class DeribitVenue(LiveVenue):
    """A Deribit session: ``DeribitStreams`` and ``DeribitOrders`` over one ``LiveSession``."""

    Params = DeribitParams
    order_rate_limit = (5.0, 20.0)
    """Matching-engine requests (rate/s, burst): Deribit's default tier (the gate paces to it)."""

    def __init__(self, params: DeribitParams | None = None) -> None:
        p = params if params is not None else DeribitParams()
        self.params = p
        stats: dict[str, int] = dict.fromkeys(
            ("connects", "malformed", "snapshots", "resync_requests", "resubscribes",
             "test_requests", "auth_ok", "auth_failed", "rate_limited", "acks_unknown",
             "queries", "private_malformed", "foreign_orders", "venue_errors"), 0)
        session = LiveSession(venue=p.venue, params=p, stats=stats, log=_log, log_name="deribit",
                              resubscribe_timeout_s=p.resubscribe_timeout_s)
        tracker = OrderTracker()
        streams = DeribitStreams(session, DeribitCodec(), RateLimiter(VENUE_LIMITS["deribit"]), p)
        orders = DeribitOrders(session, streams.link, tracker, p)
        streams.attach_orders(orders)
        super().__init__(session=session, streams=streams, orders=orders, tracker=tracker)
        self.codec = streams.codec
        self.balances = streams.balances
        self._deribit = streams

    @property
    def authenticated(self) -> bool:
        """``public/auth`` succeeded on the current connection."""
        return self._deribit.link.authenticated


class DeribitStreams:
    """Deribit's JSON-RPC websocket: connection, auth, subscriptions, requests, private data."""

    def __init__(self, session: LiveSession, codec: DeribitCodec, limiter: RateLimiter,
                 params: DeribitParams) -> None:
        p = params
        self.params = p
        self.codec = codec
        self.limiter = limiter
        self.channel = JsonRpcChannel(limiter, request_timeout_s=p.request_timeout_s,
                                      rate_limited_code=pv.RATE_LIMITED,
                                      on_rate_limited=self._rate_limited,
                                      first_id=pv.PRIVATE_ID_BASE)
        self.rpc = self.channel.call
        """One private-id-space request and its outcome (``JsonRpcChannel.call``)."""
        self.balances: dict[str, dict[str, Any]] = {}
        """The latest ``user.portfolio`` per currency (equity, margins), as Deribit reports it."""
        self.link = RpcLink(
            session, self.channel, log=_log, log_name="deribit", login_ok="auth_ok",
            login_failed="auth_failed",
            private_subscribe=lambda: self.codec.encode_subscribe(self._private_channels()),
            cancel_on_disconnect=("private/enable_cancel_on_disconnect",
                                  lambda: {"scope": "connection"}),
            cod_armed=p.cancel_on_disconnect and p.trading,
            resync=lambda: self.orders.desk.resync_orders())
        self._session = session
        self._orders: DeribitOrders | None = None
        self._symbols = list(p.instruments)
        self._seen_errors = 0

    def attach_orders(self, orders: DeribitOrders) -> None:
        """The order API that private updates go to (built after this connection)."""
        self._orders = orders

    @property
    def orders(self) -> DeribitOrders:
        if self._orders is None:
            raise RuntimeError("DeribitStreams used before attach_orders")
        return self._orders

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        """Connect, list instruments, subscribe, wait for every book's first snapshot."""
        p = self.params
        self._session.expect_snapshots(self._symbols if "book" in p.channels else [])
        ws = self.link.ws = self.channel.ws = ReconnectingWebSocket(
            p.url, on_frame=self._on_frame, on_open=self._on_open, on_close=self._on_close,
            make_heartbeat=self.codec.encode_heartbeat,
            config=WsConfig(heartbeat_interval_s=p.stale_after_s / 3 if p.stale_after_s else None,
                            ping_interval_s=p.ping_interval_s, ping_timeout_s=p.ping_timeout_s,
                            stale_after_s=p.stale_after_s, backoff_base_s=p.backoff_base_s,
                            backoff_cap_s=p.backoff_cap_s, open_timeout_s=min(10.0, p.start_timeout_s)),
            name=f"{self._session.venue}:ws")
        ws.start()
        async with asyncio.timeout(p.start_timeout_s):
            await ws.wait_open()
            await self._load_instruments()
            await asyncio.gather(*self._session.first_snapshots.values())
            if p.trading:
                await self.link.wait_login(f"{self._session.venue}: authentication refused")
        if p.trading:
            await self.read_accounts()
        _log.info("deribit.started", venue=self._session.venue, network=p.network,
                  instruments=len(self._session.instruments), trading=p.trading)

    async def read_accounts(self) -> None:
        """Publish every traded currency's account (``private/get_account_summary``); the
        ``user.portfolio`` subscription keeps them current afterwards."""
        for ccy in self.params.currencies():
            try:
                data = await self.rpc("private/get_account_summary", {"currency": ccy})
                acc = pv.parse_account(data, "private/get_account_summary", time.time_ns())
            except (Unknown, Refused) as exc:  # not fatal: user.portfolio reports it later
                _log.error("deribit.account_read_failed", venue=self._session.venue, currency=ccy,
                           error=str(exc))
                continue
            except VenueProtocolError as exc:
                self._session.stats["private_malformed"] += 1
                _log.error("deribit.account_malformed", venue=self._session.venue, error=str(exc))
                continue
            self.balances[acc.currency] = data
            self._session.publish(acc)

    async def _load_instruments(self) -> None:
        listed: dict[str, Instrument] = {}
        for ccy in self.params.currencies():
            result = await self.rpc("public/get_instruments", {"currency": ccy, "expired": False})
            insts, steps = parse_instruments(result)
            self.codec.tick_size_steps.update(steps)
            listed.update((i.symbol, i) for i in insts)
        missing = [s for s in self._symbols if s not in listed]
        if missing:
            raise RuntimeError(f"{self._session.venue}: not listed on {self.params.network}: {missing}")
        self._session.instruments = {listed[s].id: listed[s] for s in self._symbols}

    async def before_stop(self) -> None:
        """Cancel everything explicitly (cancel-on-disconnect ignores a graceful close); then
        the connection and every task close."""
        if self.params.trading and self.params.cancel_all_on_stop:
            await self.link.cancel_all_on_stop({}, self.params.ack_timeout_s)

    def websockets(self) -> list[ReconnectingWebSocket | None]:
        return [self.link.ws]

    async def after_streams_closed(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------------------ requests
    def _rate_limited(self, method: str) -> None:
        self.link.rate_limited(f"too_many_requests on {method}")

    # ------------------------------------------------------------------ connection
    def _public_channels(self) -> list[str]:
        p, out = self.params, []
        for s in self._symbols:
            if "book" in p.channels:
                out.append(self.codec.book_channel(s, p.book_interval))
            if "trades" in p.channels:
                out.append(self.codec.trades_channel(s, "raw" if p.book_interval == "raw" else "100ms"))
            if "ticker" in p.channels:
                out.append(self.codec.ticker_channel(s, "100ms"))
        return out

    def _private_channels(self) -> list[str]:
        out: list[str] = []
        for ccy in self.params.currencies():
            out += [f"user.orders.any.{ccy}.raw", f"user.trades.any.{ccy}.raw",
                    f"user.portfolio.{ccy.lower()}"]
        return out

    def _on_open(self, url: str) -> list[str]:
        self.codec.on_open(url)
        self.link.opened()
        frames = [self.codec.encode_set_heartbeat(self.params.heartbeat_interval_s)]
        p = self.params
        if p.trading:
            assert p.client_id is not None and p.client_secret is not None
            params = pv.auth_params(p.client_id.reveal(), p.client_secret.reveal(), p.auth,
                                    time.time_ns() // 1_000_000 + self.link.offset_ms,
                                    os.urandom(8).hex())
            frames.append(self.link.login_frame("public/auth", params))
        frames.append(self.link.time_frame())
        frames += self.codec.encode_subscribe(self._public_channels())
        return frames

    def _on_close(self, reason: CloseReason) -> None:
        self.link.closed(reason)

    # ------------------------------------------------------------------ frames
    def _on_frame(self, data: str | bytes, ts_recv: int) -> None:
        codec = self.codec
        if not self._session.publish_frame(codec.decode, data, ts_recv):
            return
        if codec.pending_test_request:
            self._session.stats["test_requests"] += 1
            self.link.send([codec.encode_test()])
        if codec.foreign is not None:
            msg, codec.foreign = codec.foreign, None
            self._on_private(msg, ts_recv)
        if codec.error_count != self._seen_errors:
            self._seen_errors = codec.error_count
            self._on_codec_error()

    def _on_codec_error(self) -> None:
        err = self.codec.last_error
        if err is None:
            return
        self._session.stats["venue_errors"] += 1
        _log.warning("deribit.venue_error", venue=self._session.venue, method=err.method, code=err.code,
                     message=err.message)
        if err.code == pv.RATE_LIMITED:
            self._rate_limited(err.method or "public/subscribe")
            if err.method.endswith("subscribe"):
                self._session.resub_forget_all()  # let the integrity layer's next request resubscribe

    def _on_private(self, msg: dict[str, Any], ts_recv: int) -> None:
        if msg.get("id") is not None:
            self.channel.answer(msg)
            return
        try:
            params = msg["params"]
            channel, data = params["channel"], params["data"]
            if channel.startswith("user.orders."):
                for d in data if isinstance(data, list) else [data]:
                    self.orders.on_order(pv.parse_order(d), (), ts_recv)
            elif channel.startswith("user.trades."):
                for d in data:
                    self.orders.on_trade(pv.parse_trade(d), ts_recv)
            elif channel.startswith("user.portfolio."):
                acc = pv.parse_account(data, "user.portfolio", ts_recv)
                self.balances[acc.currency] = data
                self._session.publish(acc)
        except (VenueProtocolError, KeyError, TypeError, AttributeError) as exc:
            # Never silent: a lost order update is recovered by the next query/reconcile.
            self._session.stats["private_malformed"] += 1
            _log.error("deribit.private_frame_malformed", venue=self._session.venue, error=type(exc).__name__)

    # ------------------------------------------------------------------ books
    def request_resync(self, instrument_id: str) -> None:
        """Unsubscribe and resubscribe the book channel: Deribit answers with a snapshot."""
        symbol = self.link.resync_target(instrument_id, self._symbols)
        if symbol is None:
            return
        channel = self.codec.book_channel(symbol, self.params.book_interval)
        self._session.spawn(self._resubscribe(channel))

    async def _resubscribe(self, channel: str) -> None:
        await self.limiter.acquire("public/subscribe")
        self.link.send(self.codec.encode_unsubscribe([channel]) +
                         self.codec.encode_subscribe([channel]))
